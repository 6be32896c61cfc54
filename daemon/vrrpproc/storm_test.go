package vrrpproc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/drlb/drlb/internal/checkstorm"
)

// TestReloadDuringCheckStormKeepsAdvertsOnTime is issue 18's "a reload
// during a storm of check events does not delay an advert beyond the
// lateness bound": a MASTER at advert_int 0.01 in the child, while the
// parent runs a storm of check events on every processor (producers
// handing a fresh 4 KiB result each to a consumer, as 2,000 flapping real
// servers' checkers hand theirs to the daemon: its collector runs hundreds
// of times a second) and reloads the node every 50 ms. Adverts leave within
// vrrp.LateThreshold (2.5 ms; see the bound below). In one process the
// same storm makes a share of adverts late (BenchmarkAdvertLatenessStorm
// in daemon/vrrp): the runtime's timers and processors are shared.
func TestReloadDuringCheckStormKeepsAdvertsOnTime(t *testing.T) {
	p := newPair(t)
	ic := instance(200)
	ic.AdvertInterval = 10 * time.Millisecond
	cfg := vrrp.Config{Instances: []vrrp.InstanceConfig{ic}, Thread: vrrp.ThreadConfig{RTPriority: vrrp.DefaultRTPriority, RLimitRTTime: vrrp.DefaultRLimitRTTime}}
	r, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NetNS: p.a})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, "MASTER", 10*time.Second, func() bool {
		st := r.Status()
		return len(st) == 1 && st[0].State == vrrp.StateMaster
	})
	time.Sleep(200 * time.Millisecond) // past the start's first adverts
	before := r.Status()[0].Timing

	stopStorm := checkstorm.Start()
	var gc0 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	start := time.Now()
	for k := range 40 {
		next := cfg
		next.Instances = []vrrp.InstanceConfig{ic}
		next.Instances[0].Notify.Master = fmt.Sprintf("/bin/master-%d.sh", k%2) // an in-place change
		res, err := r.Update(ctx, next)
		if err != nil {
			t.Fatalf("Update %d: %v", k, err)
		}
		if !res.Changed() {
			t.Fatalf("Update %d changed nothing: %+v", k, res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopStorm()
	var gc1 runtime.MemStats
	runtime.ReadMemStats(&gc1)
	after := r.Status()[0].Timing
	sent := after.SendLateness.Count - before.SendLateness.Count
	late := after.LateAdverts - before.LateAdverts
	secs := time.Since(start).Seconds()
	t.Logf("%d adverts in %.1f s, %d later than %v, worst %v; parent GC %.0f/s", sent, secs, late,
		vrrp.LateThreshold(ic.AdvertInterval), after.SendLateness.Max, float64(gc1.NumGC-gc0.NumGC)/secs)
	if want := uint64(secs * 100 * 0.9); sent < want {
		t.Errorf("%d adverts sent, want at least %d (one every 10 ms)", sent, want)
	}
	// The bound is the protocol's: a backup takes over only after
	// Master_Down_Interval (3 intervals plus the skew, RFC 5798 §6.1), so an
	// advert up to 2 intervals late cannot cause a failover. None may be
	// later than that, and few later than LateThreshold: the kernel itself
	// may hold a rare one (this machine is shared: softirq work of other
	// tests' traffic runs before any task, real-time or not). In process the
	// same storm makes 8-22 % of adverts late by up to 140 ms. Counted from
	// the histogram's buckets during the storm only (Max covers the whole
	// run, start-up included).
	margin := 2 * ic.AdvertInterval
	var beyond uint64
	for k, b := range vrrp.LatenessBuckets {
		if b > margin {
			beyond += after.SendLateness.Counts[k] - before.SendLateness.Counts[k]
		}
	}
	beyond += sent - bucketed(after.SendLateness, before.SendLateness)
	if late > sent/20 || beyond > 0 {
		t.Errorf("%d of %d adverts left later than %v and %d later than %v during the storm and reloads (worst of the run %v); want at most 5 %% and none",
			late, sent, vrrp.LateThreshold(ic.AdvertInterval), beyond, margin, after.SendLateness.Max)
	}
}

// bucketed is how many observations between before and after fell in a
// bucket (the rest were above the last bound).
func bucketed(after, before vrrp.Histogram) uint64 {
	var n uint64
	for k := range after.Counts {
		n += after.Counts[k] - before.Counts[k]
	}
	return n
}
