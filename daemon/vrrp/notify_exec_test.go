package vrrp

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotifyScriptsRunWithKeepalivedArguments runs real notify scripts
// (a shell script appending its arguments to a file) for an instance and
// its sync group, and checks the lines keepalived's vrrp_notify.c would
// produce: "INSTANCE name STATE effective-priority" and
// "GROUP name STATE 0", through MASTER and, at shutdown, STOP.
func TestNotifyScriptsRunWithKeepalivedArguments(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "notify.log")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := v3Instance("VI_1", "172.16.1.2", 150)
	in.WantMaster = true
	in.Notify = NotifyScripts{Notify: script + " inst"}
	cfg := Config{Instances: []InstanceConfig{in},
		SyncGroups: []SyncGroupConfig{{Name: "G1", Instances: []string{"VI_1"}, Notify: NotifyScripts{Notify: script + " group"}}}}
	node, err := NewNode(cfg, Options{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listen:    (&hub{}).listen,
		DialGARP:  func(string) (GARPSender, error) { return &fakeGARP{}, nil },
		Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}},
		LinkUp:    func(string) (bool, error) { return true, nil },
		RunScript: ExecScript,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	lines := func() string {
		b, _ := os.ReadFile(out)
		return string(b)
	}
	eventually(t, 3*time.Second, "MASTER notifies", func() bool {
		l := lines()
		return strings.Contains(l, "inst INSTANCE VI_1 MASTER 150\n") && strings.Contains(l, "group GROUP G1 MASTER 0\n")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Scripts started at shutdown run to completion; Run waits for them.
	eventually(t, 3*time.Second, "STOP notifies", func() bool {
		l := lines()
		return strings.Contains(l, "inst INSTANCE VI_1 STOP 150\n") && strings.Contains(l, "group GROUP G1 STOP 0\n")
	})
	if l := lines(); strings.Contains(l, "GROUP G1 MASTER 150") || strings.Contains(l, "GROUP G1 STOP 150") {
		t.Errorf("a group's notify got the instance's priority:\n%s", l)
	}
}
