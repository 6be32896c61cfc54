package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a VRRP instance state (RFC 5798 section 6.4, plus keepalived's
// FAULT and a STOP state after shutdown).
type State uint8

// Instance states.
const (
	// StateInit is the state before Startup.
	StateInit State = iota
	// StateBackup listens for the master and takes over when it goes silent.
	StateBackup
	// StateMaster owns the virtual addresses and sends adverts.
	StateMaster
	// StateFault is entered when a tracked interface or script says the
	// instance must not serve; it neither sends nor answers adverts.
	StateFault
	// StateStopped is entered on Shutdown.
	StateStopped
)

// String returns keepalived's name for the state, as passed to notify scripts.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStopped:
		return "STOP"
	default:
		return fmt.Sprintf("State(%d)", uint8(s))
	}
}

// MarshalText implements encoding.TextMarshaler (JSON status output).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PriorityOwner is the priority of the router that owns the virtual addresses.
const PriorityOwner = 255

// PriorityStop is the priority of the advert a leaving master sends.
const PriorityStop = 0

// SkewTime is the Skew_Time of RFC 3768 (v2: (256-priority)/256 s) or
// RFC 5798 (v3: (256-priority) × advert/256), as keepalived computes it.
func SkewTime(v Version, advert time.Duration, priority uint8) time.Duration {
	if v == Version2 {
		return time.Duration(256-int(priority)) * time.Second / 256
	}
	return time.Duration(256-int(priority)) * advert / 256
}

// MasterDownInterval is 3 × advert + SkewTime: how long a backup waits
// for the master's adverts before it takes over.
func MasterDownInterval(v Version, advert time.Duration, priority uint8) time.Duration {
	return 3*advert + SkewTime(v, advert, priority)
}

// Params is the static part of a Machine: what the configuration says.
type Params struct {
	// Version is the VRRP version.
	Version Version
	// Priority is the configured (base) priority, 1-255.
	Priority uint8
	// AdvertInterval is the configured advert interval.
	AdvertInterval time.Duration
	// Preempt is false with keepalived's nopreempt: a backup never takes over
	// from a lower-priority master.
	Preempt bool
	// PreemptDelay delays preemption of a lower-priority master (keepalived's
	// preempt_delay), counted from the first lower-priority advert seen.
	PreemptDelay time.Duration
	// PrimaryIP is our advert source address; on equal priority the higher
	// address wins.
	PrimaryIP netip.Addr
	// WantMaster is keepalived's "state MASTER": the instance starts in
	// BACKUP but waits one advert interval instead of Master_Down_Interval.
	WantMaster bool
	// DownTimerAdverts is down_timer_adverts: advert intervals in
	// Master_Down_Interval (zero means 3, RFC 5798 section 6.1).
	DownTimerAdverts int
	// HigherPrioSendAdvert is higher_prio_send_advert: a master yielding to
	// a higher priority sends one advert of its own first.
	HigherPrioSendAdvert bool
	// LowerPrioNoAdvert is lower_prio_no_advert: a master does not answer a
	// lower-priority advert (it still re-announces its addresses).
	LowerPrioNoAdvert bool
	// TimerExpiredBackup is timer_expired_backup's highest priority of the
	// other routers (0: off; only with nopreempt): a master whose advert
	// timer fires so late that such a router may have taken over (see
	// Machine.TimerExpired) goes to BACKUP instead of advertising.
	TimerExpiredBackup uint8
}

// Machine is one instance's VRRP state machine. It is a value: Step returns
// the next Machine and never changes its argument.
type Machine struct {
	// Params are the static settings.
	Params Params
	// State is the current state.
	State State
	// EffectivePriority is Priority adjusted by tracking weights (1-254,
	// or 255 for the owner).
	EffectivePriority uint8
	// OwnFault is set while a tracked interface or script is in fault.
	OwnFault bool
	// GroupFault is set while another member of the sync group is in fault.
	GroupFault bool
	// MasterIP is the address of the current master (ours when master),
	// invalid when unknown.
	MasterIP netip.Addr
	// MasterPriority is the priority in the master's last advert.
	MasterPriority uint8
	// MasterAdvertInterval is the master's advert interval (v3 backups
	// adopt it, RFC 5798 6.4.2, once the master is confirmed and at most
	// AdoptedIntervalFactor × ours).
	MasterAdvertInterval time.Duration
	// MasterConfirmed is set once MasterIP sent two adverts in a row; a
	// backup adopts the master's interval only then (see stranger.go).
	MasterConfirmed bool
	// Claimant is the source of a single advert that claimed mastership at
	// ClaimedAt: to a master, a higher-priority one; to a backup following a
	// confirmed master, another source. The same source again within
	// Master_Down_Interval makes the master yield, or the backup follow it.
	// Zero when none is pending.
	Claimant  netip.Addr
	ClaimedAt time.Time
	// TimerAt is when the machine wants an EventTimer; zero for none.
	TimerAt time.Time
	// PreemptAt is when a pending preempt_delay ends; zero for none.
	PreemptAt time.Time
	// PreemptHeldUntil holds preemption: before it, a BACKUP accepts a
	// lower-priority master as with nopreempt (it still takes over when the
	// master goes silent). The runtime sets it when the instance regains its
	// interface, until the services behind it have been checked; zero for
	// none. Nothing of it shows on the wire: a backup sends no adverts.
	PreemptHeldUntil time.Time
}

// NewMachine returns a machine in StateInit for p.
func NewMachine(p Params) Machine {
	return Machine{Params: p, State: StateInit, EffectivePriority: p.Priority, MasterAdvertInterval: p.AdvertInterval}
}

// MasterDown returns this machine's Master_Down_Interval (with the
// master's advert interval for v3).
func (m Machine) MasterDown() time.Duration {
	return m.masterDownFor(m.masterInterval())
}

// masterDownFor is Master_Down_Interval for a master advert interval of
// advert, with the configured down_timer_adverts.
func (m Machine) masterDownFor(advert time.Duration) time.Duration {
	return MasterDownIntervalN(m.Params.Version, ProtocolOptions{DownTimerAdverts: m.Params.DownTimerAdverts}.downTimerAdverts(), advert, m.EffectivePriority)
}

func (m Machine) masterInterval() time.Duration {
	if m.Params.Version == Version3 && m.MasterAdvertInterval > 0 {
		return m.MasterAdvertInterval
	}
	return m.Params.AdvertInterval
}

// Event is an input of Step.
type Event interface{ isEvent() }

// EventStartup starts the machine (from Init or Stopped).
type EventStartup struct{}

// EventShutdown stops the machine: a master sends priority 0 and removes its addresses.
type EventShutdown struct{}

// EventTimer says the timer requested with ResetTimer fired.
type EventTimer struct{}

// EventAdvert is a received advert that passed Parse and Validate.
type EventAdvert struct {
	// Src is the sender's IP address.
	Src netip.Addr
	// Priority is the advert's priority.
	Priority uint8
	// AdvertInterval is the advert's interval.
	AdvertInterval time.Duration
}

// EventTrack reports the combined result of track_interface and track_script.
type EventTrack struct {
	// Delta is the sum of the weights of failing (negative weights) and
	// succeeding (positive weights) trackers, added to the base priority.
	Delta int
	// Fault is set when a tracker without weight fails.
	Fault bool
}

// EventForce moves a sync group member with the rest of its group: To is
// StateMaster, StateBackup or StateFault. Forcing StateFault holds the
// member in FAULT (GroupFault) even before Startup; forcing StateBackup
// ends that and leaves MASTER.
type EventForce struct {
	// To is the group's new state.
	To State
	// Reason names the member that moved first, for logs.
	Reason string
}

func (EventStartup) isEvent()  {}
func (EventShutdown) isEvent() {}
func (EventTimer) isEvent()    {}
func (EventAdvert) isEvent()   {}
func (EventTrack) isEvent()    {}
func (EventForce) isEvent()    {}

// Action is an output of Step that the runtime carries out, in order.
type Action interface{ isAction() }

// SendAdvert sends an advert with Priority (0 when leaving master).
type SendAdvert struct{ Priority uint8 }

// AddVIPs adds the instance's virtual addresses.
type AddVIPs struct{}

// RemoveVIPs removes the instance's virtual addresses (idempotent) and
// stops any gratuitous ARP still pending.
type RemoveVIPs struct{}

// SendGARP starts the gratuitous ARP bursts for the virtual addresses.
type SendGARP struct {
	// LowerPriority is set when a master heard a lower-priority master (a
	// healed partition): clients may have learnt the other MAC, so announce
	// again, unless a burst is still running (keepalived's garp_lower_prio_*).
	LowerPriority bool
}

// RunNotify runs the notify scripts for State (MASTER, BACKUP, FAULT, STOP).
type RunNotify struct{ State State }

// ResetTimer asks for an EventTimer at At; a zero At cancels the timer.
type ResetTimer struct{ At time.Time }

// Transition reports a state change; it is also what Node reports to its
// OnTransition callback.
type Transition struct {
	// Instance is the instance name (empty inside Step).
	Instance string
	// From and To are the old and new state.
	From, To State
	// Reason says why, in words (for logs and timelines).
	Reason string
	// Time is when it happened.
	Time time.Time
}

func (SendAdvert) isAction() {}
func (AddVIPs) isAction()    {}
func (RemoveVIPs) isAction() {}
func (SendGARP) isAction()   {}
func (RunNotify) isAction()  {}
func (ResetTimer) isAction() {}
func (Transition) isAction() {}

// Step applies ev at time now and returns the next machine and the actions
// to carry out, in order. It is pure: no clock, no I/O.
func Step(m Machine, ev Event, now time.Time) (Machine, []Action) {
	var acts []Action
	switch ev := ev.(type) {
	case EventStartup:
		if m.State != StateInit && m.State != StateStopped {
			return m, nil
		}
		return m.start(now, "startup")
	case EventShutdown:
		if m.State == StateInit || m.State == StateStopped {
			return m, nil
		}
		if m.State == StateMaster {
			acts = append(acts, SendAdvert{Priority: PriorityStop})
		}
		acts = append(acts, RemoveVIPs{}, ResetTimer{})
		m, acts = m.enter(StateStopped, "shutdown", now, acts)
		m.TimerAt, m.MasterIP = time.Time{}, netip.Addr{}
		return m, acts
	case EventTimer:
		if m.TimerAt.IsZero() || now.Before(m.TimerAt) {
			return m, nil // stale timer
		}
		switch m.State {
		case StateMaster:
			if m.TimerExpired(now) {
				return m.becomeBackup(now, "advert timer expired too late: another router may be master (timer_expired_backup)")
			}
			m = m.AdvertTimer(now)
			return m, []Action{SendAdvert{Priority: m.EffectivePriority}, ResetTimer{At: m.TimerAt}}
		case StateBackup:
			return m.becomeMaster(now, "master down timer expired", nil)
		}
		return m, nil
	case EventAdvert:
		return m.advert(ev, now)
	case EventTrack:
		return m.track(ev, now)
	case EventForce:
		return m.force(ev, now)
	}
	return m, nil
}

// AdvertTimer is Step(m, EventTimer{}, now) for a MASTER whose timer is
// due, without the action list: the machine after it, which sends an
// advert at m.EffectivePriority and wants the next timer an advert
// interval from now. It does not allocate, for the advert path.
func (m Machine) AdvertTimer(now time.Time) Machine {
	m.TimerAt = now.Add(m.Params.AdvertInterval)
	return m
}

// start leaves Init, Stopped or Fault for the state the machine should be in.
func (m Machine) start(now time.Time, reason string) (Machine, []Action) {
	if m.OwnFault || m.GroupFault {
		return m.enter(StateFault, reason, now, []Action{ResetTimer{}})
	}
	if m.EffectivePriority == PriorityOwner {
		return m.becomeMaster(now, reason+", address owner", nil)
	}
	wait := m.MasterDown()
	if m.Params.WantMaster && m.State == StateInit {
		wait = m.Params.AdvertInterval
	}
	m.MasterIP, m.MasterConfirmed, m.Claimant, m.ClaimedAt = netip.Addr{}, false, netip.Addr{}, time.Time{}
	m.TimerAt = now.Add(wait)
	return m.enter(StateBackup, reason, now, []Action{RemoveVIPs{}, ResetTimer{At: m.TimerAt}})
}

// enter records the transition to s and appends its Transition and RunNotify.
func (m Machine) enter(s State, reason string, now time.Time, acts []Action) (Machine, []Action) {
	from := m.State
	m.State = s
	// Transition first (the log says "Entering MASTER STATE" before the
	// work), notify last (scripts see the addresses already in place).
	out := make([]Action, 0, len(acts)+2)
	out = append(out, Transition{From: from, To: s, Reason: reason, Time: now})
	out = append(out, acts...)
	return m, append(out, RunNotify{State: s})
}

func (m Machine) becomeMaster(now time.Time, reason string, acts []Action) (Machine, []Action) {
	m.MasterIP, m.MasterPriority = m.Params.PrimaryIP, m.EffectivePriority
	m.MasterAdvertInterval = m.Params.AdvertInterval
	m.MasterConfirmed, m.Claimant, m.ClaimedAt = false, netip.Addr{}, time.Time{}
	m.PreemptAt = time.Time{}
	m.TimerAt = now.Add(m.Params.AdvertInterval)
	acts = append(acts, SendAdvert{Priority: m.EffectivePriority}, AddVIPs{}, SendGARP{}, ResetTimer{At: m.TimerAt})
	return m.enter(StateMaster, reason, now, acts)
}

func (m Machine) becomeBackup(now time.Time, reason string) (Machine, []Action) {
	m.TimerAt = now.Add(m.MasterDown())
	return m.enter(StateBackup, reason, now, []Action{RemoveVIPs{}, ResetTimer{At: m.TimerAt}})
}

func (m Machine) enterFault(now time.Time, reason string) (Machine, []Action) {
	var acts []Action
	if m.State == StateMaster {
		acts = append(acts, SendAdvert{Priority: PriorityStop}, RemoveVIPs{})
	}
	acts = append(acts, ResetTimer{})
	m.TimerAt, m.MasterIP, m.PreemptAt = time.Time{}, netip.Addr{}, time.Time{}
	m.MasterConfirmed, m.Claimant, m.ClaimedAt = false, netip.Addr{}, time.Time{}
	return m.enter(StateFault, reason, now, acts)
}

func (m Machine) advert(ev EventAdvert, now time.Time) (Machine, []Action) {
	switch m.State {
	case StateMaster:
		if ev.Priority == PriorityStop {
			// Another router left: assert ourselves at once (RFC 5798 6.4.3).
			m.TimerAt = now.Add(m.Params.AdvertInterval)
			return m, []Action{SendAdvert{Priority: m.EffectivePriority}, ResetTimer{At: m.TimerAt}}
		}
		higher := ev.Priority > m.EffectivePriority
		tieLost := ev.Priority == m.EffectivePriority && ev.Src.Compare(m.Params.PrimaryIP) > 0
		if higher || tieLost {
			window := m.masterDownFor(m.adoptable(ev.AdvertInterval))
			if m.Claimant != ev.Src || now.After(m.ClaimedAt.Add(window)) {
				// One advert is not enough (stranger.go): keep the VIPs and
				// answer at once; a live higher master answers back.
				m.Claimant, m.ClaimedAt = ev.Src, now
				m.TimerAt = now.Add(m.Params.AdvertInterval)
				return m, []Action{SendAdvert{Priority: m.EffectivePriority}, ResetTimer{At: m.TimerAt},
					Suspect{Reason: SuspectUnconfirmedTakeover, Src: ev.Src, Priority: ev.Priority, AdvertInterval: ev.AdvertInterval}}
			}
			m.Claimant, m.ClaimedAt = netip.Addr{}, time.Time{}
			m.MasterIP, m.MasterPriority, m.MasterConfirmed = ev.Src, ev.Priority, true
			extra := m.adoptInterval(ev)
			reason := fmt.Sprintf("higher priority advert from %v (%d > %d)", ev.Src, ev.Priority, m.EffectivePriority)
			if tieLost {
				reason = fmt.Sprintf("equal priority %d advert from higher address %v", ev.Priority, ev.Src)
			}
			var first []Action
			if m.Params.HigherPrioSendAdvert {
				// keepalived's higher_prio_send_advert: our advert (lower than
				// the new master's) makes it re-announce the addresses
				// (garp_lower_prio_repeat) in case clients last heard ours.
				first = []Action{SendAdvert{Priority: m.EffectivePriority}}
			}
			m, acts := m.becomeBackup(now, reason)
			return m, append(append(first, acts...), extra...)
		}
		// A lower-priority master (after a partition heals): keepalived
		// answers at once so that it backs off without waiting an interval,
		// and re-announces the addresses the other one may have taken.
		if m.Params.LowerPrioNoAdvert {
			// lower_prio_no_advert: the other master backs off on our next
			// periodic advert; the addresses are announced again now.
			return m, []Action{SendGARP{LowerPriority: true}}
		}
		m.TimerAt = now.Add(m.Params.AdvertInterval)
		return m, []Action{SendAdvert{Priority: m.EffectivePriority}, SendGARP{LowerPriority: true}, ResetTimer{At: m.TimerAt}}
	case StateBackup:
		if ev.Priority == PriorityStop {
			if m.MasterIP.IsValid() && ev.Src != m.MasterIP {
				return m, []Action{Suspect{Reason: SuspectPriorityZeroNotMaster, Src: ev.Src, AdvertInterval: ev.AdvertInterval}}
			}
			m.TimerAt = now.Add(SkewTime(m.Params.Version, m.masterInterval(), m.EffectivePriority))
			return m, []Action{ResetTimer{At: m.TimerAt}}
		}
		accept := !m.Params.Preempt || ev.Priority >= m.EffectivePriority || now.Before(m.PreemptHeldUntil)
		if !accept && m.Params.PreemptDelay > 0 {
			if m.PreemptAt.IsZero() {
				m.PreemptAt = now.Add(m.Params.PreemptDelay)
			}
			accept = now.Before(m.PreemptAt)
		}
		if !accept {
			return m, nil // let Master_Down_Interval expire: preemption
		}
		extra := m.learnMaster(ev, now)
		m.TimerAt = now.Add(m.MasterDown())
		return m, append([]Action{ResetTimer{At: m.TimerAt}}, extra...)
	}
	return m, nil
}

// learnMaster records a backup's accepted advert. The master's adverts
// confirm it and set its interval. Without a confirmed master, a new source
// becomes the (unconfirmed) master. With one, another source is only a
// claimant until it advertises again within Master_Down_Interval: the
// backup goes on following (and honouring the priority 0 of) its master.
// It returns the Suspect actions to report.
func (m *Machine) learnMaster(ev EventAdvert, now time.Time) []Action {
	switch {
	case ev.Src == m.MasterIP:
	case !m.MasterIP.IsValid() || !m.MasterConfirmed:
		m.MasterIP, m.MasterPriority, m.MasterConfirmed = ev.Src, ev.Priority, false
		return nil
	case m.Claimant != ev.Src || now.After(m.ClaimedAt.Add(m.masterDownFor(m.adoptable(ev.AdvertInterval)))):
		m.Claimant, m.ClaimedAt = ev.Src, now
		return []Action{Suspect{Reason: SuspectUnconfirmedMaster, Src: ev.Src, Priority: ev.Priority, AdvertInterval: ev.AdvertInterval}}
	default:
		m.MasterIP = ev.Src // the claimant repeated: the new master
	}
	m.Claimant, m.ClaimedAt = netip.Addr{}, time.Time{}
	m.MasterPriority, m.MasterConfirmed = ev.Priority, true
	return m.adoptInterval(ev)
}

// adoptInterval sets Master_Adver_Interval from a confirmed master's advert
// (v3 only), bounded by BoundAdvertInterval.
func (m *Machine) adoptInterval(ev EventAdvert) []Action {
	if m.Params.Version != Version3 || ev.AdvertInterval <= 0 {
		return nil
	}
	iv, bounded := BoundAdvertInterval(m.Params.AdvertInterval, ev.AdvertInterval)
	m.MasterAdvertInterval = iv
	if bounded {
		return []Action{Suspect{Reason: SuspectIntervalBounded, Src: ev.Src, Priority: ev.Priority, AdvertInterval: ev.AdvertInterval}}
	}
	return nil
}

// adoptable is the interval a backup would adopt from an advert carrying
// advertised: v3 bounded by BoundAdvertInterval, v2 always ours.
func (m Machine) adoptable(advertised time.Duration) time.Duration {
	if m.Params.Version != Version3 || advertised <= 0 {
		return m.Params.AdvertInterval
	}
	iv, _ := BoundAdvertInterval(m.Params.AdvertInterval, advertised)
	return iv
}

func (m Machine) track(ev EventTrack, now time.Time) (Machine, []Action) {
	old := m.EffectivePriority
	m.EffectivePriority = effectivePriority(m.Params.Priority, ev.Delta)
	m.OwnFault = ev.Fault
	switch {
	case m.State == StateInit || m.State == StateStopped:
		return m, nil
	case m.OwnFault && m.State != StateFault:
		return m.enterFault(now, "tracked interface or script failed")
	case !m.OwnFault && m.State == StateFault && !m.GroupFault:
		return m.start(now, "fault cleared")
	case m.State == StateMaster && m.EffectivePriority != old:
		// Tell the backups now, so that a higher one preempts without waiting.
		return m, []Action{SendAdvert{Priority: m.EffectivePriority}}
	}
	return m, nil
}

// effectivePriority adds the tracking delta to base, keeping 1-254; the
// owner (255) ignores weights, as keepalived does.
func effectivePriority(base uint8, delta int) uint8 {
	if base == PriorityOwner {
		return PriorityOwner
	}
	return uint8(min(max(int(base)+delta, 1), PriorityOwner-1))
}

func (m Machine) force(ev EventForce, now time.Time) (Machine, []Action) {
	reason := "sync group: " + ev.Reason
	switch ev.To {
	case StateFault:
		m.GroupFault = true
		if m.State == StateBackup || m.State == StateMaster {
			return m.enterFault(now, reason)
		}
	case StateBackup:
		m.GroupFault = false
		switch m.State {
		case StateMaster:
			return m.becomeBackup(now, reason)
		case StateFault:
			if !m.OwnFault {
				return m.start(now, reason)
			}
		}
	case StateMaster:
		if m.State == StateBackup {
			return m.becomeMaster(now, reason, nil)
		}
	}
	return m, nil
}
