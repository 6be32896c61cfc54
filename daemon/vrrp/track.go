package vrrp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/drlb/drlb/internal/trackfile"
)

// runTrackScript runs a vrrp_script every Interval and reports status
// changes after Rise successes or Fall failures in a row. The script starts
// as succeeding unless InitFail, as keepalived does.
// ok is the status it starts from (kept across a reload).
func (n *Node) runTrackScript(ctx context.Context, in *instance, gen, k int, ts TrackScript, ok bool) {
	argv, err := SplitCommand(ts.Script)
	if err != nil {
		return // rejected by NewNode already
	}
	out := n.tracks
	tr := ScriptTracker{Rise: ts.Rise, Fall: ts.Fall, OK: ok}
	tick := time.NewTicker(ts.Interval)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, ts.Timeout)
		rerr := n.opts.RunScript(rctx, argv)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if changed := tr.Observe(rerr == nil); changed {
			select {
			case out <- trackIn{in: in, gen: gen, tracker: k, ok: tr.OK}:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ScriptTracker applies keepalived's rise/fall counting to script results.
type ScriptTracker struct {
	// Rise successes in a row make a failing script OK; Fall failures in a
	// row make an OK script fail.
	Rise, Fall int
	// OK is the current status.
	OK  bool
	run int
}

// Observe records one result and reports whether OK changed.
func (t *ScriptTracker) Observe(success bool) bool {
	if success == t.OK {
		t.run = 0
		return false
	}
	t.run++
	need := t.Fall
	if success {
		need = t.Rise
	}
	if t.run < max(need, 1) {
		return false
	}
	t.OK, t.run = success, 0
	return true
}

// TrackEffect is what one tracked interface or script does to its
// instance, as keepalived.conf(5) tabulates it: a positive weight is added
// while the tracked object is up, a negative one while it is down; with
// reverse the sign of the adjustment is inverted (a positive weight is
// subtracted while up, a negative one added while down). Weight 0 puts the
// instance in FAULT while the object is down, or with reverse while it is up.
func TrackEffect(weight int, reverse, up bool) (delta int, fault bool) {
	switch {
	case weight == 0:
		return 0, up == reverse
	case weight > 0 && up, weight < 0 && !up:
		if reverse {
			return -weight, false
		}
		return weight, false
	}
	return 0, false
}

// TrackFile is a track_file block as an instance (or its sync group) uses
// it: keepalived.conf(5) "Track files".
type TrackFile struct {
	// Name is the track_file block's name.
	Name string
	// Path is the tracked file.
	Path string
	// Weight multiplies the number read from the file; 0 means a non-zero
	// number puts the instance in FAULT.
	Weight int
	// Reverse negates the weight (with weight 0: zero means FAULT).
	Reverse bool
}

// TrackFilePollInterval is how often a tracked file is read. keepalived
// reads it on inotify events; drlb polls, so a change takes effect within
// this interval.
const TrackFilePollInterval = 250 * time.Millisecond

// FileTrackEffect is what the number in a track_file does to an instance,
// as keepalived.conf(5) says: with weight 0 a non-zero value is FAULT (with
// reverse, a zero value is); otherwise value × weight (negated by reverse)
// is added to the priority, and a result below -253 is FAULT.
func FileTrackEffect(weight int, reverse bool, value int64) (delta int, fault bool) {
	if weight == 0 {
		return 0, (value != 0) != reverse
	}
	w := int64(weight)
	if reverse {
		w = -w
	}
	d := value * w
	switch {
	case d < -253:
		return 0, true
	case d > 253:
		d = 253 // the priority is clamped to 1..254 anyway
	}
	return int(d), false
}

// ReadTrackFile reads the number in a tracked file as keepalived does
// (trackfile.Parse): no number reads as 0.
func ReadTrackFile(path string) (int64, error) {
	v, err := trackfile.Read(path)
	if err != nil {
		return 0, fmt.Errorf("vrrp: read track file: %w", err)
	}
	return v, nil
}

// InitTrackFile is init_file: it writes value to path when the file does
// not exist, or always when overwrite is set.
func InitTrackFile(path string, value int, overwrite bool) error {
	if !overwrite {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(value)+"\n"), 0o644); err != nil { //nolint:gosec // keepalived writes it world-readable too
		return fmt.Errorf("vrrp: init track file: %w", err)
	}
	return nil
}

// fileTrackers are ic's track_file trackers; one also in prev keeps its
// last value. A file that cannot be read counts as 0 until it can, which
// is what keepalived reads from a missing file.
func fileTrackers(ic InstanceConfig, prev []tracker) []tracker {
	out := make([]tracker, 0, len(ic.TrackFiles))
	for _, tf := range ic.TrackFiles {
		t := tracker{kind: trackFile, name: tf.Name, weight: tf.Weight, reverse: tf.Reverse, ok: true}
		found := false
		for _, p := range prev {
			if p.kind == trackFile && p.name == tf.Name {
				t.value, found = p.value, true
			}
		}
		if !found {
			t.value, _ = ReadTrackFile(tf.Path)
		}
		out = append(out, t)
	}
	return out
}

// startTrackFiles polls in's track files from tracker index first on,
// reporting each change of value to the loop.
func (n *Node) startTrackFiles(ctx context.Context, in *instance, gen, first int) {
	for k, tf := range in.cfg.TrackFiles {
		last := in.trackers[first+k].value
		n.workers.Go(func() {
			tick := time.NewTicker(TrackFilePollInterval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				v, _ := ReadTrackFile(tf.Path)
				if v == last {
					continue
				}
				last = v
				select {
				case n.tracks <- trackIn{in: in, gen: gen, tracker: first + k, ok: true, value: v}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
}

// trackerWord says a tracker's state for the log.
func trackerWord(t tracker) string {
	if t.kind == trackFile {
		return "at " + strconv.FormatInt(t.value, 10)
	}
	if t.ok {
		return "up"
	}
	return "down"
}
