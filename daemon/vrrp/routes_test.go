package vrrp

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeRoutes struct {
	mu     sync.Mutex
	routes map[Route]bool
	rules  map[Rule]bool
}

func (f *fakeRoutes) AddRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[r] = true
	return nil
}
func (f *fakeRoutes) RemoveRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, r)
	return nil
}
func (f *fakeRoutes) AddRule(r Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[r] = true
	return nil
}
func (f *fakeRoutes) RemoveRule(r Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rules, r)
	return nil
}
func (f *fakeRoutes) has(r Route, u Rule) (bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routes[r], f.rules[u]
}

// TestNodeRoutesFollowMaster: virtual_routes and virtual_rules exist while
// the instance is MASTER; static ones from start to stop, whatever the state.
func TestNodeRoutesFollowMaster(t *testing.T) {
	vroute := Route{Dst: netip.MustParsePrefix("10.20.0.0/16"), Via: netip.MustParseAddr("172.16.1.254")}
	vrule := Rule{From: netip.MustParsePrefix("172.16.1.1/32"), Table: 100}
	sroute := Route{Dst: netip.MustParsePrefix("10.30.0.0/16"), Dev: "eth1"}
	srule := Rule{To: netip.MustParsePrefix("10.30.0.0/16"), Table: 101}
	saddr := VIP{Prefix: netip.MustParsePrefix("10.40.0.1/24"), Interface: "eth1"}
	ic := v3Instance("VI_1", "172.16.1.2", 100)
	ic.Routes, ic.Rules = []Route{vroute}, []Rule{vrule}
	cfg := Config{Instances: []InstanceConfig{ic}, StaticAddresses: []VIP{saddr}, StaticRoutes: []Route{sroute}, StaticRules: []Rule{srule}}

	h := &hub{}
	addrs := &fakeAddrs{have: map[netip.Prefix]bool{}}
	routes := &fakeRoutes{routes: map[Route]bool{}, rules: map[Rule]bool{}}
	links := &linkState{down: map[string]bool{}}
	node, err := NewNode(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen,
		DialGARP: func(string) (GARPSender, error) { return &fakeGARP{}, nil }, Addresses: addrs, Routes: routes,
		LinkUp: links.up, RunScript: (&scriptLog{fail: map[string]bool{}}).run})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	eventually(t, 2*time.Second, "static entries at start", func() bool {
		r, u := routes.has(sroute, srule)
		return r && u && addrs.holds(saddr.Prefix)
	})
	if r, u := routes.has(vroute, vrule); r || u {
		t.Errorf("virtual route %v rule %v before MASTER", r, u)
	}
	eventually(t, 2*time.Second, "MASTER with its virtual routes", func() bool {
		r, u := routes.has(vroute, vrule)
		return node.Status()[0].State == StateMaster && r && u
	})
	links.set("eth1", false) // FAULT: the instance leaves MASTER
	eventually(t, 2*time.Second, "virtual routes gone in FAULT, static kept", func() bool {
		r, u := routes.has(vroute, vrule)
		sr, su := routes.has(sroute, srule)
		return !r && !u && sr && su
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if r, u := routes.has(sroute, srule); r || u || addrs.holds(saddr.Prefix) {
		t.Errorf("static entries left after stop: route %v rule %v address %v", r, u, addrs.holds(saddr.Prefix))
	}
}
