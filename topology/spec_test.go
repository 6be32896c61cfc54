package topology

import (
	"errors"
	"strings"
	"testing"
)

func TestSeedSpec(t *testing.T) {
	s := Seed()
	want := map[string]string{"lb1": "172.16.1.2", "lb2": "172.16.1.3", "rs1": "172.16.1.10", "rs2": "172.16.1.11", "client": "172.16.1.100"}
	want6 := map[string]string{"lb1": "fd00:172:16:1::2", "lb2": "fd00:172:16:1::3", "rs1": "fd00:172:16:1::10", "rs2": "fd00:172:16:1::11", "client": "fd00:172:16:1::100"}
	if len(s.Hosts) != len(want) {
		t.Fatalf("seed has %d hosts, want %d", len(s.Hosts), len(want))
	}
	for host, addr := range want {
		got, ok := s.PrimaryAddr(host)
		if !ok || got.String() != addr {
			t.Errorf("%s address = %v, want %s", host, got, addr)
		}
		if got6, ok := s.PrimaryAddr6(host); !ok || got6.String() != want6[host] {
			t.Errorf("%s IPv6 address = %v, want %s", host, got6, want6[host])
		}
		for _, l := range s.LinksOf(host) {
			if l.Interface != "eth1" {
				t.Errorf("%s service interface = %s, want eth1 (the how-to's keepalived.conf uses it)", host, l.Interface)
			}
		}
	}
	for _, rs := range []string{"rs1", "rs2"} {
		h := s.Host(rs)
		if len(h.Loopback) != 2 || h.Loopback[0] != "172.16.1.1/32" || h.Loopback[1] != "fd00:172:16:1::1/128" {
			t.Errorf("%s loopback = %v, want the VIPs 172.16.1.1/32 and fd00:172:16:1::1/128", rs, h.Loopback)
		}
		for _, key := range []string{"net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.eth1.arp_ignore"} {
			if h.Sysctls[key] != "1" {
				t.Errorf("%s %s = %q, want 1", rs, key, h.Sysctls[key])
			}
		}
		for _, key := range []string{"net.ipv4.conf.all.arp_announce", "net.ipv4.conf.eth1.arp_announce"} {
			if h.Sysctls[key] != "2" {
				t.Errorf("%s %s = %q, want 2", rs, key, h.Sysctls[key])
			}
		}
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if s.Host(lb).Sysctls["net.ipv4.ip_forward"] != "1" || s.Host(lb).Sysctls["net.ipv6.conf.all.forwarding"] != "1" {
			t.Errorf("%s does not forward both families", lb)
		}
	}
}

func TestInvalidSpecReportsEveryProblemWithLine(t *testing.T) {
	_, err := LoadSpec("testdata/bad.yaml")
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("LoadSpec(bad.yaml) error = %v, want ErrInvalidSpec", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`testdata/bad.yaml:10: link names unknown host "lb9" (did you mean "lb1"?)`,
		"testdata/bad.yaml:11: duplicate address 10.0.0.1: already on lb1 eth1",
		`testdata/bad.yaml:12: link for host averyveryverylonghost: switch port name "averyveryverylonghost-eth1"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring of the error; "" = valid
	}{
		{"minimal", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a}]\nlinks: [{host: a, segment: lan, interface: eth0, addresses: [10.0.0.1/24]}]\n", ""},
		{"unknown segment", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a}]\nlinks: [{host: a, segment: wan, interface: eth0}]\n", `x.yaml:4: link for host a names unknown segment "wan"`},
		{"bad address", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a}]\nlinks: [{host: a, segment: lan, interface: eth0, addresses: [10.0.0.300/24]}]\n", `address "10.0.0.300/24" is not an address/prefix`},
		{"interface too long", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a}]\nlinks: [{host: a, segment: lan, interface: abcdefghijklmnop}]\n", "longer than 15 characters"},
		{"duplicate host", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a}, {name: a}]\nlinks: []\n", `host "a" defined twice`},
		{"reserved host", "name: x\nsegments: [{name: lan}]\nhosts: [{name: sw}]\nlinks: []\n", "reserved"},
		{"unknown field", "name: x\nhostz: []\n", "field hostz not found"},
		{"non-net sysctl", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a, sysctls: {kernel.panic: '1'}}]\nlinks: []\n", "only net.* keys"},
		{"service without program", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a, services: [{name: web}]}]\nlinks: []\n", "needs exactly one of web, command or frr"},
		{"loopback collides", "name: x\nsegments: [{name: lan}]\nhosts: [{name: a, loopback: [10.0.0.1/32]}]\nlinks: [{host: a, segment: lan, interface: eth0, addresses: [10.0.0.1/24]}]\n", "loopback address 10.0.0.1 is already on a eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec("x.yaml", []byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestCheckLabName(t *testing.T) {
	for name, ok := range map[string]bool{"drlab": true, "tp1": true, "": false, "a-b": false, "Lab": false, "abcdefghijklmnopqrstu": false} {
		if got := CheckLabName(name) == nil; got != ok {
			t.Errorf("CheckLabName(%q) ok = %v, want %v", name, got, ok)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add(seedYAML)                                      // the full seed topology
	f.Add([]byte("name: x\nhosts: [{name: a}]\n"))       // minimal, no links
	f.Add([]byte("links: [{host: q, segment: z}]\n"))    // dangling references
	f.Add([]byte("hosts: [{name: a, loopback: [x]}]\n")) // bad loopback address
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.yaml", data)
		if err == nil && s.Validate() != nil {
			t.Fatalf("ParseSpec accepted a spec that Validate rejects")
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("empty error")
		}
	})
}
