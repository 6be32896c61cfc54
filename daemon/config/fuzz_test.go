package config

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse: the parser never panics or hangs, and every diagnostic carries
// a position. Seeds cover each syntax feature.
func FuzzParse(f *testing.F) {
	if seed, err := os.ReadFile("testdata/seed.conf"); err == nil {
		f.Add(seed) // the how-to's file, with its real mistakes
	}
	for _, s := range []string{
		"",
		"}",                      // unbalanced close
		"global_defs {",          // never closed
		"{ { { } }",              // braces without keywords
		"a\"b\"c \"unterminated", // quotes
		"$A=$A$A\nx $A\n",        // runaway definition
		"$M=\\\n a {\\\n}\n$M\n", // multi-line definition
		"@x $Y=@^z k\n$Y v\n",    // conditional from a definition
		"vrrp_instance V { virtual_ipaddress { 1.2.3.4/33 dev } advert_int 0.0000001 }",
		"virtual_server fwmark 0 { real_server ::1 { HTTP_GET { url { digest x status_code 1-2-3 } } } }",
		"include \x00\n\xff\xfe",                                                  // invalid UTF-8 and NUL
		"!#\n#!\n" + strings.Repeat("x {", 100),                                   // deep nesting
		"~SEQ(A,1,3) ~SEQx(B,0x10,-1,0xa) ~LST({C,D},{1,2},{3}) x ${A}${B}${C}\n", // sequence and list blocks
		"k ${_RANDOM 9 1} ${_ENV} ${_HASH}${_BANG} ${_PWD} ${_INSTANCE}\n",        // built-in definitions
		"virtual_server 10.0.0.1 { lvs_method TUN type gue port 1 remcsum }",
		// IPVS service flags, persistence engine, sorry server method, net_namespace_ipvs
		"net_namespace_ipvs\nnet_namespace_ipvs a/b\nvirtual_server 10.0.0.1 5060 { ip_family inet6 weight 0 ops flag-1 flag-3 sh-port mh-fallback persistence_engine Sip-x " +
			"sorry_server_lvs_method TUN lvs_sched sh real_server ::1 5060 { } }",
		"drlb_bgp { router_id 1.2.3.4 local_as 4294967296 neighbor :: { remote_as 0 hold_time 2 bfd } neighbor 1.1.1.1 { } }\n" + // scale-out BGP block, out of range
			"virtual_server 10.9.9.9 80 { drlb_bgp_announce yes lb_algo mh lb_kind DR real_server 10.0.0.2 80 { } }",
		// strict/accept/VMAC, VIP options, routes and rules, garp_group, net_namespace
		"global_defs { vrrp_strict vrrp_garp_lower_prio_repeat 2 }\nnet_namespace n\nvrrp_instance V { interface e virtual_router_id 9 use_vmac v vmac_xmit_base accept strict_mode off " +
			"virtual_ipaddress { 1.2.3.4/24 brd 1.2.3.255 scope link no_track -nodad } " +
			"virtual_routes { blackhole src 1.2.3.4 to 5.0.0.0/8 via 1.2.3.1 table main metric 3 onlink } virtual_rules { not from all fwmark 3/0xf iif e lookup 7 } }\n" +
			"garp_group { garp_interval 0.1 interfaces { e } }\nstatic_ipaddress { 9.9.9.9 dev e }\nstatic_routes { default gw 9.9.9.1 }\nstatic_rules { to 1.0.0.0/8 table 2 }\n",
		// IPv6 VMAC, address VMACs and their names, garp_extra_if, IPv6 no_accept
		"global_defs { vmac_prefix vm vmac_addr_prefix va vrrp_garp_extra_if all 9 vrrp_vmac_garp_intvl 3 }\n" +
			"vrrp_instance V { interface e virtual_router_id 9 use_vmac use_vmac_addr no_accept garp_extra_if 0 all vmac_garp_intvl " +
			"virtual_ipaddress { fd00::1 use_vmac fd00::2 dev f } virtual_ipaddress_excluded { 1.2.3.4 use_vmac } }",
		// virtual_server_group: ranges, fwmark, a use before the definition
		"virtual_server group G { real_server 10.0.0.9 80 { TCP_CHECK { } } }\nvirtual_server_group G { 10.0.0.1-3 80\n2001:db8::1-ff 443\nfwmark 7\n10.0.0.2-1 1 }",
		// trackers, the SSL block and the parity II checkers with their hex strings and regexes
		"track_file t { file /x weight 2 reverse init_file 3 overwrite }\nvrrp_track_process p { process a b param_match initial quorum 2 quorum_max 1 delay 0.5 }\nSSL { ca /c key /k }\n" +
			"virtual_server 1.2.3.4 53 { real_server 1.2.3.5 53 { UDP_CHECK { payload Ab12f 3 xz require_reply a1x } DNS_CHECK { type srv } FILE_CHECK { track_file t weight -3 reverse dynamic } HTTP_GET { url { regex \"(?<=a)\" } } } }",
		// VRRP protocol knobs: global defaults, instance overrides, strict mode, no VIPs
		"global_defs { vrrp_higher_prio_send_advert vrrp_down_timer_adverts 101 v3_checksum_as_v2 vrrp_rx_bufs_policy MTU vrrp_rx_bufs_multiplier 0 vrrp_min_garp off default_interface e log_unknown_vrids }\n" +
			"vrrp_sync_group G { group { V } notify_priority_changes }\nvrrp_instance V { interface e virtual_router_id 9 strict_mode lower_prio_no_advert off mcast_dst_ip ff05::1 unicast_ttl 0 " +
			"old_unicast_checksum never kernel_rx_buf_size -1 no_virtual_ipaddress unicast_peer { } unicast_fault_no_peer track_src_ip notify_master_rx_lower_pri \"/x 'y\" }",
		// notification and IPVS housekeeping globals
		"global_defs { notify_fifo /f x\nsmtp_server h 25\nnotification_email { a@b }\nlvs_sync_daemon eth1 V id 1 group 224.0.0.81\nlvs_timeouts tcp 1 udp\nlvs_flush_on_stop VS }",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{
			ConfigID:           "x",
			HostChecks:         true,
			InterfaceExists:    func(string) bool { return false },
			NetNamespaceExists: func(string) bool { return false },
			InterfaceMAC:       func(string) net.HardwareAddr { return nil },
			// Includes resolve to a fixed tiny file so the fuzzer cannot read the disk.
			Glob:     func(p string) ([]string, error) { return []string{"inc.conf"}, nil },
			ReadFile: func(string) ([]byte, error) { return []byte("global_defs {\n}\n"), nil },
		}
		start := time.Now()
		cfg, ds, err := Parse("f.conf", data, opts)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("parse took %v", d)
		}
		if cfg == nil {
			t.Fatal("nil config")
		}
		if ds.HasErrors() != (err != nil) {
			t.Fatalf("HasErrors %v, err %v", ds.HasErrors(), err)
		}
		for _, d := range ds {
			if d.File == "" || d.Line < 1 || d.Col < 1 || d.Message == "" {
				t.Fatalf("diagnostic without a position: %#v", d)
			}
		}
		if _, err := cfg.DumpJSON(); err != nil {
			t.Fatalf("dump: %v", err)
		}
	})
}

// TestPathologicalInputsAreFast: inputs that blow up naive parsers
// (self-doubling definitions, deep nesting, long unknown keywords) stay cheap.
func TestPathologicalInputsAreFast(t *testing.T) {
	inputs := map[string]string{
		"doubling definition":   "$A=$A$A\n" + strings.Repeat("x $A $A $A $A\n", 200),
		"doubling with braces":  "$A=${A}${A}\n" + strings.Repeat("$A\n", 200),
		"long unknown keywords": strings.Repeat(strings.Repeat("abcdefgh", 8)+" 1\n", 2000),
		"deep braces":           strings.Repeat("{", 5000),
		"deep blocks":           strings.Repeat("a {\n", 5000),
		"many closes":           strings.Repeat("}", 5000),
	}
	for name, in := range inputs {
		start := time.Now()
		_, ds, _ := Parse("p.conf", []byte(in), Options{})
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: %v", name, d)
		}
		if !ds.HasErrors() && name != "long unknown keywords" {
			t.Errorf("%s: expected an error diagnostic", name)
		}
	}
}
