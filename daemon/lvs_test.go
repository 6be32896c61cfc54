package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/daemon/vrrp"
)

// fakeSync records the sync daemon commands.
type fakeSync struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeSync) StartSyncDaemon(d ipvs.SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("start %s %s id=%d port=%d group=%s", d.State, d.Interface, d.SyncID, d.Port, d.Group))
	return nil
}

func (f *fakeSync) StopSyncDaemon(s ipvs.SyncState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+s.String())
	return nil
}

func (f *fakeSync) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// waitCalls waits for n calls (the worker runs on its own goroutine).
func (f *fakeSync) waitCalls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("calls %q, want %d", f.get(), n)
		}
		time.Sleep(time.Millisecond) // polling a fake: no kernel involved
	}
	return f.get()
}

// TestSyncDaemonFollowsVRRP: as keepalived, the sync daemon starts as
// backup, is master while its instance is MASTER, backup otherwise, and
// stops with the daemon; other instances' transitions change nothing.
func TestSyncDaemonFollowsVRRP(t *testing.T) {
	f := &fakeSync{}
	cfg := config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 7, Port: 8849, Group: netip.MustParseAddr("224.0.0.82")}
	s := startSyncDaemons(context.Background(), f, cfg, slog.Default())
	f.waitCalls(t, 2)
	s.observe("VI_2", vrrp.StateMaster) // another instance
	s.observe("VI_1", vrrp.StateMaster)
	f.waitCalls(t, 4)
	s.observe("VI_1", vrrp.StateMaster) // no change
	s.observe("VI_1", vrrp.StateFault)
	f.waitCalls(t, 6)
	s.stop()
	want := []string{
		"stop master", "start backup eth1 id=7 port=8849 group=224.0.0.82",
		"stop backup", "start master eth1 id=7 port=8849 group=224.0.0.82",
		"stop master", "start backup eth1 id=7 port=8849 group=224.0.0.82",
		"stop master", "stop backup",
	}
	if got := f.get(); !slices.Equal(got, want) {
		t.Errorf("calls\n%q\nwant\n%q", got, want)
	}
	var nilSync *syncDaemons
	nilSync.observe("VI_1", vrrp.StateMaster) // no lvs_sync_daemon: nothing, no panic
	nilSync.stop()
}

// TestSyncDaemonObserveNeverBlocks: VRRP's thread may report many
// transitions while the worker is busy; only the latest wish counts.
func TestSyncDaemonObserveNeverBlocks(t *testing.T) {
	s := &syncDaemons{cfg: config.SyncDaemon{Instance: "VI_1"}, want: make(chan bool, 1)}
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			s.observe("VI_1", []vrrp.State{vrrp.StateMaster, vrrp.StateBackup}[i%2])
		}
		s.observe("VI_1", vrrp.StateMaster)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("observe blocked")
	}
	if m := <-s.want; !m {
		t.Error("the latest wish (master) was lost")
	}
}

func TestSameSyncDaemon(t *testing.T) {
	a := &config.SyncDaemon{Pos: config.Position{Line: 1}, Interface: "eth1", Instance: "VI_1"}
	b := &config.SyncDaemon{Pos: config.Position{Line: 9}, Interface: "eth1", Instance: "VI_1"}
	c := &config.SyncDaemon{Interface: "eth1", Instance: "VI_1", SyncID: 2}
	switch {
	case !sameSyncDaemon(a, b):
		t.Error("a moved line is a change")
	case sameSyncDaemon(a, c):
		t.Error("a new sync id is no change")
	case sameSyncDaemon(a, nil) || !sameSyncDaemon(nil, nil):
		t.Error("nil handling")
	}
}
