package vrrp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestLabVIPOptions: scope, brd and noprefixroute reach the kernel; the
// address without noprefixroute is the control that gets its prefix route.
func TestLabVIPOptions(t *testing.T) {
	l := newLab(t)
	host := l.addHost("a", "172.16.1.2")
	am := NetlinkAddresses{Handle: host.h}
	with := VIP{Prefix: netip.MustParsePrefix("10.9.0.5/24"), Interface: "eth1", Scope: unix.RT_SCOPE_LINK,
		Broadcast: netip.MustParseAddr("10.9.0.255"), Flags: unix.IFA_F_NOPREFIXROUTE}
	without := VIP{Prefix: netip.MustParsePrefix("10.9.1.5/24"), Interface: "eth1"}
	for _, v := range []VIP{with, without} {
		if err := am.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := host.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addrs {
		if a.IP.Equal(net.ParseIP("10.9.0.5")) {
			found = true
			if a.Scope != unix.RT_SCOPE_LINK || !a.Broadcast.Equal(net.ParseIP("10.9.0.255")) || a.Flags&unix.IFA_F_NOPREFIXROUTE == 0 {
				t.Errorf("10.9.0.5: scope %d brd %v flags %#x, want link, 10.9.0.255, noprefixroute", a.Scope, a.Broadcast, a.Flags)
			}
		}
	}
	if !found {
		t.Fatal("10.9.0.5 not added")
	}
	routes, err := host.h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{}
	for _, r := range routes {
		if r.Dst != nil {
			prefixes[r.Dst.String()] = true
		}
	}
	if prefixes["10.9.0.0/24"] || !prefixes["10.9.1.0/24"] {
		t.Errorf("routes %v: want 10.9.1.0/24 only (10.9.0.5 has noprefixroute)", prefixes)
	}
	for _, v := range []VIP{with, without} {
		if removed, err := am.Remove(v); err != nil || !removed {
			t.Errorf("remove %v: %v %v", v.Prefix, removed, err)
		}
	}
}

// TestLabRoutesAndRules: routes and rules reach the kernel and go again;
// adding twice and removing twice are not errors.
func TestLabRoutesAndRules(t *testing.T) {
	l := newLab(t)
	host := l.addHost("r", "172.16.1.2")
	rm := NetlinkRoutes{Handle: host.h}
	via := Route{Dst: netip.MustParsePrefix("10.20.0.0/16"), Via: netip.MustParseAddr("172.16.1.254"), Dev: "eth1", Table: 100, Metric: 7}
	hole := Route{Type: unix.RTN_BLACKHOLE, Dst: netip.MustParsePrefix("10.21.0.0/16")}
	rule := Rule{From: netip.MustParsePrefix("172.16.1.0/24"), FWMark: 5, Priority: 1234, Table: 100}
	for range 2 {
		for _, r := range []Route{via, hole} {
			if err := rm.AddRoute(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := rm.AddRule(rule); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (routes, rules int) {
		rs, err := host.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Dst != nil && (r.Dst.String() == "10.20.0.0/16" && r.Table == 100 && r.Priority == 7 || r.Dst.String() == "10.21.0.0/16" && r.Type == unix.RTN_BLACKHOLE) {
				routes++
			}
		}
		us, err := host.h.RuleList(netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Priority == 1234 && u.Table == 100 && u.Mark == 5 {
				rules++
			}
		}
		return routes, rules
	}
	if r, u := count(); r != 2 || u != 1 {
		t.Fatalf("in the kernel: %d routes, %d rules; want 2 and 1", r, u)
	}
	for range 2 {
		if err := rm.RemoveRule(rule); err != nil {
			t.Fatal(err)
		}
		for _, r := range []Route{via, hole} {
			if err := rm.RemoveRoute(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r, u := count(); r != 0 || u != 0 {
		t.Fatalf("after removal: %d routes, %d rules left", r, u)
	}
}
