package daemon

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// TestInstanceVIPs: address options, the VMAC and no_accept reach the VRRP
// engine's addresses.
func TestInstanceVIPs(t *testing.T) {
	in := &config.VRRPInstance{Interface: "eth1", UseVMAC: true, VMACName: "vrrp.51", NoAccept: true}
	got := instanceVIPs(in, []config.VirtualIP{
		{Prefix: netip.MustParsePrefix("172.16.1.1/24"), Scope: "link", Broadcast: netip.MustParseAddr("172.16.1.255"), NoPrefixRoute: true, NoDAD: true},
		{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Dev: "eth2", Label: "eth2:1", Home: true},
	})
	want := []vrrp.VIP{
		{Prefix: netip.MustParsePrefix("172.16.1.1/24"), Interface: "vrrp.51", Scope: unix.RT_SCOPE_LINK, Broadcast: netip.MustParseAddr("172.16.1.255"),
			Flags: unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_NODAD, NoAccept: true},
		{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Interface: "eth2", Label: "eth2:1", Flags: unix.IFA_F_HOMEADDRESS, NoAccept: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d addresses, want %d", len(got), len(want))
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("address %d: got %+v\nwant %+v", k, got[k], want[k])
		}
	}
}

// TestGarpFollowUps: unset lower-priority settings keep the master
// schedule; one set takes the master's value for the other.
func TestGarpFollowUps(t *testing.T) {
	repeat := 2
	var s vrrp.GARPSchedule
	garpFollowUps(&s, config.Garp{MasterRepeat: 5, MasterDelay: 5 * time.Second, MasterRefresh: time.Minute})
	if s.LowerPrioSet || s.Refresh != time.Minute {
		t.Errorf("unset: %+v", s)
	}
	s = vrrp.GARPSchedule{}
	garpFollowUps(&s, config.Garp{MasterRepeat: 5, MasterDelay: 5 * time.Second, LowerPrioRepeat: &repeat})
	if !s.LowerPrioSet || s.LowerPrioRepeat != 2 || s.LowerPrioDelay != 5*time.Second {
		t.Errorf("repeat set: %+v", s)
	}
	s = vrrp.GARPSchedule{}
	garpFollowUps(&s, config.Garp{ExtraIf: 100 * time.Second, ExtraIfAll: true})
	if s.ExtraIf != 100*time.Second || !s.ExtraIfAll {
		t.Errorf("garp_extra_if all 100: %+v", s)
	}
}

// TestAcceptServices: IPv4 and IPv6 services with a port are listed for
// the no_accept filter; fwmark and all-port services cannot be.
func TestAcceptServices(t *testing.T) {
	vip := netip.MustParseAddr("172.16.1.1")
	c := &config.Config{VirtualServers: []config.VirtualServer{
		{Address: vip, Port: 80, Protocol: config.ProtocolTCP},
		{Address: vip, Port: 53, Protocol: config.ProtocolUDP},
		{Address: vip, Port: 0, Protocol: config.ProtocolTCP},
		{FWMark: 7},
		{Address: netip.MustParseAddr("fd00:172:16:1::1"), Port: 80, Protocol: config.ProtocolTCP},
	}}
	got := acceptServices(c)
	want := []vrrp.ServicePort{{Addr: vip, Protocol: "tcp", Port: 80}, {Addr: vip, Protocol: "udp", Port: 53},
		{Addr: netip.MustParseAddr("fd00:172:16:1::1"), Protocol: "tcp", Port: 80}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
