package vrrp

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestGARPRefresh: after its bursts a MASTER repeats RefreshRepeat ARPs
// per address every Refresh until it leaves MASTER (ctx ends).
func TestGARPRefresh(t *testing.T) {
	g := &fakeGARP{}
	ips := []netip.Addr{netip.MustParseAddr("172.16.1.1")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- SendGARPBursts(ctx, g, ips, GARPSchedule{Repeat: 1, Delay: -1, Refresh: 5 * time.Millisecond, RefreshRepeat: 2}, func(error) {})
	}()
	eventually(t, 2*time.Second, "three refreshes", func() bool { return g.count() >= 7 })
	cancel()
	select {
	case n := <-done:
		if n != g.count() || (n-1)%2 != 0 {
			t.Errorf("sent %d (fake saw %d): want the first ARP then pairs", n, g.count())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("refresh did not stop with its context")
	}
	// Without Refresh the bursts end by themselves (the control).
	if n := SendGARPBursts(context.Background(), &fakeGARP{}, ips, GARPSchedule{Repeat: 2, Delay: -1}, func(error) {}); n != 2 {
		t.Errorf("no refresh: sent %d, want 2", n)
	}
}

// TestGARPLowerPriority: the lower-priority schedule replaces the master's
// only when set; a zero delay means no second burst.
func TestGARPLowerPriority(t *testing.T) {
	master := GARPSchedule{Repeat: 5, Delay: 5 * time.Second, Refresh: time.Minute}
	if got := master.lowerPriority(); got != master {
		t.Errorf("unset: %+v, want the master schedule", got)
	}
	set := master
	set.LowerPrioSet, set.LowerPrioRepeat, set.LowerPrioDelay = true, 1, 0
	got := set.lowerPriority()
	if got.Repeat != 1 || got.Delay != -1 || got.Refresh != time.Minute {
		t.Errorf("set: %+v, want Repeat 1, no second burst, refresh kept", got)
	}
}
