package vrrp

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestGARPExtraIfInterfaces: garp_extra_if picks keepalived's interfaces
// (vrrp_send_vmac_update): the VMAC when it sends no adverts
// (vmac_xmit_base); with "all" also other interfaces, never the one that
// carries the adverts.
func TestGARPExtraIfInterfaces(t *testing.T) {
	const every = 100 * time.Second
	vmac := func(xmitBase, all bool) InstanceConfig {
		return InstanceConfig{Interface: "eth1", VMAC: "vrrp.51", VMACXmitBase: xmitBase, GARP: GARPSchedule{ExtraIf: every, ExtraIfAll: all}}
	}
	plain := func(all bool) InstanceConfig {
		return InstanceConfig{Interface: "eth1", GARP: GARPSchedule{ExtraIf: every, ExtraIfAll: all}}
	}
	for _, tc := range []struct {
		name   string
		c      InstanceConfig
		ifname string
		want   time.Duration
	}{
		{"off", InstanceConfig{Interface: "eth1", VMAC: "vrrp.51", VMACXmitBase: true}, "vrrp.51", 0},
		{"VMAC sending adverts", vmac(false, false), "vrrp.51", 0},
		{"VMAC with vmac_xmit_base", vmac(true, false), "vrrp.51", every},
		{"other interface without all", vmac(true, false), "eth0", 0},
		{"other interface with all", vmac(false, true), "eth0", every},
		{"base of a VMAC with all", vmac(false, true), "eth1", every},
		{"no VMAC, own interface, all", plain(true), "eth1", 0},
		{"no VMAC, other interface, all", plain(true), "eth0", every},
		{"no VMAC, other interface", plain(false), "eth0", 0},
	} {
		if got := tc.c.garpExtraIf(tc.ifname); got != tc.want {
			t.Errorf("%s: %s gets %v, want %v", tc.name, tc.ifname, got, tc.want)
		}
	}
}

// TestNodeGARPExtraIf: a MASTER with garp_extra_if all repeats one ARP
// for the first address on its other interface every interval, after the
// bursts, and none on the interface of its adverts; it stops when the
// instance stops.
func TestNodeGARPExtraIf(t *testing.T) {
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.GARP.ExtraIf, c.GARP.ExtraIfAll = 20*time.Millisecond, true
	first, second := netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("10.9.9.10")
	c.VIPs = append(c.VIPs, VIP{Prefix: netip.PrefixFrom(first, 32), Interface: "eth0"}, VIP{Prefix: netip.PrefixFrom(second, 32), Interface: "eth0"})
	senders := map[string]*fakeGARP{}
	var mu sync.Mutex
	node, err := NewNode(Config{Instances: []InstanceConfig{c}}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen, Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}},
		LinkUp: func(string) (bool, error) { return true, nil }, RunScript: (&scriptLog{}).run,
		DialGARP: func(ifname string) (GARPSender, error) {
			mu.Lock()
			defer mu.Unlock()
			senders[ifname] = &fakeGARP{}
			return senders[ifname], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	sent := func(ifname string) []netip.Addr {
		mu.Lock()
		defer mu.Unlock()
		g := senders[ifname]
		if g == nil {
			return nil
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		return append([]netip.Addr(nil), g.sent...)
	}
	// The bursts: 2 per address; then the extras, first address only.
	eventually(t, 2*time.Second, "3 extra ARPs on eth0", func() bool { return len(sent("eth0")) >= 4+3 })
	for _, ip := range sent("eth0")[4:] {
		if ip != first {
			t.Errorf("extra ARP for %v, want only %v", ip, first)
		}
	}
	if got := len(sent("eth1")); got != 2 {
		t.Errorf("eth1 (the adverts' interface) got %d ARPs, want the burst's 2 only", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped := len(sent("eth0"))
	time.Sleep(100 * time.Millisecond) // a period of 5 intervals: nothing more may come
	if got := len(sent("eth0")); got != stopped {
		t.Errorf("%d ARPs after the node stopped", got-stopped)
	}
}
