package daemon

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/vrrp"
)

const testConf = `
vrrp_script chk {
  script "/bin/true"
  weight -20
}
vrrp_sync_group G {
  group {
    VI_1
  }
}
vrrp_instance VI_1 {
  state MASTER
  interface eth1
  virtual_router_id 51
  priority 150
  authentication {
    auth_type PASS
    auth_pass secret99
  }
  virtual_ipaddress {
    172.16.1.1/24
  }
  track_script {
    chk
  }
}
virtual_server 172.16.1.1 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind DR
  protocol TCP
  quorum 2
  sorry_server 172.16.1.50 80
  real_server 172.16.1.10 80 {
    weight 3
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 172.16.1.11 80 {
    weight 2
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 172.16.1.5 443 {
  protocol TCP
  lb_kind DR
  ha_suspend
  real_server 172.16.1.10 443 {
    HTTP_GET {
      url {
        path /x
        status_code 200-204
      }
    }
  }
}
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, diags, err := config.Parse("test.conf", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, diags)
	}
	return cfg
}

func TestVRRPConfig(t *testing.T) {
	v, err := VRRPConfig(parse(t, testConf))
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Instances) != 1 || len(v.SyncGroups) != 1 {
		t.Fatalf("got %d instances, %d groups", len(v.Instances), len(v.SyncGroups))
	}
	in := v.Instances[0]
	if in.VRID != 51 || in.Priority != 150 || !in.WantMaster || in.AuthType != vrrp.AuthPass || in.AuthPass != "secret99" {
		t.Errorf("instance = %+v", in)
	}
	if len(in.VIPs) != 1 || in.VIPs[0].Prefix != netip.MustParsePrefix("172.16.1.1/24") {
		t.Errorf("VIPs = %+v", in.VIPs)
	}
	// VI_1 is in sync group G without sync_group_tracking_weight: keepalived
	// ignores the weight (-20) and a failing script means FAULT.
	if len(in.TrackScripts) != 1 || in.TrackScripts[0].Weight != 0 || in.TrackScripts[0].Script != "/bin/true" {
		t.Errorf("track scripts = %+v", in.TrackScripts)
	}
}

func TestCheckServersCarryHealth(t *testing.T) {
	cfg := parse(t, testConf)
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	rs11 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.11:80"}
	servers, err := CheckServers(cfg, map[check.Target]bool{rs10: false, rs11: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("got %d servers, want 3", len(servers))
	}
	byTarget := map[check.Target]check.Server{}
	for _, s := range servers {
		byTarget[s.Target] = s
	}
	if !byTarget[rs10].Checkers[0].Alpha {
		t.Error("a server carried over as down must start its checkers down (alpha)")
	}
	if byTarget[rs11].Checkers[0].Alpha {
		t.Error("a server carried over as up must not start down")
	}
	if w := byTarget[rs10].Weight; w != 3 {
		t.Errorf("weight = %d, want 3", w)
	}
	https := byTarget[check.Target{VirtualServer: "TCP 172.16.1.5:443", RealServer: "172.16.1.10:443"}]
	if c := https.Checkers[0]; c.Kind != check.KindHTTP || c.Addr != netip.MustParseAddrPort("172.16.1.10:443") ||
		c.HTTP.URLs[0].StatusCodes[0] != (check.StatusRange{Min: 200, Max: 204}) {
		t.Errorf("HTTP checker = %+v", c)
	}
}

func TestDesired(t *testing.T) {
	cfg := parse(t, testConf)
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	rs11 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.11:80"}
	https := check.Target{VirtualServer: "TCP 172.16.1.5:443", RealServer: "172.16.1.10:443"}
	place := func(owned bool) Placement {
		return Placement{Interface: func(netip.Addr) string { return "eth1" }, Owned: func(netip.Addr) bool { return owned }}
	}
	reals := func(tab dataplane.Table, vip string) string {
		var parts []string
		for _, s := range tab.Services {
			if s.VIP.String() == vip {
				for _, r := range s.Reals {
					parts = append(parts, r.AddrPort().String()+"w"+strconv.Itoa(int(r.Weight)))
				}
				return strings.Join(parts, ",")
			}
		}
		return "absent"
	}
	tests := []struct {
		name     string
		health   map[check.Target]Health
		owned    bool
		want80   string
		want443  string
		quorumUp bool
	}{
		{"all up", map[check.Target]Health{rs10: {true, 3}, rs11: {true, 2}, https: {true, 1}}, true,
			"172.16.1.10:80w3,172.16.1.11:80w2", "172.16.1.10:443w1", true},
		{"inhibited server stays at weight 0", map[check.Target]Health{rs10: {true, 3}, rs11: {false, 2}, https: {true, 1}}, true,
			"172.16.1.10:80w3,172.16.1.11:80w0", "172.16.1.10:443w1", true},
		{"failed server without inhibit is removed; quorum lost brings the sorry server", map[check.Target]Health{rs10: {false, 3}, rs11: {false, 2}, https: {true, 1}}, true,
			"172.16.1.11:80w0,172.16.1.50:80w1", "172.16.1.10:443w1", false},
		{"ha_suspend drops the service whose VIP is elsewhere", map[check.Target]Health{rs10: {true, 3}, rs11: {true, 2}, https: {true, 1}}, false,
			"172.16.1.10:80w3,172.16.1.11:80w2", "absent", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := EvaluateServices(cfg, tt.health, nil)
			tab := Desired(cfg, tt.health, services, place(tt.owned))
			if got := reals(tab, "172.16.1.1"); got != tt.want80 {
				t.Errorf("172.16.1.1:80 reals = %s, want %s", got, tt.want80)
			}
			if got := reals(tab, "172.16.1.5"); got != tt.want443 {
				t.Errorf("172.16.1.5:443 reals = %s, want %s", got, tt.want443)
			}
			if got := services["TCP 172.16.1.1:80"].QuorumUp; got != tt.quorumUp {
				t.Errorf("quorum up = %v, want %v", got, tt.quorumUp)
			}
			if err := tab.Validate(); err != nil {
				t.Errorf("desired table invalid: %v", err)
			}
			for _, s := range tab.Services {
				if s.Interface != "eth1" || s.Method != dataplane.DR {
					t.Errorf("service %v: interface %q method %v", s.Key(), s.Interface, s.Method)
				}
			}
		})
	}
}

func TestInitialHealthOnReload(t *testing.T) {
	cfg := parse(t, testConf)
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	rs11 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.11:80"}
	start := initialHealth(cfg, nil, nil)
	if !start[rs10].Up || !start[rs11].Up {
		t.Fatalf("at start-up servers begin up (keepalived's default): %+v", start)
	}
	prev := map[check.Target]Health{rs10: {Up: false, Weight: 3}}
	got := initialHealth(cfg, prev, nil)
	if got[rs10].Up {
		t.Error("a failed server must stay down across a reload (keepalived issue #1720)")
	}
	if got[rs11].Up {
		t.Error("a server added by a reload must wait for its first good check")
	}
}

func TestWriteStatus(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	st := &api.Status{Version: "v1", PID: 42, ConfigFile: "/etc/keepalived/keepalived.conf", Started: now.Add(-time.Minute), Dataplane: "nft",
		Instances: []api.Instance{{Name: "VI_1", Interface: "eth1", VRID: 51, Version: 2, State: "MASTER", Priority: 100, EffectivePriority: 100,
			MasterAddr: "172.16.1.2", VIPs: []string{"172.16.1.1/24"}, Since: now.Add(-30 * time.Second), AdvertsSent: 30,
			Drops: map[string]uint64{"auth mismatch": 2}}},
		Services: []api.Service{{Protocol: "TCP", Address: "172.16.1.1:80", Scheduler: "rr", Method: "Route", Quorum: true,
			Reals: []api.Real{
				{Address: "172.16.1.10:80", Weight: 1, InTable: true, Healthy: true, LastReason: "HTTP_GET: 1 url(s) ok", LastCheck: now.Add(-time.Second), Latency: time.Millisecond, ActiveConn: 3},
				{Address: "172.16.1.11:80", Healthy: false, LastReason: "digest mismatch", LastCheck: now.Add(-time.Second)},
			}}}}
	st.VRRPChild = &api.VRRPChild{PID: 43, State: "running", Restarts: 2}
	var b strings.Builder
	WriteStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{
		"VRRP child pid 43, running, 2 restarts",
		"drlb v1, pid 42, config /etc/keepalived/keepalived.conf, up 1m0s, 0 reloads, data plane nft",
		"Prot LocalAddress:Port Scheduler Flags",
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health",
		"TCP  172.16.1.1:80 rr",
		"  -> 172.16.1.10:80               Route   1      3          0         up (HTTP_GET: 1 url(s) ok, 1ms, 1s ago)",
		"  -> 172.16.1.11:80               Route   -      0          0         DOWN, not in table (digest mismatch",
		"auth mismatch=2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestVRRPConfigCarriesReverse: "weight N reverse" on track_interface,
// track_script and vrrp_script lines reaches the VRRP engine (it was
// dropped, so priority moved the wrong way).
func TestVRRPConfigCarriesReverse(t *testing.T) {
	cfg := parse(t, `vrrp_script chk {
  script "/bin/true"
  weight 7 reverse
}
vrrp_script chk2 {
  script "/bin/true"
  weight 7 reverse
}
vrrp_instance VI_1 {
  interface eth1
  virtual_router_id 51
  virtual_ipaddress {
    172.16.1.1
  }
  track_interface {
    eth1 weight -10 reverse
  }
  track_script {
    chk weight 10 reverse
    chk2
    chk2 weight 3 noreverse
  }
}
`)
	v, err := VRRPConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := v.Instances[0]
	if ti := in.TrackInterfaces[0]; ti.Weight != -10 || !ti.Reverse {
		t.Errorf("track_interface = %+v", ti)
	}
	want := []vrrp.TrackScript{{Weight: 10, Reverse: true}, {Weight: 7, Reverse: true}, {Weight: 3, Reverse: false}}
	for i, w := range want {
		if got := in.TrackScripts[i]; got.Weight != w.Weight || got.Reverse != w.Reverse {
			t.Errorf("track_script %d = weight %d reverse %v, want %d %v", i, got.Weight, got.Reverse, w.Weight, w.Reverse)
		}
	}
}

// TestDesiredIPv6 translates keepalived's IPv6 service (the sample
// testdata/samples/ipv6.conf shape) into the data plane's table: IPv6 VIP
// and real servers, the check target named as keepalived logs it
// ("[addr]:port"), persistence_granularity 64 as a /64, and a table the
// data planes accept.
func TestDesiredIPv6(t *testing.T) {
	cfg := parse(t, `virtual_server fd00:172:16:1::1 80 {
  protocol TCP
  lb_algo mh
  lb_kind DR
  persistence_timeout 300
  persistence_granularity 64
  real_server fd00:172:16:1::10 80 {
    weight 2
    TCP_CHECK {
    }
  }
}
`)
	target := check.Target{VirtualServer: "TCP [fd00:172:16:1::1]:80", RealServer: "[fd00:172:16:1::10]:80"}
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 || servers[0].Target != target || servers[0].Checkers[0].Addr != netip.MustParseAddrPort("[fd00:172:16:1::10]:80") {
		t.Fatalf("check servers = %+v, want %v probing [fd00:172:16:1::10]:80", servers, target)
	}
	health := map[check.Target]Health{target: {true, 2}}
	place := Placement{Interface: func(netip.Addr) string { return "eth1" }, Owned: func(netip.Addr) bool { return true }}
	tab := Desired(cfg, health, EvaluateServices(cfg, health, nil), place)
	if err := tab.Validate(); err != nil {
		t.Fatalf("desired table invalid: %v", err)
	}
	if len(tab.Services) != 1 {
		t.Fatalf("services = %+v", tab.Services)
	}
	s := tab.Services[0]
	if s.VIP != netip.MustParseAddr("fd00:172:16:1::1") || s.PersistenceBits != 64 || s.Scheduler != "mh" ||
		len(s.Reals) != 1 || s.Reals[0].Addr != netip.MustParseAddr("fd00:172:16:1::10") || s.Reals[0].Weight != 2 {
		t.Errorf("service = %+v", s)
	}
}

func TestVRRPThreadFromGlobalDefs(t *testing.T) {
	p := func(v int) *int { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tt := range []struct {
		name string
		g    config.GlobalDefs
		want vrrp.ThreadConfig
	}{
		{"defaults", config.GlobalDefs{}, vrrp.ThreadConfig{RTPriority: vrrp.DefaultRTPriority, RLimitRTTime: vrrp.DefaultRLimitRTTime}},
		{"configured", config.GlobalDefs{VRRPProcess: &config.ProcessSched{RTPriority: p(50), Nice: p(-10), CPUs: []int{1}, RLimitRTTime: d(time.Millisecond), NoSwap: true}},
			vrrp.ThreadConfig{RTPriority: 50, Nice: -10, CPUs: []int{1}, RLimitRTTime: time.Millisecond, LockMemory: true}},
		{"real-time off", config.GlobalDefs{VRRPProcess: &config.ProcessSched{RTPriority: p(0), Nice: p(-5)}}, vrrp.ThreadConfig{Nice: -5}},
		{"checker_no_swap", config.GlobalDefs{CheckerProcess: &config.ProcessSched{NoSwap: true, RTPriority: p(30)}},
			vrrp.ThreadConfig{RTPriority: vrrp.DefaultRTPriority, RLimitRTTime: vrrp.DefaultRLimitRTTime}}, // the parent's, not VRRP's
	} {
		if got := vrrpThread(tt.g); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: vrrpThread = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestVRRPConfigHardening(t *testing.T) {
	conf := "vrrp_instance VI {\ninterface eth1\nvirtual_router_id 51\ndrlb_accept_from 172.16.1.2 172.16.1.3\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n"
	cfg, _, err := config.Parse("t.conf", []byte(conf), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := VRRPConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := vc.Instances[0].AcceptFrom; len(got) != 2 || got[1] != netip.MustParseAddr("172.16.1.3") {
		t.Fatalf("AcceptFrom = %v", got)
	}
	if vc.Instances[0].AuthHMAC != nil {
		t.Fatal("auth_hmac without the block")
	}

	conf = "vrrp_instance VI {\ninterface eth1\nvirtual_router_id 51\nauth_hmac {\nkey 3 hex:" + strings.Repeat("ab", 32) +
		"\nactive_key 3\nmode receive-only\nanti_replay monotonic\n}\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n"
	cfg, _, err = config.Parse("t.conf", []byte(conf), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vc, err = VRRPConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := vc.Instances[0].AuthHMAC
	if h == nil || h.ActiveKey != 3 || len(h.Keys[3]) != 32 || h.Keys[3][0] != 0xab || h.Mode != vrrp.HMACReceiveOnly || !h.Monotonic {
		t.Fatalf("AuthHMAC = %+v", h)
	}
}
