package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// Defences against adverts from strangers: a host on the segment that is not
// one of the virtual router's members but sends well-formed adverts (one
// forged priority-255 VRRPv3 advert with a 40.95 s interval used to send the
// master to BACKUP and make every backup wait two minutes before taking over).
//
// Without authentication (auth_hmac) nothing tells a forged advert from a
// real one; these rules only make one packet not enough:
//
//   - A master yields only to a higher-priority (or equal-priority,
//     higher-address) advert that is repeated by the same source within
//     Master_Down_Interval. On the first one it keeps the VIPs and answers at
//     once with its own advert: a live master of higher priority (drlb, or
//     keepalived without lower_prio_no_advert) answers a lower-priority advert
//     at once, so a real preemption is confirmed within a round trip.
//   - A backup adopts the Master_Adver_Interval of a master (RFC 5798 6.4.2)
//     only from its second advert, and never more than
//     AdoptedIntervalFactor times its own advert_int (BoundAdvertInterval).
//   - A backup that follows a master honours a priority-0 advert only from
//     that master.

// AdoptedIntervalFactor bounds the advert interval a VRRPv3 backup adopts
// from its master: at most this many times its own advert_int. RFC 5798
// 6.4.2 has a backup take the master's interval whatever it is; with the
// bound, a master whose interval is up to 3 × AdoptedIntervalFactor × ours
// is still never declared down while its adverts arrive (Master_Down_Interval
// is at least 3 × the adopted interval), so a keepalived peer with another
// advert_int keeps working, while a forged 40.95 s interval no longer stalls
// failover for two minutes.
const AdoptedIntervalFactor = 2

// BoundAdvertInterval returns the interval a backup whose own advert_int is
// own adopts from an advert carrying advertised, and whether the bound cut it.
func BoundAdvertInterval(own, advertised time.Duration) (time.Duration, bool) {
	if limit := AdoptedIntervalFactor * own; advertised > limit {
		return limit, true
	}
	return advertised, false
}

// SuspectReason says why a valid advert was not obeyed at once (see Suspect).
type SuspectReason uint8

// Reasons for not obeying an advert at once.
const (
	// SuspectUnconfirmedTakeover: a master heard one higher-priority advert
	// from a source and keeps the VIPs until that source repeats it.
	SuspectUnconfirmedTakeover SuspectReason = iota + 1
	// SuspectUnconfirmedMaster: a backup following a master heard another
	// source claim mastership; it adopts that source's interval only from its
	// second advert.
	SuspectUnconfirmedMaster
	// SuspectIntervalBounded: the advert interval was above
	// AdoptedIntervalFactor × ours; the backup adopted the bound.
	SuspectIntervalBounded
	// SuspectPriorityZeroNotMaster: a priority-0 advert from a source other
	// than the master the backup follows; ignored.
	SuspectPriorityZeroNotMaster
	suspectReasonCount
)

var suspectReasonNames = [...]string{
	SuspectUnconfirmedTakeover:   "unconfirmed_takeover",
	SuspectUnconfirmedMaster:     "unconfirmed_master",
	SuspectIntervalBounded:       "interval_bounded",
	SuspectPriorityZeroNotMaster: "priority_zero_not_master",
}

// String returns a stable snake_case name, suitable as a metric label.
func (r SuspectReason) String() string {
	if r > 0 && int(r) < len(suspectReasonNames) {
		return suspectReasonNames[r]
	}
	return fmt.Sprintf("SuspectReason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler (JSON map keys).
func (r SuspectReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// SuspectReasons lists every reason, in order (for metrics).
func SuspectReasons() []SuspectReason {
	out := make([]SuspectReason, 0, suspectReasonCount-1)
	for r := SuspectReason(1); r < suspectReasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// Suspect is an Action: the machine did not obey a valid advert at once.
// The runtime counts it and logs it (rate-limited) with the source.
type Suspect struct {
	// Reason says which rule held the advert back.
	Reason SuspectReason
	// Src, Priority and AdvertInterval are the advert's.
	Src            netip.Addr
	Priority       uint8
	AdvertInterval time.Duration
}

func (Suspect) isAction() {}

// Detail says what happened, for the log.
func (s Suspect) Detail() string {
	switch s.Reason {
	case SuspectUnconfirmedTakeover:
		return fmt.Sprintf("single priority %d advert from %v (interval %v): keeping MASTER until the same source repeats it", s.Priority, s.Src, s.AdvertInterval)
	case SuspectUnconfirmedMaster:
		return fmt.Sprintf("priority %d advert from %v, not the master we follow: its interval %v is adopted only if it repeats", s.Priority, s.Src, s.AdvertInterval)
	case SuspectIntervalBounded:
		return fmt.Sprintf("advert interval %v from %v is above %d× ours: adopting the bound", s.AdvertInterval, s.Src, AdoptedIntervalFactor)
	case SuspectPriorityZeroNotMaster:
		return fmt.Sprintf("priority 0 advert from %v, not the master we follow: ignored", s.Src)
	}
	return fmt.Sprintf("%v advert from %v", s.Reason, s.Src)
}
