package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Defaults applied by NewNode to zero fields (keepalived's defaults).
const (
	DefaultPriority        = 100
	DefaultAdvertInterval  = time.Second
	DefaultGARPRepeat      = 5
	DefaultGARPMasterDelay = 5 * time.Second
	DefaultTrackInterval   = time.Second
	// DefaultLinkPollInterval is how often interfaces are polled when their
	// state comes from injected functions (Options.LinkUp or
	// Options.Interface) or netlink notifications are unavailable.
	DefaultLinkPollInterval = 200 * time.Millisecond
)

// InstanceConfig is one vrrp_instance. Zero fields take keepalived's
// defaults (see NewNode).
type InstanceConfig struct {
	// Name is the instance name (VI_1), used in logs, notify and Status.
	Name string
	// Interface carries the adverts and, by default, the virtual addresses.
	Interface string
	// VRID is virtual_router_id, 1-255.
	VRID uint8
	// Version is vrrp_version: 2 or 3. Zero means 2 for an IPv4 instance
	// and 3 for an IPv6 one, as keepalived; version 2 over IPv6 is
	// keepalived's own extension (no authentication, the IPv6 checksum).
	Version Version
	// Priority is 1-255 (default 100); 255 is the address owner.
	Priority uint8
	// AdvertInterval is advert_int (default 1 s); whole seconds in v2,
	// centiseconds in v3.
	AdvertInterval time.Duration
	// WantMaster is "state MASTER" (the start state is otherwise BACKUP).
	WantMaster bool
	// NoPreempt is nopreempt.
	NoPreempt bool
	// PreemptDelay is preempt_delay.
	PreemptDelay time.Duration
	// AuthType and AuthPass are the authentication block (v2 only; PASS
	// uses the first 8 bytes of AuthPass).
	AuthType AuthType
	AuthPass string
	// SourceIP is unicast_src_ip or mcast_src_ip; zero means the primary
	// IPv4 address of Interface, or for an IPv6 instance its link-local
	// address.
	SourceIP netip.Addr
	// UnicastPeers are unicast_peer addresses, of the instance's family;
	// empty means multicast (MulticastGroup).
	UnicastPeers []netip.Addr
	// AuthHMAC is keepalived's auth_hmac block (HMAC-SHA256 trailer with
	// anti-replay, v2 and v3); nil for none. It excludes AuthType PASS.
	AuthHMAC *HMACConfig
	// AcceptFrom is drlb_accept_from: when set, adverts are accepted only
	// from these sources and UnicastPeers, with multicast too.
	AcceptFrom []netip.Addr
	// VIPs are the virtual_ipaddress entries (carried in adverts), all of
	// one family: the first one's makes the instance IPv4 or IPv6.
	VIPs []VIP
	// ExcludedVIPs are virtual_ipaddress_excluded: added and removed with
	// VIPs but not carried in adverts; they may be of either family.
	ExcludedVIPs []VIP
	// MulticastGroup is vrrp_mcast_group4, or vrrp_mcast_group6 for an
	// IPv6 instance; zero means 224.0.0.18 or ff02::12 (defaults applied,
	// it is the group the instance uses).
	MulticastGroup netip.Addr
	// DontTrackPrimary is dont_track_primary: Interface going down does not
	// put the instance in FAULT.
	DontTrackPrimary bool
	// TrackInterfaces are track_interface entries. Interface itself is
	// always tracked (down means FAULT), as keepalived does.
	TrackInterfaces []TrackInterface
	// TrackScripts are the vrrp_script blocks named in track_script.
	TrackScripts []TrackScript
	// TrackFiles are the track_file blocks named in track_file (see track.go).
	TrackFiles []TrackFile
	// TrackProcesses are the vrrp_track_process blocks named in track_process.
	TrackProcesses []TrackProcess
	// Notify are the notify scripts.
	Notify NotifyScripts
	// GARP is the gratuitous ARP schedule (zero fields: 5 ARPs, 5 more after
	// 5 s). Unsolicited neighbour advertisements for IPv6 addresses follow
	// it too (keepalived's garp_master_* settings cover both), with
	// GNAInterval as their gap.
	GARP GARPSchedule
	// VMAC is use_vmac's interface name; empty means no VMAC. The node
	// creates a macvlan of that name on Interface with the virtual MAC
	// 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for an IPv6 instance
	// (private mode; see ensureVMAC), sends and receives adverts on
	// it (unless VMACXmitBase) and removes it when the instance stops.
	// VIPs that should live on it name it as their Interface.
	VMAC string
	// VMACXmitBase is vmac_xmit_base: adverts use Interface, not the VMAC.
	VMACXmitBase bool
	// AddressVMACs are the VMACs of addresses on other interfaces, or of
	// the other family (use_vmac_addr, the address option use_vmac): the
	// node creates them with the VMAC (IPv6 ones get their base's
	// link-local address) and removes them with it. VIPs name them as
	// their Interface.
	AddressVMACs []AddressVMAC
	// Strict is strict mode (vrrp_strict / strict_mode): adverts whose
	// address list differs from VIPs are dropped.
	Strict bool
	// Routes are virtual_routes: added after the VIPs on becoming MASTER,
	// removed when leaving it (keepalived's behaviour).
	Routes []Route
	// Rules are virtual_rules, added and removed with Routes.
	Rules []Rule
	// GNAInterval is gna_interval (vrrp_gna_interval): the gap between the
	// unsolicited neighbour advertisements of a burst (default 0).
	GNAInterval time.Duration
	// Protocol are keepalived's protocol tunables (higher_prio_send_advert,
	// down_timer_adverts, unicast_ttl, …; see ProtocolOptions).
	Protocol ProtocolOptions
}

// AddressVMAC is a VMAC for addresses: the macvlan Name on Base with the
// virtual MAC of the instance's VRID for IPv4, or IPv6 when V6.
type AddressVMAC struct {
	Name, Base string
	V6         bool
}

// transportInterface is where adverts are sent and received: the VMAC,
// unless vmac_xmit_base, else the instance's interface (keepalived's
// vrrp->ifp).
func (c InstanceConfig) transportInterface() string {
	if c.VMAC != "" && !c.VMACXmitBase {
		return c.VMAC
	}
	return c.Interface
}

// TrackInterface is a track_interface entry.
type TrackInterface struct {
	// Name is the interface name.
	Name string
	// Weight is added to the priority while the interface is up (weight > 0)
	// or down (weight < 0); 0 means down puts the instance in FAULT.
	Weight int
	// Reverse inverts the weight's effect (see TrackEffect).
	Reverse bool
}

// TrackScript is a vrrp_script block as used by an instance's track_script.
type TrackScript struct {
	// Name is the vrrp_script name.
	Name string
	// Script is the command line.
	Script string
	// Interval between runs (default 1 s).
	Interval time.Duration
	// Timeout of one run (default Interval).
	Timeout time.Duration
	// Weight is added while succeeding (weight > 0) or failing (weight < 0);
	// 0 means failing puts the instance in FAULT.
	Weight int
	// Reverse inverts the weight's effect (see TrackEffect).
	Reverse bool
	// Rise and Fall are how many consecutive results change the status (default 1).
	Rise, Fall int
	// InitFail is init_fail: the script counts as failing until it succeeds.
	InitFail bool
}

// SyncGroupConfig is a vrrp_sync_group: its instances move together.
type SyncGroupConfig struct {
	// Name is the group name.
	Name string
	// Instances are the member instance names.
	Instances []string
	// Notify are the group's notify scripts (kind GROUP).
	Notify NotifyScripts
}

// Config is everything a Node runs.
type Config struct {
	// Instances are the vrrp_instance blocks.
	Instances []InstanceConfig
	// SyncGroups are the vrrp_sync_group blocks.
	SyncGroups []SyncGroupConfig
	// ScriptTimeout bounds notify scripts (default DefaultScriptTimeout).
	ScriptTimeout time.Duration
	// DynamicInterfaces is keepalived's global dynamic_interfaces: an
	// instance whose interface does not exist yet starts in FAULT (instead
	// of Run failing) and recovers when the interface appears.
	DynamicInterfaces bool
	// AcceptServices are the virtual services (address, protocol, port):
	// traffic to them is accepted even to a VIP without accept mode, so
	// that the IPVS data plane, which sees it after the input hook, still
	// gets it.
	AcceptServices []ServicePort
	// StaticAddresses, StaticRoutes and StaticRules are static_ipaddress,
	// static_routes and static_rules: added when Run starts whatever the
	// VRRP state, kept in line by Update, removed when Run ends.
	StaticAddresses []VIP
	StaticRoutes    []Route
	StaticRules     []Rule
	// RecoveryHold bounds how long an instance that regained its interface
	// holds preemption while waiting for Options.ServicesChecked (zero: no
	// hold). It is a drlb extension with the role of keepalived's
	// preempt_delay, applied only after a link or address comes back.
	RecoveryHold time.Duration
	// Thread is how Run's OS thread (timers, adverts, state machines) is
	// scheduled: vrrp_rt_priority, vrrp_priority, vrrp_cpu_affinity,
	// vrrp_rlimit_rttime, vrrp_no_swap. The zero value changes nothing;
	// the daemon's default is DefaultRTPriority and DefaultRLimitRTTime.
	Thread ThreadConfig
	// StartupDelay is vrrp_startup_delay: Run opens the sockets at once but
	// starts the instances (INIT until then, no adverts sent or obeyed)
	// only after it.
	StartupDelay time.Duration
	// LogUnknownVRIDs is log_unknown_vrids: an advert for a VRID that no
	// instance on the receiving interface has is logged (rate-limited per
	// VRID), as keepalived's "Unknown VRID(N) received on interface(IF)".
	LogUnknownVRIDs bool
	// DelayAfterBoot is vrrp_delay_after_boot: the instances start no
	// earlier than this long after the system booted (the longer of the two
	// delays wins, as in keepalived).
	DelayAfterBoot time.Duration
}

// ErrConfig is wrapped by every configuration error NewNode returns.
var ErrConfig = errors.New("vrrp: invalid configuration")

// withDefaults returns c with keepalived's defaults filled in, or an error.
func (c InstanceConfig) withDefaults() (InstanceConfig, error) {
	bad := func(format string, a ...any) (InstanceConfig, error) {
		return c, fmt.Errorf("%w: instance %q: %s", ErrConfig, c.Name, fmt.Sprintf(format, a...))
	}
	if c.Name == "" {
		return bad("no name")
	}
	if c.Interface == "" {
		return bad("no interface")
	}
	if c.VRID == 0 {
		return bad("virtual_router_id must be 1-255")
	}
	v6 := c.IPv6()
	if c.Version == 0 {
		// keepalived: an IPv6 instance is version 3 unless its own
		// "version" says otherwise; global vrrp_version does not apply.
		c.Version = Version2
		if v6 {
			c.Version = Version3
		}
	}
	if c.Version != Version2 && c.Version != Version3 {
		return bad("vrrp_version %d (want 2 or 3)", c.Version)
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = DefaultAdvertInterval
	}
	if d := c.Protocol.DownTimerAdverts; d < 0 || d > MaxDownTimerAdverts {
		return bad("down_timer_adverts %d (want 1-%d)", d, MaxDownTimerAdverts)
	}
	if c.Protocol.RxBufSize < 0 {
		return bad("receive buffer size %d is negative", c.Protocol.RxBufSize)
	}
	if s := c.Protocol.NotifyMasterRxLowerPri; s != "" {
		if _, err := SplitCommand(s); err != nil {
			return bad("notify_master_rx_lower_pri: %v", err)
		}
	}
	if _, err := Marshal(Advertisement{Version: c.Version, AdvertInterval: c.AdvertInterval}, netip.IPv4Unspecified(), MulticastIPv4); err != nil {
		return bad("advert_int %v: %v", c.AdvertInterval, err)
	}
	if c.Version == Version3 && c.AuthType != AuthNone {
		return bad("authentication is not part of VRRPv3")
	}
	if v6 && c.AuthType != AuthNone {
		return bad("authentication is not carried by VRRPv2 over IPv6 (keepalived sends no authentication data there)")
	}
	if c.AuthType != AuthNone && c.AuthType != AuthPass {
		return bad("auth_type %v not supported (PASS only)", c.AuthType)
	}
	if h := c.AuthHMAC; h != nil {
		if c.AuthType != AuthNone {
			return bad("auth_hmac cannot be combined with authentication")
		}
		if _, ok := h.Keys[h.ActiveKey]; !ok {
			return bad("auth_hmac active_key %d is not one of its keys", h.ActiveKey)
		}
		for id, k := range h.Keys {
			if id == 0 || len(k) < HMACKeyMin || len(k) > HMACKeyMax {
				return bad("auth_hmac key %d: id 1-255 and %d-%d bytes needed", id, HMACKeyMin, HMACKeyMax)
			}
		}
		hc := *h
		if hc.TimeWindow == 0 {
			hc.TimeWindow = DefaultHMACWindow(c.AdvertInterval)
		}
		c.AuthHMAC = &hc
	}
	family := familyName(v6)
	if c.SourceIP.IsValid() && c.SourceIP.Is6() != v6 {
		return bad("source %v is not %s like the instance's virtual addresses", c.SourceIP, family)
	}
	for _, p := range c.UnicastPeers {
		if !p.IsValid() || p.Is6() != v6 {
			return bad("unicast_peer %v is not %s like the instance's virtual addresses", p, family)
		}
	}
	if len(c.VIPs) == 0 && !c.Protocol.NoVIPs {
		return bad("no virtual_ipaddress")
	}
	groupKeyword := mcastGroupKeyword(v6)
	if c.MulticastGroup.IsValid() && (!c.MulticastGroup.IsMulticast() || c.MulticastGroup.Is6() != v6) {
		return bad("%s %v is not an %s multicast address", groupKeyword, c.MulticastGroup, family)
	}
	if !c.MulticastGroup.IsValid() {
		c.MulticastGroup = MulticastIPv4
		if v6 {
			c.MulticastGroup = MulticastIPv6
		}
	}
	fill := func(in []VIP, anyFamily bool) ([]VIP, error) {
		out := make([]VIP, len(in))
		for i, v := range in {
			if !v.Prefix.IsValid() || v.Prefix.Addr().Is4In6() {
				return nil, fmt.Errorf("virtual_ipaddress %v: not an IPv4 or IPv6 prefix", v.Prefix)
			}
			if !anyFamily && v.Prefix.Addr().Is6() != v6 {
				return nil, fmt.Errorf("virtual_ipaddress %v: an instance's addresses are of one family (%s, as the first); use virtual_ipaddress_excluded or a second instance", v.Prefix, family)
			}
			if v.Interface == "" {
				v.Interface = c.Interface
			}
			out[i] = v
		}
		return out, nil
	}
	var err error
	if c.VIPs, err = fill(c.VIPs, false); err != nil {
		return bad("%v", err)
	}
	// keepalived allows excluded addresses of the other family.
	if c.ExcludedVIPs, err = fill(c.ExcludedVIPs, true); err != nil {
		return bad("%v", err)
	}
	if c.GARP.Repeat == 0 {
		c.GARP.Repeat = DefaultGARPRepeat
	}
	if c.GARP.Delay == 0 {
		c.GARP.Delay = DefaultGARPMasterDelay
	}
	scripts := make([]TrackScript, len(c.TrackScripts))
	for i, s := range c.TrackScripts {
		if _, err := SplitCommand(s.Script); err != nil {
			return bad("vrrp_script %q: %v", s.Name, err)
		}
		if s.Interval == 0 {
			s.Interval = DefaultTrackInterval
		}
		if s.Timeout == 0 {
			s.Timeout = s.Interval
		}
		s.Rise, s.Fall = max(s.Rise, 1), max(s.Fall, 1)
		scripts[i] = s
	}
	c.TrackScripts = scripts
	return c, nil
}

// IPv6 reports whether c is an IPv6 instance: its first virtual_ipaddress
// is IPv6 (keepalived takes the instance's family from its addresses). An
// IPv6 instance speaks VRRP over IPv6: ff02::12 or unicast IPv6 peers,
// from the interface's link-local address, hop limit 255.
func (c InstanceConfig) IPv6() bool {
	return len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6() && !c.VIPs[0].Prefix.Addr().Is4In6()
}

// sourceKind names the address an instance's adverts need, for logs.
func (c InstanceConfig) sourceKind() string {
	if c.IPv6() {
		return "IPv6 link-local address"
	}
	return "IPv4 address"
}
