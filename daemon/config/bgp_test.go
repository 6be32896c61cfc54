package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// bgpBlock is a valid drlb_bgp block of 9 lines, with extra lines after
// local_as (line 4 on; an empty line 4 without).
func bgpBlock(extra ...string) string {
	return "drlb_bgp {\nrouter_id 10.0.0.11\nlocal_as 65001\n" + strings.Join(extra, "\n") +
		"\nneighbor 10.0.0.254 {\nremote_as 65000\nhold_time 9\n}\n}\n"
}

// announced is a virtual server that drlb_bgp_announce makes valid.
const announced = "virtual_server 10.9.9.9 80 {\nlb_algo mh\nlb_kind DR\ndrlb_bgp_announce\nprotocol TCP\nreal_server 10.0.0.99 80 {\n}\n}\n"

func TestBGPParse(t *testing.T) {
	cfg, ds, err := Parse("t.conf", []byte(bgpBlock("drain_delay 1.5", "listen_port 1790")+announced), Options{})
	if err != nil {
		t.Fatalf("err %v, diagnostics %v", err, ds)
	}
	if len(ds) != 0 {
		t.Errorf("diagnostics: %v", ds)
	}
	g := cfg.BGP
	if g == nil || g.RouterID != netip.MustParseAddr("10.0.0.11") || g.LocalAS != 65001 || g.DrainDelay != 1500*time.Millisecond ||
		g.ListenPort != 1790 || len(g.Neighbors) != 1 {
		t.Fatalf("BGP = %+v", g)
	}
	if n := g.Neighbors[0]; n.Address != netip.MustParseAddr("10.0.0.254") || n.RemoteAS != 65000 || n.HoldTime != 9*time.Second || n.Pos.Line != 6 {
		t.Errorf("neighbor = %+v", n)
	}
	if vs := cfg.VirtualServers[0]; !vs.BGPAnnounce || vs.BGPAnnouncePos.Line != 14 {
		t.Errorf("virtual server: announce %v at %+v", vs.BGPAnnounce, vs.BGPAnnouncePos)
	}

	// A virtual_server_group's addresses are each announced.
	cfg, ds, err = Parse("t.conf", []byte(bgpBlock()+"virtual_server_group G {\n10.9.9.9 80\n10.9.9.10 80\n}\n"+strings.Replace(announced, "10.9.9.9 80", "group G", 1)), Options{})
	if err != nil || len(cfg.VirtualServers) != 2 || !cfg.VirtualServers[1].BGPAnnounce {
		t.Errorf("announced group: %v, %v, %+v", err, ds, cfg.VirtualServers)
	}

	cfg, _, err = Parse("t.conf", []byte(bgpBlock()), Options{})
	if err != nil || cfg.BGP.DrainDelay != DefaultDrainDelay {
		t.Errorf("default drain_delay: %v, %v", cfg.BGP, err)
	}
}

func TestBGPDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		conf string
		want []want
	}{
		{"announce without drlb_bgp", announced, []want{"4:1: error: virtual_server 10.9.9.9:80: drlb_bgp_announce needs a drlb_bgp block"}},
		{"announce wlc", bgpBlock() + strings.Replace(announced, "lb_algo mh", "lb_algo wlc", 1),
			[]want{"13:1: error: virtual_server 10.9.9.9:80: drlb_bgp_announce needs lb_algo mh or sh (not wlc)"}},
		{"announce NAT", bgpBlock() + strings.Replace(announced, "lb_kind DR", "lb_kind NAT", 1),
			[]want{"13:1: error: virtual_server 10.9.9.9:80: drlb_bgp_announce needs lb_kind DR or TUN"}},
		{"announce v6 without v6 neighbor", bgpBlock() + strings.Replace(strings.Replace(announced, "10.9.9.9", "fd00::9", 1), "10.0.0.99", "fd00::99", 1),
			[]want{"13:1: error: virtual_server [fd00::9]:80: drlb_bgp_announce: no drlb_bgp neighbor of the address's family"}},
		{"announce fwmark", bgpBlock() + strings.Replace(announced, "10.9.9.9 80", "fwmark 7", 1),
			[]want{"13:1: error: virtual_server FWM 7: drlb_bgp_announce needs a service address, not a fwmark", "14:1: warning: protocol is ignored for a fwmark service", "15:1: warning: real_server 10.0.0.99: a DR fwmark service cannot use a port"}},
		{"announce a group with a fwmark", bgpBlock() + "virtual_server_group G {\n10.9.9.9 80\nfwmark 7\n}\n" + strings.Replace(announced, "10.9.9.9 80", "group G", 1),
			[]want{"17:1: error: virtual_server FWM 7 (group G): drlb_bgp_announce needs a service address, not a fwmark"}},
		{"missing everything", "drlb_bgp {\n}\n", []want{"1:1: error: drlb_bgp needs router_id", "1:1: error: drlb_bgp needs local_as", "1:1: error: drlb_bgp needs at least one neighbor"}},
		{"router id v6", strings.Replace(bgpBlock(), "router_id 10.0.0.11", "router_id fd00::1", 1),
			[]want{"1:1: error: drlb_bgp needs router_id", "2:11: error: drlb_bgp router_id fd00::1: must be an IPv4 address"}},
		{"local as zero", strings.Replace(bgpBlock(), "local_as 65001", "local_as 0", 1),
			[]want{"1:1: error: drlb_bgp needs local_as", "3:10: error: local_as 0 is out of range: must be 1..4294967295"}},
		{"hold time 2", strings.Replace(bgpBlock(), "hold_time 9", "hold_time 2", 1), []want{"7:11: error: hold_time 2: must be 0 or at least 3 seconds"}},
		{"no remote as", strings.Replace(bgpBlock(), "remote_as 65000\n", "", 1), []want{"5:1: error: neighbor 10.0.0.254 needs remote_as"}},
		{"bfd", strings.Replace(bgpBlock(), "hold_time 9", "bfd", 1), []want{"7:1: error: neighbor 10.0.0.254: bfd is not supported yet"}},
		{"neighbor twice", bgpBlock("neighbor 10.0.0.254 {", "remote_as 1", "}"), []want{"7:10: error: neighbor 10.0.0.254 is listed twice (first at t.conf:4)"}},
		{"typo", bgpBlock("local_ass 1"), []want{"4:1: warning: unknown keyword \"local_ass\" in drlb_bgp; did you mean \"local_as\"?"}},
		{"two blocks", bgpBlock() + bgpBlock(), []want{"10:1: error: second drlb_bgp block (first at t.conf:1)"}},
		{"bad neighbor", bgpBlock("neighbor 10.0.0 {", "}"), []want{"4:10: error: neighbor: \"10.0.0\" is not an IP address"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds, err := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.want)
			if err == nil && strings.Contains(string(tc.want[0]), "error") {
				t.Error("an error diagnostic, but Parse returned no error")
			}
		})
	}
}
