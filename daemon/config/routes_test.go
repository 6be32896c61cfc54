package config

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestRoutesAndRules: keepalived.conf(5)'s virtual_routes and
// virtual_rules examples, and what drlb refuses in them.
func TestRoutesAndRules(t *testing.T) {
	conf := inst("virtual_routes {",
		"src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1",
		"192.168.112.0/24 via 192.168.100.254 table 100 metric 5 onlink",
		"blackhole 192.168.114.0/24",
		"default gw 192.168.0.1 table main scope global",
		"}",
		"virtual_rules {",
		"from 192.168.2.0/24 table 1",
		"from 192.168.28.0/24 to 192.168.29.0/24 table 1 priority 11",
		"not from all fwmark 24/0xff lookup 2 iif eth0",
		"}") + "static_routes {\n10.1.0.0/16 dev eth0\n}\nstatic_rules {\nto 10.2.0.0/16 table 3\n}\nstatic_ipaddress {\n10.3.0.1/24 dev eth0\n}\n"
	cfg, ds, err := Parse("t.conf", []byte(conf), Options{})
	if err != nil || len(ds) != 0 {
		t.Fatalf("parse: %v %v", err, ds)
	}
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	in := cfg.Instances[0]
	for k := range in.VirtualRoutes {
		in.VirtualRoutes[k].Pos = Position{}
	}
	for k := range in.VirtualRules {
		in.VirtualRules[k].Pos = Position{}
	}
	wantRoutes := []Route{
		{Src: addr("192.168.100.1"), Dst: pfx("192.168.109.0/24"), Via: addr("192.168.200.254"), Dev: "eth1"},
		{Dst: pfx("192.168.112.0/24"), Via: addr("192.168.100.254"), Table: 100, Metric: 5, OnLink: true},
		{Type: RouteBlackhole, Dst: pfx("192.168.114.0/24")},
		{Dst: pfx("0.0.0.0/0"), Via: addr("192.168.0.1"), Table: 254, Scope: "global"},
	}
	if !reflect.DeepEqual(in.VirtualRoutes, wantRoutes) {
		t.Errorf("routes:\n got %+v\nwant %+v", in.VirtualRoutes, wantRoutes)
	}
	wantRules := []Rule{
		{From: pfx("192.168.2.0/24"), Table: 1},
		{From: pfx("192.168.28.0/24"), To: pfx("192.168.29.0/24"), Table: 1, Priority: 11},
		{Invert: true, FWMark: 24, FWMask: 0xff, Table: 2, Iif: "eth0"},
	}
	if !reflect.DeepEqual(in.VirtualRules, wantRules) {
		t.Errorf("rules:\n got %+v\nwant %+v", in.VirtualRules, wantRules)
	}
	if len(cfg.StaticRoutes) != 1 || len(cfg.StaticRules) != 1 || len(cfg.StaticAddresses) != 1 || cfg.Empty() {
		t.Errorf("static: %+v %+v %+v", cfg.StaticRoutes, cfg.StaticRules, cfg.StaticAddresses)
	}

	for _, tc := range []struct {
		name, conf string
		diags      []want
	}{
		{"multipath", inst("virtual_routes {", "10.0.0.0/8 via 10.1.1.1 or 10.1.1.2", "}"), []want{"3:25: error: virtual_routes: route option or is not supported yet"}},
		{"no destination", inst("virtual_routes {", "via 10.1.1.1", "}"), []want{"3:1: error: virtual_routes: the line has no destination"}},
		{"mixed family", inst("virtual_routes {", "2001:db8::/32 via 10.1.1.1", "}"), []want{"3:1: error: virtual_routes: the addresses of the line are not all of one family"}},
		{"rule without table", inst("virtual_rules {", "from 10.0.0.0/8", "}"), []want{"3:1: error: virtual_rules: the rule has no table"}},
		{"rule option", inst("virtual_rules {", "from all goto 5", "}"), []want{"3:10: error: virtual_rules: rule option \"goto\" is not supported yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
		})
	}
}

// TestNetNamespace: net_namespace is read, and a namespace that does not
// exist is a located error under host checks only (as an interface is).
func TestNetNamespace(t *testing.T) {
	conf := "net_namespace lbns\n" + inst()
	cfg, ds, err := Parse("t.conf", []byte(conf), Options{})
	if err != nil || len(ds) != 0 || cfg.NetNamespace != "lbns" {
		t.Fatalf("parse: %v %v %q", err, ds, cfg.NetNamespace)
	}
	_, ds, _ = Parse("t.conf", []byte(conf), Options{HostChecks: true, InterfaceExists: func(string) bool { return true },
		NetNamespaceExists: func(string) bool { return false }})
	assertDiags(t, ds, []want{"1:15: error: net_namespace lbns does not exist on this host"})
	_, ds, _ = Parse("t.conf", []byte("net_namespace a/b\n"+inst()), Options{})
	assertDiags(t, ds, []want{"1:15: error: net_namespace \"a/b\" is not a valid namespace name"})
}
