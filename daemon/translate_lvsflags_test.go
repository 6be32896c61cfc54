package daemon

import (
	"net/netip"
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/dataplane"
)

// TestDesiredServiceFlags: ops and the scheduler flags of a virtual_server
// reach the desired table as IPVS service flags, persistence_engine as the
// service's engine.
func TestDesiredServiceFlags(t *testing.T) {
	cfg := parse(t, `virtual_server 10.0.0.1 53 {
  protocol UDP
  lvs_sched sh
  lvs_method DR
  ops
  sh-port
  sh-fallback
  flag-3
  real_server 10.0.0.10 53 {
  }
}
virtual_server 10.0.0.1 5060 {
  protocol UDP
  lvs_sched rr
  lvs_method DR
  persistence_timeout 60
  persistence_engine sip
  real_server 10.0.0.10 5060 {
  }
}
virtual_server 10.0.0.1 80 {
  protocol TCP
  lvs_sched mh
  lvs_method DR
  mh-port
  real_server 10.0.0.10 80 {
  }
}
`)
	place := Placement{Interface: func(netip.Addr) string { return "eth1" }, Owned: func(netip.Addr) bool { return true }}
	tab := Desired(cfg, nil, EvaluateServices(cfg, nil, nil), place)
	if err := tab.Validate(); err != nil {
		t.Fatalf("desired table invalid: %v", err)
	}
	want := map[uint16]dataplane.ServiceFlags{
		53: dataplane.OnePacket | dataplane.HashPort | dataplane.Fallback | dataplane.SchedFlag3,
		80: dataplane.HashPort,
	}
	for _, s := range tab.Services {
		if s.Flags != want[s.Port] {
			t.Errorf("service %s flags %v, want %v", s.Key(), s.Flags, want[s.Port])
		}
		if pe := map[bool]string{true: "sip"}[s.Port == 5060]; s.PersistenceEngine != pe {
			t.Errorf("service %s persistence engine %q, want %q", s.Key(), s.PersistenceEngine, pe)
		}
	}
}

// TestDesiredRealMethods: a real server's own lvs_method and
// sorry_server_lvs_method reach the desired table per server; servers
// with the service's method inherit it.
func TestDesiredRealMethods(t *testing.T) {
	cfg := parse(t, `virtual_server 10.0.0.1 80 {
  protocol TCP
  lvs_sched rr
  lvs_method DR
  sorry_server 10.0.0.9 80
  sorry_server_lvs_method TUN
  real_server 10.0.0.10 80 {
    lvs_method TUN
  }
  real_server 10.0.0.11 80 {
  }
}
`)
	vs := &cfg.VirtualServers[0]
	place := Placement{Interface: func(netip.Addr) string { return "eth1" }, Owned: func(netip.Addr) bool { return true }}
	methods := func(health map[check.Target]Health) map[string]dataplane.Method {
		t.Helper()
		tab := Desired(cfg, health, EvaluateServices(cfg, health, nil), place)
		if err := tab.Validate(); err != nil {
			t.Fatalf("desired table invalid: %v", err)
		}
		out := map[string]dataplane.Method{}
		for _, r := range tab.Services[0].Reals {
			out[r.Addr.String()] = tab.Services[0].RealMethod(r)
		}
		return out
	}
	up := map[check.Target]Health{TargetOf(vs, &vs.RealServers[0]): {true, 1}, TargetOf(vs, &vs.RealServers[1]): {true, 1}}
	if got := methods(up); got["10.0.0.10"] != dataplane.TUN || got["10.0.0.11"] != dataplane.DR || len(got) != 2 {
		t.Errorf("pool methods %v, want 10.0.0.10 TUN, 10.0.0.11 DR", got)
	}
	down := map[check.Target]Health{TargetOf(vs, &vs.RealServers[0]): {false, 0}, TargetOf(vs, &vs.RealServers[1]): {false, 0}}
	if got := methods(down); got["10.0.0.9"] != dataplane.TUN || len(got) != 1 {
		t.Errorf("sorry pool methods %v, want the sorry server 10.0.0.9 by TUN", got)
	}
}
