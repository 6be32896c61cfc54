package vrrpproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/vrrp"
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

// TestKeeperRespawnsADeadChild runs the real child in namespace a: killed
// with SIGKILL it comes back (a new PID, MASTER again, its VIP once), a
// configuration given while it is down is the new child's, and past the
// limit Run ends with ErrRespawnLimit.
func TestKeeperRespawnsADeadChild(t *testing.T) {
	p := newPair(t)
	var logs syncBuffer
	var respawns atomic.Int64
	cfg := vrrp.Config{Instances: []vrrp.InstanceConfig{instance(200)}}
	k, err := NewKeeper(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), NetNS: p.a},
		KeeperOptions{Burst: 2, Interval: time.Minute, OnRespawn: func(int) { respawns.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	master := func() bool {
		st := k.Status()
		return len(st) == 1 && st[0].State == vrrp.StateMaster && k.ChildStatus().State == ChildRunning
	}
	waitFor(t, "MASTER", 10*time.Second, master)

	kill := func() int {
		t.Helper()
		pid := k.PID()
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			t.Fatalf("kill child %d: %v", pid, err)
		}
		return pid
	}
	old := kill()
	waitFor(t, "a new child", 10*time.Second, func() bool { pid := k.PID(); return pid != 0 && pid != old })
	waitFor(t, "MASTER again", 10*time.Second, master)
	if !strings.Contains(logs.String(), fmt.Sprintf("VRRP child process(%d) died: Respawning", old)) {
		t.Errorf("no respawn line in the log:\n%s", logs.String())
	}
	if !hasAddr(t, p.ha, testVIP) {
		t.Error("the new MASTER does not hold the VIP")
	}
	if got := k.ChildStatus(); got.Restarts != 1 || respawns.Load() != 1 {
		t.Errorf("restarts %d, OnRespawn %d; want 1", got.Restarts, respawns.Load())
	}

	// Down: an update is kept for the next child.
	old = kill()
	changed := cfg
	changed.Instances = []vrrp.InstanceConfig{instance(150)}
	if _, err := k.Update(ctx, changed); err != nil {
		t.Fatalf("Update while down: %v", err)
	}
	waitFor(t, "the new child at priority 150", 10*time.Second, func() bool {
		st := k.Status()
		return k.PID() != old && k.ChildStatus().State == ChildRunning && len(st) == 1 && st[0].Priority == 150
	})

	// The third death within the minute is one too many.
	kill()
	select {
	case err := <-done:
		if !errors.Is(err, ErrRespawnLimit) {
			t.Fatalf("Run: %v, want ErrRespawnLimit", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end after the limit")
	}
	if _, err := k.Update(ctx, cfg); !errors.Is(err, vrrp.ErrNotRunning) {
		t.Errorf("Update after the end: %v, want ErrNotRunning", err)
	}
}

// TestKeeperDontRespawn: with DontRespawn a dead child ends Run.
func TestKeeperDontRespawn(t *testing.T) {
	p := newPair(t)
	k, err := NewKeeper(vrrp.Config{Instances: []vrrp.InstanceConfig{instance(200)}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NetNS: p.a}, KeeperOptions{DontRespawn: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- k.Run(context.Background()) }()
	waitFor(t, "a child", 10*time.Second, func() bool { return k.ChildStatus().State == ChildRunning })
	pid := k.PID()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("vrrp child process(%d) died (--dont-respawn)", pid)) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end")
	}
}
