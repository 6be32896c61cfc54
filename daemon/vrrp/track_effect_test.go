package vrrp

import "testing"

// TestTrackEffect is keepalived.conf(5)'s table for weights and reverse
// (track_interface, track_script, vrrp_script "weight N reverse").
func TestTrackEffect(t *testing.T) {
	for _, tc := range []struct {
		weight    int
		reverse   bool
		up        bool
		wantDelta int
		wantFault bool
	}{
		{10, false, true, 10, false}, // +ve: priority + while up
		{10, false, false, 0, false},
		{-10, false, true, 0, false}, // -ve: priority - while down
		{-10, false, false, -10, false},
		{10, true, true, -10, false}, // +ve reverse: priority - while up
		{10, true, false, 0, false},
		{-10, true, true, 0, false}, // -ve reverse: priority + while down
		{-10, true, false, 10, false},
		{0, false, true, 0, false}, // unweighted: FAULT while down
		{0, false, false, 0, true},
		{0, true, true, 0, true}, // "weight 0 reverse": FAULT while up
		{0, true, false, 0, false},
	} {
		d, f := TrackEffect(tc.weight, tc.reverse, tc.up)
		if d != tc.wantDelta || f != tc.wantFault {
			t.Errorf("weight %d reverse %v up %v: delta %d fault %v, want %d %v", tc.weight, tc.reverse, tc.up, d, f, tc.wantDelta, tc.wantFault)
		}
	}
}
