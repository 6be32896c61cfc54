package config

import (
	"fmt"
	"strings"
	"testing"
)

// inst wraps lines (starting at line 2) in a valid vrrp_instance.
func inst(lines ...string) string {
	return "vrrp_instance VI {\n" + strings.Join(lines, "\n") + "\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n"
}

// inst6 is inst with an IPv6 address.
func inst6(lines ...string) string {
	return "vrrp_instance VI {\n" + strings.Join(lines, "\n") + "\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\nfd00::1\n}\n}\n"
}

// vsrv wraps lines (starting at line 2) in a virtual_server block that ends
// with a real server (keepalived ignores services without one).
// Unless lines set them, protocol, lvs_sched and lvs_method are written
// after the real server, so that keepalived's "no protocol" (and the like)
// default warnings do not appear in every test.
func vsrv(lines ...string) string {
	body := strings.Join(lines, "\n")
	tail := ""
	for _, kw := range [][]string{{"protocol TCP", "protocol"}, {"lvs_sched wlc", "lvs_sched", "lb_algo"}, {"lvs_method NAT", "lvs_method", "lb_kind"}} {
		set := false
		for _, l := range lines {
			for _, k := range kw[1:] {
				set = set || strings.HasPrefix(strings.TrimSpace(l), k+" ")
			}
		}
		if !set {
			tail += kw[0] + "\n"
		}
	}
	return "virtual_server 10.0.0.1 80 {\n" + body + "\nreal_server 10.0.0.99 80 {\n}\n" + tail + "}\n"
}

// want is an expected diagnostic: "LINE:COL: severity: substring".
type want string

func TestDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		conf string
		opts Options
		want []want
	}{
		// Structure.
		{"stray close", "}\n", Options{}, []want{"1:1: error: unbalanced '}'"}},
		{"unclosed block", "global_defs {\nrouter_id x\n", Options{}, []want{"1:13: error: unbalanced '{': global_defs block opened here is never closed"}},
		{"brace without keyword", "{\n}\n", Options{}, []want{"1:1: error: '{' without a keyword"}},
		{"unterminated quote", "global_defs {\nrouter_id \"abc\n}\n", Options{}, []want{"2:11: error: unterminated quoted string"}},
		{"invalid utf8", "global_defs {\nrouter_id a\xffb\n}\n", Options{}, []want{"2:12: warning: invalid UTF-8"}},
		{"conditional without id", "@ global_defs {\n}\n", Options{}, []want{"1:1: error: conditional '@' without a config id", "2:1: error: unbalanced '}'"}},
		{"deep nesting", strings.Repeat("a {\n", maxBlockDepth+2) + strings.Repeat("}\n", maxBlockDepth+2), Options{},
			[]want{"1:1: warning: unknown keyword \"a\" in the top level", want(fmt.Sprintf("%d:3: error: blocks nested more than", maxBlockDepth+1))}},
		{"block where a value belongs", inst("priority {", "100", "}"), Options{}, []want{"2:10: error: priority takes a value, not a block"}},
		{"value where a block belongs", inst("track_script chk"), Options{}, []want{"2:1: error: track_script needs a { } block"}},
		{"missing value", inst("priority"), Options{}, []want{"2:10: error: priority needs a value"}},
		{"extra value", inst("priority 100 200"), Options{}, []want{"2:14: warning: priority takes one value; extra \"200\" ignored"}},
		{"instance without name", "vrrp_instance {\n}\n", Options{}, []want{"1:15: error: vrrp_instance needs a name"}},

		// Numbers and durations.
		{"not a number", inst("priority high"), Options{}, []want{"2:10: error: priority: \"high\" is not a whole number"}},
		{"priority range", inst("priority 0"), Options{}, []want{"2:10: error: priority 0 is out of range: must be 1..255"}},
		{"vrid range", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 256\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n", Options{},
			[]want{"3:19: error: virtual_router_id 256 is out of range: must be 1..255"}},
		{"bad duration", inst("advert_int soon"), Options{}, []want{"2:12: error: advert_int: \"soon\" is not a number of seconds"}},
		{"advert v2 too short", inst("advert_int 0.5"), Options{}, []want{"2:12: error: advert_int 0.5 is out of range for VRRPv2"}},
		{"advert v2 fractional", inst("advert_int 1.5"), Options{}, []want{"2:12: warning: advert_int 1.5: VRRPv2 counts in whole seconds; 1 is used"}},
		{"advert v3 too short", inst("version 3", "advert_int 0.005"), Options{}, []want{"3:12: error: advert_int 0.005 is out of range for VRRPv3"}},
		{"advert v3 rounding", inst("version 3", "advert_int 0.015"), Options{}, []want{"3:12: warning: advert_int 0.015: VRRPv3 counts in hundredths"}},
		{"advert v3 too long", inst("version 3", "advert_int 41"), Options{}, []want{"3:12: error: advert_int 41 is out of range for VRRPv3"}},
		{"version range", inst("version 4"), Options{}, []want{"2:9: error: version 4 is out of range: must be 2..3"}},

		// Addresses.
		{"bad address", inst("unicast_src_ip 10.0.0"), Options{}, []want{"2:16: error: unicast_src_ip: \"10.0.0\" is not an IP address"}},
		{"bad vip", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n  10.0.0.300/24\n}\n}\n", Options{},
			[]want{"5:3: error: virtual_ipaddress: \"10.0.0.300\" is not an IP address", "1:1: error: vrrp_instance VI has no virtual_ipaddress: drlb needs at least one address"}},
		{"bad mask", inst("virtual_ipaddress {", "10.0.0.2/33", "}"), Options{}, []want{"3:10: error: virtual_ipaddress: bad mask /33 for 10.0.0.2"}},
		{"vip option typo", inst("virtual_ipaddress {", "10.0.0.2/24 deb eth1", "}"), Options{}, []want{"3:13: warning: unknown address option \"deb\"; did you mean \"dev\"? (\"eth1\" ignored with it)"}},
		{"vip option unsupported", inst("virtual_ipaddress {", "10.0.0.2/24 autojoin", "}"), Options{}, []want{"3:13: warning: address option autojoin is not supported yet"}},
		{"vip scope", inst("virtual_ipaddress {", "10.0.0.2/24 scope galaxy", "}"), Options{}, []want{"3:19: error: address option scope \"galaxy\": must be global, site, link, host, nowhere or a number 0..255"}},
		{"vip brd family", inst("virtual_ipaddress {", "10.0.0.2/24 brd 2001:db8::1", "}"), Options{}, []want{"3:17: error: address option brd 2001:db8::1: not the family of 10.0.0.2/24"}},
		{"vip option without value", inst("virtual_ipaddress {", "10.0.0.2/24 dev", "}"), Options{}, []want{"3:13: error: address option dev needs a value"}},
		{"mixed families", inst("virtual_ipaddress {", "2001:db8::1", "}"), Options{}, []want{"8:1: error: vrrp_instance VI mixes IPv4 and IPv6"}},
		{"unicast family", inst("unicast_src_ip 10.0.0.2", "unicast_peer {", "2001:db8::2", "}"), Options{}, []want{"4:1: error: unicast_peer 2001:db8::2 (vrrp_instance VI) is not IPv4 like the instance's virtual addresses"}},
		{"ipv6 instance", inst6(), Options{}, nil},
		{"ipv6 instance ignores vrrp_version", "global_defs {\nvrrp_version 2\n}\n" + inst6("advert_int 0.5"), Options{}, nil},
		{"ipv6 version 2", inst6("version 2"), Options{}, []want{"2:1: warning: vrrp_instance VI: version 2 over IPv6 is keepalived's own extension"}},
		{"ipv6 version 2 advert_int", inst6("version 2", "advert_int 0.5"), Options{}, []want{"2:1: warning: vrrp_instance VI: version 2 over IPv6", "3:12: error: advert_int 0.5 is out of range for VRRPv2"}},
		{"ipv6 version 2 PASS", inst6("version 2", "authentication {", "auth_type PASS", "auth_pass x", "}"), Options{}, []want{"2:1: warning: vrrp_instance VI: version 2 over IPv6", "4:11: error: vrrp_instance VI: authentication is not carried over IPv6"}},
		{"ipv6 IPv4 peer", inst6("unicast_peer {", "10.0.0.2", "}"), Options{}, []want{"3:1: error: unicast_peer 10.0.0.2 (vrrp_instance VI) is not IPv6 like"}},
		{"ipv6 IPv4 mcast_src_ip", inst6("mcast_src_ip 10.0.0.2"), Options{}, []want{"2:14: error: mcast_src_ip 10.0.0.2 (vrrp_instance VI) is not IPv6 like"}},
		{"ipv6 unicast", inst6("unicast_src_ip fd00::2", "unicast_peer {", "fd00::3", "}"), Options{}, nil},
		{"mcast group6", "global_defs {\nvrrp_mcast_group6 ff02::1:12\n}\n", Options{}, nil},
		{"bad mcast group6", "global_defs {\nvrrp_mcast_group6 224.0.0.18\n}\n", Options{}, []want{"2:19: error: vrrp_mcast_group6 224.0.0.18 is not an IPv6 multicast address"}},

		// Keywords.
		{"typo with suggestion", vsrv("persistense_timeout 50"), Options{}, []want{"2:1: warning: unknown keyword \"persistense_timeout\" in virtual_server; did you mean \"persistence_timeout\"?"}},
		{"case suggestion", vsrv("real_server 10.0.0.2 80 {", "http_get {", "}", "}"), Options{}, []want{"3:1: warning: unknown keyword \"http_get\" in real_server; did you mean \"HTTP_GET\"?"}},
		{"unknown without suggestion", vsrv("frobnicate 1"), Options{}, []want{"2:1: warning: unknown keyword \"frobnicate\" in virtual_server"}},
		{"unknown block skipped", "frobnicate {\nx 1\n}\n", Options{}, []want{"1:1: warning: unknown keyword \"frobnicate\" in the top level (its block is skipped)", "1:1: warning: the file has no directives"}},
		{"not supported yet", inst("use_ipvlan"), Options{}, []want{"2:1: warning: use_ipvlan in vrrp_instance is not supported yet; ignored"}},
		{"top level not supported", "namespace_with_ipsets\n", Options{}, []want{"1:1: warning: namespace_with_ipsets in the top level is not supported yet"}},
		{"lvs_id deprecated", "global_defs {\n  lvs_id LB\n}\n", Options{}, []want{"2:3: warning: lvs_id is keepalived 1.x's name for router_id"}},
		{"state slave", inst("state SLAVE"), Options{}, []want{"2:7: warning: state \"SLAVE\" is not MASTER or BACKUP; treated as BACKUP"}},
		{"nopreempt with master", inst("state MASTER", "nopreempt"), Options{}, []want{"1:1: warning: vrrp_instance VI: nopreempt only works with state BACKUP"}},
		{"owner starts master", inst("priority 255"), Options{}, []want{"1:1: warning: vrrp_instance VI: priority 255 makes this router the address owner"}},
		{"notify user extra word", inst("notify_master /bin/true root root extra"), Options{}, []want{"2:35: warning: notify_master: extra \"extra\" ignored"}},
		{"bad dataplane", "global_defs {\ndrlb_dataplane xdp\n}\n", Options{}, []want{"2:16: error: drlb_dataplane \"xdp\": must be auto, ipvs or nft"}},
		{"bad mcast group", "global_defs {\nvrrp_mcast_group4 10.0.0.1\n}\n", Options{}, []want{"2:19: error: vrrp_mcast_group4 10.0.0.1 is not an IPv4 multicast address"}},

		// Authentication.
		{"auth_pass truncated", inst("authentication {", "auth_type PASS", "auth_pass 123456789", "}"), Options{}, []want{"4:11: warning: auth_pass \"123456789\" is longer than 8 characters; only \"12345678\" is used"}},
		{"auth_type bad", inst("authentication {", "auth_type MD5", "auth_pass x", "}"), Options{}, []want{"3:11: error: auth_type \"MD5\": must be PASS or AH"}},
		{"auth without pass", inst("authentication {", "auth_type PASS", "}"), Options{}, []want{"2:1: error: authentication PASS needs an auth_pass"}},
		{"auth in v3", inst("version 3", "authentication {", "auth_type PASS", "auth_pass x", "}"), Options{}, []want{"1:1: warning: vrrp_instance VI: authentication is not part of VRRPv3"}},

		// Cross-block checks.
		{"missing vrid and interface", "vrrp_instance VI {\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n", Options{},
			[]want{"1:1: error: vrrp_instance VI has no interface", "1:1: error: vrrp_instance VI has no virtual_router_id"}},
		{"duplicate vrid", "vrrp_instance A {\ninterface eth0\nvirtual_router_id 7\nvirtual_ipaddress {\n10.0.0.1\n}\n}\nvrrp_instance B {\ninterface eth0\nvirtual_router_id 7\nvirtual_ipaddress {\n10.0.0.2\n}\n}\n", Options{},
			[]want{"10:19: error: virtual_router_id 7 is already used on eth0 by vrrp_instance A"}},
		{"duplicate instance", inst() + inst(), Options{}, []want{"9:1: error: vrrp_instance VI is defined twice", "12:19: error: virtual_router_id 1 is already used on eth0"}},
		{"sync group missing instance", "vrrp_sync_group G {\ngroup {\nVJ\n}\n}\n" + inst(), Options{}, []want{"3:1: error: vrrp_sync_group G names vrrp_instance \"VJ\", which does not exist; did you mean \"VI\"?"}},
		{"instance in two groups", "vrrp_sync_group G {\ngroup {\nVI\n}\n}\nvrrp_sync_group H {\ngroup {\nVI\n}\n}\n" + inst(), Options{}, []want{"8:1: error: vrrp_instance VI is already in vrrp_sync_group G"}},
		{"empty sync group", "vrrp_sync_group G {\n}\n", Options{}, []want{"1:1: error: vrrp_sync_group G has no group"}},
		{"unknown track_script", "vrrp_script chk_web {\nscript /bin/true\n}\n" + inst("track_script {", "chk_wbe", "}"), Options{}, []want{"6:1: warning: track_script \"chk_wbe\": no vrrp_script has that name; did you mean \"chk_web\"?"}},
		// keepalived: "No script set for vrrp_script s - removing"; a
		// track_script naming it is then ignored.
		{"script without command", "vrrp_script s {\ninterval 2\n}\n", Options{}, []want{"1:1: warning: vrrp_script s has no script: removed, as keepalived does"}},
		{"track_script of a script without command", "vrrp_script s {\ninterval 2\n}\n" + inst("track_script {", "s", "}"), Options{},
			[]want{"1:1: warning: vrrp_script s has no script", "6:1: warning: track_script \"s\": vrrp_script s has no script; ignored"}},
		{"host checks", inst("virtual_ipaddress {", "10.0.0.9/24 dev eth9", "}"), Options{HostChecks: true, InterfaceExists: func(n string) bool { return n == "lo" }},
			[]want{"5:11: error: interface eth0 (vrrp_instance VI) does not exist on this host", "3:1: error: dev eth9 for 10.0.0.9/24 does not exist"}},
		{"host checks, dynamic_interfaces", "global_defs {\ndynamic_interfaces\n}\n" + inst(), Options{HostChecks: true, InterfaceExists: func(string) bool { return false }},
			[]want{"6:11: warning: interface eth0 (vrrp_instance VI) does not exist on this host yet (dynamic_interfaces: FAULT until it appears)"}},
		{"dynamic_interfaces argument", "global_defs {\ndynamic_interfaces sometimes\n}\n", Options{}, []want{"2:20: error: dynamic_interfaces takes no argument but allow_if_changes"}},

		// LVS.
		{"bad scheduler", vsrv("lb_algo roundrobin"), Options{}, []want{"2:9: error: lb_algo \"roundrobin\": unknown scheduler"}},
		{"bad lb_kind", vsrv("lb_kind MASQ"), Options{}, []want{"2:9: error: lb_kind \"MASQ\": must be NAT, DR or TUN"}},
		{"bad protocol", vsrv("protocol ICMP"), Options{}, []want{"2:10: error: protocol \"ICMP\": must be TCP, UDP or SCTP"}},
		{"bad virtual server", "virtual_server {\nreal_server 10.0.0.2 80 {\n}\n}\n", Options{}, []want{"1:16: error: virtual_server needs \"IP [PORT]\""}},
		{"virtual server without port", "virtual_server 10.0.0.1 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 {\n}\n}\n", Options{}, []want{"1:1: warning: virtual_server 10.0.0.1:0 has no port and no persistence_timeout: a service on every port must be persistent; persistence_timeout 360 is used"}},
		{"virtual server defaults", "virtual_server 10.0.0.1 80 {\nreal_server 10.0.0.2 80 {\n}\n}\n", Options{}, []want{"1:1: warning: virtual_server 10.0.0.1:80 does not say protocol, lvs_sched, lvs_method: keepalived's defaults protocol UDP, lvs_sched wlc, lvs_method NAT are used"}},
		{"bad port", "virtual_server 10.0.0.1 99999 {\n}\n", Options{}, []want{"1:25: error: virtual_server port 99999 is out of range: must be 0..65535"}},
		{"nat_mask obsolete", vsrv("nat_mask 255.255.255.0"), Options{}, []want{"2:1: warning: nat_mask is obsolete"}},
		{"granularity bad", vsrv("persistence_granularity 255.0.255.0"), Options{}, []want{"2:25: error: persistence_granularity \"255.0.255.0\" is not a contiguous IPv4 netmask"}},
		{"duplicate virtual server", vsrv() + vsrv(), Options{}, []want{"9:1: error: virtual_server 10.0.0.1:80 is defined twice"}},
		{"duplicate real server", vsrv("real_server 10.0.0.2 80 {", "}", "real_server 10.0.0.2 80 {", "}"), Options{}, []want{"4:1: warning: real_server 10.0.0.2:80 appears twice in virtual_server 10.0.0.1:80 (first at t.conf:2); the second is ignored"}},
		{"real server family", vsrv("real_server 2001:db8::2 80 {", "}"), Options{}, []want{"2:13: error: real_server 2001:db8::2 and virtual_server 10.0.0.1 are different address families"}},
		{"dr port change", vsrv("lb_kind DR", "real_server 10.0.0.2 8080 {", "}"), Options{}, []want{"3:1: warning: real_server 10.0.0.2: DR forwarding cannot change the port (8080); the virtual server's port 80 is used"}},
		{"fwmark port cleared", "virtual_server fwmark 3 {\nlb_kind DR\nreal_server 10.0.0.2 80 {\n}\n}\n", Options{}, []want{"3:1: warning: real_server 10.0.0.2: a DR fwmark service cannot use a port (80); cleared", "1:1: warning: virtual_server FWM 3 does not say"}},
		{"fwmark protocol", "virtual_server fwmark 3 {\nprotocol UDP\nreal_server 10.0.0.2 {\n}\n}\n", Options{}, []want{"2:1: warning: protocol is ignored for a fwmark service", "1:1: warning: virtual_server FWM 3 does not say"}},
		{"fwmark ha_suspend", "virtual_server fwmark 3 {\nha_suspend\nreal_server 10.0.0.2 {\n}\n}\n", Options{}, []want{"1:1: warning: virtual_server FWM 3: ha_suspend cannot be used with fwmark; cleared", "1:1: warning: virtual_server FWM 3 does not say"}},
		{"no real servers", "virtual_server 10.0.0.1 80 {\n}\n", Options{}, []want{"1:1: warning: virtual_server 10.0.0.1:80 has no real_server; ignored"}},
		{"quorum above weight", vsrv("quorum 5", "hysteresis 9"), Options{}, []want{"1:1: warning: virtual_server 10.0.0.1:80: quorum 5 exceeds the real servers' total weight 1; 1 is used", "1:1: warning: virtual_server 10.0.0.1:80: hysteresis 9 must be below quorum 1; 0 is used"}},
		{"nb_get_retry deprecated", vsrv("real_server 10.0.0.2 80 {", "TCP_CHECK {", "nb_get_retry 2", "}", "}"), Options{}, []want{"4:1: warning: nb_get_retry is deprecated"}},
		{"sorry_server_inhibit alone", vsrv("sorry_server_inhibit"), Options{}, []want{"1:1: error: sorry_server_inhibit without a sorry_server"}},
		{"http without url", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "}", "}"), Options{}, []want{"3:1: error: HTTP_GET needs at least one url"}},
		{"checker without port", "virtual_server fwmark 3 {\nreal_server 10.0.0.2 {\nTCP_CHECK {\n}\n}\n}\n", Options{}, []want{"3:1: error: TCP_CHECK has no port to connect to: set connect_port", "1:1: warning: virtual_server FWM 3 does not say"}},
		{"misc without path", vsrv("real_server 10.0.0.2 80 {", "MISC_CHECK {", "}", "}"), Options{}, []want{"3:1: error: MISC_CHECK needs a misc_path"}},
		{"bad digest", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "digest 12345", "}", "}", "}"), Options{}, []want{"5:8: error: digest \"12345\" is not an MD5 digest: need 32 hex digits"}},
		{"digest not hex", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "digest zcec999b7ece0cc82e62145eb832731f", "}", "}", "}"), Options{}, []want{"5:8: error: digest \"zcec999b7ece0cc82e62145eb832731f\" is not an MD5 digest"}},
		{"bad status", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "status_code 299-200", "}", "}", "}"), Options{}, []want{"5:13: error: status_code \"299-200\""}},
		{"url keyword in TCP_CHECK", vsrv("real_server 10.0.0.2 80 {", "TCP_CHECK {", "url {", "}", "}", "}"), Options{}, []want{"4:1: warning: unknown keyword \"url\" in TCP_CHECK"}},
		{"checker deprecated", vsrv("real_server 10.0.0.2 80 {", "MISC_CHECK {", "misc_path /bin/true", "misc_user nobody", "}", "}"), Options{}, []want{"5:1: warning: misc_user is deprecated (keepalived 2 reads only user): read as user"}},
		{"real server unsupported checker", vsrv("real_server 10.0.0.2 80 {", "BFD_CHECK {", "}", "}"), Options{}, []want{"3:1: warning: BFD_CHECK in real_server is not supported yet", "3:1: error: real_server 10.0.0.2: its only health checker BFD_CHECK is not supported yet"}},
		// What the daemon refuses at start-up, located (one validation path).
		{"auth AH", inst("authentication {", "auth_type AH", "auth_pass 1111", "}"), Options{}, []want{"3:11: error: auth_type AH is not supported yet (vrrp_instance VI)"}},
		{"ipv6 unicast_src_ip", inst("unicast_src_ip 2001:db8::2"), Options{}, []want{"2:16: error: unicast_src_ip 2001:db8::2 (vrrp_instance VI) is not IPv4 like the instance's virtual addresses"}},
		// keepalived allows excluded addresses of the other family.
		{"ipv6 excluded", inst("virtual_ipaddress_excluded {", "2001:db8::9", "}"), Options{}, nil},
		{"script unbalanced quote", "vrrp_script s {\nscript \"/bin/sh -c 'exit 0\"\n}\n", Options{}, []want{`2:8: error: script "/bin/sh -c 'exit 0": unterminated quote or escape`}},
		{"notify unbalanced quote", inst(`notify_master "/bin/echo 'up"`), Options{}, []want{`2:15: error: notify_master "/bin/echo 'up": unterminated quote or escape`}},
		{"misc_path empty", vsrv("real_server 10.0.0.2 80 {", "MISC_CHECK {", `misc_path ""`, "}", "}"), Options{}, []want{`4:11: error: misc_path "": empty command`, "3:1: error: MISC_CHECK needs a misc_path"}},
		{"track_script dropped", inst("track_script {", "nope", "}"), Options{}, []want{`3:1: warning: track_script "nope": no vrrp_script has that name; ignored`}},
		{"group track_script dropped", inst() + "vrrp_sync_group G {\ngroup {\nVI\n}\ntrack_script {\nnope\n}\n}\n", Options{}, []want{`14:1: warning: track_script "nope": no vrrp_script has that name; ignored`}},
		{"url empty path", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", `path ""`, "}", "}", "}"), Options{}, []want{"5:6: error: path is empty"}},
		{"url path with blank", vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", `path "/a b"`, "}", "}", "}"), Options{}, []want{`5:6: error: path "/a b" contains a blank`}},
		{"track option", inst("track_interface {", "eth1 weight -10 backwards", "}"), Options{}, []want{`3:17: warning: track_interface line: expected "IF [weight N [reverse]]"; "backwards" ignored`}},
		{"track weight range", inst("track_interface {", "eth1 weight 254", "}"), Options{}, []want{"3:13: error: track_interface weight 254 is out of range: must be -253..253"}},
		// keepalived's doc/samples/keepalived.conf.vrrp.lvs_syncd, reduced: keepalived 1.x's sync group without group { }.
		{"sync group without group block", "vrrp_sync_group VG1 {\nVI_1\n}\n" + inst(), Options{}, []want{"1:1: error: vrrp_sync_group VG1 has no group { } of instances", `2:1: warning: unknown keyword "VI_1" in vrrp_sync_group`}},
		{"loopback interface", "vrrp_instance VI {\ninterface lo\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n", Options{}, []want{"2:11: error: vrrp_instance VI: VRRP cannot run on the loopback interface lo"}},
		{"multicast VIP", "virtual_server 224.0.0.5 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 80 {\n}\n}\n", Options{}, []want{"1:1: error: virtual_server 224.0.0.5:80: 224.0.0.5 is not a unicast address"}},
		{"sorry server is a real server", vsrv("sorry_server 10.0.0.99 80"), Options{}, nil},
		{"DR servers differing by port", vsrv("lvs_method DR", "real_server 10.0.0.99 8080 {", "}"), Options{}, []want{"3:1: warning: real_server 10.0.0.99: DR forwarding cannot change the port (8080)", "5:1: warning: real_server 10.0.0.99:80 appears twice"}},
		{"persistence whole seconds", vsrv("persistence_timeout 1.5"), Options{}, []want{`2:21: error: persistence_timeout: "1.5" is not a whole number`}},
		{"TUN gue", vsrv("lvs_method TUN type gue port 6080"), Options{}, []want{"2:21: error: lvs_method TUN type gue is not supported yet: drlb programs IPIP tunnels only"}},
		{"TUN ipip nocsum", vsrv("lvs_method TUN type ipip nocsum"), Options{}, nil},
		{"TUN csum", vsrv("lvs_method TUN csum"), Options{}, []want{"2:16: error: lvs_method TUN csum is not supported yet"}},
		{"nft NAT", "global_defs {\ndrlb_dataplane nft\n}\n" + vsrv(), Options{}, []want{"4:1: error: virtual_server 10.0.0.1:80: lvs_method NAT needs IPVS: the nftables data plane does DR with a port only (drlb_dataplane nft)"}},
		{"auto NAT without IPVS", vsrv(), Options{IPVSAvailable: func() bool { return false }}, []want{"1:1: error: virtual_server 10.0.0.1:80: lvs_method NAT needs IPVS: the nftables data plane does DR with a port only (drlb_dataplane auto, and this kernel has no IPVS)"}},
		{"auto NAT with IPVS", vsrv(), Options{IPVSAvailable: func() bool { return true }}, nil},
		// IPv6 (issue 14 item 6): the nft data plane does IPv6 DR; families
		// must agree as keepalived requires (check_parser.c: only tunnelled
		// servers may differ, and drlb programs no mixed-family tunnels).
		{"nft IPv6 DR", "global_defs {\ndrlb_dataplane nft\n}\nvirtual_server 2001:db8::1 80 {\nprotocol TCP\nlvs_sched mh\nlvs_method DR\npersistence_timeout 60\npersistence_granularity 64\nreal_server 2001:db8::2 80 {\n}\n}\n", Options{}, nil},
		{"nft IPv6 NAT", "global_defs {\ndrlb_dataplane nft\n}\nvirtual_server 2001:db8::1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method NAT\nreal_server 2001:db8::2 80 {\n}\n}\n", Options{}, []want{"4:1: error: virtual_server [2001:db8::1]:80: lvs_method NAT needs IPVS: the nftables data plane does DR with a port only (drlb_dataplane nft)"}},
		{"IPv6 service, IPv4 server", "virtual_server 2001:db8::1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 80 {\n}\n}\n", Options{}, []want{"5:13: error: real_server 10.0.0.2 and virtual_server 2001:db8::1 are different address families"}},
		{"IPv6 service, IPv4 sorry server", "virtual_server 2001:db8::1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nsorry_server 10.0.0.9 80\nreal_server 2001:db8::2 80 {\n}\n}\n", Options{}, []want{"1:1: error: virtual_server [2001:db8::1]:80: sorry_server 10.0.0.9 is not in the virtual server's address family"}},
		{"IPv6 granularity as a netmask", "virtual_server 2001:db8::1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\npersistence_timeout 60\npersistence_granularity 255.255.255.0\nreal_server 2001:db8::2 80 {\n}\n}\n", Options{}, []want{"6:25: error: persistence_granularity"}},
		{"fwmark mixing families", "virtual_server fwmark 3 {\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 {\n}\nreal_server 2001:db8::2 {\n}\n}\n", Options{}, []want{"6:13: error: real_server 2001:db8::2 is not in the address family of the earlier real servers of virtual_server FWM 3 (IPv4)"}},
		{"nft fwmark", "global_defs {\ndrlb_dataplane nft\n}\nvirtual_server fwmark 3 {\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 {\n}\n}\n", Options{}, []want{"4:1: error: virtual_server FWM 3: a fwmark service (its mark is set at prerouting, after the ingress hook where nftables forwards; or write one virtual_server per address and port) needs IPVS"}},
		{"real server with a supported checker too", vsrv("real_server 10.0.0.2 80 {", "BFD_CHECK {", "}", "TCP_CHECK {", "}", "}"), Options{}, []want{"3:1: warning: BFD_CHECK in real_server is not supported yet"}},

		// Includes.
		{"include nothing", "include /nonexistent/dir/*.conf\n", Options{}, []want{"1:9: warning: include \"/nonexistent/dir/*.conf\" matches no file", "1:1: warning: the file has no directives"}},
		{"include without name", "include\n", Options{}, []want{"1:1: error: include needs a file name"}},
		{"include cycle", "include t.conf\n", Options{
			Glob:     func(p string) ([]string, error) { return []string{p}, nil },
			ReadFile: func(string) ([]byte, error) { return []byte("include t.conf\n"), nil },
		}, []want{"1:9: error: include cycle"}},
		{"include unreadable", "include x.conf\n", Options{
			Glob:     func(p string) ([]string, error) { return []string{p}, nil },
			ReadFile: func(string) ([]byte, error) { return nil, fmt.Errorf("permission denied") },
		}, []want{"1:9: error: cannot read included file x.conf: permission denied"}},
		{"definitions loop", "$A=$B\n$B=$A\nglobal_defs {\nrouter_id $A\n}\n", Options{}, []want{"4:11: error: definitions refer to each other more than 16 levels deep"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds, err := Parse("t.conf", []byte(tc.conf), tc.opts)
			assertDiags(t, ds, tc.want)
			if ds.HasErrors() != (err != nil) {
				t.Errorf("HasErrors %v but err %v", ds.HasErrors(), err)
			}
		})
	}
}

// assertDiags checks that ds holds exactly the wanted diagnostics (each
// matched by position, severity and a message substring).
func assertDiags(t *testing.T, ds Diagnostics, wants []want) {
	t.Helper()
	used := make([]bool, len(ds))
	for _, w := range wants {
		found := false
		for i, d := range ds {
			s := strings.TrimPrefix(d.String(), d.File+":")
			if !used[i] && strings.HasPrefix(s, string(w)) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("missing diagnostic %q; got:\n%s", w, ds)
		}
	}
	for i, d := range ds {
		if !used[i] {
			t.Errorf("unexpected diagnostic: %s", d)
		}
		if d.File == "" || d.Line < 1 || d.Col < 1 {
			t.Errorf("diagnostic without a position: %#v", d)
		}
	}
}
