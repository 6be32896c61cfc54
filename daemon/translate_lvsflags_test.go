package daemon

import (
	"net/netip"
	"testing"

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
