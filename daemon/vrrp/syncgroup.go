package vrrp

// SyncMember is what the sync group functions need to know about one
// member of a vrrp_sync_group.
type SyncMember struct {
	// Name is the instance name.
	Name string
	// State is the member's current state.
	State State
	// OwnFault is set while the member's own trackers are in fault.
	OwnFault bool
	// GroupFault is set while the member is held in fault for another member.
	GroupFault bool
}

// Force is an EventForce addressed to one instance.
type Force struct {
	// Instance is the member to step.
	Instance string
	// Event is what to step it with.
	Event EventForce
}

// SyncGroupForces returns the events that make the other members of a sync
// group follow a transition t that member t.Instance made on its own
// (not because of an EventForce, which must not be propagated again):
// one goes MASTER, all go MASTER; one leaves MASTER for BACKUP, all do.
// Faults are handled by GroupFaultForces. members holds the states after t.
func SyncGroupForces(members []SyncMember, t Transition) []Force {
	var out []Force
	add := func(to State, when func(SyncMember) bool) {
		for _, mb := range members {
			if mb.Name != t.Instance && when(mb) {
				out = append(out, Force{Instance: mb.Name, Event: EventForce{To: to, Reason: t.Instance + " is " + t.To.String()}})
			}
		}
	}
	switch {
	case t.To == StateMaster:
		add(StateMaster, func(mb SyncMember) bool { return mb.State == StateBackup })
	case t.From == StateMaster && t.To == StateBackup:
		add(StateBackup, func(mb SyncMember) bool { return mb.State == StateMaster })
	}
	return out
}

// GroupFaultForces keeps a sync group's faults consistent: a member is held
// in FAULT (EventForce to StateFault) while any other member has a fault of
// its own, and released (EventForce to StateBackup) when none has. It
// returns only the changes, so it is cheap to call after every step.
func GroupFaultForces(members []SyncMember) []Force {
	var out []Force
	for i, mb := range members {
		var faulty string
		for j, other := range members {
			if j != i && other.OwnFault {
				faulty = other.Name
				break
			}
		}
		switch {
		case faulty != "" && !mb.GroupFault:
			out = append(out, Force{Instance: mb.Name, Event: EventForce{To: StateFault, Reason: faulty + " is FAULT"}})
		case faulty == "" && mb.GroupFault:
			out = append(out, Force{Instance: mb.Name, Event: EventForce{To: StateBackup, Reason: "no member in fault"}})
		}
	}
	return out
}
