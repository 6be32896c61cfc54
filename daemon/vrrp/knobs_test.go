package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// masterAt returns a MASTER machine for p (it won the election at t0).
func masterAt(t *testing.T, p Params) Machine {
	t.Helper()
	m := NewMachine(p)
	m, _ = Step(m, EventStartup{}, t0)
	m, _ = Step(m, EventTimer{}, m.TimerAt)
	if m.State != StateMaster {
		t.Fatalf("machine is %v, want MASTER", m.State)
	}
	return m
}

func sentAdverts(acts []Action) []uint8 {
	var out []uint8
	for _, a := range acts {
		if s, ok := a.(SendAdvert); ok {
			out = append(out, s.Priority)
		}
	}
	return out
}

func hasLowerGARP(acts []Action) bool {
	for _, a := range acts {
		if g, ok := a.(SendGARP); ok && g.LowerPriority {
			return true
		}
	}
	return false
}

// keepalived's vrrp_state_master_rx: a lower-priority advert is answered
// with an advert unless lower_prio_no_advert; the lower-priority GARPs go
// out either way.
func TestLowerPrioNoAdvert(t *testing.T) {
	for _, noAdvert := range []bool{false, true} {
		p := params(200)
		p.LowerPrioNoAdvert = noAdvert
		m := masterAt(t, p)
		timer := m.TimerAt
		now := timer.Add(-100 * time.Millisecond)
		m2, acts := Step(m, advert(ipStranger, 100), now)
		if m2.State != StateMaster {
			t.Fatalf("noAdvert=%v: state %v, want MASTER", noAdvert, m2.State)
		}
		want := []uint8{200}
		if noAdvert {
			want = nil
		}
		if got := sentAdverts(acts); !reflect.DeepEqual(got, want) {
			t.Errorf("noAdvert=%v: adverts sent %v, want %v", noAdvert, got, want)
		}
		if !hasLowerGARP(acts) {
			t.Errorf("noAdvert=%v: no lower-priority GARP in %+v", noAdvert, acts)
		}
		if noAdvert && m2.TimerAt != timer {
			t.Errorf("lower_prio_no_advert moved the advert timer from %v to %v", timer, m2.TimerAt)
		}
	}
}

// higher_prio_send_advert: the master that yields sends its own advert
// before it leaves MASTER (after the stranger hardening's confirmation).
func TestHigherPrioSendAdvert(t *testing.T) {
	for _, send := range []bool{false, true} {
		p := params(100)
		p.HigherPrioSendAdvert = send
		m := masterAt(t, p)
		now := m.TimerAt.Add(-500 * time.Millisecond)
		m, _ = Step(m, advert(ipHigh, 200), now) // unconfirmed: answered, kept
		if m.State != StateMaster {
			t.Fatalf("send=%v: first higher advert: %v, want MASTER", send, m.State)
		}
		m, acts := Step(m, advert(ipHigh, 200), now.Add(time.Second))
		if m.State != StateBackup {
			t.Fatalf("send=%v: second higher advert: %v, want BACKUP", send, m.State)
		}
		var want []uint8
		if send {
			want = []uint8{100}
		}
		if got := sentAdverts(acts); !reflect.DeepEqual(got, want) {
			t.Errorf("send=%v: adverts sent on yielding %v, want %v", send, got, want)
		}
		if send {
			if _, first := acts[0].(SendAdvert); !first {
				t.Errorf("the advert must go before the transition: %+v", acts)
			}
		}
	}
}

// down_timer_adverts: Master_Down_Interval = N × advert + skew.
func TestDownTimerAdverts(t *testing.T) {
	tests := []struct {
		adverts int
		v       Version
		advert  time.Duration
		prio    uint8
		want    time.Duration
	}{
		{0, Version2, time.Second, 100, 3609375 * time.Microsecond}, // default 3
		{3, Version2, time.Second, 100, 3609375 * time.Microsecond},
		{1, Version2, time.Second, 100, 1609375 * time.Microsecond},
		{10, Version2, time.Second, 100, 10609375 * time.Microsecond},
		{5, Version3, 100 * time.Millisecond, 100, 560937500},
	}
	for _, tt := range tests {
		p := params(tt.prio)
		p.Version, p.AdvertInterval, p.DownTimerAdverts = tt.v, tt.advert, tt.adverts
		m := NewMachine(p)
		if got := m.MasterDown(); got != tt.want {
			t.Errorf("MasterDown with down_timer_adverts %d (%v, %v, %d) = %v, want %v", tt.adverts, tt.v, tt.advert, tt.prio, got, tt.want)
		}
		m, acts := Step(m, EventStartup{}, t0)
		if want := t0.Add(tt.want); m.TimerAt != want {
			t.Errorf("down_timer_adverts %d: backup timer at %v, want %v (%+v)", tt.adverts, m.TimerAt.Sub(t0), tt.want, acts)
		}
		// A followed master's advert re-arms the same interval.
		m, _ = Step(m, advert(ipHigh, 200), t0.Add(time.Millisecond))
		if want := t0.Add(time.Millisecond).Add(MasterDownIntervalN(tt.v, max(tt.adverts, 0)+3*btoi(tt.adverts == 0), tt.advert, tt.prio)); m.TimerAt != want {
			t.Errorf("down_timer_adverts %d: after an advert timer at %v, want %v", tt.adverts, m.TimerAt, want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skip_check_adv_addr: the followed master's adverts skip the address
// list check; anyone else's (a stranger's) is still checked.
func TestSkipCheckAdvAddr(t *testing.T) {
	ours := []netip.Addr{netip.MustParseAddr("172.16.1.1")}
	other := Advertisement{Version: Version2, VRID: 51, Priority: 200, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.99")}}
	info := func(src netip.Addr) PacketInfo { return PacketInfo{Src: src, Dst: MulticastIPv4, TTL: 255} }
	base := ValidationParams{Version: Version2, VRID: 51, AdvertInterval: time.Second, VirtualAddresses: ours}
	tests := []struct {
		name   string
		skip   bool
		master netip.Addr
		src    netip.Addr
		want   DropReason
	}{
		{"default checks the master", false, ipHigh, ipHigh, DropAddressList},
		{"skip spares the followed master", true, ipHigh, ipHigh, DropNone},
		{"skip still checks a stranger", true, ipHigh, ipStranger, DropAddressList},
		{"skip checks when no master is followed", true, netip.Addr{}, ipHigh, DropAddressList},
	}
	for _, tt := range tests {
		p := base
		p.SkipCheckAdvAddr, p.CurrentMaster = tt.skip, tt.master
		if got := Validate(other, info(tt.src), p).Drop; got != tt.want {
			t.Errorf("%s: drop %v, want %v", tt.name, got, tt.want)
		}
	}
}

// keepalived checks the TTL of multicast adverts only: a unicast peer may
// send with unicast_ttl.
func TestTTLCheckedForMulticastOnly(t *testing.T) {
	a := Advertisement{Version: Version2, VRID: 51, Priority: 100, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}
	p := ValidationParams{Version: Version2, VRID: 51, AdvertInterval: time.Second, VirtualAddresses: a.Addresses}
	if got := Validate(a, PacketInfo{Src: ipHigh, Dst: MulticastIPv4, TTL: 64}, p).Drop; got != DropTTL {
		t.Errorf("multicast TTL 64: drop %v, want %v", got, DropTTL)
	}
	p.UnicastPeers = []netip.Addr{ipHigh}
	if got := Validate(a, PacketInfo{Src: ipHigh, Dst: ipLow, TTL: 64}, p).Drop; got != DropNone {
		t.Errorf("unicast TTL 64 from a peer: drop %v, want none", got)
	}
	if got := Validate(a, PacketInfo{Src: ipStranger, Dst: ipLow, TTL: 64}, p).Drop; got != DropUnknownPeer {
		t.Errorf("unicast TTL 64 from a stranger: drop %v, want %v", got, DropUnknownPeer)
	}
}

// The compatibility checksum forms of VRRPv3 over IPv4.
func TestChecksumForms(t *testing.T) {
	src, peer := netip.MustParseAddr("172.16.1.2"), netip.MustParseAddr("172.16.1.3")
	a := Advertisement{Version: Version3, VRID: 51, Priority: 100, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}
	std, err := Marshal(a, src, peer)
	if err != nil {
		t.Fatal(err)
	}
	asV2, err := MarshalChecksum(a, src, peer, Checksum{NoPseudoHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	// v3_checksum_as_v2: the Internet checksum of the VRRP message alone.
	plain := append([]byte(nil), asV2...)
	plain[6], plain[7] = 0, 0
	if want := ^fold(sumWords(0, plain)); binary.BigEndian.Uint16(asV2[6:]) != want {
		t.Errorf("v3_checksum_as_v2 checksum %#04x, want %#04x", binary.BigEndian.Uint16(asV2[6:]), want)
	}
	old, err := MarshalChecksum(a, src, peer, Checksum{PseudoDst: MulticastIPv4})
	if err != nil {
		t.Fatal(err)
	}
	viaGroup, _ := Marshal(a, src, MulticastIPv4) // old keepalived: the group in the pseudo-header
	if !reflect.DeepEqual(old, viaGroup) {
		t.Errorf("old_unicast_checksum advert %x, want %x", old, viaGroup)
	}
	if reflect.DeepEqual(std, asV2) || reflect.DeepEqual(std, old) {
		t.Fatal("the forms must differ from the standard one for this test to mean anything")
	}
	tests := []struct {
		name string
		msg  []byte
		cs   Checksum
		ok   bool
	}{
		{"standard, standard", std, Checksum{}, true},
		{"as-v2 without the option", asV2, Checksum{}, false},
		{"as-v2 with v3_checksum_as_v2", asV2, Checksum{NoPseudoHeader: true}, true},
		{"standard with v3_checksum_as_v2", std, Checksum{NoPseudoHeader: true}, true},
		{"old form without the option", old, Checksum{}, false},
		{"old form with old_unicast_checksum", old, Checksum{PseudoDst: MulticastIPv4}, true},
		{"as-v2 with old_unicast_checksum", asV2, Checksum{PseudoDst: MulticastIPv4}, false},
	}
	for _, tt := range tests {
		got, err := ParseChecksum(tt.msg, src, peer, tt.cs)
		if tt.ok != (err == nil) {
			t.Errorf("%s: err %v, want ok %v", tt.name, err, tt.ok)
			continue
		}
		if !tt.ok && !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: err %v, want ErrChecksum", tt.name, err)
		}
		if tt.ok && (got.Priority != 100 || got.Checksum != binary.BigEndian.Uint16(tt.msg[6:])) {
			t.Errorf("%s: parsed %+v", tt.name, got)
		}
	}
	// VRRPv2 and IPv6 are untouched by the forms.
	a2 := a
	a2.Version = Version2
	v2, _ := Marshal(a2, src, MulticastIPv4)
	v2c, _ := MarshalChecksum(a2, src, MulticastIPv4, Checksum{NoPseudoHeader: true, PseudoDst: peer})
	if !reflect.DeepEqual(v2, v2c) {
		t.Error("a checksum form changed a VRRPv2 advert")
	}
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestStartupDelay(t *testing.T) {
	tests := []struct {
		startup, afterBoot, uptime, want time.Duration
	}{
		{0, 0, time.Hour, 0},
		{5 * time.Second, 0, time.Hour, 5 * time.Second},
		{0, 60 * time.Second, 20 * time.Second, 40 * time.Second},
		{0, 60 * time.Second, time.Hour, 0},
		{50 * time.Second, 60 * time.Second, 20 * time.Second, 50 * time.Second},
		{10 * time.Second, 60 * time.Second, 20 * time.Second, 40 * time.Second},
	}
	for _, tt := range tests {
		if got := startupDelay(tt.startup, tt.afterBoot, tt.uptime); got != tt.want {
			t.Errorf("startupDelay(%v, %v, uptime %v) = %v, want %v", tt.startup, tt.afterBoot, tt.uptime, got, tt.want)
		}
	}
}

// vrrp_startup_delay: the node opens its sockets but sends nothing and
// stays INIT until the delay ends.
func TestNodeStartupDelay(t *testing.T) {
	h := &hub{}
	ic := v3Instance("VI_1", "172.16.1.2", 200)
	ic.WantMaster = true
	const delay = 600 * time.Millisecond
	start := time.Now()
	tn := startNode(t, h, Config{Instances: []InstanceConfig{ic}, StartupDelay: delay})
	time.Sleep(delay / 3)
	if s := tn.state(0); s != StateInit {
		t.Fatalf("during vrrp_startup_delay the instance is %v, want INIT", s)
	}
	if st := tn.node.Status()[0]; st.Counters.AdvertsSent != 0 {
		t.Fatalf("%d adverts sent during vrrp_startup_delay", st.Counters.AdvertsSent)
	}
	eventually(t, 5*time.Second, "MASTER after the delay", func() bool { return tn.state(0) == StateMaster })
	if el := time.Since(start); el < delay {
		t.Fatalf("MASTER after %v, before the %v delay", el, delay)
	}
}

// notify_master_rx_lower_pri runs when a master hears a lower priority.
func TestNotifyMasterRxLowerPri(t *testing.T) {
	h := &hub{}
	hi := v3Instance("VI_1", "172.16.1.3", 200)
	hi.WantMaster = true
	hi.Notify = NotifyScripts{}
	hi.Protocol.NotifyMasterRxLowerPri = "/bin/rx_lower.sh"
	a := startNode(t, h, Config{Instances: []InstanceConfig{hi}})
	eventually(t, 5*time.Second, "a MASTER", func() bool { return a.state(0) == StateMaster })
	if a.scripts.find("/bin/rx_lower.sh") {
		t.Fatal("notify_master_rx_lower_pri ran before any lower advert")
	}
	// A partition: b does not hear a, becomes a lower-priority master, and
	// a hears it.
	h.block(netip.MustParseAddr("172.16.1.3"), true)
	lo := v3Instance("VI_1", "172.16.1.2", 100)
	lo.Notify = NotifyScripts{}
	b := startNode(t, h, Config{Instances: []InstanceConfig{lo}})
	eventually(t, 5*time.Second, "b MASTER", func() bool { return b.state(0) == StateMaster })
	eventually(t, 5*time.Second, "notify_master_rx_lower_pri", func() bool { return a.scripts.find("/bin/rx_lower.sh") })
}

// FuzzParseChecksum: with either compatibility form, what ParseChecksum
// accepts re-encodes (MarshalChecksum) into an advert it accepts again,
// with the same fields; nothing panics.
func FuzzParseChecksum(f *testing.F) {
	src, dst := netip.MustParseAddr("172.16.1.2"), netip.MustParseAddr("172.16.1.3")
	a := Advertisement{Version: Version3, VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}
	// Seed 1: a v3_checksum_as_v2 advert (no pseudo-header).
	asV2, _ := MarshalChecksum(a, src, dst, Checksum{NoPseudoHeader: true})
	f.Add(asV2, false)
	// Seed 2: an old_unicast_checksum advert (the group in the pseudo-header).
	old, _ := MarshalChecksum(a, src, dst, Checksum{PseudoDst: MulticastIPv4})
	f.Add(old, true)
	// Seed 3: a standard advert, accepted by both forms' fallbacks.
	std, _ := Marshal(a, src, dst)
	f.Add(std, false)
	f.Fuzz(func(t *testing.T, b []byte, oldForm bool) {
		cs := Checksum{NoPseudoHeader: true}
		if oldForm {
			cs = Checksum{PseudoDst: MulticastIPv4}
		}
		got, err := ParseChecksum(b, src, dst, cs)
		if err != nil {
			if DropReasonOf(err) == DropNone {
				t.Fatalf("error %v maps to DropNone", err)
			}
			return
		}
		out, err := MarshalChecksum(got, src, dst, cs)
		if err != nil {
			t.Fatalf("accepted %x (%+v) does not re-encode: %v", b, got, err)
		}
		again, err := ParseChecksum(out, src, dst, cs)
		if err != nil {
			t.Fatalf("re-encoded %x is refused: %v", out, err)
		}
		again.Checksum, got.Checksum = 0, 0
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip changed the advert: %+v -> %+v", got, again)
		}
	})
}

// eventLog records Options.OnEvent calls.
type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (e *eventLog) on(name, event string, prio uint8) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf("%s %s %d", name, event, prio))
}

func (e *eventLog) has(line string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.got, line)
}

// notify_priority_changes: a tracked interface going down changes the
// effective priority and OnEvent hears MASTER_PRIORITY (BACKUP_PRIORITY
// for a backup); without the option it hears nothing.
func TestNotifyPriorityChanges(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := &hub{}
		links := &linkState{down: map[string]bool{}}
		events := &eventLog{}
		ic := v3Instance("VI_1", "172.16.1.2", 200)
		ic.WantMaster = true
		ic.TrackInterfaces = []TrackInterface{{Name: "eth2", Weight: -50}}
		ic.Protocol.NotifyPriorityChanges = on
		node, err := NewNode(Config{Instances: []InstanceConfig{ic}}, Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: h.listen,
			DialGARP: func(string) (GARPSender, error) { return &fakeGARP{}, nil }, Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}},
			LinkUp: links.up, RunScript: (&scriptLog{fail: map[string]bool{}}).run, OnEvent: events.on,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- node.Run(ctx) }()
		eventually(t, 5*time.Second, "MASTER", func() bool { return node.Status()[0].State == StateMaster })
		links.set("eth2", false)
		eventually(t, 5*time.Second, "priority 150", func() bool { return node.Status()[0].EffectivePriority == 150 })
		if got := events.has("VI_1 MASTER_PRIORITY 150"); got != on {
			t.Errorf("notify_priority_changes %v: MASTER_PRIORITY 150 reported %v (events %v)", on, got, events.got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// unicast_fault_no_peer: an instance configured for unicast without peers
// stays in FAULT and sends nothing; the control without it becomes MASTER.
func TestNoPeerFault(t *testing.T) {
	for _, fault := range []bool{true, false} {
		h := &hub{}
		ic := v3Instance("VI_1", "172.16.1.2", 200)
		ic.WantMaster = true
		ic.Protocol.NoPeerFault = fault
		tn := startNode(t, h, Config{Instances: []InstanceConfig{ic}})
		want := StateMaster
		if fault {
			want = StateFault
		}
		eventually(t, 5*time.Second, want.String(), func() bool { return tn.state(0) == want })
		if fault {
			consistently(t, 300*time.Millisecond, "FAULT holds, nothing sent", func() bool {
				return tn.state(0) == StateFault && tn.node.Status()[0].Counters.AdvertsSent == 0
			})
		}
		tn.stop(t)
	}
}

// log_unknown_vrids: an advert for a VRID no instance on the interface
// has is logged; without the option it is not (the control).
func TestLogUnknownVRIDs(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := &hub{}
		logs := &lockedBuffer{}
		ic := v3Instance("VI_1", "172.16.1.2", 100)
		node, err := NewNode(Config{Instances: []InstanceConfig{ic}, LogUnknownVRIDs: on}, Options{
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Listen: h.listen,
			DialGARP: func(string) (GARPSender, error) { return &fakeGARP{}, nil }, Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}},
			LinkUp: (&linkState{down: map[string]bool{}}).up, RunScript: (&scriptLog{fail: map[string]bool{}}).run,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- node.Run(ctx) }()
		other := v3Instance("VI_2", "172.16.1.3", 200)
		other.VRID, other.WantMaster = 52, true
		tn := startNode(t, h, Config{Instances: []InstanceConfig{other}})
		eventually(t, 5*time.Second, "VRID 52 adverts dropped", func() bool {
			return node.Status()[0].Counters.Drops[DropVRID] >= 3 && tn.state(0) == StateMaster
		})
		const want = "Unknown VRID(52) received on interface(eth1) from 172.16.1.3. ignoring..."
		if got := strings.Contains(logs.String(), want); got != on {
			t.Errorf("log_unknown_vrids %v: logged %v:\n%s", on, got, logs.String())
		}
		if n := strings.Count(logs.String(), "Unknown VRID"); on && n != 1 {
			t.Errorf("logged %d times, want once (rate-limited)", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		tn.stop(t)
	}
}

// track_src_ip: a configured source missing from the interface means
// FAULT until it appears, and FAULT again when it is removed; without
// it the instance runs from the configured address anyway (the control).
func TestTrackSrcIP(t *testing.T) {
	for _, track := range []bool{true, false} {
		c := v3Instance("VI_1", "172.16.1.2", 150)
		c.WantMaster = true
		c.Protocol.TrackSrcIP = track
		ifs := &fakeInterfaces{st: map[string]InterfaceState{"eth1": {Index: 4, Up: true, IPv4: []netip.Addr{netip.MustParseAddr("172.16.1.9")}}}}
		node, _ := runWithInterfaces(t, Config{Instances: []InstanceConfig{c}}, ifs, &fakeAddrs{have: map[netip.Prefix]bool{}})
		if !track {
			eventually(t, 2*time.Second, "MASTER from the configured source", func() bool { return node.Status()[0].State == StateMaster })
			continue
		}
		eventually(t, time.Second, "FAULT without the source", func() bool { return node.Status()[0].State == StateFault })
		consistently(t, 300*time.Millisecond, "FAULT holds", func() bool { return node.Status()[0].State == StateFault })
		ifs.set("eth1", InterfaceState{Index: 4, Up: true, IPv4: []netip.Addr{netip.MustParseAddr("172.16.1.9"), netip.MustParseAddr("172.16.1.2")}})
		eventually(t, 2*time.Second, "MASTER once the source is there", func() bool { return node.Status()[0].State == StateMaster })
		ifs.set("eth1", InterfaceState{Index: 4, Up: true, IPv4: []netip.Addr{netip.MustParseAddr("172.16.1.9")}})
		eventually(t, 2*time.Second, "FAULT when it is removed", func() bool { return node.Status()[0].State == StateFault })
	}
}

// no_virtual_ipaddress: two instances without VIPs elect a master over
// adverts that carry no address; without the option NewNode refuses.
func TestNoVIPs(t *testing.T) {
	mk := func(src string, prio uint8) InstanceConfig {
		ic := v3Instance("VI_1", src, prio)
		ic.VIPs, ic.Protocol.NoVIPs = nil, true
		return ic
	}
	bad := mk("172.16.1.2", 100)
	bad.Protocol.NoVIPs = false
	if _, err := NewNode(Config{Instances: []InstanceConfig{bad}}, Options{}); err == nil || !strings.Contains(err.Error(), "no virtual_ipaddress") {
		t.Fatalf("NewNode without VIPs = %v, want refused", err)
	}
	h := &hub{}
	hi := mk("172.16.1.3", 200)
	hi.WantMaster = true
	a := startNode(t, h, Config{Instances: []InstanceConfig{hi}})
	b := startNode(t, h, Config{Instances: []InstanceConfig{mk("172.16.1.2", 100)}})
	eventually(t, 5*time.Second, "a MASTER, b BACKUP of a", func() bool {
		s := b.node.Status()[0]
		return a.state(0) == StateMaster && s.State == StateBackup && s.MasterIP == netip.MustParseAddr("172.16.1.3") && s.Counters.AdvertsReceived >= 3
	})
	if d := b.node.Status()[0].Counters.Drops; len(d) != 0 {
		t.Fatalf("b dropped adverts without addresses: %v", d)
	}
}

// timer_expired_backup: a nopreempt MASTER whose advert timer is seen so
// late that a router of the highest other priority may have taken over
// (3 × advert + its skew since the last advert) goes to BACKUP instead of
// advertising; on time, or without the option, it advertises.
func TestTimerExpiredBackup(t *testing.T) {
	down := MasterDownInterval(Version2, time.Second, 254) // 3 s + 2/256 s
	tests := []struct {
		name     string
		highest  uint8
		preempt  bool
		late     time.Duration // after the timer was due
		want     State
		advertTo uint8
	}{
		{"on time", 254, false, 0, StateMaster, 150},
		{"late, not enough", 254, false, down - time.Second - time.Millisecond, StateMaster, 150},
		{"late enough", 254, false, down - time.Second, StateBackup, 0},
		{"lower highest priority waits longer", 100, false, down - time.Second, StateMaster, 150},
		{"without the option", 0, false, 10 * time.Second, StateMaster, 150},
		{"needs nopreempt", 254, true, 10 * time.Second, StateMaster, 150},
	}
	for _, tt := range tests {
		p := params(150)
		p.Preempt, p.TimerExpiredBackup = tt.preempt, tt.highest
		m := masterAt(t, p)
		due := m.TimerAt
		m2, acts := Step(m, EventTimer{}, due.Add(tt.late))
		if m2.State != tt.want {
			t.Errorf("%s: %v, want %v (%+v)", tt.name, m2.State, tt.want, acts)
			continue
		}
		var want []uint8
		if tt.advertTo != 0 {
			want = []uint8{tt.advertTo}
		}
		if got := sentAdverts(acts); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: adverts %v, want %v", tt.name, got, want)
		}
		if m.TimerExpired(due.Add(tt.late)) != (tt.want == StateBackup) {
			t.Errorf("%s: TimerExpired disagrees with Step", tt.name)
		}
	}
}
