package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/dataplane"
)

// groupConf is a virtual_server_group with members and a NAT virtual
// server using it (NAT keeps the real servers' port, so every member
// shares one check target per real server).
func groupConf(members ...string) string {
	return "virtual_server_group WEB {\n" + strings.Join(members, "\n") + "\n}\n" +
		"virtual_server group WEB {\nprotocol TCP\nlvs_sched rr\nlvs_method NAT\n" +
		"real_server 172.16.1.10 8080 {\nTCP_CHECK {\n}\n}\n" +
		"real_server 172.16.1.11 8080 {\nTCP_CHECK {\n}\n}\n}\n"
}

func TestGroupMembersShareChecksAndServers(t *testing.T) {
	cfg := parse(t, groupConf("172.16.1.1 80", "172.16.1.1 443", "fwmark 7"))
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, s := range servers {
		targets = append(targets, s.Target.String())
	}
	if want := []string{"group WEB/172.16.1.10:8080", "group WEB/172.16.1.11:8080"}; !slices.Equal(targets, want) {
		t.Fatalf("check targets %q, want %q (one per real server for the whole group)", targets, want)
	}
	health := map[check.Target]Health{servers[0].Target: {Up: true, Weight: 1}, servers[1].Target: {Up: false, Weight: 1}}
	tab := Desired(cfg, health, EvaluateServices(cfg, health, nil), Placement{})
	var got []string
	for _, s := range tab.Services {
		var reals []string
		for _, r := range s.Reals {
			reals = append(reals, r.AddrPort().String())
		}
		got = append(got, s.Key().String()+"="+strings.Join(reals, ","))
	}
	want := []string{"TCP 172.16.1.1:80=172.16.1.10:8080", "TCP 172.16.1.1:443=172.16.1.10:8080", "FWM 7=172.16.1.10:8080"}
	if !slices.Equal(got, want) {
		t.Fatalf("table %q, want %q", got, want)
	}
}

// TestGroupReloadTouchesOnlyChangedMembers: the diff of a reload that adds
// one member and removes another names those two services only.
func TestGroupReloadTouchesOnlyChangedMembers(t *testing.T) {
	up := func(cfgText string) dataplane.Table {
		cfg := parse(t, cfgText)
		servers, err := CheckServers(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		health := map[check.Target]Health{}
		for _, s := range servers {
			health[s.Target] = Health{Up: true, Weight: 1}
		}
		return Desired(cfg, health, EvaluateServices(cfg, health, nil), Placement{})
	}
	before := up(groupConf("172.16.1.1 80", "172.16.1.1 443"))
	after := up(groupConf("172.16.1.1 80", "172.16.1.2 80"))
	var changes []string
	for _, c := range dataplane.Diff(before, after) {
		changes = append(changes, c.String())
	}
	for _, c := range changes {
		if strings.Contains(c, "172.16.1.1:80") {
			t.Errorf("the unchanged member was touched: %q", changes)
		}
	}
	if len(changes) == 0 || !strings.Contains(strings.Join(changes, "|"), "172.16.1.1:443") || !strings.Contains(strings.Join(changes, "|"), "172.16.1.2:80") {
		t.Errorf("changes %q: want the removal of 172.16.1.1:443 and the addition of 172.16.1.2:80", changes)
	}
}

// TestGroupDRChecksOncePerServer: with DR each member's real servers take
// the member's port, yet a real server is still checked once for the group.
func TestGroupDRChecksOncePerServer(t *testing.T) {
	conf := strings.Replace(groupConf("172.16.1.1 80", "172.16.1.1 443"), "lvs_method NAT", "lvs_method DR", 1)
	cfg := parse(t, conf)
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, s := range servers {
		targets = append(targets, s.Target.String())
	}
	if want := []string{"group WEB/172.16.1.10:8080", "group WEB/172.16.1.11:8080"}; !slices.Equal(targets, want) {
		t.Fatalf("check targets %q, want %q", targets, want)
	}
	health := map[check.Target]Health{servers[0].Target: {Up: true, Weight: 1}, servers[1].Target: {Up: true, Weight: 1}}
	tab := Desired(cfg, health, EvaluateServices(cfg, health, nil), Placement{})
	var got []string
	for _, s := range tab.Services {
		for _, r := range s.Reals {
			got = append(got, s.Key().String()+"="+r.AddrPort().String())
		}
	}
	want := []string{"TCP 172.16.1.1:80=172.16.1.10:80", "TCP 172.16.1.1:80=172.16.1.11:80", "TCP 172.16.1.1:443=172.16.1.10:443", "TCP 172.16.1.1:443=172.16.1.11:443"}
	if !slices.Equal(got, want) {
		t.Fatalf("table %q, want %q", got, want)
	}
}
