package topology

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	tests := []struct {
		in, dst, gw, err string
	}{
		{"default via 172.16.2.1", "0.0.0.0/0", "172.16.2.1", ""},
		{"default via fd00:172:16:2::1", "::/0", "fd00:172:16:2::1", ""},
		{"172.16.100.0/24 via 172.16.2.11", "172.16.100.0/24", "172.16.2.11", ""},
		{"172.16.100.7/24 via 172.16.2.11", "172.16.100.0/24", "172.16.2.11", ""},
		{"default 172.16.2.1", "", "", "want \"DEST via GATEWAY\""},
		{"default via router", "", "", "gateway"},
		{"10.0.0.0/33 via 10.0.0.1", "", "", "destination"},
		{"10.0.0.0/8 via fd00::1", "", "", "different families"},
	}
	for _, tt := range tests {
		r, err := ParseRoute(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRoute(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || r.Dst.String() != tt.dst || r.Gateway.String() != tt.gw {
			t.Errorf("ParseRoute(%q) = %v via %v, %v; want %s via %s", tt.in, r.Dst, r.Gateway, err, tt.dst, tt.gw)
		}
	}
}

// TestScaleoutSpec: the built-in scaleout topology routes the service
// address only by BGP (it is in no segment), runs FRR on the router with
// an L4 ECMP hash, and gives every real server the address on lo.
func TestScaleoutSpec(t *testing.T) {
	s, err := LoadSpec("scaleout")
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr(s.VIPs[0])
	for _, l := range s.Links {
		for _, a := range l.Addresses {
			if netip.MustParsePrefix(a).Contains(vip) {
				t.Errorf("VIP %s is inside %s's segment %s", vip, l.Host, a)
			}
		}
	}
	router := s.Host("router")
	if router == nil || len(router.Services) != 1 || router.Services[0].FRR == nil {
		t.Fatalf("router without FRR: %+v", router)
	}
	if router.Sysctls["net.ipv4.fib_multipath_hash_policy"] != "1" || router.Sysctls["net.ipv4.ip_forward"] != "1" {
		t.Errorf("router sysctls %v", router.Sysctls)
	}
	if !strings.Contains(router.Services[0].FRR.Config, "maximum-paths") {
		t.Error("router config without maximum-paths")
	}
	for _, name := range []string{"rs1", "rs2", "rs3"} {
		h := s.Host(name)
		if h.LoopbackAddr() != vip || len(h.Routes) != 1 || h.Sysctls["net.ipv4.conf.all.arp_ignore"] != "1" {
			t.Errorf("real server %s: %+v", name, h)
		}
	}
	if got := len(s.LinksOf("router")); got != 2 {
		t.Errorf("router has %d links, want 2", got)
	}
}

func TestSpecFRRAndRoutesValidation(t *testing.T) {
	spec := "name: t\nsegments: [{name: a}]\nhosts:\n  - name: r\n    routes: [\"default 10.0.0.1\"]\n    services:\n      - name: x\n        frr: {config: \"\"}\n        command: [true]\n"
	_, err := ParseSpec("t.yaml", []byte(spec))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"t.yaml:4: host r: route \"default 10.0.0.1\"", "t.yaml:7: host r: service \"x\" needs exactly one of web, command or frr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
