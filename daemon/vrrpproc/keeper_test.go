package vrrpproc

import (
	"testing"
	"time"
)

func TestNoteDeath(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(secs ...float64) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s*float64(time.Second))))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		before  []time.Time
		now     float64
		stop    bool
		keptLen int
	}{
		{name: "first death", now: 0, keptLen: 1},
		{name: "five within the window", before: at(0, 1, 2, 3), now: 4, keptLen: 5},
		{name: "sixth within the window stops", before: at(0, 1, 2, 3, 4), now: 5, stop: true, keptLen: 6},
		{name: "old deaths forgotten", before: at(0, 1, 2, 3, 4), now: 10.5, keptLen: 5},
		{name: "all forgotten", before: at(0, 1, 2, 3, 4), now: 30, keptLen: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, stop := noteDeath(tc.before, t0.Add(time.Duration(tc.now*float64(time.Second))), DefaultRespawnBurst, DefaultRespawnInterval)
			if stop != tc.stop || len(kept) != tc.keptLen {
				t.Errorf("stop %v, kept %d; want stop %v, kept %d", stop, len(kept), tc.stop, tc.keptLen)
			}
		})
	}
}
