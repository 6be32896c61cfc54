package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDownTimerAdverts is the number of advert intervals in
// Master_Down_Interval (RFC 5798 section 6.1: 3), keepalived's default
// down_timer_adverts.
const DefaultDownTimerAdverts = 3

// MaxDownTimerAdverts is the largest down_timer_adverts keepalived accepts.
const MaxDownTimerAdverts = 100

// ProtocolOptions are keepalived's per-instance VRRP protocol tunables. The
// zero value is keepalived's default behaviour (RFC 5798 timers, an answer
// to every lower-priority advert, full checks of every advert). Each global
// vrrp_ form (vrrp_higher_prio_send_advert, …) sets the default for every
// instance; the translation applies it.
type ProtocolOptions struct {
	// HigherPrioSendAdvert is higher_prio_send_advert: a master that yields
	// to a higher-priority advert first sends one advert of its own, so that
	// the new master (if it has garp_lower_prio_repeat) announces the
	// addresses again after a split brain.
	HigherPrioSendAdvert bool
	// LowerPrioNoAdvert is lower_prio_no_advert: a master does not answer a
	// lower-priority advert with an advert of its own (RFC 3768/5798
	// behaviour before RFC 9568); it still sends its lower-priority GARPs.
	LowerPrioNoAdvert bool
	// DownTimerAdverts is down_timer_adverts: Master_Down_Interval is this
	// many master advert intervals plus the skew time (1-100; zero means
	// DefaultDownTimerAdverts). Every router of the VRID must use the same.
	DownTimerAdverts int
	// SkipCheckAdvAddr is skip_check_adv_addr: the address list of an
	// advert from the master a backup already follows is not compared with
	// virtual_ipaddress again. An advert from any other source still is
	// (keepalived checks on a master change too), so a stranger announcing
	// other addresses is still dropped.
	SkipCheckAdvAddr bool
	// UnicastTTL is unicast_ttl: the TTL (IPv4) or hop limit (IPv6) of
	// unicast adverts; zero means 255. Multicast adverts always carry 255.
	UnicastTTL uint8
	// V3ChecksumAsV2 is v3_checksum_as_v2: the checksum of a VRRPv3 IPv4
	// advert is computed without the pseudo-header (as some routers, and
	// RFC 9568's reading, do). Received adverts are accepted with either
	// form.
	V3ChecksumAsV2 bool
	// OldUnicastChecksum is old_unicast_checksum: a unicast VRRPv3 IPv4
	// advert's checksum uses the multicast group (MulticastGroup) as the
	// pseudo-header's destination, as keepalived before 1.3.6 did.
	// Received adverts are accepted with either form.
	OldUnicastChecksum bool
	// OldUnicastChecksumNever is old_unicast_checksum never: no automatic
	// detection. Without it (and without OldUnicastChecksum) a unicast
	// VRRPv3 IPv4 instance that receives a valid advert from a peer in the
	// old form switches to it, as keepalived does.
	OldUnicastChecksumNever bool
	// RxBufSize is the SO_RCVBUF of the instance's socket in bytes
	// (kernel_rx_buf_size, or what vrrp_rx_bufs_policy computes); zero
	// leaves the system default.
	RxBufSize int
	// RxBufMTUs, when RxBufSize is zero, sizes SO_RCVBUF as this many times
	// the MTU of the instance's interface (vrrp_rx_bufs_policy MTU with
	// vrrp_rx_bufs_multiplier); zero for none.
	RxBufMTUs int
	// PromoteSecondaries is promote_secondaries: the instance's interface
	// gets net.ipv4.conf.IF.promote_secondaries 1 when the instance opens
	// (removing one address of a subnet then keeps the others), and its
	// old value back when Run ends, as keepalived does.
	PromoteSecondaries bool
	// TimerExpiredBackup is timer_expired_backup: the highest priority of
	// the other routers (1-254; 0 off). Only with NoPreempt.
	TimerExpiredBackup uint8
	// NoVIPs is no_virtual_ipaddress: the instance may have no VIPs; its
	// adverts then carry no address (and it is IPv4).
	NoVIPs bool
	// TrackSrcIP is track_src_ip: a configured source (SourceIP) that is
	// not an address of the instance's interface puts the instance in
	// FAULT until it is (without it, adverts are sent from it anyway, as
	// keepalived does). IPv4 sources and IPv6 link-local ones are tracked.
	TrackSrcIP bool
	// NoPeerFault is unicast_fault_no_peer with a unicast keyword but no
	// unicast_peer: the instance stays in FAULT instead of falling back to
	// multicast.
	NoPeerFault bool
	// NotifyPriorityChanges is notify_priority_changes: Options.OnEvent
	// gets MASTER_PRIORITY (in MASTER) or BACKUP_PRIORITY (otherwise) with
	// the new effective priority whenever it changes.
	NotifyPriorityChanges bool
	// NotifyMasterRxLowerPri is notify_master_rx_lower_pri: a script run
	// (without arguments) when a master receives a lower-priority advert.
	NotifyMasterRxLowerPri string
}

// downTimerAdverts is DownTimerAdverts with its default.
func (o ProtocolOptions) downTimerAdverts() int {
	if o.DownTimerAdverts <= 0 {
		return DefaultDownTimerAdverts
	}
	return o.DownTimerAdverts
}

// unicastTTL is the TTL of unicast adverts (UnicastTTL, default 255).
func (o ProtocolOptions) unicastTTL() int {
	if o.UnicastTTL == 0 {
		return RequiredTTL
	}
	return int(o.UnicastTTL)
}

// MasterDownIntervalN is Master_Down_Interval with adverts advert
// intervals (keepalived's down_timer_adverts; MasterDownInterval is
// adverts 3): adverts × advert + SkewTime.
func MasterDownIntervalN(v Version, adverts int, advert time.Duration, priority uint8) time.Duration {
	return time.Duration(adverts)*advert + SkewTime(v, advert, priority)
}

// Checksum says how the checksum of a VRRPv3 IPv4 advert is computed:
// RFC 5798's pseudo-header with the packet's addresses (the zero value),
// or one of keepalived's compatibility forms. It does not apply to VRRPv2
// over IPv4 (no pseudo-header) nor to IPv6 (the kernel's pseudo-header).
type Checksum struct {
	// NoPseudoHeader leaves the pseudo-header out (v3_checksum_as_v2).
	NoPseudoHeader bool
	// PseudoDst, when valid, is the pseudo-header's destination instead of
	// the packet's (old_unicast_checksum: the multicast group).
	PseudoDst netip.Addr
}

// applies reports whether the form matters for a message of version v
// from src: VRRPv3 over IPv4.
func (c Checksum) applies(v Version, src netip.Addr) bool {
	return v == Version3 && src.Is4()
}

// MarshalChecksum is Marshal with the checksum computed in form cs.
func MarshalChecksum(a Advertisement, src, dst netip.Addr, cs Checksum) ([]byte, error) {
	b, err := Marshal(a, src, dst)
	if err != nil || !cs.applies(a.Version, src) || cs == (Checksum{}) {
		return b, err
	}
	b[6], b[7] = 0, 0
	sum, err := cs.sum(a.Version, b, src, dst)
	if err != nil {
		return nil, err
	}
	b[6], b[7] = byte(sum>>8), byte(sum)
	return b, nil
}

// ParseChecksum is Parse accepting the checksum in form cs as well as in
// the standard one.
func ParseChecksum(b []byte, src, dst netip.Addr, cs Checksum) (Advertisement, error) {
	a, err := Parse(b, src, dst)
	if err == nil || cs == (Checksum{}) || !errors.Is(err, ErrChecksum) || len(b) < headerLen || !cs.applies(Version(b[0]>>4), src) {
		return a, err
	}
	sum, serr := cs.sum(Version3, b, src, dst)
	if serr != nil || sum != 0 {
		return a, err
	}
	// Parse again with the checksum rewritten to the standard form: the
	// same checks, the same result, one code path.
	fixed := make([]byte, len(b))
	copy(fixed, b)
	fixed[6], fixed[7] = 0, 0
	std, serr := checksumFor(Version3, fixed, src, dst)
	if serr != nil {
		return a, err
	}
	fixed[6], fixed[7] = byte(std>>8), byte(std)
	a, err = Parse(fixed, src, dst)
	a.Checksum = uint16(b[6])<<8 | uint16(b[7])
	return a, err
}

// sum is checksumFor in form cs (v3 over IPv4 only).
func (cs Checksum) sum(v Version, b []byte, src, dst netip.Addr) (uint16, error) {
	if cs.NoPseudoHeader {
		return checksumFor(Version2, b, netip.IPv4Unspecified(), netip.IPv4Unspecified())
	}
	if cs.PseudoDst.IsValid() {
		dst = cs.PseudoDst
	}
	return checksumFor(v, b, src, dst)
}

// startupDelay is how long Run waits before starting the instances:
// vrrp_startup_delay, or longer while the system has been up less than
// vrrp_delay_after_boot (keepalived takes the longer of the two).
func startupDelay(startup, afterBoot, uptime time.Duration) time.Duration {
	return max(startup, afterBoot-uptime, 0)
}

// systemUptime is how long the system has been up (sysinfo(2)); zero
// when unknown, which makes vrrp_delay_after_boot wait its whole length.
func systemUptime() time.Duration {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return time.Duration(si.Uptime) * time.Second
}

// promoteSecondaries sets promote_secondaries on ifname (in the node's
// namespace) if it is not set yet, remembering the old value for
// restorePromoted.
func (n *Node) promoteSecondaries(ifname string) {
	if _, done := n.promoted[ifname]; done {
		return
	}
	path := sysctlPath("ipv4", ifname, "promote_secondaries")
	err := n.inNamespace(func() error {
		old, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("vrrp: read %s: %w", path, err)
		}
		if v := strings.TrimSpace(string(old)); v != "0" {
			n.promoted[ifname] = ""
			return nil
		}
		if err := writeSysctl(path, "1"); err != nil {
			return err
		}
		n.promoted[ifname] = "0"
		return nil
	})
	if err != nil {
		n.log.Warn("cannot set promote_secondaries", "interface", ifname, "err", err)
	}
}

// restorePromoted gives back the promote_secondaries values Run changed.
func (n *Node) restorePromoted() {
	for ifname, old := range n.promoted {
		if old == "" {
			continue
		}
		if err := n.inNamespace(func() error { return writeSysctl(sysctlPath("ipv4", ifname, "promote_secondaries"), old) }); err != nil &&
			!errors.Is(err, os.ErrNotExist) {
			n.log.Warn("cannot restore promote_secondaries", "interface", ifname, "err", err)
		}
	}
	clear(n.promoted)
}

// keepalived's notify FIFO events of an instance that are not states.
const (
	// EventMasterRxLowerPri: a master received a lower-priority advert.
	EventMasterRxLowerPri = "MASTER_RX_LOWER_PRI"
	// EventMasterPriority: a master's effective priority changed.
	EventMasterPriority = "MASTER_PRIORITY"
	// EventBackupPriority: a non-master's effective priority changed.
	EventBackupPriority = "BACKUP_PRIORITY"
)

// priorityChanged logs in's new effective priority (keepalived's
// "Changing effective priority") and, with notify_priority_changes,
// reports it by the state before the change.
func (n *Node) priorityChanged(in *instance, before Machine) {
	n.log.Info(fmt.Sprintf("(%s) Changing effective priority from %d to %d", in.cfg.Name, before.EffectivePriority, in.m.EffectivePriority),
		"instance", in.cfg.Name)
	if !in.cfg.Protocol.NotifyPriorityChanges || n.opts.OnEvent == nil {
		return
	}
	ev := EventBackupPriority
	if before.State == StateMaster {
		ev = EventMasterPriority
	}
	n.opts.OnEvent(in.cfg.Name, ev, in.m.EffectivePriority)
}

// unknownVRID logs (log_unknown_vrids) an advert for vrid that in's socket
// received and no instance on the same interface and family has. Every
// such instance's socket gets the advert: the first one logs it.
func (n *Node) unknownVRID(in *instance, vrid uint8, src netip.Addr) {
	ifname, v6 := in.cfg.transportInterface(), in.cfg.IPv6()
	first := true
	for _, o := range n.insts {
		if o.cfg.transportInterface() != ifname || o.cfg.IPv6() != v6 {
			continue
		}
		if o.cfg.VRID == vrid {
			return
		}
		if first && o != in {
			return // another instance's socket reports it
		}
		first = false
	}
	w := in.warnings["unknown_vrid"]
	if w == nil {
		w = &warnLimiter{}
		in.warnings["unknown_vrid"] = w
	}
	if ok, _ := w.allow(time.Now()); !ok {
		return
	}
	n.log.Info(fmt.Sprintf("Unknown VRID(%d) received on interface(%s) from %v. ignoring...", vrid, ifname, src), "interface", ifname, "vrid", vrid)
}

// TimerExpired reports whether a MASTER with timer_expired_backup (and
// nopreempt) must give up at now instead of advertising: its last advert
// (an advert interval before TimerAt) is at least 3 × advert_int plus the
// skew time of the highest other priority old, so a router of that
// priority may have taken over meanwhile (keepalived's
// vrrp_thread_timeout_handler). It does not allocate.
func (m Machine) TimerExpired(now time.Time) bool {
	p := m.Params
	if m.State != StateMaster || p.TimerExpiredBackup == 0 || p.Preempt || m.TimerAt.IsZero() {
		return false
	}
	lastSent := m.TimerAt.Add(-p.AdvertInterval)
	return now.Sub(lastSent) >= MasterDownInterval(p.Version, p.AdvertInterval, p.TimerExpiredBackup)
}

// detectOldChecksum reports whether in looks for keepalived's old unicast
// checksum form in adverts that fail the standard one: a unicast VRRPv3
// IPv4 instance still sending the standard form, without
// old_unicast_checksum never (nor v3_checksum_as_v2).
func (in *instance) detectOldChecksum() bool {
	c := in.cfg
	return len(c.UnicastPeers) > 0 && c.Version == Version3 && !c.IPv6() && in.checksum == (Checksum{}) && !c.Protocol.OldUnicastChecksumNever
}
