package vrrp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeInterfaces is a settable InterfaceState source.
type fakeInterfaces struct {
	mu sync.Mutex
	st map[string]InterfaceState
}

func (f *fakeInterfaces) get(name string) (InterfaceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st[name], nil
}

func (f *fakeInterfaces) set(name string, st InterfaceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st[name] = st
}

func runWithInterfaces(t *testing.T, cfg Config, ifs *fakeInterfaces, addrs *fakeAddrs) (*Node, chan error) {
	t.Helper()
	node, err := NewNode(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: (&hub{}).listen,
		DialGARP:  func(string) (GARPSender, error) { return &fakeGARP{}, nil },
		Addresses: addrs, Interface: ifs.get, RunScript: (&scriptLog{}).run,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
	return node, done
}

// TestNodeFaultUntilAddress: an interface without an IPv4 address puts the
// instance in FAULT (Run does not fail), and the address appearing brings
// it to MASTER with that address as its source.
func TestNodeFaultUntilAddress(t *testing.T) {
	c := v3Instance("VI_1", "172.16.1.2", 150)
	c.SourceIP = netip.Addr{} // from the interface
	c.WantMaster = true
	ifs := &fakeInterfaces{st: map[string]InterfaceState{"eth1": {Index: 3, Up: true}}}
	// A killed predecessor left the VIP: it goes, though the instance waits.
	addrs := &fakeAddrs{have: map[netip.Prefix]bool{testVIP: true}}
	node, done := runWithInterfaces(t, Config{Instances: []InstanceConfig{c}}, ifs, addrs)
	eventually(t, time.Second, "FAULT", func() bool { return node.Status()[0].State == StateFault })
	if addrs.holds(testVIP) {
		t.Fatal("stale VIP kept while in FAULT")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The VIP alone is not an address of its own.
	ifs.set("eth1", InterfaceState{Index: 3, Up: true, IPv4: []netip.Addr{testVIP.Addr()}})
	consistently(t, 2*DefaultLinkPollInterval, "FAULT with only the VIP", func() bool { return node.Status()[0].State == StateFault })
	ifs.set("eth1", InterfaceState{Index: 3, Up: true, IPv4: []netip.Addr{testVIP.Addr(), netip.MustParseAddr("172.16.1.2")}})
	eventually(t, 2*time.Second, "MASTER once the address exists", func() bool { return node.Status()[0].State == StateMaster })
	if src := node.Status()[0].SourceIP; src != netip.MustParseAddr("172.16.1.2") {
		t.Fatalf("source %v", src)
	}
}

// TestNodeMissingInterface: without dynamic_interfaces a missing interface
// is refused at start, as keepalived does; with it, FAULT until it appears.
func TestNodeMissingInterface(t *testing.T) {
	c := v3Instance("VI_1", "172.16.1.2", 150)
	c.WantMaster = true
	ifs := &fakeInterfaces{st: map[string]InterfaceState{}}
	node, err := NewNode(Config{Instances: []InstanceConfig{c}}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listen: (&hub{}).listen, Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}}, Interface: ifs.get,
		DialGARP: func(string) (GARPSender, error) { return &fakeGARP{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "eth1 does not exist") {
		t.Fatalf("Run = %v, want the missing interface refused", err)
	}

	dyn, _ := runWithInterfaces(t, Config{Instances: []InstanceConfig{c}, DynamicInterfaces: true}, ifs, &fakeAddrs{have: map[netip.Prefix]bool{}})
	eventually(t, time.Second, "FAULT", func() bool { return dyn.Status()[0].State == StateFault })
	ifs.set("eth1", InterfaceState{Index: 4, Up: true})
	eventually(t, 2*time.Second, "MASTER once the interface exists", func() bool { return dyn.Status()[0].State == StateMaster })
	// It goes away again (deleted): FAULT, and back.
	ifs.set("eth1", InterfaceState{})
	eventually(t, 2*time.Second, "FAULT when deleted", func() bool { return dyn.Status()[0].State == StateFault })
	ifs.set("eth1", InterfaceState{Index: 5, Up: true})
	eventually(t, 2*time.Second, "MASTER when recreated", func() bool { return dyn.Status()[0].State == StateMaster })
}

// downGARP fails with ENETDOWN for its first fails sends, as a link just
// set up does until the kernel marks it operationally up.
type downGARP struct {
	fakeGARP
	fails int
}

func (g *downGARP) SendGARP(ip netip.Addr) error {
	g.mu.Lock()
	if g.fails > 0 {
		g.fails--
		g.mu.Unlock()
		return fmt.Errorf("vrrp: send gratuitous ARP: %w", unix.ENETDOWN)
	}
	g.mu.Unlock()
	return g.fakeGARP.SendGARP(ip)
}

func TestSendGARPBurstsWaitsForLink(t *testing.T) {
	g := &downGARP{fails: 5}
	var errs []error
	n := SendGARPBursts(context.Background(), g, []netip.Addr{testVIP.Addr()}, GARPSchedule{Repeat: 3, Delay: -1}, func(err error) { errs = append(errs, err) })
	if n != 3 || len(errs) != 0 {
		t.Fatalf("sent %d with errors %v, want all 3 sent once the link can send", n, errs)
	}
	// Other errors are reported at once, not retried.
	bad := &downGARP{}
	n = SendGARPBursts(context.Background(), badSender{bad}, []netip.Addr{testVIP.Addr()}, GARPSchedule{Repeat: 2, Delay: -1}, func(err error) { errs = append(errs, err) })
	if n != 0 || len(errs) != 2 {
		t.Fatalf("sent %d with %d errors, want 0 and 2", n, len(errs))
	}
}

type badSender struct{ *downGARP }

func (badSender) SendGARP(netip.Addr) error { return unix.EPERM }

// TestNodeHoldsPreemptionAfterLinkUp: the higher-priority instance whose
// link comes back follows the lower-priority master that took over until
// the services are reported checked, then preempts.
func TestNodeHoldsPreemptionAfterLinkUp(t *testing.T) {
	h := &hub{}
	hi, lo := v3Instance("VI_1", "172.16.1.2", 150), v3Instance("VI_1", "172.16.1.3", 100)
	hi.WantMaster = true
	ifs := &fakeInterfaces{st: map[string]InterfaceState{"eth1": {Index: 3, Up: true}}}
	checked := make(chan struct{})
	node, err := NewNode(Config{Instances: []InstanceConfig{hi}, RecoveryHold: time.Minute}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen,
		DialGARP:  func(string) (GARPSender, error) { return &fakeGARP{}, nil },
		Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}}, Interface: ifs.get, RunScript: (&scriptLog{}).run,
		ServicesChecked: func(context.Context, time.Time) <-chan struct{} { return checked },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b := startNode(t, h, Config{Instances: []InstanceConfig{lo}})
	state := func() State { return node.Status()[0].State }
	eventually(t, 2*time.Second, "hi MASTER, lo BACKUP", func() bool { return state() == StateMaster && b.state(0) == StateBackup })

	ifs.set("eth1", InterfaceState{Index: 3})
	h.block(netip.MustParseAddr("172.16.1.2"), true) // a link down: its adverts are lost
	eventually(t, 2*time.Second, "hi FAULT, lo MASTER", func() bool { return state() == StateFault && b.state(0) == StateMaster })
	h.block(netip.MustParseAddr("172.16.1.2"), false)
	ifs.set("eth1", InterfaceState{Index: 3, Up: true})
	eventually(t, 2*time.Second, "hi BACKUP after link-up", func() bool { return state() == StateBackup })
	// Many Master_Down_Intervals (0.34 s): hi stays BACKUP behind lo.
	consistently(t, time.Second, "hi holds preemption", func() bool { return state() == StateBackup && b.state(0) == StateMaster })
	close(checked)
	eventually(t, 2*time.Second, "hi preempts once checked", func() bool { return state() == StateMaster && b.state(0) == StateBackup })
}
