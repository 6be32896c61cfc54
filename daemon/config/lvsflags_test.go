package config

import (
	"strings"
	"testing"
)

// TestVirtualServerFlags follows keepalived's check_parser.c
// (lbflags_handler, ip_family_handler, vs_weight_handler) and check_data.c
// (ops needs UDP).
func TestVirtualServerFlags(t *testing.T) {
	for _, tt := range []struct {
		name   string
		head   string // the virtual_server line's arguments
		body   string
		opts   Options
		ops    bool
		flags  uint8
		weight int    // of the first real server
		rs     string // real server address (default 10.0.0.2)
		diag   string // "" means no diagnostics
	}{
		{name: "none", body: "lvs_sched rr", weight: 1},
		{name: "flag-1..3", body: "lvs_sched rr\n flag-1\n flag-2\n flag-3", flags: SchedFlag1 | SchedFlag2 | SchedFlag3, weight: 1},
		{name: "sh flags", body: "lvs_sched sh\n sh-port\n sh-fallback", flags: SchedFlag1 | SchedFlag2, weight: 1},
		{name: "sh flags before lvs_sched", body: "sh-port\n lvs_sched sh", flags: SchedFlag2, weight: 1},
		{name: "mh flags", body: "lvs_sched mh\n mh-port\n mh-fallback", flags: SchedFlag1 | SchedFlag2, weight: 1},
		{name: "sh-port with rr", body: "lvs_sched rr\n sh-port", weight: 1,
			diag: "3:2: warning: sh-port applies to lvs_sched sh only (this service's is rr); ignored"},
		{name: "mh-fallback with sh", body: "lvs_sched sh\n mh-fallback", weight: 1,
			diag: "3:2: warning: mh-fallback applies to lvs_sched mh only (this service's is sh); ignored"},
		{name: "ops udp", body: "lvs_sched rr\n protocol UDP\n ops", ops: true, weight: 1},
		{name: "ops tcp", body: "lvs_sched rr\n protocol TCP\n ops", weight: 1,
			diag: "4:2: warning: virtual_server 10.0.0.1:80: ops (one-packet scheduling) needs protocol UDP; ignored"},
		{name: "ops fwmark", head: "fwmark 7", body: "lvs_sched rr\n lvs_method DR\n ops", ops: true, weight: 1},
		{name: "ops on nft", body: "lvs_sched rr\n lvs_method DR\n protocol UDP\n ops", opts: Options{IPVSAvailable: func() bool { return false }},
			ops: true, weight: 1, diag: "1:1: error: virtual_server 10.0.0.1:80: ops (one-packet scheduling) needs IPVS"},
		{name: "weight", body: "lvs_sched rr\n weight 5", weight: 5},
		{name: "weight range", body: "lvs_sched rr\n weight 0", weight: 1, diag: "3:9: error: weight 0 is out of range"},
		{name: "ip_family agrees", body: "lvs_sched rr\n ip_family inet", weight: 1},
		{name: "ip_family conflicts", body: "lvs_sched rr\n ip_family inet6", weight: 1,
			diag: "1:1: error: virtual_server 10.0.0.1:80: ip_family inet6 conflicts with the address's family"},
		{name: "ip_family bad", body: "lvs_sched rr\n ip_family ipx", weight: 1, diag: `3:12: error: ip_family "ipx": must be inet or inet6`},
		{name: "ip_family fwmark", head: "fwmark 7", body: "lvs_sched rr\n lvs_method DR\n ip_family inet6", rs: "2001:db8::2", weight: 1},
		{name: "ip_family fwmark conflicts", head: "fwmark 7", body: "lvs_sched rr\n lvs_method DR\n ip_family inet6", weight: 1,
			diag: "error: real_server 10.0.0.2 is not in the virtual server's ip_family inet6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head := tt.head
			if head == "" {
				head = "10.0.0.1 80"
			}
			rs := tt.rs
			if rs == "" {
				rs = "10.0.0.2"
			}
			body := tt.body
			if !strings.Contains(body, "protocol") && !strings.HasPrefix(head, "fwmark") {
				body += "\n protocol TCP"
			}
			if !strings.Contains(body, "lvs_method") {
				body += "\n lvs_method NAT"
			}
			port := " 80"
			if strings.HasPrefix(head, "fwmark") {
				port = ""
			}
			src := "virtual_server " + head + " {\n " + body + "\n real_server " + rs + port + " {\n }\n}\n"
			cfg, diags, _ := Parse("t.conf", []byte(src), tt.opts)
			if tt.diag == "" && len(diags) > 0 || tt.diag != "" && !strings.Contains(diags.String(), tt.diag) {
				t.Fatalf("diagnostics:\n%s\nwant %q\nsource:\n%s", diags, tt.diag, src)
			}
			if cfg == nil || len(cfg.VirtualServers) != 1 {
				return
			}
			vs := cfg.VirtualServers[0]
			if vs.OnePacket != tt.ops || vs.SchedFlags != tt.flags {
				t.Errorf("ops %v flags %b, want %v %b", vs.OnePacket, vs.SchedFlags, tt.ops, tt.flags)
			}
			if len(vs.RealServers) > 0 && vs.RealServers[0].Weight != tt.weight {
				t.Errorf("real server weight %d, want %d", vs.RealServers[0].Weight, tt.weight)
			}
		})
	}
}

// TestRealServerWeightOverridesVirtualServers: a real server's own weight
// wins over the virtual server's default, wherever either is written.
func TestRealServerWeightOverridesVirtualServers(t *testing.T) {
	src := "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched wrr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n  weight 3\n }\n real_server 10.0.0.3 80 {\n }\n weight 7\n}\n"
	cfg, diags, err := Parse("t.conf", []byte(src), Options{})
	if err != nil || len(diags) > 0 {
		t.Fatalf("Parse: %v\n%s", err, diags)
	}
	rs := cfg.VirtualServers[0].RealServers
	if rs[0].Weight != 3 || rs[1].Weight != 7 {
		t.Errorf("weights %d, %d; want 3, 7", rs[0].Weight, rs[1].Weight)
	}
}

// TestPersistenceEngine: persistence_engine names an IPVS engine module
// (keepalived's pengine_handler); it acts only on a persistent service and
// only IPVS has it.
func TestPersistenceEngine(t *testing.T) {
	nft := Options{IPVSAvailable: func() bool { return false }}
	for _, tt := range []struct {
		name, body string
		opts       Options
		want       string // the engine in the model
		diag       string
	}{
		{name: "sip", body: "persistence_timeout 60\n persistence_engine sip", want: "sip"},
		{name: "no persistence", body: "persistence_engine sip", want: "sip",
			diag: "5:2: warning: persistence_engine sip has no effect without persistence_timeout"},
		{name: "bad name", body: "persistence_timeout 60\n persistence_engine Sip-x", diag: `6:21: error: persistence_engine "Sip-x": not an IPVS persistence engine name`},
		{name: "too long", body: "persistence_timeout 60\n persistence_engine abcdefghijklmnop", diag: "error: persistence_engine \"abcdefghijklmnop\""},
		{name: "nft", body: "persistence_timeout 60\n persistence_engine sip", opts: nft, want: "sip",
			diag: "1:1: error: virtual_server 10.0.0.1:5060: persistence_engine sip needs IPVS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "virtual_server 10.0.0.1 5060 {\n protocol UDP\n lvs_sched rr\n lvs_method DR\n " + tt.body + "\n real_server 10.0.0.2 5060 {\n }\n}\n"
			cfg, diags, _ := Parse("t.conf", []byte(src), tt.opts)
			if tt.diag == "" && len(diags) > 0 || tt.diag != "" && !strings.Contains(diags.String(), tt.diag) {
				t.Fatalf("diagnostics:\n%s\nwant %q", diags, tt.diag)
			}
			if cfg != nil && len(cfg.VirtualServers) == 1 && cfg.VirtualServers[0].PersistenceEngine != tt.want {
				t.Errorf("engine %q, want %q", cfg.VirtualServers[0].PersistenceEngine, tt.want)
			}
		})
	}
}

// TestSorryServerMethod: sorry_server_lvs_method is the sorry server's
// forwarding method (keepalived's ss_forwarding_handler), the virtual
// server's by default.
func TestSorryServerMethod(t *testing.T) {
	nft := Options{IPVSAvailable: func() bool { return false }}
	for _, tt := range []struct {
		name, body string
		opts       Options
		want       ForwardingMethod
		diag       string
	}{
		{name: "inherits", body: "sorry_server 10.0.0.9 80", want: ForwardDR},
		{name: "own", body: "sorry_server 10.0.0.9 80\n sorry_server_lvs_method TUN", want: ForwardTUN},
		{name: "before sorry_server", body: "sorry_server_lvs_method NAT\n sorry_server 10.0.0.9 8080", want: ForwardNAT},
		{name: "no sorry server", body: "sorry_server_lvs_method NAT", diag: "5:2: error: sorry_server_lvs_method without a sorry_server"},
		{name: "bad method", body: "sorry_server 10.0.0.9 80\n sorry_server_lvs_method FOO", want: ForwardDR, diag: `6:26: error: sorry_server_lvs_method "FOO": must be NAT, DR or TUN`},
		{name: "nft NAT sorry server", body: "sorry_server 10.0.0.9 80\n sorry_server_lvs_method NAT", opts: nft, want: ForwardNAT,
			diag: "1:1: error: virtual_server 10.0.0.1:80: lvs_method NAT needs IPVS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n " + tt.body + "\n real_server 10.0.0.2 80 {\n }\n}\n"
			cfg, diags, _ := Parse("t.conf", []byte(src), tt.opts)
			if tt.diag == "" && len(diags) > 0 || tt.diag != "" && !strings.Contains(diags.String(), tt.diag) {
				t.Fatalf("diagnostics:\n%s\nwant %q", diags, tt.diag)
			}
			if cfg == nil || len(cfg.VirtualServers) != 1 {
				return
			}
			ss := cfg.VirtualServers[0].SorryServer
			if tt.want == "" {
				if ss != nil {
					t.Errorf("sorry server %+v, want none", ss)
				}
				return
			}
			if ss == nil || ss.Method != tt.want {
				t.Errorf("sorry server %+v, want method %s", ss, tt.want)
			}
		})
	}
}

// TestNetNamespaceIPVS: net_namespace_ipvs [NAME] (keepalived: IPVS in
// another namespace, the default one without a name) is a namespace name,
// must exist under --host-checks, and needs IPVS.
func TestNetNamespaceIPVS(t *testing.T) {
	vs := "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n real_server 10.0.0.2 80 {\n }\n}\n"
	nft := Options{IPVSAvailable: func() bool { return false }}
	for _, tt := range []struct {
		name, top string
		opts      Options
		want      *string
		diag      string
	}{
		{name: "none", want: nil},
		{name: "named", top: "net_namespace_ipvs lvs\n", want: ptr("lvs")},
		{name: "default", top: "net_namespace_ipvs\n", want: ptr("")},
		{name: "bad name", top: "net_namespace_ipvs a/b\n", diag: `1:20: error: net_namespace_ipvs "a/b" is not a valid namespace name`},
		{name: "nft", top: "net_namespace_ipvs lvs\n", opts: nft, want: ptr("lvs"), diag: "1:1: error: net_namespace_ipvs needs IPVS"},
		{name: "missing on this host", top: "net_namespace_ipvs lvsflaxnope\n", opts: Options{HostChecks: true}, want: ptr("lvsflaxnope"),
			diag: "1:1: error: net_namespace_ipvs lvsflaxnope does not exist on this host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, _ := Parse("t.conf", []byte(tt.top+vs), tt.opts)
			if tt.diag == "" && len(diags) > 0 || tt.diag != "" && !strings.Contains(diags.String(), tt.diag) {
				t.Fatalf("diagnostics:\n%s\nwant %q", diags, tt.diag)
			}
			if cfg == nil {
				return
			}
			if got := cfg.NetNamespaceIPVS; (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("NetNamespaceIPVS = %v, want %v", got, tt.want)
			}
		})
	}
}
