package vrrpproc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/drlb/drlb/internal/testenv"
)

// syncBuffer is a log sink the test reads while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pair is two network namespaces joined by a veth pair, eth1 in each:
// a 172.16.1.2/24, b 172.16.1.3/24. Removed when the test ends.
type pair struct {
	a, b   netns.NsHandle
	ha, hb *netlink.Handle
}

func newPair(t *testing.T) *pair {
	t.Helper()
	testenv.Privileged(t)
	p := &pair{}
	open := func() (netns.NsHandle, *netlink.Handle) {
		n, err := cnins.TempNetNS()
		if err != nil {
			t.Fatalf("create netns: %v", err)
		}
		t.Cleanup(func() { _ = n.Close() })
		h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
		if err != nil {
			t.Fatalf("netlink: %v", err)
		}
		t.Cleanup(h.Close)
		return netns.NsHandle(n.Fd()), h
	}
	p.a, p.ha = open()
	p.b, p.hb = open()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", Namespace: netlink.NsFd(p.a)}, PeerName: "eth1", PeerNamespace: netlink.NsFd(p.b)}
	if err := p.ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	for _, x := range []struct {
		h  *netlink.Handle
		ip string
	}{{p.ha, "172.16.1.2/24"}, {p.hb, "172.16.1.3/24"}} {
		link, err := x.h.LinkByName("eth1")
		if err == nil {
			addr, _ := netlink.ParseAddr(x.ip)
			err = x.h.AddrAdd(link, addr)
		}
		if err == nil {
			err = x.h.LinkSetUp(link)
		}
		if err != nil {
			t.Fatalf("eth1 %s: %v", x.ip, err)
		}
	}
	return p
}

func hasAddr(t *testing.T, h *netlink.Handle, p netip.Prefix) bool {
	t.Helper()
	link, err := h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == p.String() })
}

// threadPolicies reads every thread's scheduling policy of process pid
// (field 41 of /proc/PID/task/TID/stat) by thread ID.
func threadPolicies(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		policy, err := strconv.Atoi(f[41-3])
		if err != nil {
			t.Fatal(err)
		}
		tid, _ := strconv.Atoi(e.Name())
		out[tid] = policy
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var testVIP = netip.MustParsePrefix("172.16.1.1/24")

func instance(prio uint8) vrrp.InstanceConfig {
	return vrrp.InstanceConfig{Name: "VI_1", Interface: "eth1", VRID: 51, Version: vrrp.Version3, Priority: prio,
		AdvertInterval: 100 * time.Millisecond, VIPs: []vrrp.VIP{{Prefix: testVIP}}, GARP: vrrp.GARPSchedule{Repeat: 1, Delay: time.Second}}
}

// TestChildRunsVRRP starts the real child (this test binary, through
// TestMain) in namespace a against an in-process node in namespace b:
// the child becomes MASTER with every thread real-time, answers Status
// and an Update, forwards its log and runs its notify script in the
// parent; when the parent's end of the socket closes, it sends priority
// 0 (b takes over at once) and removes its VIP.
func TestChildRunsVRRP(t *testing.T) {
	p := newPair(t)

	peerLog := &syncBuffer{}
	peer, err := vrrp.NewNode(vrrp.Config{Instances: []vrrp.InstanceConfig{instance(100)}},
		vrrp.Options{NetNS: p.b, Logger: slog.New(slog.NewTextHandler(peerLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	peerCtx, stopPeer := context.WithCancel(context.Background())
	peerDone := make(chan error, 1)
	go func() { peerDone <- peer.Run(peerCtx) }()
	t.Cleanup(func() {
		stopPeer()
		<-peerDone
	})

	logs := &syncBuffer{}
	var mu sync.Mutex
	var scripts [][]string
	var transitions []vrrp.Transition
	ic := instance(200)
	ic.Notify.Master = "/bin/notify-master-test"
	cfg := vrrp.Config{Instances: []vrrp.InstanceConfig{ic}, Thread: vrrp.ThreadConfig{RTPriority: vrrp.DefaultRTPriority, RLimitRTTime: vrrp.DefaultRLimitRTTime}}
	r, err := New(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		NetNS:  p.a,
		Name:   "drlb_vrrp",
		OnTransition: func(tr vrrp.Transition) {
			mu.Lock()
			transitions = append(transitions, tr)
			mu.Unlock()
		},
		RunScript: func(_ context.Context, argv []string) error {
			mu.Lock()
			scripts = append(scripts, argv)
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = r.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(StopTimeout + 5*time.Second):
			t.Error("Run did not return")
		}
		if t.Failed() {
			t.Logf("parent's log of the child:\n%s\npeer's log:\n%s", logs.String(), peerLog.String())
		}
	})

	// LastStatus does not ask the child: the transitions keep it current.
	waitFor(t, "the child to become MASTER", 10*time.Second, func() bool {
		st := r.LastStatus()
		return len(st) == 1 && st[0].State == vrrp.StateMaster
	})
	if st := r.Status(); st[0].State != vrrp.StateMaster || st[0].Counters.AdvertsSent == 0 {
		t.Errorf("Status: %+v", st[0])
	}
	waitFor(t, "the peer to be BACKUP", 5*time.Second, func() bool { return peer.Status()[0].State == vrrp.StateBackup })
	if !hasAddr(t, p.ha, testVIP) {
		t.Fatal("VIP not on a's eth1")
	}
	pid := r.PID()
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("child PID %d", pid)
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "drlb_vrrp" {
		t.Errorf("child's name is %q, want drlb_vrrp", comm)
	}
	// Every thread of the child, including those the runtime started
	// after the policy was set, is SCHED_RR.
	waitFor(t, "the child's threads to settle", 5*time.Second, func() bool { return len(threadPolicies(t, pid)) >= 3 })
	for tid, pol := range threadPolicies(t, pid) {
		if pol != unix.SCHED_RR {
			t.Errorf("child thread %d: policy %d, want SCHED_RR (%d)", tid, pol, unix.SCHED_RR)
		}
	}
	// The log comes through the parent's logger, the notify script runs in the parent.
	waitFor(t, "the child's log line", 5*time.Second, func() bool { return strings.Contains(logs.String(), "Entering MASTER STATE") })
	waitFor(t, "the notify script", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(scripts, func(a []string) bool { return slices.Equal(a, []string{"/bin/notify-master-test"}) })
	})
	mu.Lock()
	if len(transitions) == 0 || transitions[len(transitions)-1].To != vrrp.StateMaster {
		t.Errorf("transitions: %+v", transitions)
	}
	mu.Unlock()

	// Update round trip: a priority change is applied in place.
	ic.Priority = 150
	res, err := r.Update(ctx, vrrp.Config{Instances: []vrrp.InstanceConfig{ic}, Thread: cfg.Thread})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Kind != vrrp.ChangeInPlace {
		t.Errorf("Update result: %+v", res)
	}
	if st := r.Status(); st[0].Priority != 150 {
		t.Errorf("priority after Update: %d", st[0].Priority)
	}
	// A configuration the node refuses comes back as vrrp.ErrConfig.
	bad := ic
	bad.VRID = 0
	if _, err := r.Update(ctx, vrrp.Config{Instances: []vrrp.InstanceConfig{ic, bad}}); err == nil {
		t.Error("Update took a duplicate instance")
	}

	// The parent's end goes away: the child stops on its own.
	zero := peer.Status()[0].Counters.PriorityZeroReceived
	(*r.conn.Load()).Close()
	select {
	case <-done:
	case <-time.After(StopTimeout):
		t.Fatal("Run did not return after the socket closed")
	}
	t.Logf("Run after the socket closed: %v", runErr) // no Exit message can come: an error
	waitFor(t, "the peer to take over", 5*time.Second, func() bool { return peer.Status()[0].State == vrrp.StateMaster })
	if got := peer.Status()[0].Counters.PriorityZeroReceived; got <= zero {
		t.Errorf("peer received %d priority-0 adverts, want more than %d", got, zero)
	}
	if hasAddr(t, p.ha, testVIP) {
		t.Error("the child left its VIP on a's eth1")
	}
	if err := unix.Kill(pid, 0); err == nil {
		waitFor(t, "the child to exit", 5*time.Second, func() bool { return unix.Kill(pid, 0) != nil })
	}
}
