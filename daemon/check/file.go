package check

import (
	"context"
	"fmt"
	"time"

	"github.com/drlb/drlb/internal/trackfile"
)

// ReadTrackFile reads the number a track_file holds, as keepalived does
// (trackfile.Parse).
func ReadTrackFile(path string) (int64, error) {
	v, err := trackfile.Read(path)
	if err != nil {
		return 0, fmt.Errorf("read track file: %w", err)
	}
	return v, nil
}

// ParseTrackValue is trackfile.Parse: the number at the start of s (0 if
// there is none), saturated to the int32 range keepalived reads.
func ParseTrackValue(s string) int64 { return trackfile.Parse(s) }

// FileVerdict is what a value read from a FILE_CHECK's file means.
// keepalived.conf(5): with weight 0 a non-zero value fails (reverse: a zero
// value fails); otherwise the value times the weight (negated by reverse)
// is added to the real server's weight when dynamic. drlb fails the check
// when that sum would be negative, since a server cannot carry a negative
// weight (keepalived documents this case as not fully implemented).
func FileVerdict(f FileSpec, value int64) (up bool, weight int, reason string) {
	if f.Weight == 0 {
		up = (value == 0) != f.Reverse
		return up, f.BaseWeight, fmt.Sprintf("value %d, weight 0%s", value, reverseWord(f.Reverse))
	}
	w := int64(f.Weight)
	if f.Reverse {
		w = -w
	}
	total := int64(f.BaseWeight) + value*w
	if total < 0 {
		return false, 0, fmt.Sprintf("value %d × weight %d gives server weight %d < 0", value, w, total)
	}
	weight = f.BaseWeight
	if f.Dynamic {
		weight = int(min(total, 65535))
	}
	return true, weight, fmt.Sprintf("value %d × weight %d, server weight %d", value, w, weight)
}

func reverseWord(r bool) string {
	if r {
		return " reverse"
	}
	return ""
}

// ProbeFile runs FILE_CHECK: read the track_file and judge its value with
// FileVerdict. keepalived watches the file with inotify; drlb reads it at
// every check (the supervisor schedules file checks every second).
func ProbeFile(_ context.Context, spec Spec) Result {
	start := time.Now()
	v, err := ReadTrackFile(spec.File.Path)
	if err != nil {
		return Result{Reason: "FILE_CHECK: " + err.Error(), Latency: time.Since(start)}
	}
	up, weight, why := FileVerdict(spec.File, v)
	r := Result{OK: up, Reason: "FILE_CHECK " + spec.File.Path + ": " + why, Latency: time.Since(start)}
	if up && spec.File.Dynamic {
		r.Weight, r.WeightSet = weight, true
	}
	return r
}
