package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// VRRPProtocol are keepalived's VRRP protocol tunables of an instance;
// GlobalDefs.VRRPProtocol holds the vrrp_ prefixed global forms, which are
// every instance's defaults.
type VRRPProtocol struct {
	// HigherPrioSendAdvert is higher_prio_send_advert (global
	// vrrp_higher_prio_send_advert); nil when not written.
	HigherPrioSendAdvert *bool `json:"higher_prio_send_advert,omitempty"`
	// LowerPrioNoAdvert is lower_prio_no_advert (global
	// vrrp_lower_prio_no_advert); nil when not written (strict mode then
	// turns it on, as keepalived does).
	LowerPrioNoAdvert *bool `json:"lower_prio_no_advert,omitempty"`
	// DownTimerAdverts is down_timer_adverts (global vrrp_down_timer_adverts),
	// 1-100; zero when not written (3).
	DownTimerAdverts int `json:"down_timer_adverts,omitempty"`
	// SkipCheckAdvAddr is skip_check_adv_addr (global vrrp_skip_check_adv_addr).
	SkipCheckAdvAddr bool `json:"skip_check_adv_addr,omitempty"`
	// V3ChecksumAsV2 is v3_checksum_as_v2 (instance and global).
	V3ChecksumAsV2 bool `json:"v3_checksum_as_v2,omitempty"`
	// UnicastTTL is unicast_ttl, 1-255; zero when not written (255).
	UnicastTTL int `json:"unicast_ttl,omitempty"`
	// OldUnicastChecksum is old_unicast_checksum (without "never").
	OldUnicastChecksum bool `json:"old_unicast_checksum,omitempty"`
	// OldUnicastChecksumNever is old_unicast_checksum never: no automatic
	// detection of a peer's old checksum form.
	OldUnicastChecksumNever bool `json:"old_unicast_checksum_never,omitempty"`
	// PromoteSecondaries is promote_secondaries: the interface's sysctl is
	// set while the instance runs.
	PromoteSecondaries bool `json:"promote_secondaries,omitempty"`
	// TimerExpiredBackup is timer_expired_backup [PRIO]: the highest
	// priority of the other routers (1-254, default 254); zero when not
	// written. It needs nopreempt (reset with a warning otherwise).
	TimerExpiredBackup int `json:"timer_expired_backup,omitempty"`
	// NoVirtualIPAddress is no_virtual_ipaddress: the instance may have no
	// virtual_ipaddress (it then announces none; IPv4 only in drlb).
	NoVirtualIPAddress bool `json:"no_virtual_ipaddress,omitempty"`
	// TrackSrcIP is track_src_ip: FAULT while the configured unicast_src_ip
	// or mcast_src_ip is not an address of the interface.
	TrackSrcIP bool `json:"track_src_ip,omitempty"`
	// UnicastFaultNoPeer is unicast_fault_no_peer as written.
	UnicastFaultNoPeer bool `json:"unicast_fault_no_peer,omitempty"`
	// NoPeerFault is resolved after the file is read: a unicast keyword
	// (unicast_peer, unicast_src_ip, check_unicast_src,
	// old_unicast_checksum, unicast_fault_no_peer) without any peer, with
	// unicast_fault_no_peer: the instance stays in FAULT, as keepalived's
	// does. Without unicast_fault_no_peer it runs multicast.
	NoPeerFault bool `json:"no_peer_fault,omitempty"`
	// KernelRxBufSize is kernel_rx_buf_size in bytes; zero when not written.
	KernelRxBufSize int `json:"kernel_rx_buf_size,omitempty"`
	// NotifyMasterRxLowerPri is notify_master_rx_lower_pri's script.
	NotifyMasterRxLowerPri string `json:"notify_master_rx_lower_pri,omitempty"`
	// NotifyPriorityChanges is notify_priority_changes (global
	// vrrp_notify_priority_changes): notify FIFO lines MASTER_PRIORITY /
	// BACKUP_PRIORITY when the effective priority changes. An instance's
	// is nil unless it writes it (its sync group's, then the global one
	// apply: see EffectiveNotifyPriorityChanges).
	NotifyPriorityChanges *bool `json:"notify_priority_changes,omitempty"`
	// McastDstIP is mcast_dst_ip: the instance's multicast group instead
	// of vrrp_mcast_group4/6; zero when not written.
	McastDstIP netip.Addr `json:"mcast_dst_ip,omitzero"`
}

// RxBufsPolicy is global_defs vrrp_rx_bufs_policy: how the receive buffer
// of the VRRP sockets is sized.
type RxBufsPolicy struct {
	// Kind is "" (system default), "MTU", "ADVERT" or "SIZE".
	Kind string `json:"kind,omitempty"`
	// Size is the number given (Kind SIZE), in bytes.
	Size int `json:"size,omitempty"`
	// Multiplier is vrrp_rx_bufs_multiplier (default 3) for MTU and ADVERT.
	Multiplier int `json:"multiplier,omitempty"`
}

// DefaultRxBufsMultiplier is keepalived's vrrp_rx_bufs_multiplier default.
const DefaultRxBufsMultiplier = 3

// RxBufSize is the SO_RCVBUF of an instance's socket: kernel_rx_buf_size
// when written, else what the policy gives for an interface of mtu bytes
// and an advert of advertLen bytes (keepalived adds up the instances that
// share a socket; drlb has one socket per instance). Zero means the system
// default.
func RxBufSize(in *VRRPInstance, policy RxBufsPolicy, mtu, advertLen int) int {
	if in.Protocol.KernelRxBufSize > 0 {
		return in.Protocol.KernelRxBufSize
	}
	mult := policy.Multiplier
	if mult <= 0 {
		mult = DefaultRxBufsMultiplier
	}
	switch policy.Kind {
	case "MTU":
		return mtu * mult
	case "ADVERT":
		return advertLen * mult
	case "SIZE":
		return policy.Size
	}
	return 0
}

// vrrpProtocol parses the protocol keywords of an instance (kw is the
// keyword, owner the block for script references) or, without their vrrp_
// prefix, of global_defs (owner ""); it reports whether kw was one of them.
func (p *parser) vrrpProtocol(n *node, kw string, o *VRRPProtocol, owner string) bool {
	boolp := func(dst **bool) {
		v := true
		p.flag(n, &v)
		*dst = &v
	}
	switch kw {
	case "higher_prio_send_advert":
		boolp(&o.HigherPrioSendAdvert)
	case "lower_prio_no_advert":
		boolp(&o.LowerPrioNoAdvert)
	case "down_timer_adverts":
		p.intv(n, 1, 100, &o.DownTimerAdverts)
	case "skip_check_adv_addr":
		p.flag(n, &o.SkipCheckAdvAddr)
	case "v3_checksum_as_v2":
		p.flag(n, &o.V3ChecksumAsV2)
	case "notify_priority_changes":
		v := true
		p.flag(n, &v)
		o.NotifyPriorityChanges = &v
	default:
		if owner == "" {
			return false
		}
		return p.instanceProtocol(n, kw, o, owner)
	}
	return true
}

// instanceProtocol parses the protocol keywords only an instance has.
func (p *parser) instanceProtocol(n *node, kw string, o *VRRPProtocol, owner string) bool {
	switch kw {
	case "unicast_ttl":
		// keepalived takes 0..255; a TTL of 0 cannot be sent (the kernel
		// refuses it), so drlb refuses it here.
		p.intv(n, 1, 255, &o.UnicastTTL)
	case "old_unicast_checksum":
		if !p.valueOnly(n) {
			return true
		}
		o.OldUnicastChecksum = true
		if len(n.args) > 0 {
			o.OldUnicastChecksum = false
			if n.args[0].text != "never" {
				p.errAt(n.args[0].pos, "old_unicast_checksum takes no value but never")
				return true
			}
			// never: the standard form, and no automatic detection.
			o.OldUnicastChecksumNever = true
		}
	case "timer_expired_backup":
		if !p.valueOnly(n) {
			return true
		}
		o.TimerExpiredBackup = 254
		if len(n.args) > 0 {
			v, ok := p.intTok("timer_expired_backup", n.args[0], 1, 254)
			if !ok {
				o.TimerExpiredBackup = 0
				return true
			}
			o.TimerExpiredBackup = v
		}
	case "no_virtual_ipaddress":
		p.flag(n, &o.NoVirtualIPAddress)
	case "track_src_ip":
		p.flag(n, &o.TrackSrcIP)
	case "unicast_fault_no_peer":
		p.flag(n, &o.UnicastFaultNoPeer)
	case "promote_secondaries":
		p.flag(n, &o.PromoteSecondaries)
	case "kernel_rx_buf_size":
		p.intv(n, 1, 1<<30, &o.KernelRxBufSize)
	case "notify_master_rx_lower_pri":
		if v, ok := p.script(n, owner); ok {
			o.NotifyMasterRxLowerPri = v
		}
	case "mcast_dst_ip":
		var a netip.Addr
		if p.addr(n, &a) {
			switch {
			case !a.IsMulticast() || a.Is4In6():
				p.errAt(n.args[0].pos, "mcast_dst_ip %s is not a multicast address", a)
			case a.Is6() && !a.IsLinkLocalMulticast():
				p.errAt(n.args[0].pos, "mcast_dst_ip %s: an IPv6 group must be link-local (ffX2::), as keepalived requires", a)
			default:
				o.McastDstIP = a
			}
		}
	default:
		return false
	}
	return true
}

// vrrpGlobalKnob parses the global_defs keywords of the VRRP engine's
// start and sockets (vrrp_startup_delay, vrrp_delay_after_boot,
// vrrp_rx_bufs_policy, vrrp_rx_bufs_multiplier, vrrp_min_garp,
// default_interface) and the vrrp_ forms of the protocol tunables; it
// reports whether n was one of them.
func (p *parser) vrrpGlobalKnob(n *node, g *GlobalDefs) bool {
	kw := n.key.text
	if kw == "v3_checksum_as_v2" {
		return p.vrrpProtocol(n, kw, &g.VRRPProtocol, "")
	}
	if rest, ok := strings.CutPrefix(kw, "vrrp_"); ok && p.vrrpProtocol(n, rest, &g.VRRPProtocol, "") {
		return true
	}
	switch kw {
	case "log_unknown_vrids":
		p.flag(n, &g.LogUnknownVRIDs)
	case "vrrp_startup_delay":
		p.dur(n, 0, time.Hour, &g.VRRPStartupDelay)
	case "vrrp_delay_after_boot":
		p.dur(n, 0, 24*time.Hour, &g.VRRPDelayAfterBoot)
	case "vrrp_rx_bufs_policy":
		if !p.valueOnly(n) {
			return true
		}
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "vrrp_rx_bufs_policy needs MTU, ADVERT or a size in bytes")
			return true
		}
		t := n.args[0]
		switch strings.ToUpper(t.text) {
		case "MTU", "ADVERT":
			g.VRRPRxBufs.Kind = strings.ToUpper(t.text)
		default:
			v, err := strconv.Atoi(t.text)
			if err != nil || v < 1 || v > 1<<30 {
				p.errAt(t.pos, "vrrp_rx_bufs_policy %q: must be MTU, ADVERT or a size in bytes (1..%d)", t.text, 1<<30)
				return true
			}
			g.VRRPRxBufs.Kind, g.VRRPRxBufs.Size = "SIZE", v
		}
		if len(n.args) > 1 {
			p.warnAt(n.args[1].pos, "vrrp_rx_bufs_policy takes one value; extra %q ignored", n.args[1].text)
		}
	case "vrrp_rx_bufs_multiplier":
		p.intv(n, 1, 1<<20, &g.VRRPRxBufs.Multiplier)
	case "vrrp_min_garp":
		on := true
		p.flag(n, &on)
		if !on {
			return true
		}
		// keepalived: one ARP/NA, no second burst, no refresh, without
		// overriding a value set before it.
		def := defaultGarp()
		if g.VRRPGarp.MasterRepeat == def.MasterRepeat {
			g.VRRPGarp.MasterRepeat = 1
		}
		if g.VRRPGarp.MasterDelay == def.MasterDelay {
			g.VRRPGarp.MasterDelay = 0
		}
		if g.VRRPGarp.MasterRefresh == def.MasterRefresh {
			g.VRRPGarp.MasterRefresh = 0
		}
		if g.VRRPGarp.MasterRefreshRepeat == def.MasterRefreshRepeat {
			g.VRRPGarp.MasterRefreshRepeat = 0
		}
	case "default_interface":
		if t, ok := p.one(n); ok {
			if !validIfName(t.text) || len(t.text) > 15 {
				p.errAt(t.pos, "default_interface %q is not a valid interface name", t.text)
			} else {
				g.DefaultInterface = t.text
			}
		}
	default:
		return false
	}
	return true
}

// applyProtocol resolves an instance's protocol tunables after the file is
// read, as keepalived's vrrp_complete_instance does: strict mode turns
// lower_prio_no_advert on and refuses higher_prio_send_advert and a
// down_timer_adverts other than 3 (warnings, values reset).
func (p *parser) applyProtocol(in *VRRPInstance, m modeMeta) {
	o := &in.Protocol
	unicastWritten := m.peerPos.line != 0 || in.UnicastSrcIP.IsValid() || in.CheckUnicastSrc || o.OldUnicastChecksum || o.UnicastFaultNoPeer
	// Without unicast_fault_no_peer such an instance runs multicast, as
	// keepalived up to 2.2.4 did (it now also warns; drlb keeps quiet so
	// that existing files check clean).
	if src := in.UnicastSrcIP; o.TrackSrcIP && (src.IsValid() || in.McastSrcIP.IsValid()) {
		if !src.IsValid() {
			src = in.McastSrcIP
		}
		if src.Is6() && !src.IsLinkLocalUnicast() {
			p.warnAt(in.Pos, "vrrp_instance %s: track_src_ip with the global IPv6 source %s is not supported yet (drlb tracks IPv4 and link-local sources); ignored", in.Name, src)
			o.TrackSrcIP = false
		}
	}
	if o.TimerExpiredBackup != 0 && !in.NoPreempt {
		p.warnAt(in.Pos, "vrrp_instance %s: timer_expired_backup requires nopreempt; reset (as keepalived does)", in.Name)
		o.TimerExpiredBackup = 0
	}
	if unicastWritten && len(in.UnicastPeers) == 0 && o.UnicastFaultNoPeer {
		o.NoPeerFault = true
		p.warnAt(in.Pos, "vrrp_instance %s: unicast without any unicast_peer: the instance stays in FAULT (unicast_fault_no_peer)", in.Name)
	}
	v6 := len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6()
	if a := o.McastDstIP; a.IsValid() && a.Is6() != v6 {
		p.errAt(in.Pos, "vrrp_instance %s: mcast_dst_ip %s is not of the instance's address family (%s)", in.Name, a,
			map[bool]string{false: "IPv4", true: "IPv6"}[v6])
	}
	if !in.StrictMode {
		return
	}
	on, off := true, false
	if o.LowerPrioNoAdvert != nil && !*o.LowerPrioNoAdvert {
		p.warnAt(in.Pos, "vrrp_instance %s: strict mode requires lower_prio_no_advert; set (as keepalived does)", in.Name)
	}
	o.LowerPrioNoAdvert = &on
	if o.HigherPrioSendAdvert != nil && *o.HigherPrioSendAdvert {
		p.warnAt(in.Pos, "vrrp_instance %s: strict mode requires higher_prio_send_advert to be clear; cleared (as keepalived does)", in.Name)
	}
	o.HigherPrioSendAdvert = &off
	if o.DownTimerAdverts != 0 && o.DownTimerAdverts != 3 {
		p.warnAt(in.Pos, "vrrp_instance %s: down_timer_adverts is incompatible with strict mode; reset to 3 (as keepalived does)", in.Name)
		o.DownTimerAdverts = 0
	}
}

// EffectiveNotifyPriorityChanges is whether instance name sends priority
// notifications: its own notify_priority_changes, else its sync group's,
// else global_defs vrrp_notify_priority_changes (keepalived's order).
func (c *Config) EffectiveNotifyPriorityChanges(in *VRRPInstance) bool {
	if v := in.Protocol.NotifyPriorityChanges; v != nil {
		return *v
	}
	for _, g := range c.SyncGroups {
		for _, m := range g.Group {
			if m == in.Name && g.NotifyPriorityChanges != nil {
				return *g.NotifyPriorityChanges
			}
		}
	}
	v := c.Global.VRRPProtocol.NotifyPriorityChanges
	return v != nil && *v
}

// noVIPsAllowed reports whether in may run without virtual_ipaddress:
// with no_virtual_ipaddress, not in strict mode (keepalived's strict mode
// refuses an instance without VIPs) and over IPv4 (drlb takes an
// instance's family from its first address; an IPv6 one without any is
// not supported yet). It reports what it refuses, and false then.
func (p *parser) noVIPsAllowed(in *VRRPInstance) bool {
	if !in.Protocol.NoVirtualIPAddress {
		p.errAt(in.Pos, "vrrp_instance %s has no virtual_ipaddress: drlb needs at least one address to announce (or no_virtual_ipaddress)", in.Name)
		return false
	}
	if in.StrictMode {
		p.errAt(in.Pos, "vrrp_instance %s: strict mode does not allow an instance without virtual_ipaddress (as keepalived)", in.Name)
		return false
	}
	v6 := in.UnicastSrcIP.Is6() || in.McastSrcIP.Is6()
	for _, a := range in.UnicastPeers {
		v6 = v6 || a.Is6()
	}
	if v6 {
		p.errAt(in.Pos, "vrrp_instance %s: no_virtual_ipaddress with IPv6 is not supported yet (drlb takes the family from the first virtual_ipaddress); add an address", in.Name)
		return false
	}
	return true
}
