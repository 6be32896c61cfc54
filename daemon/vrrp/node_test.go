package vrrp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hub is a fake multicast segment joining fake Conns.
type hub struct {
	mu      sync.Mutex
	conns   []*fakeConn
	blocked map[netip.Addr]bool // sources whose adverts are lost (a partition)
}

type fakePacket struct {
	data []byte
	info PacketInfo
}

type fakeConn struct {
	hub    *hub
	src    netip.Addr
	in     chan fakePacket
	closed chan struct{}
	once   sync.Once
}

func (h *hub) listen(tc TransportConfig) (Conn, error) {
	c := &fakeConn{hub: h, src: tc.Source, in: make(chan fakePacket, 256), closed: make(chan struct{})}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return c, nil
}

// deliver hands a packet to every open conn except from's.
func (h *hub) deliver(from *fakeConn, p fakePacket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blocked[p.info.Src] {
		return
	}
	for _, c := range h.conns {
		if c == from {
			continue
		}
		select {
		case <-c.closed:
		case c.in <- fakePacket{data: slices.Clone(p.data), info: p.info}:
		default:
		}
	}
}

func (h *hub) block(src netip.Addr, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blocked == nil {
		h.blocked = map[netip.Addr]bool{}
	}
	h.blocked[src] = on
}

func (c *fakeConn) Read(b []byte) (int, PacketInfo, error) {
	select {
	case <-c.closed:
		return 0, PacketInfo{}, net.ErrClosed
	case p := <-c.in:
		return copy(b, p.data), p.info, nil
	}
}

func (c *fakeConn) Write(msg []byte, dst netip.Addr) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.hub.deliver(c, fakePacket{data: msg, info: PacketInfo{Src: c.src, Dst: dst, TTL: 255}})
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// fakeAddrs records the VIPs a node holds.
type fakeAddrs struct {
	mu   sync.Mutex
	have map[netip.Prefix]bool
}

func (f *fakeAddrs) Add(v VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.have[v.Prefix] = true
	return nil
}

func (f *fakeAddrs) Remove(v VIP) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	had := f.have[v.Prefix]
	delete(f.have, v.Prefix)
	return had, nil
}

func (f *fakeAddrs) holds(p netip.Prefix) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.have[p]
}

type fakeGARP struct {
	mu   sync.Mutex
	sent []netip.Addr
}

func (g *fakeGARP) SendGARP(ip netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent = append(g.sent, ip)
	return nil
}
func (g *fakeGARP) Close() error { return nil }
func (g *fakeGARP) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sent)
}

// scriptLog records script invocations.
type scriptLog struct {
	mu    sync.Mutex
	calls [][]string
	fail  map[string]bool
}

func (s *scriptLog) run(_ context.Context, argv []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, argv)
	if s.fail[argv[0]] {
		return errors.New("exit status 1")
	}
	return nil
}

func (s *scriptLog) find(prefix string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if strings.HasPrefix(strings.Join(c, " "), prefix) {
			return true
		}
	}
	return false
}

var testVIP = netip.MustParsePrefix("172.16.1.1/24")

type testNode struct {
	node    *Node
	addrs   *fakeAddrs
	garp    *fakeGARP
	scripts *scriptLog
	cancel  context.CancelFunc
	done    chan error
	trs     chan Transition
	linkUp  *linkState
}

type linkState struct {
	mu   sync.Mutex
	down map[string]bool
}

func (l *linkState) up(name string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down[name], nil
}

func (l *linkState) set(name string, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down[name] = !up
}

func v3Instance(name string, src string, prio uint8) InstanceConfig {
	return InstanceConfig{Name: name, Interface: "eth1", VRID: 51, Version: Version3, Priority: prio,
		AdvertInterval: 100 * time.Millisecond, SourceIP: netip.MustParseAddr(src),
		VIPs: []VIP{{Prefix: testVIP}}, GARP: GARPSchedule{Repeat: 2, Delay: -1},
		Notify: NotifyScripts{Master: "/bin/master.sh", Notify: "/bin/notify.sh"}}
}

func startNode(t testing.TB, h *hub, cfg Config, stale ...netip.Prefix) *testNode {
	t.Helper()
	tn := &testNode{addrs: &fakeAddrs{have: map[netip.Prefix]bool{}}, garp: &fakeGARP{}, scripts: &scriptLog{fail: map[string]bool{}},
		done: make(chan error, 1), trs: make(chan Transition, 64), linkUp: &linkState{down: map[string]bool{}}}
	for _, p := range stale {
		tn.addrs.have[p] = true
	}
	node, err := NewNode(cfg, Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listen:       h.listen,
		DialGARP:     func(string) (GARPSender, error) { return tn.garp, nil },
		Addresses:    tn.addrs,
		LinkUp:       tn.linkUp.up,
		RunScript:    tn.scripts.run,
		OnTransition: func(tr Transition) { tn.trs <- tr },
	})
	if err != nil {
		t.Fatalf("NewNode: %v", err)
	}
	tn.node = node
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() { tn.done <- node.Run(ctx) }()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (tn *testNode) stop(t testing.TB) {
	t.Helper()
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	tn.cancel = nil
	select {
	case err := <-tn.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (tn *testNode) state(i int) State { return tn.node.Status()[i].State }

// eventually polls cond (state of a running system, not readiness) until timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// consistently checks that cond holds for the whole period.
func consistently(t *testing.T, period time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(period)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s: stopped holding", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNodeElectionAndFastFailover(t *testing.T) {
	h := &hub{}
	a := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.2", 150)}})
	// b starts once a is master, so that its transitions are exactly BACKUP, MASTER
	// even on a loaded machine (both Master_Down_Intervals are close).
	eventually(t, 2*time.Second, "a master", func() bool { return a.state(0) == StateMaster })
	b := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.3", 100)}}, testVIP)
	eventually(t, time.Second, "b backup following a", func() bool {
		s := b.node.Status()[0]
		return s.State == StateBackup && s.MasterIP == netip.MustParseAddr("172.16.1.2")
	})
	if !a.addrs.holds(testVIP) || b.addrs.holds(testVIP) {
		t.Fatalf("VIP on a: %v, on b: %v; want only a (b's stale VIP removed)", a.addrs.holds(testVIP), b.addrs.holds(testVIP))
	}
	eventually(t, time.Second, "2 gratuitous ARPs", func() bool { return a.garp.count() == 2 && a.node.Status()[0].Counters.GARPsSent == 2 })
	eventually(t, time.Second, "notify scripts", func() bool {
		return a.scripts.find("/bin/master.sh") && a.scripts.find("/bin/notify.sh INSTANCE VI_1 MASTER 150")
	})
	// Let b see a few adverts, then stop a: b must take over after about
	// the skew time, far sooner than Master_Down_Interval.
	eventually(t, time.Second, "b heard 3 adverts", func() bool { return b.node.Status()[0].Counters.AdvertsReceived >= 3 })
	stoppedAt := time.Now()
	a.stop(t)
	if a.addrs.holds(testVIP) {
		t.Fatal("a kept the VIP after Run returned")
	}
	st := a.node.Status()[0]
	if st.State != StateStopped || st.Counters.PriorityZeroSent != 1 || st.Counters.AdvertsSent < 3 {
		t.Fatalf("a after stop: %+v", st)
	}
	eventually(t, time.Second, "b master", func() bool { return b.state(0) == StateMaster })
	took := time.Since(stoppedAt)
	if mdi := MasterDownInterval(Version3, 100*time.Millisecond, 100); took >= mdi {
		t.Fatalf("b took %v to take over, not less than Master_Down_Interval %v", took, mdi)
	}
	if !b.addrs.holds(testVIP) {
		t.Fatal("b became master without the VIP")
	}
	if c := b.node.Status()[0].Counters; c.PriorityZeroReceived != 1 || c.AdvertsReceived < 3 {
		t.Fatalf("b counters %+v", c)
	}
	if !a.scripts.find("/bin/notify.sh INSTANCE VI_1 STOP") {
		t.Fatal("no notify STOP on a")
	}
	var seen []State
	for len(b.trs) > 0 {
		tr := <-b.trs
		if tr.Instance != "VI_1" || tr.Time.IsZero() || tr.Reason == "" {
			t.Fatalf("bad transition event %+v", tr)
		}
		seen = append(seen, tr.To)
	}
	if !slices.Equal(seen, []State{StateBackup, StateMaster}) {
		t.Fatalf("b transitions %v, want BACKUP MASTER", seen)
	}
}

func TestNodeAuthMismatchBothMaster(t *testing.T) {
	h := &hub{}
	ca := v3Instance("VI_1", "172.16.1.2", 150)
	cb := v3Instance("VI_1", "172.16.1.3", 100)
	for _, c := range []*InstanceConfig{&ca, &cb} {
		c.Version, c.AdvertInterval, c.AuthType = Version2, time.Second, AuthPass
	}
	ca.AuthPass, cb.AuthPass = "right", "wrong"
	cb.WantMaster = true // one interval, not Master_Down_Interval, to keep the test short
	ca.WantMaster = true
	a := startNode(t, h, Config{Instances: []InstanceConfig{ca}})
	b := startNode(t, h, Config{Instances: []InstanceConfig{cb}})
	eventually(t, 3*time.Second, "both master", func() bool { return a.state(0) == StateMaster && b.state(0) == StateMaster })
	eventually(t, 2*time.Second, "auth drops counted", func() bool {
		return b.node.Status()[0].Counters.Drops[DropAuth] > 0 && a.node.Status()[0].Counters.Drops[DropAuth] > 0
	})
	js, err := json.Marshal(b.node.Status())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"auth_failure":`) || !strings.Contains(string(js), `"State":"MASTER"`) {
		t.Fatalf("status JSON lacks readable names: %s", js)
	}
}

func TestNodeMalformedPacketsChangeNothing(t *testing.T) {
	h := &hub{}
	a := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.2", 150)}})
	eventually(t, 2*time.Second, "a master", func() bool { return a.state(0) == StateMaster })
	evil, _ := h.listen(TransportConfig{Source: netip.MustParseAddr("172.16.1.66")})
	good, _ := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 254, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{testVIP.Addr()}}, netip.MustParseAddr("172.16.1.66"), MulticastIPv4)
	bad := map[string]func([]byte) []byte{
		"checksum": func(b []byte) []byte { b[7] ^= 0xff; return b },
		"version":  func(b []byte) []byte { b[0] = 0x41; return b },
		"short":    func(b []byte) []byte { return b[:5] },
		"length":   func(b []byte) []byte { return append(b, 0) },
	}
	for _, f := range bad {
		if err := evil.Write(f(slices.Clone(good)), MulticastIPv4); err != nil {
			t.Fatal(err)
		}
	}
	// Right content, wrong TTL: must be dropped as well.
	h.deliver(evil.(*fakeConn), fakePacket{data: good, info: PacketInfo{Src: netip.MustParseAddr("172.16.1.66"), Dst: MulticastIPv4, TTL: 64}})
	eventually(t, time.Second, "drops counted", func() bool {
		d := a.node.Status()[0].Counters.Drops
		return d[DropChecksum] == 1 && d[DropVersion] == 1 && d[DropTooShort] == 1 && d[DropLength] == 1 && d[DropTTL] == 1
	})
	if a.state(0) != StateMaster || !a.addrs.holds(testVIP) {
		t.Fatalf("malformed packets changed state to %v", a.state(0))
	}
}

func TestNodePartitionHeals(t *testing.T) {
	h := &hub{}
	a := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.2", 150)}})
	b := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.3", 100)}})
	eventually(t, 2*time.Second, "a master, b backup", func() bool { return a.state(0) == StateMaster && b.state(0) == StateBackup })
	src := netip.MustParseAddr("172.16.1.2")
	h.block(src, true)
	eventually(t, 2*time.Second, "both master in the partition", func() bool { return b.state(0) == StateMaster })
	h.block(src, false)
	eventually(t, 2*time.Second, "one master after healing", func() bool { return a.state(0) == StateMaster && b.state(0) == StateBackup })
	if b.addrs.holds(testVIP) || !a.addrs.holds(testVIP) {
		t.Fatal("VIP not only on a after healing")
	}
}

func TestNodeSyncGroupAndTrackInterface(t *testing.T) {
	h := &hub{}
	i1 := v3Instance("VI_1", "172.16.1.2", 100)
	i2 := v3Instance("VI_2", "172.16.2.2", 100)
	i2.Interface, i2.VRID = "eth2", 52
	i2.VIPs = []VIP{{Prefix: netip.MustParsePrefix("172.16.2.1/24")}}
	i1.WantMaster = true
	i2.TrackInterfaces = []TrackInterface{{Name: "eth9", Weight: 0}}
	cfg := Config{Instances: []InstanceConfig{i1, i2}, SyncGroups: []SyncGroupConfig{{Name: "G1", Instances: []string{"VI_1", "VI_2"},
		Notify: NotifyScripts{Notify: "/bin/group.sh"}}}}
	a := startNode(t, h, cfg)
	// VI_1 wants MASTER (one interval), VI_2 would wait Master_Down_Interval: the group moves it along.
	eventually(t, time.Second, "both master together", func() bool { return a.state(0) == StateMaster && a.state(1) == StateMaster })
	eventually(t, time.Second, "group notify", func() bool { return a.scripts.find("/bin/group.sh GROUP G1 MASTER") })
	a.linkUp.set("eth9", false)
	eventually(t, time.Second, "whole group in fault", func() bool { return a.state(0) == StateFault && a.state(1) == StateFault })
	if a.addrs.holds(testVIP) {
		t.Fatal("VIP kept in FAULT")
	}
	if st := a.node.Status(); !st[0].Fault || !st[1].Fault {
		t.Fatalf("fault not reported: %+v", st)
	}
	a.linkUp.set("eth9", true)
	eventually(t, 2*time.Second, "group back to master", func() bool { return a.state(0) == StateMaster && a.state(1) == StateMaster })
}

func TestNodeTrackScriptWeight(t *testing.T) {
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.TrackScripts = []TrackScript{{Name: "chk", Script: "/bin/chk", Interval: 20 * time.Millisecond, Weight: -30, Fall: 2}}
	a := startNode(t, h, Config{Instances: []InstanceConfig{c}})
	eventually(t, time.Second, "master at 100", func() bool {
		s := a.node.Status()[0]
		return s.State == StateMaster && s.EffectivePriority == 100
	})
	a.scripts.mu.Lock()
	a.scripts.fail["/bin/chk"] = true
	a.scripts.mu.Unlock()
	eventually(t, time.Second, "priority 70", func() bool { return a.node.Status()[0].EffectivePriority == 70 })
	if p := a.node.Status()[0].Priority; p != 100 {
		t.Fatalf("base priority %d changed", p)
	}
}

func TestNewNodeErrors(t *testing.T) {
	ok := v3Instance("VI_1", "172.16.1.2", 100)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no vrid", Config{Instances: []InstanceConfig{func() InstanceConfig { c := ok; c.VRID = 0; return c }()}}},
		{"no interface", Config{Instances: []InstanceConfig{func() InstanceConfig { c := ok; c.Interface = ""; return c }()}}},
		{"v2 fractional interval", Config{Instances: []InstanceConfig{func() InstanceConfig {
			c := ok
			c.Version, c.AdvertInterval = Version2, 1500*time.Millisecond
			return c
		}()}}},
		{"v3 with auth", Config{Instances: []InstanceConfig{func() InstanceConfig { c := ok; c.AuthType = AuthPass; return c }()}}},
		{"no vips", Config{Instances: []InstanceConfig{func() InstanceConfig { c := ok; c.VIPs = nil; return c }()}}},
		{"duplicate name", Config{Instances: []InstanceConfig{ok, ok}}},
		{"duplicate vrid", Config{Instances: []InstanceConfig{ok, func() InstanceConfig { c := ok; c.Name = "VI_2"; return c }()}}},
		{"unknown group member", Config{Instances: []InstanceConfig{ok}, SyncGroups: []SyncGroupConfig{{Name: "G", Instances: []string{"VI_9"}}}}},
		{"bad script", Config{Instances: []InstanceConfig{func() InstanceConfig {
			c := ok
			c.TrackScripts = []TrackScript{{Name: "x", Script: "'unterminated"}}
			return c
		}()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewNode(tt.cfg, Options{}); !errors.Is(err, ErrConfig) {
				t.Fatalf("NewNode error %v, want ErrConfig", err)
			}
		})
	}
	n, err := NewNode(Config{Instances: []InstanceConfig{{Name: "VI_1", Interface: "eth1", VRID: 1, VIPs: []VIP{{Prefix: testVIP}}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := n.Status()[0]
	if s.State != StateInit || s.Priority != DefaultPriority || s.Version != Version2 {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

func TestNodeGARPPerVIPInterface(t *testing.T) {
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.VIPs = append(c.VIPs, VIP{Prefix: netip.MustParsePrefix("10.9.9.9/32"), Interface: "eth0"},
		VIP{Prefix: netip.MustParsePrefix("10.9.9.10/32"), Interface: "eth0"})
	senders := map[string]*fakeGARP{}
	var mu sync.Mutex
	addrs := &fakeAddrs{have: map[netip.Prefix]bool{}}
	node, err := NewNode(Config{Instances: []InstanceConfig{c}}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen, Addresses: addrs,
		LinkUp: func(string) (bool, error) { return true, nil }, RunScript: (&scriptLog{}).run,
		DialGARP: func(ifname string) (GARPSender, error) {
			mu.Lock()
			defer mu.Unlock()
			senders[ifname] = &fakeGARP{}
			return senders[ifname], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	eventually(t, time.Second, "ARPs on both interfaces", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(senders) == 2 && senders["eth1"].count() == 2 && senders["eth0"].count() == 4
	})
	if !addrs.holds(netip.MustParsePrefix("10.9.9.9/32")) {
		t.Fatal("VIP on eth0 not added")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if addrs.holds(netip.MustParsePrefix("10.9.9.9/32")) || addrs.holds(testVIP) {
		t.Fatal("VIPs left after Run returned")
	}
	if got := node.Status()[0].Counters.GARPsSent; got != 6 {
		t.Fatalf("GARPsSent %d, want 6", got)
	}
}

func TestNodeConfigExtras(t *testing.T) {
	h := &hub{}
	excluded := netip.MustParsePrefix("10.7.7.7/32")
	group := netip.MustParseAddr("224.0.0.99")
	ca := v3Instance("VI_1", "172.16.1.2", 150)
	ca.WantMaster, ca.DontTrackPrimary, ca.MulticastGroup = true, true, group
	ca.ExcludedVIPs = []VIP{{Prefix: excluded}}
	cb := v3Instance("VI_1", "172.16.1.3", 100)
	cb.MulticastGroup = group
	cb.TrackScripts = []TrackScript{{Name: "chk", Script: "/bin/chk", Interval: 20 * time.Millisecond, InitFail: true}}
	a := startNode(t, h, Config{Instances: []InstanceConfig{ca}})
	b := startNode(t, h, Config{Instances: []InstanceConfig{cb}})
	a.linkUp.set("eth1", false) // ignored: dont_track_primary
	eventually(t, time.Second, "a master with excluded VIP", func() bool { return a.state(0) == StateMaster && a.addrs.holds(excluded) })
	// b's script starts failed (init_fail) and succeeds at its first run: FAULT, then BACKUP.
	eventually(t, time.Second, "b backup of a", func() bool {
		s := b.node.Status()[0]
		return s.State == StateBackup && s.MasterIP == netip.MustParseAddr("172.16.1.2") && s.Counters.AdvertsReceived > 0
	})
	if c := b.node.Status()[0].Counters; c.AddressListMismatches != 0 {
		t.Fatalf("excluded VIP was carried in adverts: %+v", c)
	}
	sawFault := false
	for len(b.trs) > 0 {
		if tr := <-b.trs; tr.To == StateFault {
			sawFault = true
		}
	}
	if !sawFault {
		t.Fatal("init_fail script did not start b in FAULT")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		select {
		case p := <-c.in:
			if p.info.Dst != group {
				t.Fatalf("advert to %v, want %v", p.info.Dst, group)
			}
		default:
		}
	}
}

func TestNodeRunOpenFailureClosesSockets(t *testing.T) {
	h := &hub{}
	i1 := v3Instance("VI_1", "172.16.1.2", 100)
	i2 := v3Instance("VI_2", "172.16.1.2", 100)
	i2.VRID = 52
	calls := 0
	node, err := NewNode(Config{Instances: []InstanceConfig{i1, i2}}, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listen: func(tc TransportConfig) (Conn, error) {
			calls++
			if calls == 2 {
				return nil, errors.New("no raw sockets here")
			}
			return h.listen(tc)
		},
		DialGARP:  func(string) (GARPSender, error) { return &fakeGARP{}, nil },
		Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}},
		LinkUp:    func(string) (bool, error) { return true, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = node.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "VI_2") || !strings.Contains(err.Error(), "no raw sockets here") {
		t.Fatalf("Run error %v, want VI_2's listen failure", err)
	}
	select {
	case <-h.conns[0].closed:
	default:
		t.Fatal("VI_1's socket left open after the failed start")
	}
	if err := node.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestNodeSyncGroupFaultAtStart(t *testing.T) {
	h := &hub{}
	i1 := v3Instance("VI_1", "172.16.1.2", 100)
	i2 := v3Instance("VI_2", "172.16.2.2", 100)
	i2.Interface, i2.VRID = "eth2", 52
	i2.VIPs = []VIP{{Prefix: netip.MustParsePrefix("172.16.2.1/24")}}
	i1.WantMaster, i2.WantMaster = true, true
	cfg := Config{Instances: []InstanceConfig{i1, i2}, SyncGroups: []SyncGroupConfig{{Name: "G1", Instances: []string{"VI_1", "VI_2"}}}}
	tn := &testNode{linkUp: &linkState{down: map[string]bool{"eth2": true}}}
	node, err := NewNode(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen,
		DialGARP:  func(string) (GARPSender, error) { return &fakeGARP{}, nil },
		Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}}, LinkUp: tn.linkUp.up, RunScript: (&scriptLog{}).run,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	both := func(s State) func() bool {
		return func() bool { st := node.Status(); return st[0].State == s && st[1].State == s }
	}
	eventually(t, time.Second, "both in FAULT from the start", both(StateFault))
	consistently(t, 300*time.Millisecond, "group stays in FAULT", both(StateFault))
	tn.linkUp.set("eth2", true)
	eventually(t, 2*time.Second, "both MASTER after recovery", both(StateMaster))
}

// One forged priority-255 advert with the longest v3 interval (the
// client's rogue-adverts.hex) changes neither the master nor the backup's
// timing; it is counted on both.
func TestNodeSingleForgedAdvertChangesNothing(t *testing.T) {
	h := &hub{}
	a := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.2", 150)}})
	eventually(t, 2*time.Second, "a master", func() bool { return a.state(0) == StateMaster })
	b := startNode(t, h, Config{Instances: []InstanceConfig{v3Instance("VI_1", "172.16.1.3", 100)}})
	eventually(t, 2*time.Second, "b backup following a", func() bool {
		s := b.node.Status()[0]
		return s.State == StateBackup && s.MasterIP == netip.MustParseAddr("172.16.1.2") && s.Counters.AdvertsReceived >= 2
	})
	rogue := netip.MustParseAddr("172.16.1.100")
	evil, _ := h.listen(TransportConfig{Source: rogue})
	forged, err := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 255, AdvertInterval: 40950 * time.Millisecond,
		Addresses: []netip.Addr{testVIP.Addr()}}, rogue, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	trA, trB := a.node.Status()[0].Counters.Transitions, b.node.Status()[0].Counters.Transitions
	if err := evil.Write(forged, MulticastIPv4); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the forged advert counted on both", func() bool {
		return a.node.Status()[0].Counters.Suspects[SuspectUnconfirmedTakeover] == 1 &&
			b.node.Status()[0].Counters.Suspects[SuspectUnconfirmedMaster] == 1
	})
	// Ten intervals: no transition anywhere, the VIP stays on a, and b
	// follows a again with a's interval.
	consistently(t, time.Second, "a master, b backup", func() bool {
		sa, sb := a.node.Status()[0], b.node.Status()[0]
		return sa.State == StateMaster && sb.State == StateBackup && sa.Counters.Transitions == trA && sb.Counters.Transitions == trB &&
			a.addrs.holds(testVIP) && !b.addrs.holds(testVIP)
	})
	if s := b.node.Status()[0]; s.MasterIP != netip.MustParseAddr("172.16.1.2") {
		t.Fatalf("b follows %v", s.MasterIP)
	}
}

// A pair with auth_hmac elects and fails over as without it; a captured
// advert replayed from its sender's address is dropped and counted, and a
// forged one without the key too.
func TestNodeAuthHMAC(t *testing.T) {
	h := &hub{}
	withHMAC := func(c InstanceConfig) InstanceConfig {
		c.AuthHMAC = &HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1}
		return c
	}
	spy, _ := h.listen(TransportConfig{Source: netip.MustParseAddr("172.16.1.66")})
	a := startNode(t, h, Config{Instances: []InstanceConfig{withHMAC(v3Instance("VI_1", "172.16.1.2", 150))}})
	eventually(t, 2*time.Second, "a master", func() bool { return a.state(0) == StateMaster })
	b := startNode(t, h, Config{Instances: []InstanceConfig{withHMAC(v3Instance("VI_1", "172.16.1.3", 100))}})
	eventually(t, 2*time.Second, "b backup following a", func() bool {
		s := b.node.Status()[0]
		return s.State == StateBackup && s.MasterIP == netip.MustParseAddr("172.16.1.2") && s.Counters.AdvertsReceived >= 2
	})
	// Capture one of a's adverts: it carries a trailer.
	buf := make([]byte, 2048)
	var captured []byte
	var from PacketInfo
	for captured == nil {
		n, info, err := spy.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if info.Src == netip.MustParseAddr("172.16.1.2") {
			captured, from = slices.Clone(buf[:n]), info
		}
	}
	if _, tr := SplitHMACTrailer(captured, from.Src); tr == nil {
		t.Fatalf("a's advert has no auth_hmac trailer: %x", captured)
	}
	// Replay it with priority 255 would need the key; replay it as it is.
	h.deliver(spy.(*fakeConn), fakePacket{data: captured, info: from})
	eventually(t, time.Second, "replay counted on b", func() bool { return b.node.Status()[0].Counters.Drops[DropHMACReplay] >= 1 })
	// A stranger's advert without the key: no trailer.
	rogue := netip.MustParseAddr("172.16.1.100")
	forged, _ := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 255, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{testVIP.Addr()}}, rogue, MulticastIPv4)
	h.deliver(spy.(*fakeConn), fakePacket{data: forged, info: PacketInfo{Src: rogue, Dst: MulticastIPv4, TTL: 255}})
	eventually(t, time.Second, "missing trailer counted on a and b", func() bool {
		return a.node.Status()[0].Counters.Drops[DropHMACMissing] == 1 && b.node.Status()[0].Counters.Drops[DropHMACMissing] == 1
	})
	if a.node.Status()[0].Counters.Suspects[SuspectUnconfirmedTakeover] != 0 {
		t.Fatal("the forged advert reached a's state machine")
	}
	// Failover still works, fast (priority 0 is signed too).
	a.stop(t)
	eventually(t, time.Second, "b master", func() bool { return b.state(0) == StateMaster })
	if c := b.node.Status()[0].Counters; c.PriorityZeroReceived != 1 {
		t.Fatalf("b counters %+v", c)
	}
}

func TestNewNodeAuthHMACErrors(t *testing.T) {
	for name, edit := range map[string]func(*InstanceConfig){
		"no active key": func(c *InstanceConfig) {
			c.AuthHMAC = &HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 2}
		},
		"short key": func(c *InstanceConfig) {
			c.AuthHMAC = &HMACConfig{Keys: map[uint8][]byte{1: []byte("short")}, ActiveKey: 1}
		},
		"with PASS": func(c *InstanceConfig) {
			c.Version, c.AdvertInterval, c.AuthType, c.AuthPass = Version2, time.Second, AuthPass, "x"
			c.AuthHMAC = &HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1}
		},
	} {
		c := v3Instance("VI_1", "172.16.1.2", 100)
		edit(&c)
		if _, err := NewNode(Config{Instances: []InstanceConfig{c}}, Options{}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewNode = %v, want ErrConfig", name, err)
		}
	}
}
