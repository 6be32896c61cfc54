package vrrp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var (
	ipLow  = netip.MustParseAddr("172.16.1.2")
	ipHigh = netip.MustParseAddr("172.16.1.3")
	// ipStranger is a host on the segment that is no member of the router (the client).
	ipStranger = netip.MustParseAddr("172.16.1.100")
)

func params(prio uint8) Params {
	return Params{Version: Version2, Priority: prio, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow}
}

func TestTimers(t *testing.T) {
	tests := []struct {
		v          Version
		adv        time.Duration
		prio       uint8
		skew, down time.Duration
	}{
		{Version2, time.Second, 100, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{Version2, time.Second, 150, 414062500, 3414062500},
		{Version2, 3 * time.Second, 255, 3906250, 9003906250},
		{Version2, time.Second, 1, 996093750, 3996093750},
		{Version3, 100 * time.Millisecond, 100, 60937500, 360937500},
		{Version3, time.Second, 100, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{Version3, 100 * time.Millisecond, 254, 781250, 300781250},
	}
	for _, tt := range tests {
		if got := SkewTime(tt.v, tt.adv, tt.prio); got != tt.skew {
			t.Errorf("SkewTime(%v, %v, %d) = %v, want %v", tt.v, tt.adv, tt.prio, got, tt.skew)
		}
		if got := MasterDownInterval(tt.v, tt.adv, tt.prio); got != tt.down {
			t.Errorf("MasterDownInterval(%v, %v, %d) = %v, want %v", tt.v, tt.adv, tt.prio, got, tt.down)
		}
	}
}

// step is one input of a scenario and what must hold afterwards.
type step struct {
	at    time.Duration
	ev    Event
	state State
	acts  []Action // nil: not checked; empty slice: must be none
}

func run(t *testing.T, m Machine, steps []step) Machine {
	t.Helper()
	for i, s := range steps {
		var acts []Action
		m, acts = Step(m, s.ev, at(s.at))
		if m.State != s.state {
			t.Fatalf("step %d (%T at %v): state %v, want %v; actions %+v", i, s.ev, s.at, m.State, s.state, acts)
		}
		if s.acts != nil && !reflect.DeepEqual(normalize(acts), normalize(s.acts)) {
			t.Fatalf("step %d (%T at %v): actions\n%+v\nwant\n%+v", i, s.ev, s.at, acts, s.acts)
		}
	}
	return m
}

// normalize drops Transition reasons so tables need not spell them out.
func normalize(acts []Action) []Action {
	out := make([]Action, 0, len(acts))
	for _, a := range acts {
		if tr, ok := a.(Transition); ok {
			tr.Reason = ""
			a = tr
		}
		out = append(out, a)
	}
	return out
}

func tr(from, to State, d time.Duration) Transition {
	return Transition{From: from, To: to, Time: at(d)}
}

func advert(src netip.Addr, prio uint8) EventAdvert {
	return EventAdvert{Src: src, Priority: prio, AdvertInterval: time.Second}
}

func TestScenarios(t *testing.T) {
	down100 := MasterDownInterval(Version2, time.Second, 100)
	skew100 := SkewTime(Version2, time.Second, 100)
	tests := []struct {
		name  string
		p     Params
		steps []step
	}{
		{"startup backup then master after Master_Down_Interval", params(100), []step{
			{0, EventStartup{}, StateBackup, []Action{tr(StateInit, StateBackup, 0), RemoveVIPs{}, ResetTimer{At: at(down100)}, RunNotify{StateBackup}}},
			{time.Second, EventTimer{}, StateBackup, []Action{}}, // early (stale) timer ignored
			{down100, EventTimer{}, StateMaster, []Action{tr(StateBackup, StateMaster, down100), SendAdvert{100}, AddVIPs{}, SendGARP{}, ResetTimer{At: at(down100 + time.Second)},
				RunNotify{StateMaster}}},
			{down100 + time.Second, EventTimer{}, StateMaster, []Action{SendAdvert{100}, ResetTimer{At: at(down100 + 2*time.Second)}}},
			{down100 + 2*time.Second, EventShutdown{}, StateStopped, []Action{tr(StateMaster, StateStopped, down100+2*time.Second), SendAdvert{0}, RemoveVIPs{}, ResetTimer{},
				RunNotify{StateStopped}}},
		}},
		{"address owner is master at once", params(255), []step{
			{0, EventStartup{}, StateMaster, []Action{tr(StateInit, StateMaster, 0), SendAdvert{255}, AddVIPs{}, SendGARP{}, ResetTimer{At: at(time.Second)},
				RunNotify{StateMaster}}},
			{time.Second / 2, EventAdvert{Src: ipHigh, Priority: 254}, StateMaster, nil},
		}},
		{"state MASTER waits one interval", Params{Version: Version2, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow, WantMaster: true}, []step{
			{0, EventStartup{}, StateBackup, []Action{tr(StateInit, StateBackup, 0), RemoveVIPs{}, ResetTimer{At: at(time.Second)}, RunNotify{StateBackup}}},
			{time.Second, EventTimer{}, StateMaster, nil},
		}},
		{"backup follows a higher master and resets its timer", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 150), StateBackup, []Action{ResetTimer{At: at(time.Second + down100)}}},
			{2 * time.Second, advert(ipHigh, 150), StateBackup, []Action{ResetTimer{At: at(2*time.Second + down100)}}},
			{time.Second + down100, EventTimer{}, StateBackup, []Action{}}, // superseded timer
		}},
		{"priority 0 advert: takeover after skew time", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 150), StateBackup, nil},
			{2 * time.Second, advert(ipHigh, 0), StateBackup, []Action{ResetTimer{At: at(2*time.Second + skew100)}}},
			{2*time.Second + skew100, EventTimer{}, StateMaster, nil},
		}},
		{"preempt: lower-priority master is ignored until timer", params(200), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 100), StateBackup, []Action{}},
			{MasterDownInterval(Version2, time.Second, 200), EventTimer{}, StateMaster, nil},
		}},
		{"nopreempt: lower-priority master is followed", Params{Version: Version2, Priority: 200, AdvertInterval: time.Second, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 100), StateBackup, []Action{ResetTimer{At: at(time.Second + MasterDownInterval(Version2, time.Second, 200))}}},
		}},
		{"preempt_delay: follow lower master for the delay, then preempt", Params{Version: Version2, Priority: 200, AdvertInterval: time.Second, Preempt: true, PreemptDelay: 5 * time.Second, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 100), StateBackup, []Action{ResetTimer{At: at(time.Second + MasterDownInterval(Version2, time.Second, 200))}}},
			{5 * time.Second, advert(ipHigh, 100), StateBackup, []Action{ResetTimer{At: at(5*time.Second + MasterDownInterval(Version2, time.Second, 200))}}},
			{6 * time.Second, advert(ipHigh, 100), StateBackup, []Action{}}, // delay over: ignored
			{5*time.Second + MasterDownInterval(Version2, time.Second, 200), EventTimer{}, StateMaster, nil},
		}},
		{"master yields to a higher priority advert repeated by its source", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			// The first one is answered at once and held.
			{down100 + time.Second, advert(ipHigh, 101), StateMaster, []Action{SendAdvert{100}, ResetTimer{At: at(down100 + 2*time.Second)},
				Suspect{Reason: SuspectUnconfirmedTakeover, Src: ipHigh, Priority: 101, AdvertInterval: time.Second}}},
			{down100 + time.Second + time.Millisecond, advert(ipHigh, 101), StateBackup, []Action{tr(StateMaster, StateBackup, down100+time.Second+time.Millisecond), RemoveVIPs{},
				ResetTimer{At: at(down100 + time.Second + time.Millisecond + MasterDownInterval(Version2, time.Second, 100))}, RunNotify{StateBackup}}},
		}},
		{"master keeps the VIPs after a single forged priority 255 advert", params(150), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{down100 + time.Second/2, advert(ipStranger, 255), StateMaster, nil},
			// Not repeated within Master_Down_Interval: a later one starts over.
			{down100 + time.Second/2 + MasterDownInterval(Version2, time.Second, 150) + time.Millisecond, advert(ipStranger, 255), StateMaster,
				[]Action{SendAdvert{150}, ResetTimer{At: at(down100 + 3*time.Second/2 + MasterDownInterval(Version2, time.Second, 150) + time.Millisecond)},
					Suspect{Reason: SuspectUnconfirmedTakeover, Src: ipStranger, Priority: 255, AdvertInterval: time.Second}}},
		}},
		{"a different source does not confirm another's claim", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{down100 + time.Second/2, advert(ipStranger, 200), StateMaster, nil},
			{down100 + time.Second/2 + time.Millisecond, advert(ipHigh, 200), StateMaster, nil},
			{down100 + time.Second/2 + 2*time.Millisecond, advert(ipHigh, 200), StateBackup, nil},
		}},
		{"equal priority: higher address wins once it repeats", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{down100 + time.Second, advert(ipHigh, 100), StateMaster, nil},
			{down100 + 2*time.Second, advert(ipHigh, 100), StateBackup, nil},
		}},
		{"equal priority: lower address loses, master asserts", Params{Version: Version2, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipHigh}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{down100 + time.Second/2, advert(ipLow, 100), StateMaster, []Action{SendAdvert{100}, SendGARP{LowerPriority: true}, ResetTimer{At: at(down100 + 3*time.Second/2)}}},
		}},
		{"master answers priority 0 at once", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{down100 + time.Second/2, advert(ipHigh, 0), StateMaster, []Action{SendAdvert{100}, ResetTimer{At: at(down100 + 3*time.Second/2)}}},
		}},
		{"track fault from master sends priority 0, recovery returns to backup", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{5 * time.Second, EventTrack{Fault: true}, StateFault, []Action{tr(StateMaster, StateFault, 5*time.Second), SendAdvert{0}, RemoveVIPs{}, ResetTimer{}, RunNotify{StateFault}}},
			{6 * time.Second, EventTimer{}, StateFault, []Action{}},
			{6 * time.Second, advert(ipHigh, 50), StateFault, []Action{}},
			{7 * time.Second, EventTrack{}, StateBackup, []Action{tr(StateFault, StateBackup, 7*time.Second), RemoveVIPs{}, ResetTimer{At: at(7*time.Second + down100)}, RunNotify{StateBackup}}},
		}},
		{"fault before startup starts in FAULT", params(100), []step{
			{0, EventTrack{Fault: true}, StateInit, []Action{}},
			{time.Second, EventStartup{}, StateFault, []Action{tr(StateInit, StateFault, time.Second), ResetTimer{}, RunNotify{StateFault}}},
		}},
		{"track weight changes master's advert priority", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{down100, EventTimer{}, StateMaster, nil},
			{5 * time.Second, EventTrack{Delta: -60}, StateMaster, []Action{SendAdvert{40}}},
			{5 * time.Second, EventTrack{Delta: -60}, StateMaster, []Action{}},
			{5*time.Second + time.Second/2, advert(ipHigh, 90), StateMaster, nil},
			{5*time.Second + time.Second/2 + time.Millisecond, advert(ipHigh, 90), StateBackup, nil},
		}},
		{"shutdown of a backup", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventShutdown{}, StateStopped, []Action{tr(StateBackup, StateStopped, time.Second), RemoveVIPs{}, ResetTimer{}, RunNotify{StateStopped}}},
			{2 * time.Second, EventShutdown{}, StateStopped, []Action{}},
			{3 * time.Second, EventStartup{}, StateBackup, nil},
		}},
		{"events before startup are ignored", params(100), []step{
			{0, EventTimer{}, StateInit, []Action{}},
			{0, advert(ipHigh, 200), StateInit, []Action{}},
			{0, EventShutdown{}, StateInit, []Action{}},
		}},
		{"sync group force master, backup and fault", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventForce{To: StateMaster, Reason: "VI_2 is MASTER"}, StateMaster, nil},
			{2 * time.Second, EventForce{To: StateBackup}, StateBackup, nil},
			{3 * time.Second, EventForce{To: StateFault}, StateFault, nil},
			{4 * time.Second, EventTrack{}, StateFault, []Action{}}, // group still in fault
			{5 * time.Second, EventForce{To: StateBackup}, StateBackup, nil},
		}},
		{"v3 backup adopts the master's interval from its second advert", Params{Version: Version3, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: 100 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(time.Second + MasterDownInterval(Version3, time.Second, 100))}}},
			{time.Second + 100*time.Millisecond, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: 100 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(time.Second + 100*time.Millisecond + MasterDownInterval(Version3, 100*time.Millisecond, 100))}}},
			{time.Second + 300*time.Millisecond, EventAdvert{Src: ipHigh, Priority: 0, AdvertInterval: 100 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(time.Second + 300*time.Millisecond + SkewTime(Version3, 100*time.Millisecond, 100))}}},
		}},
		{"v3 backup bounds the interval it adopts", Params{Version: Version3, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: 40950 * time.Millisecond}, StateBackup, nil},
			{2 * time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: 40950 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(2*time.Second + MasterDownInterval(Version3, 2*time.Second, 100))},
					Suspect{Reason: SuspectIntervalBounded, Src: ipHigh, Priority: 150, AdvertInterval: 40950 * time.Millisecond}}},
		}},
		{"v3 backup keeps its master's interval when a stranger claims mastership once", Params{Version: Version3, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: time.Second}, StateBackup, nil},
			{2 * time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: time.Second}, StateBackup, nil},
			{2*time.Second + time.Second/2, EventAdvert{Src: ipStranger, Priority: 255, AdvertInterval: 40950 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(2*time.Second + time.Second/2 + MasterDownInterval(Version3, time.Second, 100))},
					Suspect{Reason: SuspectUnconfirmedMaster, Src: ipStranger, Priority: 255, AdvertInterval: 40950 * time.Millisecond}}},
			{3 * time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: time.Second}, StateBackup,
				[]Action{ResetTimer{At: at(3*time.Second + MasterDownInterval(Version3, time.Second, 100))}}},
			// It still follows its master: that master's priority 0 counts.
			{3*time.Second + time.Second/2, EventAdvert{Src: ipHigh, Priority: 0, AdvertInterval: time.Second}, StateBackup,
				[]Action{ResetTimer{At: at(3*time.Second + time.Second/2 + SkewTime(Version3, time.Second, 100))}}},
		}},
		{"backup switches to a new master once it repeats", Params{Version: Version3, Priority: 100, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ipLow}, []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: time.Second}, StateBackup, nil},
			{2 * time.Second, EventAdvert{Src: ipHigh, Priority: 150, AdvertInterval: time.Second}, StateBackup, nil},
			{2*time.Second + time.Second/2, EventAdvert{Src: ipStranger, Priority: 200, AdvertInterval: 500 * time.Millisecond}, StateBackup, nil},
			{3 * time.Second, EventAdvert{Src: ipStranger, Priority: 200, AdvertInterval: 500 * time.Millisecond}, StateBackup,
				[]Action{ResetTimer{At: at(3*time.Second + MasterDownInterval(Version3, 500*time.Millisecond, 100))}}},
			{3*time.Second + time.Second/4, EventAdvert{Src: ipHigh, Priority: 0, AdvertInterval: time.Second}, StateBackup,
				[]Action{Suspect{Reason: SuspectPriorityZeroNotMaster, Src: ipHigh, AdvertInterval: time.Second}}},
		}},
		{"backup ignores priority 0 from a source that is not its master", params(100), []step{
			{0, EventStartup{}, StateBackup, nil},
			{time.Second, advert(ipHigh, 150), StateBackup, nil},
			{2 * time.Second, advert(ipStranger, 0), StateBackup, []Action{Suspect{Reason: SuspectPriorityZeroNotMaster, Src: ipStranger, AdvertInterval: time.Second}}},
			{2*time.Second + skew100, EventTimer{}, StateBackup, []Action{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, NewMachine(tt.p), tt.steps)
		})
	}
}

func TestStepDoesNotMutateInput(t *testing.T) {
	m := NewMachine(params(100))
	before := m
	next, _ := Step(m, EventStartup{}, t0)
	if !reflect.DeepEqual(m, before) || next.State != StateBackup {
		t.Fatalf("Step changed its input or did nothing: %+v -> %+v", m, next)
	}
}

func TestEffectivePriority(t *testing.T) {
	tests := []struct {
		base  uint8
		delta int
		want  uint8
	}{{100, 0, 100}, {100, -50, 50}, {100, -200, 1}, {100, 200, 254}, {255, -100, 255}, {254, 1, 254}}
	for _, tt := range tests {
		if got := effectivePriority(tt.base, tt.delta); got != tt.want {
			t.Errorf("effectivePriority(%d, %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

// Two machines wired back to back must elect exactly one master, the higher
// priority, and fail over after skew time when it shuts down.
func TestTwoMachinesElection(t *testing.T) {
	a := NewMachine(Params{Version: Version3, Priority: 150, AdvertInterval: 100 * time.Millisecond, Preempt: true, PrimaryIP: ipLow})
	b := NewMachine(Params{Version: Version3, Priority: 100, AdvertInterval: 100 * time.Millisecond, Preempt: true, PrimaryIP: ipHigh})
	now := t0
	var actsA, actsB []Action
	// Neither is the address owner: starting up sends nothing.
	a, _ = Step(a, EventStartup{}, now)
	b, _ = Step(b, EventStartup{}, now)
	deliver := func(from Machine, acts []Action, to Machine, now time.Time) Machine {
		for _, act := range acts {
			if s, ok := act.(SendAdvert); ok {
				to, _ = Step(to, EventAdvert{Src: from.Params.PrimaryIP, Priority: s.Priority, AdvertInterval: from.Params.AdvertInterval}, now)
			}
		}
		return to
	}
	var aDownAt time.Time
	var bMasterAt time.Time
	for now.Before(t0.Add(3 * time.Second)) {
		next := a.TimerAt
		if next.IsZero() || (!b.TimerAt.IsZero() && b.TimerAt.Before(next)) {
			next = b.TimerAt
		}
		if aDownAt.IsZero() && next.After(t0.Add(time.Second)) {
			next = t0.Add(time.Second)
			now = next
			a, actsA = Step(a, EventShutdown{}, now)
			aDownAt = now
			b = deliver(a, actsA, b, now)
			continue
		}
		now = next
		if a.TimerAt.Equal(now) {
			a, actsA = Step(a, EventTimer{}, now)
			b = deliver(a, actsA, b, now)
		}
		if b.TimerAt.Equal(now) {
			before := b.State
			b, actsB = Step(b, EventTimer{}, now)
			if before != StateMaster && b.State == StateMaster {
				bMasterAt = now
			}
			a = deliver(b, actsB, a, now)
		}
		if aDownAt.IsZero() && a.State == StateMaster && b.State == StateMaster {
			t.Fatalf("both master at %v", now.Sub(t0))
		}
	}
	if bMasterAt.IsZero() {
		t.Fatal("b never became master after a shut down")
	}
	if got, want := bMasterAt.Sub(aDownAt), SkewTime(Version3, 100*time.Millisecond, 100); got != want {
		t.Fatalf("b took over %v after a's shutdown, want skew time %v", got, want)
	}
}

func TestSyncGroupForces(t *testing.T) {
	tests := []struct {
		name    string
		members []SyncMember
		t       Transition
		want    []Force
	}{
		{"one master, all master", []SyncMember{{Name: "A", State: StateMaster}, {Name: "B", State: StateBackup}, {Name: "C", State: StateMaster}},
			Transition{Instance: "A", From: StateBackup, To: StateMaster},
			[]Force{{"B", EventForce{To: StateMaster, Reason: "A is MASTER"}}}},
		{"one leaves master, all backup", []SyncMember{{Name: "A", State: StateBackup}, {Name: "B", State: StateMaster}},
			Transition{Instance: "A", From: StateMaster, To: StateBackup},
			[]Force{{"B", EventForce{To: StateBackup, Reason: "A is BACKUP"}}}},
		{"startup to backup moves nobody", []SyncMember{{Name: "A", State: StateBackup}, {Name: "B", State: StateMaster}},
			Transition{Instance: "A", From: StateInit, To: StateBackup}, nil},
		{"fault is left to GroupFaultForces", []SyncMember{{Name: "A", State: StateFault, OwnFault: true}, {Name: "B", State: StateMaster}},
			Transition{Instance: "A", From: StateMaster, To: StateFault}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SyncGroupForces(tt.members, tt.t); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("SyncGroupForces = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGroupFaultForces(t *testing.T) {
	hold := func(name, by string) Force { return Force{name, EventForce{To: StateFault, Reason: by + " is FAULT"}} }
	free := func(name string) Force { return Force{name, EventForce{To: StateBackup, Reason: "no member in fault"}} }
	tests := []struct {
		name    string
		members []SyncMember
		want    []Force
	}{
		{"no faults", []SyncMember{{Name: "A", State: StateMaster}, {Name: "B", State: StateMaster}}, nil},
		{"one fault holds the others", []SyncMember{{Name: "A", State: StateFault, OwnFault: true}, {Name: "B", State: StateMaster}, {Name: "C", State: StateInit}},
			[]Force{hold("B", "A"), hold("C", "A")}},
		{"already held", []SyncMember{{Name: "A", State: StateFault, OwnFault: true}, {Name: "B", State: StateFault, GroupFault: true}}, nil},
		{"two faults hold each other", []SyncMember{{Name: "A", State: StateFault, OwnFault: true}, {Name: "B", State: StateFault, OwnFault: true}},
			[]Force{hold("A", "B"), hold("B", "A")}},
		{"first recovery keeps being held", []SyncMember{{Name: "A", State: StateFault, GroupFault: true}, {Name: "B", State: StateFault, OwnFault: true, GroupFault: true}},
			[]Force{free("B")}},
		{"last recovery frees all", []SyncMember{{Name: "A", State: StateBackup}, {Name: "B", State: StateFault, GroupFault: true}},
			[]Force{free("B")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GroupFaultForces(tt.members); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("GroupFaultForces = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStateStrings(t *testing.T) {
	want := map[State]string{StateInit: "INIT", StateBackup: "BACKUP", StateMaster: "MASTER", StateFault: "FAULT", StateStopped: "STOP", State(9): "State(9)"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), w)
		}
	}
}

func BenchmarkStepAdvert(b *testing.B) {
	m := NewMachine(params(100))
	m, _ = Step(m, EventStartup{}, t0)
	ev := advert(ipHigh, 150)
	for i := 0; b.Loop(); i++ {
		m, _ = Step(m, ev, t0.Add(time.Duration(i)*time.Millisecond))
	}
}

func BenchmarkParseMarshal(b *testing.B) {
	a := Advertisement{Version: Version2, VRID: 51, Priority: 150, AdvertInterval: time.Second, AuthType: AuthPass,
		AuthData: PassAuthData("dlpass"), Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}
	for b.Loop() {
		buf, err := Marshal(a, ipLow, MulticastIPv4)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Parse(buf, ipLow, MulticastIPv4); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPreemptHeld: while preemption is held (after the interface came
// back, until the services were checked), a backup follows a
// lower-priority master; it still takes over from a silent master, and
// preempts as usual once the hold has ended.
func TestPreemptHeld(t *testing.T) {
	down := MasterDownInterval(Version2, time.Second, 200)
	m, _ := Step(NewMachine(params(200)), EventStartup{}, at(0))
	m.PreemptHeldUntil = at(3 * time.Second)
	run(t, m, []step{
		{time.Second, advert(ipHigh, 100), StateBackup, []Action{ResetTimer{At: at(time.Second + down)}}},
		{2 * time.Second, advert(ipHigh, 100), StateBackup, []Action{ResetTimer{At: at(2*time.Second + down)}}},
		{3 * time.Second, advert(ipHigh, 100), StateBackup, []Action{}}, // hold over: ignored
		{2*time.Second + down, EventTimer{}, StateMaster, nil},
	})
	held, _ := Step(NewMachine(params(200)), EventStartup{}, at(0))
	held.PreemptHeldUntil = at(time.Hour)
	run(t, held, []step{
		{down, EventTimer{}, StateMaster, nil}, // no master at all: take over
	})
}

// A real preemption is confirmed within one exchange: the master answers
// the first higher-priority advert at once, and the new master answers that
// lower-priority advert at once, which is the confirmation.
func TestPreemptionConfirmedByAnswer(t *testing.T) {
	p := func(prio uint8, ip netip.Addr) Params {
		return Params{Version: Version3, Priority: prio, AdvertInterval: time.Second, Preempt: true, PrimaryIP: ip}
	}
	b := NewMachine(p(100, ipHigh))
	b, _ = Step(b, EventStartup{}, t0)
	now := t0.Add(MasterDownInterval(Version3, time.Second, 100))
	b, _ = Step(b, EventTimer{}, now)
	if b.State != StateMaster {
		t.Fatalf("b is %v, want MASTER", b.State)
	}
	a := NewMachine(p(150, ipLow))
	a, _ = Step(a, EventStartup{}, now)
	now = a.TimerAt
	var acts []Action
	a, acts = Step(a, EventTimer{}, now)
	if a.State != StateMaster {
		t.Fatalf("a is %v, want MASTER (preempting)", a.State)
	}
	// Deliver adverts back and forth, without time passing, until quiet.
	ms := map[netip.Addr]*Machine{ipLow: &a, ipHigh: &b}
	type msg struct {
		from netip.Addr
		prio uint8
	}
	var queue []msg
	enqueue := func(from netip.Addr, acts []Action) {
		for _, act := range acts {
			if s, ok := act.(SendAdvert); ok {
				queue = append(queue, msg{from, s.Priority})
			}
		}
	}
	enqueue(ipLow, acts)
	for i := 0; len(queue) > 0 && i < 10; i++ {
		m := queue[0]
		queue = queue[1:]
		to := ipLow
		if m.from == ipLow {
			to = ipHigh
		}
		var out []Action
		*ms[to], out = Step(*ms[to], EventAdvert{Src: m.from, Priority: m.prio, AdvertInterval: time.Second}, now)
		enqueue(to, out)
		if b.State == StateBackup {
			break
		}
	}
	if a.State != StateMaster || b.State != StateBackup {
		t.Fatalf("after the exchange a is %v and b is %v, want MASTER and BACKUP", a.State, b.State)
	}
	if b.MasterIP != ipLow || !b.MasterConfirmed {
		t.Fatalf("b follows %v (confirmed %v), want %v confirmed", b.MasterIP, b.MasterConfirmed, ipLow)
	}
}

func TestBoundAdvertInterval(t *testing.T) {
	tests := []struct {
		own, advertised, want time.Duration
		bounded               bool
	}{
		{time.Second, time.Second, time.Second, false},
		{time.Second, 100 * time.Millisecond, 100 * time.Millisecond, false},
		{time.Second, 2 * time.Second, 2 * time.Second, false},
		{time.Second, 2*time.Second + 10*time.Millisecond, 2 * time.Second, true},
		{time.Second, 40950 * time.Millisecond, 2 * time.Second, true},
		{100 * time.Millisecond, 40950 * time.Millisecond, 200 * time.Millisecond, true},
	}
	for _, tt := range tests {
		got, bounded := BoundAdvertInterval(tt.own, tt.advertised)
		if got != tt.want || bounded != tt.bounded {
			t.Errorf("BoundAdvertInterval(%v, %v) = %v, %v; want %v, %v", tt.own, tt.advertised, got, bounded, tt.want, tt.bounded)
		}
	}
}

func TestSuspectReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range SuspectReasons() {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "SuspectReason(") || seen[s] {
			t.Errorf("reason %d has name %q", r, s)
		}
		seen[s] = true
		if (Suspect{Reason: r, Src: ipStranger}).Detail() == "" {
			t.Errorf("reason %v has no detail", r)
		}
	}
	if len(seen) != 4 {
		t.Errorf("%d reasons, want 4", len(seen))
	}
}
