package daemon

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// startupCheck runs every translation and validation drlb run does with a
// configuration before anything starts (VRRP node, health-check scheduler,
// the data-plane table with every server up and with every server down),
// and returns all their refusals. It starts nothing.
func startupCheck(cfg *config.Config) error {
	var errs []error
	vcfg, err := VRRPConfig(cfg)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(vcfg.Instances) > 0:
		if _, err := vrrp.NewNode(vcfg, vrrp.Options{}); err != nil {
			errs = append(errs, err)
		}
	}
	servers, err := CheckServers(cfg, nil)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(servers) > 0:
		if _, err := check.NewScheduler(check.Config{Servers: servers}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, up := range []bool{true, false} {
		health := map[check.Target]Health{}
		for vi := range cfg.VirtualServers {
			vs := &cfg.VirtualServers[vi]
			for ri := range vs.RealServers {
				health[TargetOf(vs, &vs.RealServers[ri])] = Health{Up: up, Weight: vs.RealServers[ri].Weight}
			}
		}
		services := EvaluateServices(cfg, health, nil)
		if err := Desired(cfg, health, services, Placement{}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runPathRefusals lists where drlb run's start-up refuses a configuration:
// files (relative to package daemon) and the functions in them that
// startupCheck reaches.
var runPathRefusals = map[string][]string{
	"translate.go":       {"VRRPConfig", "checkSpec"},
	"vrrp/config.go":     {"withDefaults"},
	"vrrp/node.go":       {"NewNode", "buildConfig"},
	"check/spec.go":      {"Validate"},
	"check/scheduler.go": {"NewScheduler", "serverKeys"},
	"dataplane/model.go": {"Validate"},
}

// wrapperFormats only add context to an error built elsewhere.
var wrapperFormats = []string{"%v", "%w: instance %q: %s", "check: new scheduler: %w", "server %s checker %d: %w",
	"check: invalid %s spec: %w", "url %d: %w", "%w: service %s: %s"}

// unreachableRefusals are run-path refusals no configuration file can
// reach, because config builds the model so that they cannot happen; the
// value says why.
var unreachableRefusals = map[string]string{
	"auth_type %v not supported (PASS only)":                                     "VRRPConfig refuses every type but PASS first",
	"virtual_router_id must be 1-255":                                            "VRRPConfig refuses it first",
	"no name":                                                                    "config needs a name for every vrrp_instance block",
	"virtual_ipaddress %v: not an IPv4 or IPv6 prefix":                           "config builds every virtual address from a parsed IPv4 or IPv6 prefix",
	"%s:%d: checker %s is not supported":                                         "config builds only HTTP_GET, SSL_GET, TCP_CHECK and MISC_CHECK checkers",
	"no connect address":                                                         "config always sets connect_ip (the real server's address by default)",
	"unknown kind %d":                                                            "checkSpec sets one of the four kinds",
	"url %d: invalid status range %d-%d":                                         "config accepts 100..599 only, a narrower range",
	"has both a firewall mark and a VIP %s":                                      "Desired clears the VIP of a fwmark service",
	"has neither a VIP nor a firewall mark":                                      "config drops a virtual_server without a valid address or mark",
	"interface name %q is not a valid Linux interface name":                      "the interface comes from this host's routes, not the file",
	"persistence granularity /%d is out of range for the address family (0..%d)": "config accepts 1..32 (IPv4) or 1..128 (IPv6) only",
	"real server %s listed twice":                                                "config ignores a second real_server with the same address and port, and the desired table lists a sorry server that is also a real server once",
	"real server without an address":                                             "config drops a real_server without a valid address",
	"unknown forwarding method %d":                                               "config knows NAT, DR and TUN only",
	"unsupported protocol %d (want tcp, udp or sctp)":                            "config knows TCP, UDP and SCTP only",
	"receive buffer size %d is negative":                                         "config accepts positive sizes and multipliers only",
	"unknown service flags 0x%x":                                                 "Desired sets only ops and the three scheduler flags",
	"real server %s: unknown forwarding method %d":                               "config knows NAT, DR and TUN only",
	"one-packet scheduling (ops) needs UDP":                                      "config drops ops, with keepalived's warning, for a TCP or SCTP service",
	"persistence engine %q is not a module name (at most 15 of a-z, 0-9, _)":     "Desired sets no persistence engine yet (persistence_engine is not supported yet)",
}

// refusalFormats returns the format strings of the error constructors
// (fmt.Errorf, errors.New and the local helper bad) in the run path.
func refusalFormats(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for file, funcs := range runPathRefusals {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || !slices.Contains(funcs, fd.Name.Name) {
				continue
			}
			found++
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				name := ""
				switch fn := call.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok {
						name = x.Name + "." + fn.Sel.Name
					}
				case *ast.Ident:
					name = fn.Name
				}
				if name != "fmt.Errorf" && name != "errors.New" && name != "bad" {
					return true
				}
				for _, a := range call.Args {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil && !slices.Contains(wrapperFormats, s) {
							out[s] = file + ":" + fd.Name.Name
						}
						break
					}
				}
				return true
			})
		}
		if found != len(funcs) {
			t.Fatalf("%s: found %d of the functions %v: update runPathRefusals", file, found, funcs)
		}
	}
	return out
}

// formatRegexp matches what fmt makes of format.
func formatRegexp(format string) *regexp.Regexp {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			i++
			if format[i] == '%' {
				b.WriteString("%")
			} else {
				b.WriteString("(?s:.*)")
			}
			continue
		}
		b.WriteString(regexp.QuoteMeta(format[i : i+1]))
	}
	return regexp.MustCompile(b.String())
}

// hmacTestKey is a 32-byte auth_hmac key.
const hmacTestKey = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

const startupInst = "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n}\n"

// startupVS is a virtual server with one real server; extra goes at line 2.
func startupVS(extra ...string) string {
	return "virtual_server 10.0.0.1 80 {\n" + strings.Join(append(extra, "protocol TCP", "lvs_sched rr", "lvs_method NAT",
		"real_server 10.0.0.2 80 {", "TCP_CHECK {", "}", "}"), "\n") + "\n}\n"
}

// refusalCases: for each refusal in run's start-up path, a file drlb check
// refuses (or corrects) at a position. When config corrects the problem
// (a warning), mutate puts it back to show what run would have refused.
var refusalCases = []struct {
	name   string
	conf   string
	diag   string // "LINE:COL: severity: message prefix"
	mutate func(*config.Config)
	covers []string
}{
	{name: "auth AH", conf: startupInst + "authentication {\nauth_type AH\nauth_pass 1111\n}\n}\n",
		diag: "8:11: error: auth_type AH is not supported yet", covers: []string{"%s:%d: vrrp_instance %s: auth_type %s is not supported"}},
	{name: "auth_hmac active_key not a key", conf: startupInst + "auth_hmac {\nkey 1 " + hmacTestKey + "\nactive_key 2\n}\n}\n",
		diag: "9:12: error: auth_hmac active_key 2 is not one of its keys", covers: []string{"auth_hmac active_key %d is not one of its keys"}},
	{name: "auth_hmac key too short", conf: startupInst + "auth_hmac {\nkey 1 hex:0001\nactive_key 1\n}\n}\n",
		diag: "8:7: error: auth_hmac key 1 is 2 bytes: must be 32..64",
		mutate: func(c *config.Config) {
			c.Instances[0].AuthHMAC.Keys = []config.HMACKey{{ID: 1, Key: []byte{0, 1}}}
		},
		covers: []string{"auth_hmac key %d: id 1-255 and %d-%d bytes needed"}},
	{name: "auth_hmac with authentication", conf: startupInst + "auth_hmac {\nkey 1 " + hmacTestKey + "\nactive_key 1\n}\nauthentication {\nauth_type PASS\nauth_pass x\n}\n}\n",
		diag: "7:1: error: auth_hmac cannot be combined with authentication",
		mutate: func(c *config.Config) {
			c.Instances[0].Auth = config.Authentication{Type: config.AuthPass, Password: "x"}
		},
		covers: []string{"auth_hmac cannot be combined with authentication"}},
	{name: "vrid out of range", conf: "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 500\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n",
		diag: "3:19: error: virtual_router_id 500 is out of range", covers: []string{"%s:%d: vrrp_instance %s: virtual_router_id %d outside 1-255"}},
	{name: "track_script naming nothing", conf: startupInst + "track_script {\nnope\n}\n}\n",
		diag: `8:1: warning: track_script "nope": no vrrp_script has that name; ignored`,
		mutate: func(c *config.Config) {
			c.Instances[0].TrackScripts = append(c.Instances[0].TrackScripts, config.TrackScript{Name: "nope"})
		},
		covers: []string{"%s:%d: vrrp_instance %s: track_script %q names no vrrp_script"}},
	{name: "advert_int out of range", conf: startupInst + "version 3\nadvert_int 0.001\n}\n",
		diag:   "8:12: error: advert_int 0.001 is out of range for VRRPv3",
		mutate: func(c *config.Config) { c.Instances[0].AdvertInterval = 5 * time.Millisecond },
		covers: []string{"advert_int %v: %v"}},
	{name: "authentication with v3", conf: startupInst + "version 3\nauthentication {\nauth_type PASS\nauth_pass 1111\n}\n}\n",
		diag: "1:1: warning: vrrp_instance VI: authentication is not part of VRRPv3; ignored",
		mutate: func(c *config.Config) {
			c.Instances[0].Auth = config.Authentication{Type: config.AuthPass, Password: "1111"}
		},
		covers: []string{"authentication is not part of VRRPv3"}},
	{name: "no interface", conf: "vrrp_instance VI {\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n",
		diag: "1:1: error: vrrp_instance VI has no interface", covers: []string{"no interface"}},
	{name: "no virtual_ipaddress", conf: "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\n}\n",
		diag: "1:1: error: vrrp_instance VI has no virtual_ipaddress", covers: []string{"no virtual_ipaddress"}},
	{name: "source of the other family", conf: startupInst + "unicast_src_ip 2001:db8::2\n}\n",
		diag: "7:16: error: unicast_src_ip 2001:db8::2 (vrrp_instance VI) is not IPv4 like", covers: []string{"source %v is not %s like the instance's virtual addresses"}},
	{name: "unicast peer of the other family", conf: startupInst + "unicast_peer {\n2001:db8::3\n}\n}\n",
		diag: "8:1: error: unicast_peer 2001:db8::3 (vrrp_instance VI) is not IPv4 like", covers: []string{"unicast_peer %v is not %s like the instance's virtual addresses"}},
	{name: "virtual addresses of both families", conf: "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n2001:db8::1\n10.0.0.1\n}\n}\n",
		diag: "6:1: error: vrrp_instance VI mixes IPv4 and IPv6 virtual addresses", covers: []string{"virtual_ipaddress %v: an instance's addresses are of one family (%s, as the first); use virtual_ipaddress_excluded or a second instance"}},
	{name: "authentication over IPv6", conf: "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nversion 2\nauthentication {\nauth_type PASS\nauth_pass x\n}\nvirtual_ipaddress {\nfd00::1\n}\n}\n",
		diag: "6:11: error: vrrp_instance VI: authentication is not carried over IPv6", covers: []string{"authentication is not carried by VRRPv2 over IPv6 (keepalived sends no authentication data there)"}},
	{name: "multicast group", conf: "global_defs {\nvrrp_mcast_group4 10.0.0.9\n}\n" + startupInst + "}\n",
		diag:   "2:19: error: vrrp_mcast_group4 10.0.0.9 is not an IPv4 multicast address",
		mutate: func(c *config.Config) { c.Global.VRRPMcastGroup4 = netip.MustParseAddr("10.0.0.9") },
		covers: []string{"%s %v is not an %s multicast address"}},
	{name: "IPv6 multicast group", conf: "global_defs {\nvrrp_mcast_group6 fd00::9\n}\nvrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\nfd00::1\n}\n}\n",
		diag:   "2:19: error: vrrp_mcast_group6 fd00::9 is not an IPv6 multicast address",
		mutate: func(c *config.Config) { c.Global.VRRPMcastGroup6 = netip.MustParseAddr("fd00::9") },
		covers: []string{"%s %v is not an %s multicast address"}},
	{name: "script with unbalanced quote", conf: "vrrp_script s {\nscript \"/bin/sh -c 'exit 0\"\n}\n" + startupInst + "track_script {\ns\n}\n}\n",
		diag: `2:8: error: script "/bin/sh -c 'exit 0": unterminated quote or escape`, covers: []string{"vrrp_script %q: %v"}},
	{name: "down_timer_adverts out of range", conf: startupInst + "down_timer_adverts 101\n}\n",
		diag:   "7:20: error: down_timer_adverts 101 is out of range",
		mutate: func(c *config.Config) { c.Instances[0].Protocol.DownTimerAdverts = 101 },
		covers: []string{"down_timer_adverts %d (want 1-%d)"}},
	{name: "notify_master_rx_lower_pri with unbalanced quote", conf: startupInst + "notify_master_rx_lower_pri \"/bin/sh -c 'x\"\n}\n",
		diag:   `7:28: error: notify_master_rx_lower_pri "/bin/sh -c 'x": unterminated quote or escape`,
		mutate: func(c *config.Config) { c.Instances[0].Protocol.NotifyMasterRxLowerPri = "/bin/sh -c 'x" },
		covers: []string{"notify_master_rx_lower_pri: %v"}},
	{name: "version out of range", conf: startupInst + "version 4\n}\n",
		diag:   "7:9: error: version 4 is out of range",
		mutate: func(c *config.Config) { c.Instances[0].Version = 4 },
		covers: []string{"vrrp_version %d (want 2 or 3)"}},
	{name: "instance twice", conf: startupInst + "}\n" + strings.Replace(startupInst, "virtual_router_id 1", "virtual_router_id 2", 1) + "}\n",
		diag: "8:1: error: vrrp_instance VI is defined twice", covers: []string{"%w: instance %q defined twice"}},
	{name: "VRID twice", conf: startupInst + "}\n" + strings.Replace(startupInst, "VI", "VJ", 1) + "}\n",
		diag: "10:19: error: virtual_router_id 1 is already used on eth0", covers: []string{"%w: instance %q: VRID %d already used on %s"}},
	{name: "sync group with unknown instance", conf: startupInst + "}\nvrrp_sync_group G {\ngroup {\nVI\nVX\n}\n}\n",
		diag: `11:1: error: vrrp_sync_group G names vrrp_instance "VX", which does not exist`, covers: []string{"%w: sync group %q: unknown instance %q"}},
	{name: "instance in two groups", conf: startupInst + "}\nvrrp_sync_group G {\ngroup {\nVI\n}\n}\nvrrp_sync_group H {\ngroup {\nVI\n}\n}\n",
		diag: "15:1: error: vrrp_instance VI is already in vrrp_sync_group G", covers: []string{"%w: instance %q is in two sync groups"}},
	{name: "virtual server twice", conf: startupVS() + startupVS(),
		diag: "10:1: error: virtual_server 10.0.0.1:80 is defined twice", covers: []string{"server %s: duplicate target", "defined twice"}},
	{name: "empty misc_path", conf: "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nMISC_CHECK {\nmisc_path \"\"\n}\n}\n}\n",
		diag: `6:11: error: misc_path "": empty command`, covers: []string{"empty misc_path"}},
	{name: "HTTP_GET without url", conf: "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nHTTP_GET {\n}\n}\n}\n",
		diag: "5:1: error: HTTP_GET needs at least one url { } block", covers: []string{"no url"}},
	{name: "url with empty path", conf: "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nHTTP_GET {\nurl {\npath \"\"\n}\n}\n}\n}\n",
		diag: "7:6: error: path is empty", covers: []string{"url %d: empty path"}},
	{name: "url path with a blank", conf: "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nHTTP_GET {\nurl {\npath \"/a b\"\n}\n}\n}\n}\n",
		diag: `7:6: error: path "/a b" contains a blank`, covers: []string{"url %d: path %q contains space or newline"}},
	{name: "multicast VIP", conf: strings.Replace(startupVS(), "10.0.0.1 80", "224.0.0.5 80", 1),
		diag: "1:1: error: virtual_server 224.0.0.5:80: 224.0.0.5 is not a unicast address", covers: []string{"VIP %s is not a unicast address"}},
	{name: "fractional persistence", conf: startupVS("persistence_timeout 1.5"),
		diag:   `2:21: error: persistence_timeout: "1.5" is not a whole number`,
		mutate: func(c *config.Config) { c.VirtualServers[0].PersistenceTimeout = 1500 * time.Millisecond },
		covers: []string{"persistence timeout %s must be a whole number of seconds between 0 and 2^32-1"}},
	{name: "no port, not persistent", conf: strings.Replace(startupVS(), "10.0.0.1 80", "10.0.0.1", 1),
		diag:   "1:1: warning: virtual_server 10.0.0.1:0 has no port and no persistence_timeout",
		mutate: func(c *config.Config) { c.VirtualServers[0].PersistenceTimeout = 0 },
		covers: []string{"port 0 is only allowed for a persistent service"}},
	{name: "real server of the other family", conf: strings.Replace(startupVS(), "real_server 10.0.0.2", "real_server 2001:db8::2", 1),
		diag: "5:13: error: real_server 2001:db8::2 and virtual_server 10.0.0.1 are different address families", covers: []string{"real server %s is not in the VIP's address family"}},
	{name: "url regex RE2 cannot compile", conf: "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nHTTP_GET {\nurl {\npath /\nregex \"(?<=a)b\"\n}\n}\n}\n}\n",
		diag: `8:7: error: regex "(?<=a)b" cannot be compiled by Go's RE2`,
		mutate: func(c *config.Config) {
			c.VirtualServers[0].RealServers[0].Checkers[0].URLs[0].Regex = "(?<=a)b"
		},
		covers: []string{"url %d: regex %q is not an RE2 pattern: %w"}},
	{name: "track_file without file", conf: "track_file tf {\n}\nvirtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nFILE_CHECK {\ntrack_file tf\n}\n}\n}\n",
		diag: "1:1: error: track_file tf has no file", covers: []string{"no track_file path"}},
	{name: "fwmark service mixing families", conf: "virtual_server fwmark 3 {\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 {\n}\nreal_server 2001:db8::2 {\n}\n}\n",
		diag:   "6:13: error: real_server 2001:db8::2 is not in the address family of the earlier real servers of virtual_server FWM 3 (IPv4)",
		covers: []string{"real server %s is not in the address family of real server %s"}},
	{name: "persistence engine name", conf: "virtual_server 10.0.0.1 5060 {\nprotocol UDP\nlvs_sched rr\npersistence_timeout 60\npersistence_engine SIP-x\nreal_server 10.0.0.2 5060 {\n}\n}\n",
		diag:   `5:20: error: persistence_engine "SIP-x": not an IPVS persistence engine name`,
		mutate: func(c *config.Config) { c.VirtualServers[0].PersistenceEngine = "SIP-x" },
		covers: []string{"persistence engine %q is not a module name (at most 15 of a-z, 0-9, _)"}},
	{name: "unknown scheduler", conf: "virtual_server 10.0.0.1 80 {\nlvs_sched bogus\nprotocol TCP\nreal_server 10.0.0.2 80 {\nTCP_CHECK {\n}\n}\n}\n",
		diag:   `2:11: error: lvs_sched "bogus": unknown scheduler`,
		mutate: func(c *config.Config) { c.VirtualServers[0].Scheduler = "bogus" },
		covers: []string{"unknown scheduler %q (known: %s)"}},
}

// TestCheckRefusesWhatRunRefuses: every refusal in run's start-up path has
// a case; in each, config reports it at its position, and the run path,
// given the model (with config's correction undone where it corrects),
// refuses with the constructor the case claims.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	for _, tc := range refusalCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, _ := config.Parse("t.conf", []byte(tc.conf), config.Options{})
			found := false
			for _, d := range ds {
				if strings.HasPrefix(strings.TrimPrefix(d.String(), "t.conf:"), tc.diag) {
					found = true
				}
			}
			if !found {
				t.Fatalf("check does not report %q; got:\n%s", tc.diag, ds)
			}
			if tc.mutate != nil {
				if !ds.HasErrors() {
					if err := startupCheck(cfg); err != nil {
						t.Errorf("config corrects this (warning only), yet run refuses the corrected model: %v", err)
					}
				}
				tc.mutate(cfg)
			}
			err := startupCheck(cfg)
			if err == nil {
				t.Fatal("the run path accepts it")
			}
			for _, f := range tc.covers {
				if !formatRegexp(f).MatchString(err.Error()) {
					t.Errorf("run error does not come from %q:\n%v", f, err)
				}
			}
		})
	}
}

// TestRunRefusalsAreCovered is the meta-test: every error constructor in
// run's start-up path is claimed by a case of TestCheckRefusesWhatRunRefuses
// or said to be unreachable with a reason. A new refusal in the run path
// fails here until check reports it too.
func TestRunRefusalsAreCovered(t *testing.T) {
	formats := refusalFormats(t)
	claimed := map[string]bool{}
	for _, tc := range refusalCases {
		for _, f := range tc.covers {
			claimed[f] = true
		}
	}
	for f, where := range formats {
		if !claimed[f] && unreachableRefusals[f] == "" {
			t.Errorf("%s refuses with %q, but no refusal case covers it (add one to refusalCases, where drlb check must report it with a position)", where, f)
		}
	}
	for f := range claimed {
		if _, ok := formats[f]; !ok {
			t.Errorf("refusal case claims %q, which the run path no longer has", f)
		}
	}
	for f := range unreachableRefusals {
		if _, ok := formats[f]; !ok {
			t.Errorf("unreachableRefusals lists %q, which the run path no longer has", f)
		}
	}
}

// TestWhatCheckAcceptsRunAccepts: every configuration file in the
// repository that check accepts passes the whole start-up path.
func TestWhatCheckAcceptsRunAccepts(t *testing.T) {
	var files []string
	for _, pattern := range []string{"config/testdata/*.conf", "config/testdata/samples/*.conf", "config/testdata/cases/*.conf", "config/testdata/cases/*/*.conf"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	accepted := 0
	for _, f := range files {
		for _, id := range []string{"lb1", "lb2"} {
			cfg, _, err := config.Load(f, config.Options{ConfigID: id})
			if err != nil {
				continue
			}
			accepted++
			if err := startupCheck(cfg); err != nil {
				t.Errorf("%s (config id %s): check accepts it, run refuses: %v", f, id, err)
			}
		}
	}
	if accepted < 10 {
		t.Errorf("only %d accepted inputs: the corpus is gone", accepted)
	}
}

// TestCommandSyntaxAgrees: config.CheckCommand accepts exactly the script
// lines vrrp.SplitCommand can split (notify, vrrp_script), and a line it
// accepts gives check.SplitCommand (misc_path, quorum_up) the same words.
func TestCommandSyntaxAgrees(t *testing.T) {
	lines := []string{"", " ", "/bin/true", "/bin/sh -c 'exit 1'", `/bin/echo "a b" c`, `a\ b`, `'unterminated`, `"x`,
		`trailing\`, `'it''s'`, `"a\"b"`, "\t/bin/x\targ", `'\'`, `"\\"`}
	if data, err := os.ReadFile("vrrp/notify.go"); err == nil {
		lines = append(lines, strings.Split(string(data), "\n")[:40]...) // arbitrary text
	}
	for _, l := range lines {
		want, verr := vrrp.SplitCommand(l)
		cerr := config.CheckCommand(l)
		if (verr == nil) != (cerr == nil) {
			t.Errorf("%q: vrrp.SplitCommand err %v, config.CheckCommand err %v", l, verr, cerr)
			continue
		}
		if cerr == nil && !slices.Equal(check.SplitCommand(l), want) {
			t.Errorf("%q: check.SplitCommand %q, vrrp.SplitCommand %q", l, check.SplitCommand(l), want)
		}
	}
}

// FuzzCheckAcceptsRunAccepts: for any input, if config reports no error,
// the whole start-up path accepts the model. Seeds are the repository's
// configuration files and the refusal cases.
func FuzzCheckAcceptsRunAccepts(f *testing.F) {
	for _, pattern := range []string{"config/testdata/*.conf", "config/testdata/samples/*.conf", "config/testdata/cases/*.conf"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	for _, tc := range refusalCases {
		f.Add([]byte(tc.conf))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := config.Options{
			ConfigID: "lb1",
			// Includes cannot reach the disk.
			Glob:     func(string) ([]string, error) { return nil, nil },
			ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist },
		}
		cfg, _, err := config.Parse("f.conf", data, opts)
		if err != nil {
			return
		}
		if err := startupCheck(cfg); err != nil {
			t.Fatalf("check accepts, run refuses: %v\n%s", err, data)
		}
	})
}

// TestLoadErrorNamesTheFileOnce: drlb run's "configuration unusable" line
// names the file once; the wrapped error already starts with it.
func TestLoadErrorNamesTheFileOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(file, []byte("vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 500\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(file, "", nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("Load: %v, want ErrConfig", err)
	}
	if strings.Contains(err.Error(), file+": "+file+": ") {
		t.Errorf("the file is named twice: %v", err)
	}
}

// TestLoadRefusesWhatTheHostDataplaneCannotProgram: with nftables as the
// data plane (forced, or auto on a kernel without IPVS), drlb run's Load
// refuses a NAT service at its position. Before, run started, took the
// VIP, and the data plane refused the whole table: every service dark.
func TestLoadRefusesWhatTheHostDataplaneCannotProgram(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 80 {\nTCP_CHECK {\n}\n}\n}\n" +
		"virtual_server 10.0.0.1 8080 {\nprotocol TCP\nlvs_sched rr\nlvs_method NAT\nreal_server 10.0.0.2 8080 {\nTCP_CHECK {\n}\n}\n}\n" +
		"virtual_server 10.0.0.1 53 {\nprotocol UDP\nops\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 53 {\nTCP_CHECK {\nconnect_port 80\n}\n}\n}\n"
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, diags, err := Load(file, "", Options{Dataplane: "nft"}.HostIPVS(), log)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Load with nftables: %v, want ErrConfig", err)
	}
	found, ops := false, false
	for _, d := range diags.Errors() {
		found = found || (d.Line == 10 && strings.Contains(d.Message, "lvs_method NAT needs IPVS"))
		ops = ops || (d.Line == 19 && strings.Contains(d.Message, "ops (one-packet scheduling) needs IPVS"))
	}
	if !found {
		t.Errorf("no located NAT refusal at line 10: %v", diags)
	}
	if !ops {
		t.Errorf("no located ops refusal at line 19: %v", diags)
	}
	// With IPVS (forced) the same file loads; with -P no data plane runs.
	for _, o := range []Options{{Dataplane: "ipvs"}, {VRRPOnly: true}} {
		if _, _, err := Load(file, "", o.HostIPVS(), log); err != nil {
			t.Errorf("Load with %+v: %v", o, err)
		}
	}
}

// TestLoadChecksThisHostsInterfaces: drlb run -t (Load) refuses, at its
// position, an instance whose interface this host does not have, as
// drlb check --host-checks does and as keepalived -t does ("WARNING -
// interface X for vrrp_instance Y doesn't exist", a configuration error).
// Before, -t said "configuration OK" and drlb run then exited at start.
// With dynamic_interfaces it is a warning (FAULT until the interface
// appears).
func TestLoadChecksThisHostsInterfaces(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface drlbnosuch0\n virtual_router_id 51\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name, conf string
		wantErr    bool
	}{
		{"missing interface", inst, true},
		{"dynamic_interfaces", "global_defs {\n dynamic_interfaces\n}\n" + inst, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "keepalived.conf")
			if err := os.WriteFile(file, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags, err := Load(file, "", nil, log)
			if tc.wantErr != errors.Is(err, ErrConfig) {
				t.Fatalf("Load: %v (diagnostics %v), want error %v", err, diags, tc.wantErr)
			}
			found := false
			for _, d := range diags {
				found = found || strings.Contains(d.String(), "interface drlbnosuch0 (vrrp_instance VI_1) does not exist on this host")
			}
			if !found {
				t.Errorf("no located diagnostic for the missing interface: %v", diags)
			}
		})
	}
}
