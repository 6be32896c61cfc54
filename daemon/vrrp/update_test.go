package vrrp

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestClassifyInstance(t *testing.T) {
	base, err := v3Instance("VI_1", "172.16.1.2", 150).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	vip2 := VIP{Prefix: netip.MustParsePrefix("172.16.1.5/24"), Interface: "eth1"}
	cases := []struct {
		name   string
		change func(*InstanceConfig)
		kind   ChangeKind
		reason string
		fields []string
	}{
		{"unchanged", func(*InstanceConfig) {}, ChangeNone, "", nil},
		{"notify only", func(c *InstanceConfig) { c.Notify.Notify = "/bin/other.sh" }, ChangeInPlace, "", []string{"notify"}},
		{"priority", func(c *InstanceConfig) { c.Priority = 120 }, ChangeInPlace, "", []string{"priority"}},
		{"VIP added", func(c *InstanceConfig) { c.VIPs = append(c.VIPs, vip2) }, ChangeInPlace, "", []string{"virtual_ipaddress"}},
		{"VIP removed", func(c *InstanceConfig) { c.VIPs = nil }, ChangeInPlace, "", []string{"virtual_ipaddress"}},
		{"track weight", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth2", Weight: -20}} }, ChangeInPlace, "", []string{"track_interface"}},
		{"garp", func(c *InstanceConfig) { c.GARP.Repeat = 3 }, ChangeInPlace, "", []string{"garp"}},
		// keepalived keeps the instance's state for these (vrrp_exist keys
		// on interface and VRID only); the socket is reopened.
		{"version", func(c *InstanceConfig) { c.Version = Version2 }, ChangeInPlace, "", []string{"vrrp_version"}},
		{"unicast", func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr("172.16.1.3")} }, ChangeInPlace, "", []string{"unicast_peer"}},
		{"several", func(c *InstanceConfig) { c.Priority, c.NoPreempt = 90, true }, ChangeInPlace, "", []string{"priority", "nopreempt"}},
		{"interface", func(c *InstanceConfig) { c.Interface = "eth2" }, ChangeRestart, "interface eth1 -> eth2", nil},
		{"VRID", func(c *InstanceConfig) { c.VRID = 52 }, ChangeRestart, "virtual_router_id 51 -> 52", nil},
		// The VMAC is created and removed with the instance.
		{"use_vmac", func(c *InstanceConfig) { c.VMAC = "vrrp.51" }, ChangeRestart, `use_vmac "" -> "vrrp.51"`, nil},
		{"use_vmac_addr", func(c *InstanceConfig) { c.AddressVMACs = []AddressVMAC{{Name: "vrrp6.51", Base: "eth1", V6: true}} },
			ChangeRestart, "address VMACs (use_vmac_addr) [] -> [{vrrp6.51 eth1 true}]", nil},
		{"virtual routes", func(c *InstanceConfig) { c.Routes = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8")}} }, ChangeInPlace, "", []string{"virtual_routes"}},
		{"strict", func(c *InstanceConfig) { c.Strict = true }, ChangeInPlace, "", []string{"strict_mode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc := base
			nc.VIPs = slices.Clone(base.VIPs)
			tc.change(&nc)
			got := ClassifyInstance(base, nc)
			if got.Kind != tc.kind || got.Reason != tc.reason || !slices.Equal(got.Fields, tc.fields) {
				t.Fatalf("ClassifyInstance = %+v, want %v %q %v", got, tc.kind, tc.reason, tc.fields)
			}
		})
	}
}

func TestPlanUpdate(t *testing.T) {
	a := v3Instance("VI_1", "172.16.1.2", 150)
	b := v3Instance("VI_2", "172.16.1.2", 150)
	b.VRID = 52
	c := v3Instance("VI_3", "172.16.1.2", 150)
	c.VRID = 53
	group := func(members ...string) []SyncGroupConfig {
		return []SyncGroupConfig{{Name: "G", Instances: members}}
	}
	kinds := func(chs []InstanceChange) []string {
		var out []string
		for _, ch := range chs {
			out = append(out, ch.String())
		}
		return out
	}
	cases := []struct {
		name     string
		old, new Config
		want     []string
	}{
		{"added and removed", Config{Instances: []InstanceConfig{a, b}}, Config{Instances: []InstanceConfig{a, c}},
			[]string{"VI_1: unchanged", "VI_3: added", "VI_2: removed"}},
		{"group members changed", Config{Instances: []InstanceConfig{a, b, c}, SyncGroups: group("VI_1", "VI_2")},
			Config{Instances: []InstanceConfig{a, b, c}, SyncGroups: group("VI_1", "VI_2", "VI_3")},
			[]string{"VI_1: restarted (sync group G changed its members)", "VI_2: restarted (sync group G changed its members)",
				"VI_3: restarted (sync group membership changed)"}},
		{"group notify only", Config{Instances: []InstanceConfig{a, b}, SyncGroups: group("VI_1", "VI_2")},
			Config{Instances: []InstanceConfig{a, b}, SyncGroups: []SyncGroupConfig{{Name: "G", Instances: []string{"VI_1", "VI_2"}, Notify: NotifyScripts{Master: "/bin/m"}}}},
			[]string{"VI_1: updated in place (sync group notify)", "VI_2: updated in place (sync group notify)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := kinds(PlanUpdate(tc.old, tc.new)); !slices.Equal(got, tc.want) {
				t.Fatalf("PlanUpdate = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNodeUpdateInPlace: a reload changing notify, priority and the VIP
// list of a MASTER keeps it MASTER, runs no notify script, keeps the VIP
// still configured and adds and removes only the others; an interface
// change restarts the instance.
func TestNodeUpdateInPlace(t *testing.T) {
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 150)
	c.WantMaster, c.NoPreempt = true, true
	a := startNode(t, h, Config{Instances: []InstanceConfig{c}})
	eventually(t, time.Second, "master", func() bool { return a.state(0) == StateMaster })
	before := a.node.Status()[0]
	a.scripts.mu.Lock()
	scriptsBefore := len(a.scripts.calls)
	a.scripts.mu.Unlock()
	drain(a.trs)

	vip2 := netip.MustParsePrefix("172.16.1.5/24")
	nc := c
	nc.Notify = NotifyScripts{Notify: "/bin/other.sh"}
	nc.Priority = 160
	nc.VIPs = []VIP{{Prefix: testVIP}, {Prefix: vip2}}
	res, err := a.node.Update(context.Background(), Config{Instances: []InstanceConfig{nc}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "VI_1: updated in place (priority, virtual_ipaddress, notify)"; len(res.Changes) != 1 || res.Changes[0].String() != want {
		t.Fatalf("Update = %v, want %q", res.Changes, want)
	}
	consistently(t, 400*time.Millisecond, "MASTER with both VIPs, no transition", func() bool {
		return a.state(0) == StateMaster && a.addrs.holds(testVIP) && a.addrs.holds(vip2) && len(a.trs) == 0
	})
	after := a.node.Status()[0]
	if after.Counters.Transitions != before.Counters.Transitions || after.EffectivePriority != 160 {
		t.Fatalf("status after update %+v (before %+v)", after, before)
	}
	a.scripts.mu.Lock()
	ran := len(a.scripts.calls) - scriptsBefore
	a.scripts.mu.Unlock()
	if ran != 0 {
		t.Fatalf("%d notify scripts ran on an in-place update", ran)
	}

	// Dropping the first VIP removes it only.
	nc.VIPs = []VIP{{Prefix: vip2}}
	if _, err := a.node.Update(context.Background(), Config{Instances: []InstanceConfig{nc}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "old VIP removed", func() bool { return !a.addrs.holds(testVIP) })
	if !a.addrs.holds(vip2) || a.state(0) != StateMaster {
		t.Fatal("the VIP still configured was removed, or the state changed")
	}

	// An interface change is a different instance: it restarts.
	nc.Interface = "eth2"
	res, err = a.node.Update(context.Background(), Config{Instances: []InstanceConfig{nc}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "VI_1: restarted (interface eth1 -> eth2)"; res.Changes[0].String() != want {
		t.Fatalf("Update = %v, want %q", res.Changes, want)
	}
	eventually(t, time.Second, "STOP reported", func() bool {
		for {
			select {
			case tr := <-a.trs:
				if tr.To == StateStopped {
					return true
				}
			default:
				return false
			}
		}
	})
	// A refused configuration changes nothing.
	bad := nc
	bad.VRID = 0
	if _, err := a.node.Update(context.Background(), Config{Instances: []InstanceConfig{bad}}); err == nil {
		t.Fatal("invalid configuration accepted")
	}
}

func drain(c chan Transition) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
