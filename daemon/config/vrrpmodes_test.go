package config

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStrictAndAcceptModes follows keepalived 2.2.x's vrrp_complete_instance:
// what strict mode refuses, what it clears, and accept's default.
func TestStrictAndAcceptModes(t *testing.T) {
	global := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" }
	type model struct{ strict, noAccept, master, auth bool }
	cases := []struct {
		name  string
		conf  string
		model model
		diags []want
	}{
		{"default: accept", inst(), model{}, nil},
		{"no_accept", inst("no_accept"), model{noAccept: true}, nil},
		{"vrrp_strict: no_accept by default", global("vrrp_strict") + inst(), model{strict: true, noAccept: true}, nil},
		{"strict_mode on the instance", inst("strict_mode"), model{strict: true, noAccept: true}, nil},
		{"strict_mode off beats vrrp_strict", global("vrrp_strict") + inst("strict_mode off"), model{}, nil},
		{"strict owner accepts", global("vrrp_strict") + inst("priority 255", "state MASTER"), model{strict: true, master: true}, nil},
		{"strict v3 accept kept", global("vrrp_strict") + inst("version 3", "accept"), model{strict: true}, nil},
		{"strict v2 accept reset", global("vrrp_strict") + inst("accept"), model{strict: true, noAccept: true},
			[]want{"5:1: warning: vrrp_instance VI: accept mode for VRRP version 2 does not comply with RFC 3768"}},
		{"strict clears authentication", global("vrrp_strict") + inst("authentication {", "auth_type PASS", "auth_pass secret", "}"), model{strict: true, noAccept: true},
			[]want{"5:1: warning: vrrp_instance VI: strict mode does not support authentication; ignored"}},
		{"authentication kept without strict", inst("authentication {", "auth_type PASS", "auth_pass secret", "}"), model{auth: true}, nil},
		{"strict state MASTER needs owner", global("vrrp_strict") + inst("state MASTER"), model{strict: true, noAccept: true},
			[]want{"5:1: warning: vrrp_instance VI: in strict mode state MASTER must match being the address owner (priority 255); state BACKUP"}},
		{"strict preempt_delay", global("vrrp_strict") + inst("preempt_delay 5"), model{strict: true, noAccept: true},
			[]want{"5:1: warning: vrrp_instance VI: preempt_delay is incompatible with strict mode"}},
		{"strict refuses unicast peers", global("vrrp_strict") + inst("unicast_peer {", "10.0.0.9", "}"), model{strict: true, noAccept: true},
			[]want{"5:1: error: vrrp_instance VI: unicast peers are not supported in strict mode"}},
		{"accept takes no value", inst("accept yes"), model{}, []want{"2:8: warning: accept takes no value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			if cfg == nil || len(cfg.Instances) != 1 {
				t.Fatalf("want one instance, got %+v", cfg)
			}
			in := cfg.Instances[0]
			got := model{strict: in.StrictMode, noAccept: in.NoAccept, master: in.State == StateMaster, auth: in.Auth.Type != AuthNone}
			if got != tc.model {
				t.Errorf("got %+v, want %+v", got, tc.model)
			}
		})
	}
}

// TestUseVMAC: the VMAC's name and which addresses move onto it.
func TestUseVMAC(t *testing.T) {
	conf := "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 51\nuse_vmac\nvirtual_ipaddress {\n10.0.0.1\n10.0.0.2 dev eth0\n10.0.1.1 dev eth2\n}\n}\n"
	cfg, ds, err := Parse("t.conf", []byte(conf), Options{})
	if err != nil || len(ds) != 0 {
		t.Fatalf("parse: %v %v", err, ds)
	}
	in := &cfg.Instances[0]
	if !in.UseVMAC || in.VMACName != "vrrp.51" {
		t.Fatalf("UseVMAC %v name %q, want vrrp.51", in.UseVMAC, in.VMACName)
	}
	for k, dev := range []string{"vrrp.51", "vrrp.51", "eth2"} {
		if got := in.VIPDevice(in.VirtualIPs[k]); got != dev {
			t.Errorf("VIP %v on %q, want %q", in.VirtualIPs[k].Prefix, got, dev)
		}
	}
	if VMACAddress(51) != [6]byte{0, 0, 0x5e, 0, 1, 51} {
		t.Errorf("VMACAddress(51) = %x", VMACAddress(51))
	}

	for _, tc := range []struct {
		name, conf string
		diags      []want
		vmac       string
		xmit       bool
	}{
		{"named", inst("use_vmac vmac1", "vmac_xmit_base"), nil, "vmac1", true},
		{"name too long", inst("use_vmac abcdefghijklmnopq"), []want{"2:10: error: use_vmac \"abcdefghijklmnopq\": an interface name has at most 15 characters"}, "vrrp.1", false},
		{"xmit_base without vmac", inst("vmac_xmit_base"), []want{"2:1: warning: vrrp_instance VI: vmac_xmit_base is only valid with use_vmac"}, "", false},
		{"xmit_base in strict mode", inst("strict_mode", "use_vmac", "vmac_xmit_base"), []want{"4:1: warning: vrrp_instance VI: vmac_xmit_base is incompatible with strict mode"}, "vrrp.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			in := cfg.Instances[0]
			if in.VMACName != tc.vmac || in.VMACXmitBase != tc.xmit {
				t.Errorf("vmac %q xmit %v, want %q %v", in.VMACName, in.VMACXmitBase, tc.vmac, tc.xmit)
			}
		})
	}
}

// TestVIPOptions: keepalived's address options reach the model.
func TestVIPOptions(t *testing.T) {
	cfg, ds, err := Parse("t.conf", []byte(inst("virtual_ipaddress {",
		"10.0.0.2/24 dev eth2 brd 10.0.0.255 scope link label eth2:1 no_track home -nodad noprefixroute", "}")), Options{})
	if err != nil || len(ds) != 0 {
		t.Fatalf("parse: %v %v", err, ds)
	}
	v := cfg.Instances[0].VirtualIPs[0]
	v.Pos = Position{}
	want := VirtualIP{Prefix: netip.MustParsePrefix("10.0.0.2/24"), Dev: "eth2", Label: "eth2:1", Broadcast: netip.MustParseAddr("10.0.0.255"),
		Scope: "link", NoTrack: true, Home: true, NoDAD: true, NoPrefixRoute: true}
	if v != want {
		t.Errorf("got %+v\nwant %+v", v, want)
	}
	for name, n := range map[string]uint8{"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255, "42": 42} {
		if got, ok := AddressScope(name); !ok || got != n {
			t.Errorf("AddressScope(%q) = %d %v, want %d", name, got, ok, n)
		}
	}
	if _, ok := AddressScope("256"); ok {
		t.Error("AddressScope(256) accepted")
	}
}

// TestGarpFollowUps: refresh and lower-priority settings, global then
// instance, and strict mode's reset.
func TestGarpFollowUps(t *testing.T) {
	conf := "global_defs {\nvrrp_garp_master_refresh 60\nvrrp_garp_lower_prio_repeat 2\n}\n" + inst("garp_master_refresh_repeat 3", "garp_lower_prio_delay 10")
	cfg, ds, err := Parse("t.conf", []byte(conf), Options{})
	if err != nil || len(ds) != 0 {
		t.Fatalf("parse: %v %v", err, ds)
	}
	g := cfg.Instances[0].Garp
	if g.MasterRefresh != time.Minute || g.MasterRefreshRepeat != 3 || g.LowerPrioRepeat == nil || *g.LowerPrioRepeat != 2 ||
		g.LowerPrioDelay == nil || *g.LowerPrioDelay != 10*time.Second {
		t.Errorf("garp %+v", g)
	}
	cfg, ds, _ = Parse("t.conf", []byte("global_defs {\nvrrp_strict\n}\n"+inst("garp_lower_prio_repeat 2")), Options{})
	assertDiags(t, ds, []want{"4:1: warning: vrrp_instance VI: strict mode requires no lower-priority gratuitous ARPs"})
	if g := cfg.Instances[0].Garp; g.LowerPrioRepeat == nil || *g.LowerPrioRepeat != 0 {
		t.Errorf("strict: lower_prio_repeat %v, want 0", g.LowerPrioRepeat)
	}
}

// TestGarpGroup: a garp_group's interval reaches the instances on its
// interfaces, unless they set garp_interval themselves.
func TestGarpGroup(t *testing.T) {
	conf := "garp_group {\ngarp_interval 0.01\ngna_interval 0.02\ninterfaces {\neth0\neth9\n}\n}\n" +
		inst() + strings.Replace(strings.Replace(inst("garp_interval 0.5"), "VI {", "VJ {", 1), "virtual_router_id 1", "virtual_router_id 2", 1) + strings.Replace(strings.Replace(inst(), "VI {", "VK {", 1), "eth0", "eth1", 1)
	cfg, ds, err := Parse("t.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatalf("parse: %v %v", err, ds)
	}
	intervals := map[string]time.Duration{"VI": 10 * time.Millisecond, "VJ": 500 * time.Millisecond, "VK": 0}
	for _, in := range cfg.Instances {
		if in.Name == "VI" && in.Garp.NAInterval != 20*time.Millisecond {
			t.Errorf("VI: gna_interval %v, want 20ms", in.Garp.NAInterval)
		}
		if in.Garp.Interval != intervals[in.Name] {
			t.Errorf("%s on %s: garp interval %v, want %v", in.Name, in.Interface, in.Garp.Interval, intervals[in.Name])
		}
	}
	_, ds, _ = Parse("t.conf", []byte("garp_group {\ngarp_interval 1\n}\n"), Options{})
	assertDiags(t, ds, []want{"1:1: error: garp_group has no interface"})
}

// TestVMACNameTaken: under host checks, an interface of the VMAC's name
// that is not the VMAC is an error (drlb run refuses it); the VMAC itself,
// left by a killed predecessor, is fine.
func TestVMACNameTaken(t *testing.T) {
	conf := inst("use_vmac")
	conf6 := strings.Replace(inst("use_vmac"), "10.0.0.1\n", "fd00::1\n", 1)
	for _, tc := range []struct {
		name  string
		conf  string
		mac   net.HardwareAddr
		diags []want
	}{
		{"absent", conf, nil, nil},
		{"our VMAC", conf, net.HardwareAddr{0, 0, 0x5e, 0, 1, 1}, nil},
		{"another interface", conf, net.HardwareAddr{2, 0, 0, 0, 0, 1}, []want{"2:1: error: use_vmac: interface vrrp.1 exists on this host with MAC 02:00:00:00:00:01"}},
		{"our IPv6 VMAC", conf6, net.HardwareAddr{0, 0, 0x5e, 0, 2, 1}, nil},
		{"the IPv4 VMAC for an IPv6 instance", conf6, net.HardwareAddr{0, 0, 0x5e, 0, 1, 1}, []want{"2:1: error: use_vmac: interface vrrp.1 exists on this host with MAC 00:00:5e:00:01:01, so it is not the VMAC 00:00:5e:00:02:01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ds, _ := Parse("t.conf", []byte(tc.conf), Options{HostChecks: true, InterfaceExists: func(string) bool { return true },
				InterfaceMAC: func(string) net.HardwareAddr { return tc.mac }})
			assertDiags(t, ds, tc.diags)
		})
	}
}

// TestModesIPv6: strict mode runs an IPv6 instance as VRRPv3; no accept
// mode (explicit, or strict mode's default) and use_vmac work for IPv6 as
// for IPv4.
func TestModesIPv6(t *testing.T) {
	v6 := func(lines ...string) string {
		return strings.Replace(inst(lines...), "10.0.0.1\n", "fd00::1\n", 1)
	}
	cases := []struct {
		name     string
		conf     string
		diags    []want
		version  int
		noAccept bool
	}{
		{"accept", v6("accept"), nil, 3, false},
		{"strict v2 becomes v3", "global_defs {\nvrrp_strict\n}\n" + v6("version 2", "accept"), []want{
			"5:1: warning: vrrp_instance VI: version 2 over IPv6", "4:1: warning: vrrp_instance VI: strict mode cannot use IPv6 with VRRP version 2; version 3"}, 3, false},
		{"no_accept", v6("no_accept"), nil, 3, true},
		{"strict without accept", "global_defs {\nvrrp_strict\n}\n" + v6(), nil, 3, true},
		{"use_vmac", v6("use_vmac", "accept"), nil, 3, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			if v := cfg.Instances[0].Version; v != tc.version {
				t.Errorf("version %d, want %d", v, tc.version)
			}
			if na := cfg.Instances[0].NoAccept; na != tc.noAccept {
				t.Errorf("no_accept %v, want %v", na, tc.noAccept)
			}
		})
	}
}

// TestGarpExtraIf: garp_extra_if [all] SECONDS in an instance, the global
// vrrp_garp_extra_if as its default, and the deprecated vmac_garp_intvl
// spellings with a warning, as keepalived's handlers read them.
func TestGarpExtraIf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conf  string
		diags []want
		every time.Duration
		all   bool
	}{
		{"unset", inst(), nil, 0, false},
		{"instance", inst("garp_extra_if 100"), nil, 100 * time.Second, false},
		{"instance all", inst("garp_extra_if all 60"), nil, time.Minute, true},
		{"all after the time", inst("garp_extra_if 60 all"), nil, time.Minute, true},
		{"global", "global_defs {\nvrrp_garp_extra_if all 30\n}\n" + inst(), nil, 30 * time.Second, true},
		{"instance wins", "global_defs {\nvrrp_garp_extra_if 30\n}\n" + inst("garp_extra_if 0"), nil, 0, false},
		{"deprecated", inst("vmac_garp_intvl 10"), []want{"2:1: warning: vmac_garp_intvl is deprecated; use garp_extra_if"}, 10 * time.Second, false},
		{"deprecated global", "global_defs {\nvrrp_vmac_garp_intvl 10\n}\n" + inst(),
			[]want{"2:1: warning: vrrp_vmac_garp_intvl is deprecated; use vrrp_garp_extra_if"}, 10 * time.Second, false},
		{"no time", inst("garp_extra_if all"), []want{"2:1: error: garp_extra_if needs a time in seconds"}, 0, false},
		{"too long", inst("garp_extra_if 86401"), []want{"2:15: error: garp_extra_if \"86401\": want all and/or seconds 0-86400"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			if len(cfg.Instances) == 0 {
				t.Fatal("no instance")
			}
			if g := cfg.Instances[0].Garp; g.ExtraIf != tc.every || g.ExtraIfAll != tc.all {
				t.Errorf("extra_if %v all %v, want %v %v", g.ExtraIf, g.ExtraIfAll, tc.every, tc.all)
			}
		})
	}
}

// TestVMACPrefix: global vmac_prefix names the VMACs use_vmac makes up
// (PREFIX.VRID); a name given to use_vmac wins; the prefix must leave room
// for ".VRID" in an interface name.
func TestVMACPrefix(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		diags      []want
		vmac       string
	}{
		{"default", inst("use_vmac"), nil, "vrrp.1"},
		{"prefix", "global_defs {\nvmac_prefix vm\n}\n" + inst("use_vmac"), nil, "vm.1"},
		{"named wins", "global_defs {\nvmac_prefix vm\n}\n" + inst("use_vmac mine"), nil, "mine"},
		{"first wins", "global_defs {\nvmac_prefix vm\nvmac_prefix other\n}\n" + inst("use_vmac"),
			[]want{"3:1: warning: vmac_prefix has already been specified; \"other\" ignored"}, "vm.1"},
		{"too long", "global_defs {\nvmac_prefix abcdefghijkl\n}\n" + inst("use_vmac"),
			[]want{"2:13: error: vmac_prefix \"abcdefghijkl\": PREFIX.VRID must fit in an interface name"}, "vrrp.1"},
		{"bad name", "global_defs {\nvmac_prefix a/b\n}\n" + inst("use_vmac"),
			[]want{"2:13: error: vmac_prefix \"a/b\" cannot start an interface name"}, "vrrp.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			if got := cfg.Instances[0].VMACName; got != tc.vmac {
				t.Errorf("VMAC name %q, want %q", got, tc.vmac)
			}
		})
	}
}

// TestAddressVMACs: use_vmac_addr and the address option use_vmac put
// addresses on other interfaces (or of the other family) on VMACs of
// their own, named as keepalived's create_vmac_name does (vmac_addr_prefix,
// else vmac_prefix; a name taken moves on to PREFIX6.VRID for IPv6, then
// PREFIX1.VRID ...), one per interface and family.
func TestAddressVMACs(t *testing.T) {
	const vips = "\nvirtual_ipaddress {\n10.0.0.1\n10.0.1.1 dev eth2\n10.0.1.2 dev eth2\n}\nvirtual_ipaddress_excluded {\nfd00::1\n10.0.2.1 dev eth3 use_vmac\n}\n}\n"
	conf := func(global string, lines ...string) string {
		g := ""
		if global != "" {
			g = "global_defs {\n" + global + "\n}\n"
		}
		return g + "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 51\n" + strings.Join(lines, "\n") + vips
	}
	type dev struct{ addr, dev string }
	for _, tc := range []struct {
		name  string
		conf  string
		diags []want
		vmacs []AddressVMAC
		devs  []dev
	}{
		{"only the address option", conf(""), nil,
			[]AddressVMAC{{"vrrp.51", "eth3", false}},
			[]dev{{"10.0.0.1", "eth0"}, {"10.0.1.1", "eth2"}, {"fd00::1", "eth0"}, {"10.0.2.1", "vrrp.51"}}},
		{"use_vmac_addr", conf("", "use_vmac_addr"), nil,
			[]AddressVMAC{{"vrrp.51", "eth2", false}, {"vrrp6.51", "eth0", true}, {"vrrp1.51", "eth3", false}},
			[]dev{{"10.0.0.1", "eth0"}, {"10.0.1.1", "vrrp.51"}, {"10.0.1.2", "vrrp.51"}, {"fd00::1", "vrrp6.51"}, {"10.0.2.1", "vrrp1.51"}}},
		{"with use_vmac", conf("vmac_addr_prefix va", "use_vmac", "use_vmac_addr"), nil,
			[]AddressVMAC{{"va.51", "eth2", false}, {"va6.51", "eth0", true}, {"va1.51", "eth3", false}},
			[]dev{{"10.0.0.1", "vrrp.51"}, {"10.0.1.1", "va.51"}, {"fd00::1", "va6.51"}, {"10.0.2.1", "va1.51"}}},
		{"vmac_prefix for both", conf("vmac_prefix vm", "use_vmac", "use_vmac_addr"), nil,
			[]AddressVMAC{{"vm1.51", "eth2", false}, {"vm6.51", "eth0", true}, {"vm2.51", "eth3", false}},
			[]dev{{"10.0.0.1", "vm.51"}, {"10.0.1.1", "vm1.51"}}},
		{"use_vmac on the instance's own address", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 51\nuse_vmac\nvirtual_ipaddress {\n10.0.0.1 use_vmac\n}\n}\n",
			[]want{"6:1: warning: vrrp_instance VI: use_vmac for 10.0.0.1/32, which is on the instance's VMAC anyway"}, nil,
			[]dev{{"10.0.0.1", "vrrp.51"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			in := &cfg.Instances[0]
			if !slices.Equal(in.AddressVMACs, tc.vmacs) {
				t.Errorf("address VMACs %+v, want %+v", in.AddressVMACs, tc.vmacs)
			}
			for _, d := range tc.devs {
				i := slices.IndexFunc(append(slices.Clone(in.VirtualIPs), in.ExcludedVIPs...), func(v VirtualIP) bool { return v.Prefix.Addr().String() == d.addr })
				if i < 0 {
					t.Fatalf("no address %s", d.addr)
				}
				v := append(slices.Clone(in.VirtualIPs), in.ExcludedVIPs...)[i]
				if got := in.VIPDevice(v); got != d.dev {
					t.Errorf("%s on %s, want %s", d.addr, got, d.dev)
				}
			}
		})
	}
}

// TestDualStackVMACNames: an IPv4 and an IPv6 instance with one VRID and
// use_vmac get vrrp.VRID and vrrp6.VRID, as in keepalived.
func TestDualStackVMACNames(t *testing.T) {
	conf := inst("use_vmac") + strings.Replace(strings.Replace(inst("use_vmac"), "VI", "VI6", 1), "10.0.0.1\n", "fd00::1\n", 1)
	cfg, ds, _ := Parse("t.conf", []byte(conf), Options{})
	assertDiags(t, ds, nil)
	if a, b := cfg.Instances[0].VMACName, cfg.Instances[1].VMACName; a != "vrrp.1" || b != "vrrp6.1" {
		t.Errorf("VMAC names %q and %q, want vrrp.1 and vrrp6.1", a, b)
	}
}
