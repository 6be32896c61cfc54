package config

import (
	"fmt"
	"strings"
	"testing"
)

// groupConf is a virtual_server_group and a "virtual_server group" block
// using it, with one DR real server and a TCP_CHECK.
func groupConf(members ...string) string {
	return "virtual_server_group G {\n" + strings.Join(members, "\n") + "\n}\n" +
		"virtual_server group G {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\ndelay_loop 3\n" +
		"real_server 10.0.0.10 80 {\nweight 2\nTCP_CHECK {\nconnect_port 80\n}\n}\n}\n"
}

func TestVirtualServerGroupExpandsMembers(t *testing.T) {
	cases := []struct {
		name    string
		members []string
		want    []string // Name() of each service, in order
	}{
		{"two ports on one address", []string{"10.0.0.1 80", "10.0.0.1 443"}, []string{"10.0.0.1:80 (group G)", "10.0.0.1:443 (group G)"}},
		{"an IPv4 range", []string{"10.0.0.1-3 80"}, []string{"10.0.0.1:80 (group G)", "10.0.0.2:80 (group G)", "10.0.0.3:80 (group G)"}},
		{"a range of one", []string{"10.0.0.7-7 80"}, []string{"10.0.0.7:80 (group G)"}},
		{"fwmark entries", []string{"fwmark 5", "10.0.0.1 80"}, []string{"FWM 5 (group G)", "10.0.0.1:80 (group G)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, ds, err := Parse("k.conf", []byte(groupConf(c.members...)), Options{})
			if err != nil || ds.HasErrors() {
				t.Fatalf("parse: %v\n%s", err, ds)
			}
			var got []string
			for i := range cfg.VirtualServers {
				vs := &cfg.VirtualServers[i]
				got = append(got, vs.Name())
				if vs.Group != "G" || len(vs.RealServers) != 1 || vs.RealServers[0].Weight != 2 || vs.Scheduler != "rr" || len(vs.RealServers[0].Checkers) != 1 {
					t.Errorf("%s: group settings not applied: %+v", vs.Name(), vs)
				}
				if vs.FWMark != 0 && (vs.Protocol != "" || vs.RealServers[0].Port != 0) {
					t.Errorf("%s: a fwmark member has protocol %q, DR real server port %d; want none", vs.Name(), vs.Protocol, vs.RealServers[0].Port)
				}
				if vs.FWMark == 0 && vs.RealServers[0].Port != vs.Port {
					t.Errorf("%s: DR real server port %d, want the member's %d", vs.Name(), vs.RealServers[0].Port, vs.Port)
				}
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("services %q, want %q", got, c.want)
			}
		})
	}
}

// TestVirtualServerGroupMembersDoNotShareServers: validation rewrites a
// member's real servers (DR ports); each member must own its copy.
func TestVirtualServerGroupMembersDoNotShareServers(t *testing.T) {
	cfg, ds, err := Parse("k.conf", []byte(groupConf("10.0.0.1 80", "10.0.0.1 8080")), Options{})
	if err != nil || ds.HasErrors() {
		t.Fatalf("parse: %v\n%s", err, ds)
	}
	a, b := &cfg.VirtualServers[0], &cfg.VirtualServers[1]
	if a.RealServers[0].Port != 80 || b.RealServers[0].Port != 8080 {
		t.Fatalf("real server ports %d and %d, want 80 and 8080", a.RealServers[0].Port, b.RealServers[0].Port)
	}
	a.RealServers[0].Checkers[0].ConnectPort = 1
	if b.RealServers[0].Checkers[0].ConnectPort == 1 {
		t.Fatal("members share their checkers")
	}
}

func TestVirtualServerGroupDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		conf string
		want string
	}{
		{"unknown group", strings.Replace(groupConf("10.0.0.1 80"), "virtual_server group G", "virtual_server group H", 1),
			"4:22: error: virtual_server group H: no virtual_server_group has that name"},
		{"group without a name", "virtual_server group {\nreal_server 10.0.0.10 80 {\n}\n}\n", "1:16: error: virtual_server group needs the name of a virtual_server_group"},
		{"no port", groupConf("10.0.0.1"), "2:10: error: virtual_server_group G: 10.0.0.1 needs a port"},
		{"bad address", groupConf("10.0.0.x 80"), `2:1: error: virtual_server_group: "10.0.0.x" is not an IP address`},
		{"range end below start", groupConf("10.0.0.5-2 80"), `2:1: error: virtual_server_group: range "10.0.0.5-2": the end must be a number not below the address's last part (5)`},
		{"range end not a number", groupConf("10.0.0.5-x 80"), `2:1: error: virtual_server_group: range "10.0.0.5-x"`},
		{"IPv6 range too long", groupConf("2001:db8::1-ffff 80"), `2:1: error: virtual_server_group: range "2001:db8::1-ffff" has 65535 addresses; at most 256 per range`},
		{"bad fwmark", groupConf("fwmark 0"), "2:8: error: virtual_server_group fwmark"},
		{"fwmark without mark", groupConf("fwmark"), "2:8: error: virtual_server_group fwmark needs a mark"},
		{"duplicate member", groupConf("10.0.0.1 80", "10.0.0.1-2 80"), "1:1: warning: virtual_server_group G: 10.0.0.1:80 is listed twice (first at k.conf:2)"},
		{"defined twice", groupConf("10.0.0.1 80") + "virtual_server_group G {\n10.0.0.2 80\n}\n", "16:1: error: virtual_server_group G is defined twice (first at k.conf:1)"},
		{"member also a plain virtual server", groupConf("10.0.0.1 80") + "virtual_server 10.0.0.1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nreal_server 10.0.0.11 80 {\n}\n}\n",
			"16:1: error: virtual_server 10.0.0.1:80 is defined twice (first at k.conf:4)"},
		{"family mismatch", groupConf("2001:db8::1 80"), "4:22: error: virtual_server group G: real_server 10.0.0.10 and member [2001:db8::1]:80 are different address families"},
		{"nft refuses a fwmark member", "global_defs {\ndrlb_dataplane nft\n}\n" + groupConf("fwmark 5"),
			"7:1: error: virtual_server FWM 5 (group G): a fwmark service (its mark is set at prerouting"},
		{"too many members", groupConf(func() []string {
			var m []string
			for i := range 17 {
				m = append(m, fmt.Sprintf("10.0.%d.0-255 80", i))
			}
			return m
		}()...), "18:1: error: virtual_server_group G has more than 4096 members"},
		{"empty group", "virtual_server_group G {\n}\n", "1:1: warning: virtual_server_group G has no members"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ds, _ := Parse("k.conf", []byte(c.conf), Options{})
			var all []string
			for _, d := range ds {
				s := d.String()
				all = append(all, s)
				if strings.HasPrefix(s, "k.conf:"+c.want) {
					return
				}
			}
			t.Errorf("want %q, got:\n%s", c.want, strings.Join(all, "\n"))
		})
	}
}

// TestVirtualServerGroupBeforeItsDefinition: keepalived resolves the name
// after reading the whole file.
func TestVirtualServerGroupBeforeItsDefinition(t *testing.T) {
	conf := groupConf("10.0.0.1 80")
	i := strings.Index(conf, "virtual_server group")
	conf = conf[i:] + conf[:i]
	cfg, ds, err := Parse("k.conf", []byte(conf), Options{})
	if err != nil || ds.HasErrors() || len(cfg.VirtualServers) != 1 {
		t.Fatalf("parse: %v %d services\n%s", err, len(cfg.VirtualServers), ds)
	}
}
