package vrrp

import (
	"testing"
	"time"
)

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

// TestNodeTrackReverse: a running node applies reverse (case
// track-reverse-dropped.conf): "eth9 weight -10 reverse" raises the
// priority while eth9 is down, "chk weight 10 reverse" lowers it while the
// script succeeds.
func TestNodeTrackReverse(t *testing.T) {
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.TrackInterfaces = []TrackInterface{{Name: "eth9", Weight: -10, Reverse: true}}
	c.TrackScripts = []TrackScript{{Name: "chk", Script: "/bin/chk", Interval: 20 * time.Millisecond, Weight: 10, Reverse: true}}
	a := startNode(t, h, Config{Instances: []InstanceConfig{c}})
	eventually(t, time.Second, "master at 90 (script up, reverse)", func() bool {
		s := a.node.Status()[0]
		return s.State == StateMaster && s.EffectivePriority == 90
	})
	a.linkUp.set("eth9", false)
	eventually(t, 2*time.Second, "priority 100 (eth9 down adds 10)", func() bool { return a.node.Status()[0].EffectivePriority == 100 })
	a.scripts.mu.Lock()
	a.scripts.fail["/bin/chk"] = true
	a.scripts.mu.Unlock()
	eventually(t, time.Second, "priority 110 (script down: no adjustment)", func() bool { return a.node.Status()[0].EffectivePriority == 110 })
}
