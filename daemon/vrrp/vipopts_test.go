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
