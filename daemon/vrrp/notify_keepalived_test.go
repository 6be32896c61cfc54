package vrrp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
)

// TestLabNotifyArgumentsMatchKeepalived runs the same notify script for
// instances VI_1 (MASTER, 150) and VI_2 (BACKUP, 100, moved along by the
// group) in a sync group G under drlb (host a, VRIDs 51, 53) and under
// keepalived 2.2.7 (host b, VRIDs 52, 54, so both sides become master), and
// compares what each passed: BACKUP at start, MASTER, and STOP after
// SIGTERM or cancel, with each instance's priority and 0 for the group.
func TestLabNotifyArgumentsMatchKeepalived(t *testing.T) {
	l := newLab(t)
	testenv.Privileged(t, "keepalived")
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	dir := t.TempDir()
	script := filepath.Join(dir, "notify.sh")
	// First argument: which log; the rest is what the daemon passed.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nf=$1\nshift\necho \"$*\" >> "+dir+"/$f.log\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lines := func(f string) []string {
		data, _ := os.ReadFile(filepath.Join(dir, f+".log"))
		return strings.Split(strings.TrimSpace(string(data)), "\n")
	}

	k := runKeepalived(t, b, dir, fmt.Sprintf(`global_defs {
  router_id b
  script_user root
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  notify "%[1]s keepalived"
}
vrrp_instance VI_1 {
  state MASTER
  interface eth1
  virtual_router_id 52
  priority 150
  advert_int 1
  notify "%[1]s keepalived"
  virtual_ipaddress {
    172.16.1.52/24
  }
}
vrrp_instance VI_2 {
  state BACKUP
  interface eth1
  virtual_router_id 54
  priority 100
  advert_int 1
  notify "%[1]s keepalived"
  virtual_ipaddress {
    172.16.1.54/24
  }
}
`, script))

	ic := InstanceConfig{Name: "VI_1", Interface: "eth1", VRID: 51, Version: Version2, Priority: 150, WantMaster: true,
		AdvertInterval: time.Second, SourceIP: a.ip, VIPs: []VIP{{Prefix: netip.MustParsePrefix("172.16.1.51/24")}},
		GARP: GARPSchedule{Repeat: 1, Delay: -1}, Notify: NotifyScripts{Notify: script + " drlb"}}
	// VI_2 (BACKUP, priority 100) follows VI_1 to MASTER through the group.
	ic2 := ic
	ic2.Name, ic2.VRID, ic2.Priority, ic2.WantMaster = "VI_2", 53, 100, false
	ic2.VIPs = []VIP{{Prefix: netip.MustParsePrefix("172.16.1.53/24")}}
	node, err := NewNode(Config{Instances: []InstanceConfig{ic, ic2},
		SyncGroups: []SyncGroupConfig{{Name: "G", Instances: []string{"VI_1", "VI_2"}, Notify: NotifyScripts{Notify: script + " drlb"}}}},
		Options{NetNS: a.ns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	var stopOnce sync.Once
	stopDrlb := func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return")
			}
		})
	}
	t.Cleanup(stopDrlb)

	// Both masters (keepalived: Master_Down_Interval of about 3.4 s).
	master := func(f string) bool { return strings.Contains(strings.Join(lines(f), "\n"), "GROUP G MASTER") }
	eventually(t, 8*time.Second, "both in MASTER", func() bool { return master("drlb") && master("keepalived") })
	stopDrlb()
	k.stop(t, syscall.SIGTERM)
	eventually(t, 3*time.Second, "both in STOP", func() bool {
		return strings.Contains(strings.Join(lines("drlb"), "\n"), "GROUP G STOP") &&
			strings.Contains(strings.Join(lines("keepalived"), "\n"), "GROUP G STOP")
	})
	// Each script runs in its own process (keepalived forks without
	// waiting, drlb starts one goroutine per transition), so the order of
	// lines written at the same moment is not defined: compare them sorted.
	got, want := lines("drlb"), lines("keepalived")
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notify arguments differ:\n--- drlb\n%s\n--- keepalived\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("keepalived passed:\n%s", strings.Join(want, "\n"))
}
