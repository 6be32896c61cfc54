package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestVRRPProtocolKeywords: each protocol tunable reaches the model, the
// global vrrp_ form is every instance's default, the instance's own wins,
// and strict mode resolves them as keepalived's vrrp_complete_instance.
func TestVRRPProtocolKeywords(t *testing.T) {
	global := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" }
	on, off := true, false
	type model struct {
		higher, lower                                          *bool
		down, ttl, rxbuf, timerExpired                         int
		skip, asV2, oldUnicast, promote, noPeerFault, trackSrc bool
		rxLower                                                string
		mcast                                                  netip.Addr
	}
	eq := func(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	cases := []struct {
		name  string
		conf  string
		model model
		diags []want
	}{
		{"defaults", inst(), model{}, nil},
		{"higher_prio_send_advert", inst("higher_prio_send_advert"), model{higher: &on}, nil},
		{"higher_prio_send_advert off", inst("higher_prio_send_advert off"), model{higher: &off}, nil},
		{"global higher", global("vrrp_higher_prio_send_advert") + inst(), model{higher: &on}, nil},
		{"instance beats global", global("vrrp_higher_prio_send_advert") + inst("higher_prio_send_advert false"), model{higher: &off}, nil},
		{"lower_prio_no_advert", inst("lower_prio_no_advert"), model{lower: &on}, nil},
		{"global lower", global("vrrp_lower_prio_no_advert true") + inst(), model{lower: &on}, nil},
		{"down_timer_adverts", inst("down_timer_adverts 5"), model{down: 5}, nil},
		{"global down_timer_adverts", global("vrrp_down_timer_adverts 10") + inst(), model{down: 10}, nil},
		{"down_timer_adverts range", inst("down_timer_adverts 101"), model{},
			[]want{"2:20: error: down_timer_adverts 101 is out of range: must be 1..100"}},
		{"skip_check_adv_addr", inst("skip_check_adv_addr"), model{skip: true}, nil},
		{"global skip", global("vrrp_skip_check_adv_addr") + inst(), model{skip: true}, nil},
		{"v3_checksum_as_v2", inst("v3_checksum_as_v2"), model{asV2: true}, nil},
		{"global v3_checksum_as_v2", global("v3_checksum_as_v2") + inst(), model{asV2: true}, nil},
		{"old_unicast_checksum", inst("old_unicast_checksum"), model{oldUnicast: true}, nil},
		{"old_unicast_checksum never", inst("old_unicast_checksum never"), model{}, nil},
		{"old_unicast_checksum bad", inst("old_unicast_checksum sometimes"), model{},
			[]want{"2:22: error: old_unicast_checksum takes no value but never"}},
		{"unicast_ttl", inst("unicast_ttl 64"), model{ttl: 64}, nil},
		{"unicast_ttl 0", inst("unicast_ttl 0"), model{}, []want{"2:13: error: unicast_ttl 0 is out of range: must be 1..255"}},
		{"kernel_rx_buf_size", inst("kernel_rx_buf_size 65536"), model{rxbuf: 65536}, nil},
		{"promote_secondaries", inst("promote_secondaries"), model{promote: true}, nil},
		{"unicast_fault_no_peer without peers", inst("unicast_peer {", "}", "unicast_fault_no_peer"), model{noPeerFault: true},
			[]want{"1:1: warning: vrrp_instance VI: unicast without any unicast_peer: the instance stays in FAULT (unicast_fault_no_peer)"}},
		{"unicast_fault_no_peer with unicast_src_ip", inst("unicast_src_ip 10.0.0.2", "unicast_fault_no_peer"), model{noPeerFault: true},
			[]want{"1:1: warning: vrrp_instance VI: unicast without any unicast_peer"}},
		{"unicast_fault_no_peer with a peer", inst("unicast_peer {", "10.0.0.3", "}", "unicast_fault_no_peer"), model{}, nil},
		{"empty unicast_peer without it: multicast", inst("unicast_peer {", "}"), model{}, nil},
		{"timer_expired_backup", inst("nopreempt", "timer_expired_backup"), model{timerExpired: 254}, nil},
		{"timer_expired_backup 200", inst("nopreempt", "timer_expired_backup 200"), model{timerExpired: 200}, nil},
		{"timer_expired_backup out of range", inst("nopreempt", "timer_expired_backup 255"), model{},
			[]want{"3:22: error: timer_expired_backup 255 is out of range: must be 1..254"}},
		{"timer_expired_backup needs nopreempt", inst("timer_expired_backup"), model{},
			[]want{"1:1: warning: vrrp_instance VI: timer_expired_backup requires nopreempt; reset"}},
		{"track_src_ip", inst("mcast_src_ip 10.0.0.2", "track_src_ip"), model{trackSrc: true}, nil},
		{"track_src_ip with a global IPv6 source", inst6("unicast_src_ip fd00::2", "unicast_peer {", "fd00::3", "}", "track_src_ip"), model{},
			[]want{"1:1: warning: vrrp_instance VI: track_src_ip with the global IPv6 source fd00::2 is not supported yet"}},
		{"notify_master_rx_lower_pri", inst("notify_master_rx_lower_pri /bin/true"), model{rxLower: "/bin/true"}, nil},
		{"mcast_dst_ip", inst("mcast_dst_ip 224.0.0.100"), model{mcast: netip.MustParseAddr("224.0.0.100")}, nil},
		{"mcast_dst_ip not multicast", inst("mcast_dst_ip 10.0.0.9"), model{},
			[]want{"2:14: error: mcast_dst_ip 10.0.0.9 is not a multicast address"}},
		{"mcast_dst_ip other family", inst("mcast_dst_ip ff02::99"), model{mcast: netip.MustParseAddr("ff02::99")},
			[]want{"1:1: error: vrrp_instance VI: mcast_dst_ip ff02::99 is not of the instance's address family (IPv4)"}},
		{"mcast_dst_ip IPv6 not link-local", inst6("mcast_dst_ip ff05::12"), model{},
			[]want{"2:14: error: mcast_dst_ip ff05::12: an IPv6 group must be link-local"}},
		{"strict: lower on, higher off", global("vrrp_strict") + inst(), model{lower: &on, higher: &off}, nil},
		{"strict resets higher and lower", global("vrrp_strict", "vrrp_higher_prio_send_advert") + inst("lower_prio_no_advert off"), model{lower: &on, higher: &off},
			[]want{"5:1: warning: vrrp_instance VI: strict mode requires lower_prio_no_advert; set",
				"5:1: warning: vrrp_instance VI: strict mode requires higher_prio_send_advert to be clear"}},
		{"strict resets down_timer_adverts", inst("strict_mode", "down_timer_adverts 5"), model{lower: &on, higher: &off},
			[]want{"1:1: warning: vrrp_instance VI: down_timer_adverts is incompatible with strict mode; reset to 3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.diags)
			if cfg == nil || len(cfg.Instances) != 1 {
				t.Fatalf("want one instance, got %+v", cfg)
			}
			p := cfg.Instances[0].Protocol
			got := model{higher: p.HigherPrioSendAdvert, lower: p.LowerPrioNoAdvert, down: p.DownTimerAdverts, ttl: p.UnicastTTL,
				rxbuf: p.KernelRxBufSize, skip: p.SkipCheckAdvAddr, asV2: p.V3ChecksumAsV2, oldUnicast: p.OldUnicastChecksum,
				rxLower: p.NotifyMasterRxLowerPri, mcast: p.McastDstIP, promote: p.PromoteSecondaries, noPeerFault: p.NoPeerFault, trackSrc: p.TrackSrcIP, timerExpired: p.TimerExpiredBackup}
			if never := strings.HasSuffix(strings.SplitN(tc.conf, "\n", 3)[1], "old_unicast_checksum never"); p.OldUnicastChecksumNever != never {
				t.Errorf("old_unicast_checksum never: %v, want %v", p.OldUnicastChecksumNever, never)
			}
			w := tc.model
			if !eq(got.higher, w.higher) || !eq(got.lower, w.lower) {
				t.Errorf("higher %v lower %v, want %v %v", deref(got.higher), deref(got.lower), deref(w.higher), deref(w.lower))
			}
			got.higher, got.lower, w.higher, w.lower = nil, nil, nil, nil
			if got != w {
				t.Errorf("got %+v, want %+v", got, w)
			}
		})
	}
}

func deref(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

// TestNoVirtualIPAddress: an instance without addresses is refused unless
// no_virtual_ipaddress; strict mode and IPv6 still refuse it.
func TestNoVirtualIPAddress(t *testing.T) {
	bare := func(lines ...string) string {
		return "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\n" + strings.Join(lines, "\n") + "\n}\n"
	}
	tests := []struct {
		name  string
		conf  string
		diags []want
	}{
		{"refused without it", bare(), []want{"1:1: error: vrrp_instance VI has no virtual_ipaddress"}},
		{"no_virtual_ipaddress", bare("no_virtual_ipaddress"), nil},
		{"strict", bare("no_virtual_ipaddress", "strict_mode"), []want{"1:1: error: vrrp_instance VI: strict mode does not allow an instance without virtual_ipaddress"}},
		{"IPv6", bare("no_virtual_ipaddress", "unicast_src_ip fd00::2", "unicast_peer {", "fd00::3", "}"),
			[]want{"1:1: error: vrrp_instance VI: no_virtual_ipaddress with IPv6 is not supported yet"}},
	}
	for _, tt := range tests {
		cfg, ds, _ := Parse("t.conf", []byte(tt.conf), Options{})
		assertDiags(t, ds, tt.diags)
		if tt.diags == nil && (cfg == nil || !cfg.Instances[0].Protocol.NoVirtualIPAddress) {
			t.Errorf("%s: no_virtual_ipaddress not in the model", tt.name)
		}
	}
}

// TestVRRPGlobalKnobs: the start delays, receive buffer policy,
// vrrp_min_garp and default_interface.
func TestVRRPGlobalKnobs(t *testing.T) {
	global := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" }
	parse := func(t *testing.T, conf string, wants ...want) *Config {
		t.Helper()
		cfg, ds, _ := Parse("t.conf", []byte(conf), Options{})
		assertDiags(t, ds, wants)
		if cfg == nil {
			t.Fatal("no config")
		}
		return cfg
	}
	t.Run("delays", func(t *testing.T) {
		g := parse(t, global("vrrp_startup_delay 5.5", "vrrp_delay_after_boot 15.23", "log_unknown_vrids")+inst()).Global
		if g.VRRPStartupDelay != 5500*time.Millisecond || g.VRRPDelayAfterBoot != 15230*time.Millisecond || !g.LogUnknownVRIDs {
			t.Errorf("delays %v %v", g.VRRPStartupDelay, g.VRRPDelayAfterBoot)
		}
	})
	t.Run("rx bufs", func(t *testing.T) {
		tests := []struct {
			lines      []string
			instLine   string
			mtu, adv   int
			want       int
			wantPolicy RxBufsPolicy
		}{
			{nil, "", 1500, 40, 0, RxBufsPolicy{}},
			{[]string{"vrrp_rx_bufs_policy MTU"}, "", 1500, 40, 4500, RxBufsPolicy{Kind: "MTU"}},
			{[]string{"vrrp_rx_bufs_policy MTU", "vrrp_rx_bufs_multiplier 10"}, "", 1500, 40, 15000, RxBufsPolicy{Kind: "MTU", Multiplier: 10}},
			{[]string{"vrrp_rx_bufs_policy advert"}, "", 1500, 40, 120, RxBufsPolicy{Kind: "ADVERT"}},
			{[]string{"vrrp_rx_bufs_policy 200000"}, "", 1500, 40, 200000, RxBufsPolicy{Kind: "SIZE", Size: 200000}},
			{[]string{"vrrp_rx_bufs_policy MTU"}, "kernel_rx_buf_size 8192", 1500, 40, 8192, RxBufsPolicy{Kind: "MTU"}},
		}
		for _, tt := range tests {
			cfg := parse(t, global(tt.lines...)+inst(tt.instLine))
			if cfg.Global.VRRPRxBufs != tt.wantPolicy {
				t.Errorf("%v: policy %+v, want %+v", tt.lines, cfg.Global.VRRPRxBufs, tt.wantPolicy)
			}
			if got := RxBufSize(&cfg.Instances[0], cfg.Global.VRRPRxBufs, tt.mtu, tt.adv); got != tt.want {
				t.Errorf("%v %q: RxBufSize %d, want %d", tt.lines, tt.instLine, got, tt.want)
			}
		}
		parse(t, global("vrrp_rx_bufs_policy BIG")+inst(), "2:21: error: vrrp_rx_bufs_policy \"BIG\": must be MTU, ADVERT or a size in bytes")
	})
	t.Run("vrrp_min_garp", func(t *testing.T) {
		g := parse(t, global("vrrp_min_garp")+inst()).Instances[0].Garp
		if g.MasterRepeat != 1 || g.MasterDelay != 0 {
			t.Errorf("vrrp_min_garp: repeat %d delay %v, want 1 and 0", g.MasterRepeat, g.MasterDelay)
		}
		g = parse(t, global("vrrp_garp_master_repeat 3", "vrrp_min_garp")+inst()).Instances[0].Garp
		if g.MasterRepeat != 3 || g.MasterDelay != 0 {
			t.Errorf("vrrp_min_garp after a repeat: repeat %d delay %v, want 3 and 0", g.MasterRepeat, g.MasterDelay)
		}
		g = parse(t, global("vrrp_min_garp off")+inst()).Instances[0].Garp
		if g.MasterRepeat != 5 || g.MasterDelay != 5*time.Second {
			t.Errorf("vrrp_min_garp off: repeat %d delay %v, want 5 and 5s", g.MasterRepeat, g.MasterDelay)
		}
	})
	t.Run("default_interface", func(t *testing.T) {
		cfg := parse(t, global("default_interface eth9")+"static_ipaddress {\n10.9.9.9/24\n}\n"+inst())
		if len(cfg.StaticAddresses) != 1 || cfg.StaticAddresses[0].Dev != "eth9" {
			t.Errorf("static address %+v, want dev eth9", cfg.StaticAddresses)
		}
		parse(t, "static_ipaddress {\n10.9.9.9/24\n}\n"+inst(), "2:1: error: static_ipaddress 10.9.9.9/24 needs dev IF or global_defs default_interface")
	})
}

// TestNotifyPriorityChangesPrecedence: the instance's own
// notify_priority_changes, else its sync group's, else the global one.
func TestNotifyPriorityChangesPrecedence(t *testing.T) {
	group := func(line string) string {
		return "vrrp_sync_group G {\ngroup {\nVI\n}\n" + line + "\n}\n"
	}
	global := func(line string) string { return "global_defs {\n" + line + "\n}\n" }
	tests := []struct {
		name string
		conf string
		want bool
	}{
		{"none", inst(), false},
		{"global", global("vrrp_notify_priority_changes") + inst(), true},
		{"group", group("notify_priority_changes true") + inst(), true},
		{"group off beats global", global("vrrp_notify_priority_changes on") + group("notify_priority_changes off") + inst(), false},
		{"instance beats group", group("notify_priority_changes on") + inst("notify_priority_changes off"), false},
		{"instance", inst("notify_priority_changes yes"), true},
	}
	for _, tt := range tests {
		cfg, ds, _ := Parse("t.conf", []byte(tt.conf), Options{})
		assertDiags(t, ds, nil)
		if cfg == nil || len(cfg.Instances) != 1 {
			t.Fatalf("%s: no instance", tt.name)
		}
		if got := cfg.EffectiveNotifyPriorityChanges(&cfg.Instances[0]); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
