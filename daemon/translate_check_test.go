package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/miekg/dns"
)

func TestCheckServersParityIIKinds(t *testing.T) {
	cfg := parse(t, `
SSL {
  ca /etc/ca.pem
  certificate /etc/c.pem
}
track_file tf {
  file /run/tf
  weight 3
}
virtual_server 10.0.0.1 80 {
  alpha
  real_server 10.0.0.2 80 {
    weight 4
    alpha no
    SMTP_CHECK { helo_name lb1 }
    DNS_CHECK { type A
      name www.example }
    UDP_CHECK { payload 0a0b
      require_reply }
    PING_CHECK { alpha }
    FILE_CHECK { track_file tf
      dynamic }
    SSL_GET { http_protocol 1.1
      sni_name s.example
      bind_if eth1
      fwmark 9
      url { path /
        regex ok } }
  }
}
`)
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := servers[0].Checkers
	if len(got) != 6 {
		t.Fatalf("got %d checkers", len(got))
	}
	want := []func(s check.Spec) bool{
		func(s check.Spec) bool { return s.Kind == check.KindSMTP && s.SMTP.HeloName == "lb1" && !s.Alpha },
		func(s check.Spec) bool {
			return s.Kind == check.KindDNS && s.DNS.Type == dns.TypeA && s.DNS.Name == "www.example"
		},
		func(s check.Spec) bool {
			return s.Kind == check.KindUDP && string(s.UDP.Payload) == "\x0a\x0b" && s.UDP.RequireReply
		},
		func(s check.Spec) bool { return s.Kind == check.KindPing && s.Alpha && s.Addr.Port() == 0 },
		func(s check.Spec) bool {
			return s.Kind == check.KindFile && s.File == check.FileSpec{Path: "/run/tf", Weight: 3, Dynamic: true, BaseWeight: 4}
		},
		func(s check.Spec) bool {
			return s.Kind == check.KindSSL && s.HTTP.Protocol == check.HTTP11 && s.HTTP.EnableSNI && s.HTTP.SNIName == "s.example" &&
				s.BindIf == "eth1" && s.FWMark == 9 && s.HTTP.URLs[0].Regex == "ok" && s.HTTP.ClientCert.CA == "/etc/ca.pem" &&
				s.HTTP.ClientCert.Certificate == "/etc/c.pem"
		},
	}
	for i, ok := range want {
		if !ok(got[i]) {
			t.Errorf("checker %d (%s) = %+v", i, got[i].Kind, got[i])
		}
		if err := got[i].Validate(); err != nil {
			t.Errorf("checker %d: %v", i, err)
		}
	}
}

func TestVRRPConfigTrackFiles(t *testing.T) {
	base := `
track_file tf {
  file /run/tf
  weight 3
}
track_file t2 {
  file /run/t2
  weight -2 reverse
}
vrrp_instance VI_1 {
  interface eth1
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1
  }
  track_file {
    tf
    t2 weight 5
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 2
  virtual_ipaddress {
    10.0.0.2
  }
}
`
	vc, err := VRRPConfig(parse(t, base))
	if err != nil {
		t.Fatal(err)
	}
	got := vc.Instances[0].TrackFiles
	want := []vrrp.TrackFile{{Name: "tf", Path: "/run/tf", Weight: 3}, {Name: "t2", Path: "/run/t2", Weight: 5}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("track files = %+v, want %+v", got, want)
	}
	group := "vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n track_file {\n  tf\n }\n track_interface {\n  eth2 weight 10\n }\n%s}\n"
	vc, err = VRRPConfig(parse(t, base+fmt.Sprintf(group, "")))
	if err != nil {
		t.Fatal(err)
	}
	for _, ic := range vc.Instances {
		if len(ic.TrackInterfaces) != 1 || ic.TrackInterfaces[0].Weight != 0 {
			t.Errorf("%s: track_interface = %+v, want eth2 with weight 0 (no sync_group_tracking_weight)", ic.Name, ic.TrackInterfaces)
		}
		for _, tf := range ic.TrackFiles {
			if tf.Weight != 0 {
				t.Errorf("%s: track_file %s weight %d, want 0", ic.Name, tf.Name, tf.Weight)
			}
		}
	}
	if n := len(vc.Instances[1].TrackFiles); n != 1 {
		t.Errorf("VI_2 has %d track files, want the group's one", n)
	}
	vc, err = VRRPConfig(parse(t, base+fmt.Sprintf(group, " sync_group_tracking_weight\n")))
	if err != nil {
		t.Fatal(err)
	}
	if w := vc.Instances[1].TrackInterfaces[0].Weight; w != 10 {
		t.Errorf("with sync_group_tracking_weight: weight %d, want 10", w)
	}
	if w := vc.Instances[0].TrackFiles[0].Weight; w != 3 {
		t.Errorf("with sync_group_tracking_weight: track_file weight %d, want 3", w)
	}
}

func TestInitTrackFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tf")
	cfg := parse(t, fmt.Sprintf("track_file tf {\n file %s\n init_file 7\n}\n", path))
	if err := InitTrackFiles(cfg); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "7\n" {
		t.Fatalf("file = %q, %v; want 7", b, err)
	}
}

func TestVRRPConfigTrackProcess(t *testing.T) {
	vc, err := VRRPConfig(parse(t, `
vrrp_track_process nginx {
  process nginx
  quorum 2
  delay 2
}
vrrp_instance VI_1 {
  interface eth1
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1
  }
  track_process {
    nginx weight -10
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := vc.Instances[0].TrackProcesses
	if len(got) != 1 || got[0].Process != "nginx" || got[0].Quorum != 2 || got[0].QuorumMax != -1 || got[0].Weight != -10 ||
		got[0].ForkDelay.Seconds() != 2 || got[0].TerminateDelay.Seconds() != 2 {
		t.Fatalf("track processes = %+v", got)
	}
}

func TestPoolCarriesThresholds(t *testing.T) {
	cfg := parse(t, "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.2 80 {\nuthreshold 50\nlthreshold 5\nTCP_CHECK {\n}\n}\n}\n")
	vs := &cfg.VirtualServers[0]
	health := map[check.Target]Health{TargetOf(vs, &vs.RealServers[0]): {Up: true, Weight: 1}}
	pool := poolOf(vs, health, false)
	if len(pool) != 1 || pool[0].UpperThreshold != 50 || pool[0].LowerThreshold != 5 {
		t.Fatalf("pool = %+v", pool)
	}
}

func TestRegexOptionsReachTheSpec(t *testing.T) {
	cfg := parse(t, "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nHTTP_GET {\nurl {\npath /\nregex ok\nregex_options caseless\nregex_min_offset 2\nregex_max_offset 9\n}\n}\n}\n}\n")
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := servers[0].Checkers[0].HTTP.URLs[0]
	if u.Regex != "(?i)ok" || u.RegexMinOffset != 2 || u.RegexMaxOffset != 9 || !u.RegexMaxOffsetSet {
		t.Fatalf("url = %+v", u)
	}
}

// TestLogAllFailures: with log_all_failures (or checker_log_all_failures)
// every failed probe is logged; without it, failures stay quiet.
func TestLogAllFailures(t *testing.T) {
	cfg := parse(t, "global_defs {\nchecker_log_all_failures\n}\nvirtual_server 127.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\n"+
		"real_server 127.0.0.1 1 {\nTCP_CHECK {\nconnect_timeout 1\n}\nTCP_CHECK {\nlog_all_failures no\n}\n}\n}\n")
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ck := servers[0].Checkers
	if !ck[0].LogAllFailures || ck[1].LogAllFailures {
		t.Fatalf("LogAllFailures = %v, %v; want true (global), false (checker)", ck[0].LogAllFailures, ck[1].LogAllFailures)
	}
	var buf strings.Builder
	d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for _, spec := range ck {
		spec.Addr = netip.MustParseAddrPort("127.0.0.1:1") // nothing listens on port 1
		if r := d.probe(context.Background(), spec); r.OK {
			t.Fatalf("probe of a closed port passed: %+v", r)
		}
	}
	if n := strings.Count(buf.String(), "Check failed"); n != 1 {
		t.Fatalf("logged %d failures, want 1:\n%s", n, buf.String())
	}
}

// TestBindPortWithoutBindto: keepalived takes bind_port alone (the source
// address stays the kernel's choice).
func TestBindPortWithoutBindto(t *testing.T) {
	cfg := parse(t, "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nreal_server 10.0.0.2 80 {\nTCP_CHECK {\nbind_port 4000\n}\n}\n}\n")
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := servers[0].Checkers[0].BindTo; b.Port() != 4000 || b.Addr().IsValid() {
		t.Fatalf("BindTo = %v, want port 4000 from any address", b)
	}
}
