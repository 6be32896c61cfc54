package config

import (
	"net/netip"
	"time"
)

// Position is where a configuration element starts in its source file.
// Line and Col are 1-based; Col counts Unicode code points, not bytes.
type Position struct {
	// File is the file name as given to Load/Parse or found by include.
	File string `json:"file"`
	// Line is the 1-based line number.
	Line int `json:"line"`
	// Col is the 1-based column in code points.
	Col int `json:"col,omitempty"`
}

// Config is a parsed keepalived.conf with keepalived's defaults filled in.
type Config struct {
	// Global holds global_defs.
	Global GlobalDefs `json:"global_defs"`
	// Scripts holds every vrrp_script block, in file order.
	Scripts []VRRPScript `json:"vrrp_scripts"`
	// ScriptRefs lists every script the configuration runs (notify scripts,
	// vrrp_script, MISC_CHECK), in file order, with where it is written.
	ScriptRefs []ScriptRef `json:"-"`
	// SyncGroups holds every vrrp_sync_group block, in file order.
	SyncGroups []VRRPSyncGroup `json:"vrrp_sync_groups"`
	// Instances holds every vrrp_instance block, in file order.
	Instances []VRRPInstance `json:"vrrp_instances"`
	// VirtualServers holds every virtual_server block, in file order; a
	// "virtual_server group NAME" block is one entry per member of the group.
	VirtualServers []VirtualServer `json:"virtual_servers"`
	// BGP is the drlb_bgp block (a drlb extension), nil without one.
	BGP *BGP `json:"drlb_bgp,omitempty"`
	// TrackFiles holds every track_file (vrrp_track_file) block, in file order.
	TrackFiles []TrackFile `json:"track_files,omitempty"`
	// TrackProcesses holds every vrrp_track_process block, in file order.
	TrackProcesses []TrackProcess `json:"track_processes,omitempty"`
	// SSL is the top-level SSL block (nil without one).
	SSL *SSLFiles `json:"ssl,omitempty"`
	// NetNamespace is net_namespace: drlb runs in the network namespace of
	// that name (/run/netns/NAME, as `ip netns add` creates it), as
	// keepalived does; drlb run and drlb check --host-checks enter it.
	NetNamespace string `json:"net_namespace,omitempty"`
	// ChildWaitTime is child_wait_time (1-1000 s; zero when not written:
	// the daemon's default, 10 s): how long a stopping drlb waits for its
	// VRRP child to send priority 0 and remove its VIPs before it kills it.
	ChildWaitTime time.Duration `json:"child_wait_time,omitempty"`
	// NetNamespaceIPVS is net_namespace_ipvs: nil when not written; else
	// the network namespace whose IPVS drlb programs (/run/netns/NAME), ""
	// meaning the default namespace (PID 1's), as keepalived reads a bare
	// net_namespace_ipvs. VRRP and the checkers stay in drlb's own.
	NetNamespaceIPVS *string `json:"net_namespace_ipvs,omitempty"`
	// GarpGroups are garp_group blocks: the gratuitous ARP interval of
	// instances on their interfaces.
	GarpGroups []GarpGroup `json:"garp_groups,omitempty"`
	// StaticAddresses are static_ipaddress lines: added at start whatever
	// the VRRP state, removed at stop (keepalived's "not moved by vrrpd").
	StaticAddresses []VirtualIP `json:"static_ipaddress,omitempty"`
	// StaticRoutes are static_routes, added after StaticAddresses.
	StaticRoutes []Route `json:"static_routes,omitempty"`
	// StaticRules are static_rules, added after StaticRoutes.
	StaticRules []Rule `json:"static_rules,omitempty"`
	// VirtualServerGroups holds every virtual_server_group block, in file order.
	VirtualServerGroups []VirtualServerGroup `json:"virtual_server_groups,omitempty"`
	// Files lists every file read (the main file first, then includes).
	Files []string `json:"files"`
}

// Empty reports whether the configuration holds nothing drlb acts on: no
// global_defs, vrrp_script, vrrp_sync_group, vrrp_instance or
// virtual_server block. An empty file, one of whitespace and comments
// only, or one of bytes that form no keyword (NULs left by a crash) is
// empty. keepalived runs such a file with nothing; drlb does too, warns,
// and refuses to reload into it unless told to (drlb reload --allow-empty).
func (c *Config) Empty() bool {
	return c.Global.Pos == (Position{}) && len(c.Scripts) == 0 && len(c.SyncGroups) == 0 &&
		len(c.Instances) == 0 && len(c.VirtualServers) == 0 &&
		len(c.StaticAddresses) == 0 && len(c.StaticRoutes) == 0 && len(c.StaticRules) == 0
}

// Dataplane selects how virtual servers are programmed into the kernel.
type Dataplane string

// Data plane choices for the drlb_dataplane extension keyword.
const (
	// DataplaneAuto picks IPVS when the kernel has it, nftables otherwise.
	DataplaneAuto Dataplane = "auto"
	// DataplaneIPVS forces IPVS.
	DataplaneIPVS Dataplane = "ipvs"
	// DataplaneNFT forces nftables.
	DataplaneNFT Dataplane = "nft"
)

// GlobalDefs is the global_defs block.
type GlobalDefs struct {
	// Pos is where the (first) block starts; zero when there is none.
	Pos Position `json:"pos"`
	// CheckerLogAllFailures is checker_log_all_failures: the default of
	// every checker's log_all_failures.
	CheckerLogAllFailures bool `json:"checker_log_all_failures,omitempty"`
	// RouterID identifies this machine (router_id, or keepalived 1.x's lvs_id).
	RouterID string `json:"router_id"`
	// VRRPVersion is vrrp_version, the default VRRP version for instances (default 2).
	VRRPVersion int `json:"vrrp_version"`
	// VRRPGarp holds the vrrp_garp_* defaults inherited by instances.
	VRRPGarp Garp `json:"vrrp_garp"`
	// VMACAddrPrefix is vmac_addr_prefix: the prefix of the names of
	// address VMACs (use_vmac_addr); "" means VMACPrefix's value.
	VMACAddrPrefix string `json:"vmac_addr_prefix,omitempty"`
	// VMACPrefix is vmac_prefix: the prefix of the VMAC names use_vmac
	// makes up, PREFIX.VRID ("" means VMACPrefix, "vrrp").
	VMACPrefix string `json:"vmac_prefix,omitempty"`
	// VRRPProtocol holds the vrrp_higher_prio_send_advert,
	// vrrp_lower_prio_no_advert, vrrp_down_timer_adverts,
	// vrrp_skip_check_adv_addr and v3_checksum_as_v2 defaults inherited by
	// instances.
	VRRPProtocol VRRPProtocol `json:"vrrp_protocol,omitzero"`
	// VRRPStartupDelay is vrrp_startup_delay.
	VRRPStartupDelay time.Duration `json:"vrrp_startup_delay,omitempty"`
	// LogUnknownVRIDs is log_unknown_vrids.
	LogUnknownVRIDs bool `json:"log_unknown_vrids,omitempty"`
	// VRRPDelayAfterBoot is vrrp_delay_after_boot.
	VRRPDelayAfterBoot time.Duration `json:"vrrp_delay_after_boot,omitempty"`
	// VRRPRxBufs is vrrp_rx_bufs_policy with vrrp_rx_bufs_multiplier.
	VRRPRxBufs RxBufsPolicy `json:"vrrp_rx_bufs,omitzero"`
	// DefaultInterface is default_interface: the interface of a
	// static_ipaddress without dev ("" when not written: drlb then wants a
	// dev, where keepalived would take eth0).
	DefaultInterface string `json:"default_interface,omitempty"`
	// VRRPMcastGroup4 is vrrp_mcast_group4 (default 224.0.0.18).
	VRRPMcastGroup4 netip.Addr `json:"vrrp_mcast_group4"`
	// VRRPStrict is vrrp_strict: every instance without strict_mode runs in
	// strict mode (see VRRPInstance.StrictMode).
	VRRPStrict bool `json:"vrrp_strict,omitempty"`
	// VRRPMcastGroup6 is vrrp_mcast_group6, the group of IPv6 instances
	// (default ff02::12).
	VRRPMcastGroup6 netip.Addr `json:"vrrp_mcast_group6"`
	// EnableScriptSecurity is enable_script_security.
	EnableScriptSecurity bool `json:"enable_script_security"`
	// ScriptUser is script_user (user and optional group, space separated).
	ScriptUser string `json:"script_user"`
	// DynamicInterfaces is dynamic_interfaces: a VRRP instance may name an
	// interface that does not exist yet (it stays in FAULT until it does).
	// allow_if_changes is accepted; drlb follows interfaces by name anyway.
	DynamicInterfaces bool `json:"dynamic_interfaces,omitempty"`
	// ProcessNames is process_names: the processes take keepalived's
	// default names, drlb's spelling (the parent drlb, the VRRP child
	// drlb_vrrp) where ProcessName or VRRPProcessName do not name them.
	ProcessNames bool `json:"process_names,omitempty"`
	// ProcessName is process_name: the parent's process name.
	ProcessName string `json:"process_name,omitempty"`
	// VRRPProcessName is vrrp_process_name: the VRRP child's process name.
	VRRPProcessName string `json:"vrrp_process_name,omitempty"`
	// Dataplane is the drlb_dataplane extension (default auto).
	Dataplane Dataplane `json:"drlb_dataplane"`
	// Notify holds the notify FIFOs and smtp_alert settings.
	Notify NotifyDefs `json:"notify"`
	// LVS holds lvs_sync_daemon, lvs_timeouts, lvs_flush, lvs_flush_on_stop.
	LVS LVSDefs `json:"lvs"`
	// Housekeeping holds start-up/shutdown scripts, umask, dump files and
	// other process housekeeping (globals.go).
	Housekeeping HousekeepingDefs `json:"housekeeping"`
	// VRRPProcess is vrrp_rt_priority, vrrp_priority, vrrp_cpu_affinity,
	// vrrp_rlimit_rttime and vrrp_no_swap (nil: none given).
	VRRPProcess *ProcessSched `json:"vrrp_process,omitempty"`
	// CheckerProcess is the checker_* equivalents (nil: none given).
	CheckerProcess *ProcessSched `json:"checker_process,omitempty"`
}

// ProcessSched is keepalived's scheduling of one of its processes; drlb
// applies the vrrp_* ones to its VRRP thread (see vrrp.ThreadConfig).
type ProcessSched struct {
	// RTPriority is *_rt_priority, 1-99 (SCHED_RR); drlb also takes 0
	// for no real-time scheduling. Nil: not given.
	RTPriority *int `json:"rt_priority,omitempty"`
	// Nice is *_priority, -20..19. Nil: not given.
	Nice *int `json:"priority,omitempty"`
	// CPUs is *_cpu_affinity: CPU numbers (ranges a-b expanded).
	CPUs []int `json:"cpu_affinity,omitempty"`
	// RLimitRTTime is *_rlimit_rttime (given in microseconds). Nil: not given.
	RLimitRTTime *time.Duration `json:"rlimit_rttime,omitempty"`
	// NoSwap is *_no_swap.
	NoSwap bool `json:"no_swap,omitempty"`
}

// Garp holds gratuitous ARP / unsolicited NA timing for a VRRP instance.
type Garp struct {
	// MasterDelay is the delay before the second burst after becoming master (default 5s).
	MasterDelay time.Duration `json:"master_delay"`
	// MasterRepeat is the number of gratuitous ARPs per burst (default 5).
	MasterRepeat int `json:"master_repeat"`
	// Interval is the delay between gratuitous ARPs on one interface (default 0).
	Interval time.Duration `json:"interval"`
	// LowerPrioDelay is garp_lower_prio_delay: the delay before the second
	// burst after a MASTER heard a lower-priority advert; nil means
	// MasterDelay (0 in strict mode).
	LowerPrioDelay *time.Duration `json:"lower_prio_delay,omitempty"`
	// LowerPrioRepeat is garp_lower_prio_repeat: ARPs per burst then; nil
	// means MasterRepeat (0, none, in strict mode).
	LowerPrioRepeat *int `json:"lower_prio_repeat,omitempty"`
	// MasterRefresh is garp_master_refresh: a MASTER repeats its
	// gratuitous ARPs this often (0: never).
	MasterRefresh time.Duration `json:"master_refresh,omitempty"`
	// MasterRefreshRepeat is garp_master_refresh_repeat: ARPs per refresh
	// (0 means 1).
	MasterRefreshRepeat int `json:"master_refresh_repeat,omitempty"`
	// NAInterval is gna_interval: the delay between unsolicited neighbour
	// advertisements on one interface (default 0).
	NAInterval time.Duration `json:"na_interval,omitempty"`
	// ExtraIf is garp_extra_if (vrrp_garp_extra_if; deprecated
	// vmac_garp_intvl, vrrp_vmac_garp_intvl): while MASTER, one
	// gratuitous ARP or unsolicited NA every ExtraIf, whole seconds, on
	// each VMAC of the instance that sends no adverts (vmac_xmit_base), so
	// that switches keep the virtual MAC (0: never).
	ExtraIf time.Duration `json:"extra_if,omitempty"`
	// ExtraIfAll is garp_extra_if's "all": also on every other interface
	// carrying a VIP that is not the one adverts use.
	ExtraIfAll bool `json:"extra_if_all,omitempty"`
}

// Notify holds notify scripts; empty strings mean "none". Each is a command
// line as written (keepalived runs it through a shell-less exec with the
// documented arguments appended).
type Notify struct {
	// Master runs on a transition to MASTER.
	Master string `json:"notify_master,omitempty"`
	// Backup runs on a transition to BACKUP.
	Backup string `json:"notify_backup,omitempty"`
	// Fault runs on a transition to FAULT.
	Fault string `json:"notify_fault,omitempty"`
	// Stop runs when the instance stops.
	Stop string `json:"notify_stop,omitempty"`
	// Any is the plain "notify" script, called on every transition.
	Any string `json:"notify,omitempty"`
}

// VRRPSyncGroup is a vrrp_sync_group block: instances that change state together.
type VRRPSyncGroup struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is the group's name.
	Name string `json:"name"`
	// Group names the member vrrp_instance blocks.
	Group []string `json:"group"`
	// Notify holds notify_* scripts for the group.
	Notify Notify `json:"notify"`
	// TrackScripts is track_script inherited by the members.
	TrackScripts []TrackScript `json:"track_script,omitempty"`
	// TrackFiles is track_file inherited by the members.
	TrackFiles []TrackScript `json:"track_file,omitempty"`
	// TrackProcesses is track_process inherited by the members.
	TrackProcesses []TrackScript `json:"track_process,omitempty"`
	// TrackInterfaces is track_interface inherited by the members.
	TrackInterfaces []TrackInterface `json:"track_interface,omitempty"`
	// TrackingWeight is sync_group_tracking_weight: the members' tracker
	// weights apply; without it keepalived uses weight 0 (a failure is a
	// FAULT) for every tracker of a member.
	TrackingWeight bool `json:"sync_group_tracking_weight,omitempty"`
	// SMTPAlert is smtp_alert; nil when not written (see NotifyDefs.AlertVRRP).
	SMTPAlert *bool `json:"smtp_alert,omitempty"`
	// NotifyPriorityChanges is notify_priority_changes: the default of
	// its instances that do not say; nil when not written.
	NotifyPriorityChanges *bool `json:"notify_priority_changes,omitempty"`
}

// VRRPState is an instance's initial state.
type VRRPState string

// Initial VRRP states. keepalived treats anything else (e.g. SLAVE) as BACKUP.
const (
	StateMaster VRRPState = "MASTER"
	StateBackup VRRPState = "BACKUP"
)

// AuthType is a VRRPv2 authentication type.
type AuthType string

// VRRPv2 authentication types.
const (
	AuthNone AuthType = "NONE"
	AuthPass AuthType = "PASS"
	AuthAH   AuthType = "AH"
)

// Authentication is an instance's authentication block (VRRPv2 only).
type Authentication struct {
	// Type is auth_type (NONE without an authentication block).
	Type AuthType `json:"auth_type"`
	// Password is the effective password: at most 8 bytes, as keepalived truncates.
	Password string `json:"auth_pass,omitempty"`
}

// VirtualIP is one line of virtual_ipaddress (or virtual_ipaddress_excluded):
// "ADDR[/MASK] [dev IF] [label L] [brd ADDR] [scope S] [no_track] [home]
// [nodad] [noprefixroute]" (keepalived's other options are reported as not
// supported yet).
type VirtualIP struct {
	// Pos is where the line starts.
	Pos Position `json:"pos"`
	// Prefix is the address with its mask; /32 (or /128) when no mask was given.
	Prefix netip.Prefix `json:"prefix"`
	// Dev is the interface; empty means the instance's interface.
	Dev string `json:"dev,omitempty"`
	// Label is the address label.
	Label string `json:"label,omitempty"`
	// Broadcast is brd (zero: none, as ip addr add without brd).
	Broadcast netip.Addr `json:"brd,omitzero"`
	// Scope is scope as written (global when empty; see AddressScope).
	Scope string `json:"scope,omitempty"`
	// NoTrack is no_track: the address's interface is not tracked. drlb
	// never tracks an address's own interface (only the instance's and
	// track_interface), so it changes nothing.
	NoTrack bool `json:"no_track,omitempty"`
	// Home is home (IFA_F_HOMEADDRESS, IPv6 mobility).
	Home bool `json:"home,omitempty"`
	// NoDAD is nodad / -nodad (IFA_F_NODAD: no duplicate address detection).
	NoDAD bool `json:"nodad,omitempty"`
	// NoPrefixRoute is noprefixroute (IFA_F_NOPREFIXROUTE: the kernel adds no
	// route for the address's prefix).
	NoPrefixRoute bool `json:"noprefixroute,omitempty"`
	// UseVMAC is the address option use_vmac: the address lives on a VMAC
	// of its interface (see VRRPInstance.AddressVMACs).
	UseVMAC bool `json:"use_vmac,omitempty"`
}

// TrackInterface is one line of track_interface: "IF [weight N [reverse]]".
type TrackInterface struct {
	// Name is the interface.
	Name string `json:"name"`
	// Weight (-253..253) is added to the priority while the interface is up
	// (positive) or down (negative); 0 (the default) means the instance goes
	// to FAULT when it is down.
	Weight int `json:"weight"`
	// Reverse inverts the weight's effect, as keepalived: a positive weight
	// is subtracted while up, a negative one added while down, and weight 0
	// means FAULT while the interface is up.
	Reverse bool `json:"reverse,omitempty"`
}

// TrackScript is one line of track_script: "NAME [weight N]".
type TrackScript struct {
	// Name names a vrrp_script.
	Name string `json:"name"`
	// Weight overrides the script's weight when WeightSet.
	Weight int `json:"weight"`
	// WeightSet says whether the line had "weight N".
	WeightSet bool `json:"weight_set"`
	// Reverse is the line's "reverse" (with WeightSet; otherwise the
	// vrrp_script's own reverse applies).
	Reverse bool `json:"reverse,omitempty"`
}

// VRRPInstance is a vrrp_instance block.
type VRRPInstance struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is the instance's name.
	Name string `json:"name"`
	// State is the initial state (default BACKUP; priority 255 forces MASTER).
	State VRRPState `json:"state"`
	// Interface carries the VRRP adverts.
	Interface string `json:"interface"`
	// VirtualRouterID is virtual_router_id, 1..255.
	VirtualRouterID int `json:"virtual_router_id"`
	// Priority is 1..255 (default 100).
	Priority int `json:"priority"`
	// AdvertInterval is advert_int (default 1s; v2: whole seconds 1..255, v3: 10ms steps up to 40.95s).
	AdvertInterval time.Duration `json:"advert_int"`
	// Version is the VRRP version, 2 or 3 (default global vrrp_version; an
	// IPv6 instance defaults to 3, as in keepalived, whatever vrrp_version says).
	Version int `json:"version"`
	// Auth is the authentication block (Type NONE when absent).
	Auth Authentication `json:"authentication"`
	// VirtualIPs are the addresses carried by this instance.
	VirtualIPs []VirtualIP `json:"virtual_ipaddress"`
	// ExcludedVIPs are virtual_ipaddress_excluded (managed, not in adverts).
	ExcludedVIPs []VirtualIP `json:"virtual_ipaddress_excluded,omitempty"`
	// UnicastSrcIP is unicast_src_ip (zero: the interface's primary address).
	UnicastSrcIP netip.Addr `json:"unicast_src_ip,omitzero"`
	// UnicastPeers, when non-empty, switches adverts from multicast to unicast.
	UnicastPeers []netip.Addr `json:"unicast_peer,omitempty"`
	// CheckUnicastSrc is check_unicast_src. drlb always drops unicast adverts
	// whose source is not a unicast_peer, so it changes nothing.
	CheckUnicastSrc bool `json:"check_unicast_src,omitempty"`
	// AcceptFrom is drlb_accept_from (a drlb extension): when set, adverts
	// are accepted only from these sources (and UnicastPeers), multicast too.
	AcceptFrom []netip.Addr `json:"drlb_accept_from,omitempty"`
	// AuthHMAC is keepalived's auth_hmac block; nil when absent.
	AuthHMAC *AuthHMAC `json:"auth_hmac,omitempty"`
	// McastSrcIP is mcast_src_ip (zero: the interface's primary address).
	McastSrcIP netip.Addr `json:"mcast_src_ip,omitzero"`
	// NoPreempt is nopreempt: a higher priority backup does not take over
	// (cleared when State is MASTER, as keepalived does).
	NoPreempt bool `json:"nopreempt"`
	// PreemptDelay is preempt_delay (default 0).
	PreemptDelay time.Duration `json:"preempt_delay"`
	// TrackInterfaces is track_interface.
	TrackInterfaces []TrackInterface `json:"track_interface,omitempty"`
	// TrackScripts is track_script.
	TrackScripts []TrackScript `json:"track_script,omitempty"`
	// TrackFiles is track_file: lines naming track_file blocks.
	TrackFiles []TrackScript `json:"track_file,omitempty"`
	// TrackProcesses is track_process: lines naming vrrp_track_process blocks.
	TrackProcesses []TrackScript `json:"track_process,omitempty"`
	// DontTrackPrimary is dont_track_primary.
	DontTrackPrimary bool `json:"dont_track_primary"`
	// Notify holds notify_* scripts.
	Notify Notify `json:"notify"`
	// Garp is the instance's garp_* timing (defaults from global_defs vrrp_garp_*).
	Garp Garp `json:"garp"`
	// SyncGroup names the vrrp_sync_group this instance belongs to, if any.
	SyncGroup string `json:"sync_group,omitempty"`
	// StrictMode is strict_mode, else global_defs vrrp_strict: keepalived's
	// RFC compliance mode (unicast peers refused; authentication,
	// preempt_delay, vmac_xmit_base and a non-owner state MASTER cleared).
	StrictMode bool `json:"strict_mode,omitempty"`
	// NoAccept is no_accept with keepalived's default: without accept mode
	// the MASTER drops packets addressed to its VIPs (our own nftables
	// table). keepalived's default is accept, except in strict mode, where
	// only the address owner (priority 255) accepts; an explicit accept on a
	// VRRPv2 non-owner in strict mode is reset.
	NoAccept bool `json:"no_accept,omitempty"`
	// UseVMAC is use_vmac: the VIPs of the instance's interface live on a
	// macvlan with the virtual MAC 00:00:5e:00:01:VRID (see VIPDevice).
	UseVMAC bool `json:"use_vmac,omitempty"`
	// VMACName is the macvlan's name (use_vmac NAME, default vrrp.VRID).
	VMACName string `json:"vmac_name,omitempty"`
	// VMACXmitBase is vmac_xmit_base: adverts go out of (and are received
	// on) the base interface instead of the VMAC.
	VMACXmitBase bool `json:"vmac_xmit_base,omitempty"`
	// UseVMACAddr is use_vmac_addr: every VIP (and excluded VIP) on
	// another interface than the instance's, or of the other family, lives
	// on a VMAC of its own (see AddressVMACs, VIPDevice).
	UseVMACAddr bool `json:"use_vmac_addr,omitempty"`
	// AddressVMACs are the VMACs that use_vmac_addr and the address
	// option use_vmac need: one per base interface and family.
	AddressVMACs []AddressVMAC `json:"address_vmacs,omitempty"`
	// VirtualRoutes are virtual_routes: added when the instance becomes
	// MASTER (after its addresses), removed when it leaves MASTER.
	VirtualRoutes []Route `json:"virtual_routes,omitempty"`
	// VirtualRules are virtual_rules, added and removed with VirtualRoutes.
	VirtualRules []Rule `json:"virtual_rules,omitempty"`
	// SMTPAlert is smtp_alert; nil when not written (see NotifyDefs.AlertVRRP).
	SMTPAlert *bool `json:"smtp_alert,omitempty"`
	// Protocol are the VRRP protocol tunables (higher_prio_send_advert,
	// down_timer_adverts, unicast_ttl, mcast_dst_ip, …), starting from
	// global_defs' vrrp_ forms.
	Protocol VRRPProtocol `json:"protocol,omitzero"`
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is what track_script refers to.
	Name string `json:"name"`
	// Script is the command line to run.
	Script string `json:"script"`
	// Interval between runs (default 1s).
	Interval time.Duration `json:"interval"`
	// Timeout after which a run counts as failed (default: Interval).
	Timeout time.Duration `json:"timeout"`
	// Weight adjusts priority (-253..253, default 0: failure means FAULT).
	Weight int `json:"weight"`
	// Reverse is "weight N reverse": the weight's effect is inverted (see TrackInterface.Reverse).
	Reverse bool `json:"reverse,omitempty"`
	// Rise is the number of successes to become OK (default 1).
	Rise int `json:"rise"`
	// Fall is the number of failures to become KO (default 1).
	Fall int `json:"fall"`
	// User is "user [group]" to run as.
	User string `json:"user,omitempty"`
	// InitFail is init_fail: start in the failed state.
	InitFail bool `json:"init_fail"`
}

// Protocol is a virtual service's transport protocol.
type Protocol string

// Virtual service protocols.
const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
)

// ForwardingMethod is lb_kind / lvs_method.
type ForwardingMethod string

// Forwarding methods.
const (
	ForwardNAT ForwardingMethod = "NAT"
	ForwardDR  ForwardingMethod = "DR"
	ForwardTUN ForwardingMethod = "TUN"
)

// VirtualServer is a virtual_server block: "IP PORT", "fwmark N" or "group NAME".
type VirtualServer struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Address and Port identify an IP:PORT service; zero for the fwmark form.
	// Virtual servers without real servers are dropped (with a warning), as keepalived does.
	Address netip.Addr `json:"address,omitzero"`
	// Port is the service port (see Address).
	Port uint16 `json:"port,omitempty"`
	// FWMark is the firewall mark for the fwmark form.
	FWMark uint32 `json:"fwmark,omitempty"`
	// Group is the virtual_server_group this service is a member of, for
	// the group form; Address, Port or FWMark are then the member's.
	Group string `json:"group,omitempty"`
	// Protocol is protocol (default TCP; empty for fwmark services).
	Protocol Protocol `json:"protocol"`
	// DelayLoop is the default checker interval (default 60s).
	DelayLoop time.Duration `json:"delay_loop"`
	// Scheduler is lb_algo / lvs_sched (default wlc, as IPVS).
	Scheduler string `json:"lb_algo"`
	// Method is lb_kind / lvs_method (default NAT).
	Method ForwardingMethod `json:"lb_kind"`
	// PersistenceTimeout is persistence_timeout (0: no persistence; the bare keyword means 360s).
	PersistenceTimeout time.Duration `json:"persistence_timeout"`
	// PersistenceGranularity is persistence_granularity as a prefix length (default 32 / 128).
	PersistenceGranularity int `json:"persistence_granularity"`
	// VirtualHost is the default Host header for HTTP checkers.
	VirtualHost string `json:"virtualhost,omitempty"`
	// Quorum is the minimum total weight of alive servers (default 1).
	Quorum int `json:"quorum"`
	// Hysteresis is quorum hysteresis (default 0).
	Hysteresis int `json:"hysteresis"`
	// QuorumUp is the script run when quorum is gained.
	QuorumUp string `json:"quorum_up,omitempty"`
	// QuorumDown: see QuorumUp.
	QuorumDown string `json:"quorum_down,omitempty"`
	// Alpha: real servers start down until a check succeeds.
	Alpha bool `json:"alpha"`
	// Omega: run notify_down / quorum_down when the service is removed.
	Omega bool `json:"omega"`
	// InhibitOnFailure: failed servers get weight 0 instead of being removed (default for real servers).
	InhibitOnFailure bool `json:"inhibit_on_failure"`
	// HASuspend: remove the service when its VIP is not on this host.
	HASuspend bool `json:"ha_suspend"`
	// SorryServer is used when no real server is alive.
	SorryServer *SorryServer `json:"sorry_server,omitempty"`
	// RealServers are the backends.
	RealServers []RealServer `json:"real_servers"`
	// BGPAnnounce is drlb_bgp_announce (a drlb extension): the service
	// address is announced by BGP (drlb_bgp) while the daemon serves and
	// the service has quorum.
	BGPAnnounce bool `json:"drlb_bgp_announce,omitempty"`
	// BGPAnnouncePos is where drlb_bgp_announce is written.
	BGPAnnouncePos Position `json:"-"`
	// SMTPAlert is smtp_alert; nil when not written (see NotifyDefs.AlertChecker).
	SMTPAlert *bool `json:"smtp_alert,omitempty"`
	// IPFamily is ip_family: "inet", "inet6" or "" when not written. It
	// must agree with the service's address and its real servers; a fwmark
	// service takes its family from it (else from its real servers).
	IPFamily string `json:"ip_family,omitempty"`
	// Weight is the virtual server's weight keyword: the weight of every
	// real server that does not set its own (keepalived's vs->weight,
	// default 1).
	Weight int `json:"weight"`
	// OnePacket is ops: IPVS schedules each UDP packet on its own
	// (IP_VS_SVC_F_ONEPACKET). keepalived and drlb drop it, with a
	// warning, for a TCP or SCTP service. Only IPVS does it.
	OnePacket bool `json:"ops,omitempty"`
	// OnePacketPos is where ops is written.
	OnePacketPos Position `json:"-"`
	// SchedFlags are IPVS's scheduler flags IP_VS_SVC_F_SCHED1..3 (bit 0
	// is flag-1): flag-1, flag-2, flag-3, and sh-fallback/mh-fallback
	// (flag-1) and sh-port/mh-port (flag-2) when lvs_sched is sh or mh.
	SchedFlags uint8 `json:"sched_flags,omitempty"`
	// PersistenceEngine is persistence_engine: an IPVS persistence engine
	// module's name ("sip": ip_vs_pe_sip, persistence by SIP Call-ID), ""
	// for none. It acts only with persistence_timeout; only IPVS has it.
	PersistenceEngine string `json:"persistence_engine,omitempty"`
	// PersistenceEnginePos is where persistence_engine is written.
	PersistenceEnginePos Position `json:"-"`
}

// Scheduler flags of VirtualServer.SchedFlags, as IPVS's sh and mh read
// them (linux/ip_vs.h IP_VS_SVC_F_SCHED_SH_FALLBACK, _SH_PORT, ...).
const (
	SchedFlag1 uint8 = 1 << iota // flag-1; sh-fallback, mh-fallback
	SchedFlag2                   // flag-2; sh-port, mh-port
	SchedFlag3                   // flag-3
)

// SorryServer is sorry_server "IP PORT" plus sorry_server_inhibit.
type SorryServer struct {
	// Address is the sorry server's address.
	Address netip.Addr `json:"address"`
	// Port is its port (the service's port with DR/TUN).
	Port uint16 `json:"port"`
	// InhibitOnFailure is sorry_server_inhibit.
	InhibitOnFailure bool `json:"inhibit_on_failure"`
	// Method is sorry_server_lvs_method (default: the virtual server's lvs_method).
	Method ForwardingMethod `json:"lvs_method"`
}

// RealServer is a real_server block.
type RealServer struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Address is the server's address.
	Address netip.Addr `json:"address"`
	// Port is the server's port; with DR/TUN it is the virtual server's port
	// (0 for fwmark services), as the kernel cannot change it.
	Port uint16 `json:"port"`
	// Weight is the scheduling weight (default 1).
	Weight int `json:"weight"`
	// Method overrides the virtual server's lb_kind (default: inherited).
	Method ForwardingMethod `json:"lb_kind"`
	// InhibitOnFailure: on failure set weight 0 instead of removing (default: the virtual server's).
	InhibitOnFailure bool `json:"inhibit_on_failure"`
	// NotifyUp is the script run when the server comes up.
	NotifyUp string `json:"notify_up,omitempty"`
	// NotifyDown: see NotifyUp.
	NotifyDown string `json:"notify_down,omitempty"`
	// Checkers probe this server; the server is up when all checkers are up.
	Checkers []Checker `json:"checkers"`
	// Alpha is the real server's alpha (nil: the virtual server's).
	Alpha *bool `json:"alpha,omitempty"`
	// UThreshold and LThreshold are uthreshold and lthreshold: IPVS's upper
	// and lower connection thresholds (0: none; ignored by nftables).
	UThreshold uint32 `json:"uthreshold,omitempty"`
	LThreshold uint32 `json:"lthreshold,omitempty"`
	// SMTPAlert is smtp_alert; nil when not written: the virtual server's,
	// else global_defs' (see NotifyDefs.AlertChecker).
	SMTPAlert *bool `json:"smtp_alert,omitempty"`
	// GroupPort is, for a member of a virtual_server_group, the port the
	// real_server line names (Port becomes the member's with DR): the
	// server's identity across the group, so that it is checked once.
	GroupPort uint16 `json:"-"`
}

// CheckerKind is the health checker type.
type CheckerKind string

// Checker kinds.
const (
	CheckHTTP CheckerKind = "HTTP_GET"
	CheckSSL  CheckerKind = "SSL_GET"
	CheckTCP  CheckerKind = "TCP_CHECK"
	CheckMisc CheckerKind = "MISC_CHECK"
)

// Checker is one health checker block inside a real_server, with every
// timer resolved (checker value, else real_server value, else virtual_server
// value, else keepalived's default).
type Checker struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Kind is the checker type.
	Kind CheckerKind `json:"kind"`
	// ConnectIP is connect_ip (default: the real server's address).
	ConnectIP netip.Addr `json:"connect_ip"`
	// ConnectPort is connect_port (default: the real server's port).
	ConnectPort uint16 `json:"connect_port"`
	// BindTo is bindto, the source address (zero: kernel's choice).
	BindTo netip.Addr `json:"bindto,omitzero"`
	// BindPort is bind_port (0: any).
	BindPort uint16 `json:"bind_port,omitempty"`
	// ConnectTimeout is connect_timeout (default 5s).
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// DelayLoop is the interval between checks (default: the virtual server's delay_loop).
	DelayLoop time.Duration `json:"delay_loop"`
	// Retry is the number of retries before declaring failure (retry / nb_get_retry;
	// default 1, 0 for MISC_CHECK).
	Retry int `json:"retry"`
	// DelayBeforeRetry is delay_before_retry (default 3s for HTTP_GET/SSL_GET, 1s otherwise).
	DelayBeforeRetry time.Duration `json:"delay_before_retry"`
	// Warmup is warmup: a random delay up to this before the first check
	// (default: DelayLoop, as keepalived; 0 disables it).
	Warmup time.Duration `json:"warmup"`
	// URLs are the HTTP_GET/SSL_GET url blocks.
	URLs []URL `json:"urls,omitempty"`
	// VirtualHost is the Host header (default: the virtual server's virtualhost).
	VirtualHost string `json:"virtualhost,omitempty"`
	// MiscPath is MISC_CHECK's misc_path command line.
	MiscPath string `json:"misc_path,omitempty"`
	// MiscTimeout is misc_timeout (default: delay_loop).
	MiscTimeout time.Duration `json:"misc_timeout,omitempty"`
	// MiscDynamic is misc_dynamic: exit codes 2..255 set weight (code-2).
	MiscDynamic bool `json:"misc_dynamic,omitempty"`
	// BindIf is bind_if: the interface the probe socket is bound to.
	BindIf string `json:"bind_if,omitempty"`
	// FWMark is fwmark: SO_MARK of the probe's packets.
	FWMark uint32 `json:"fwmark,omitempty"`
	// Alpha is the checker's alpha, when AlphaSet (else the real server's,
	// else the virtual server's).
	Alpha    bool `json:"alpha,omitempty"`
	AlphaSet bool `json:"-"`
	// LogAllFailures is log_all_failures (nil: global_defs'
	// checker_log_all_failures).
	LogAllFailures *bool `json:"log_all_failures,omitempty"`
	// HTTPProtocol is http_protocol: "1.0" (default), "1.0C" or "1.1".
	HTTPProtocol string `json:"http_protocol,omitempty"`
	// FastRecovery is fast_recovery (drlb checks every url in one round anyway).
	FastRecovery bool `json:"fast_recovery,omitempty"`
	// EnableSNI, SNIName and TLSCompliant are SSL_GET's TLS options.
	EnableSNI    bool   `json:"enable_sni,omitempty"`
	SNIName      string `json:"sni_name,omitempty"`
	TLSCompliant bool   `json:"tls_compliant,omitempty"`
	// HeloName is SMTP_CHECK's helo_name (default localhost).
	HeloName string `json:"helo_name,omitempty"`
	// DNSType and DNSName are DNS_CHECK's type (default SOA) and name (default ".").
	DNSType string `json:"dns_type,omitempty"`
	DNSName string `json:"dns_name,omitempty"`
	// UDP_CHECK: payload, require_reply (with its pattern and mask: x digits
	// compare nothing), min_reply_length and max_reply_length (default 255).
	UDPPayload        []byte `json:"payload,omitempty"`
	UDPRequireReply   bool   `json:"require_reply,omitempty"`
	UDPReply          []byte `json:"reply,omitempty"`
	UDPReplyMask      []byte `json:"reply_mask,omitempty"`
	UDPMinReplyLength int    `json:"min_reply_length,omitempty"`
	UDPMaxReplyLength int    `json:"max_reply_length,omitempty"`
	// FILE_CHECK: the track_file block's name, the weight (default: the
	// block's), reverse and dynamic.
	TrackFile     string `json:"track_file,omitempty"`
	FileWeight    int    `json:"file_weight,omitempty"`
	FileWeightSet bool   `json:"-"`
	FileReverse   bool   `json:"file_reverse,omitempty"`
	FileDynamic   bool   `json:"dynamic,omitempty"`
	trackFilePos  srcPos
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	// Min is the lowest accepted code.
	Min int `json:"min"`
	// Max is the highest accepted code.
	Max int `json:"max"`
}

// URL is a url block of an HTTP_GET / SSL_GET checker.
type URL struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Path is the request path (default "/").
	Path string `json:"path"`
	// Digest is the expected MD5 of the body, 32 lowercase hex digits, or empty.
	Digest string `json:"digest,omitempty"`
	// StatusCodes are the accepted status codes (default 200-299).
	StatusCodes []StatusRange `json:"status_code"`
	// VirtualHost overrides the checker's Host header.
	VirtualHost string `json:"virtualhost,omitempty"`
	// Regex is regex, an RE2 pattern the body must contain (RegexNoMatch:
	// must not contain).
	Regex        string `json:"regex,omitempty"`
	RegexNoMatch bool   `json:"regex_no_match,omitempty"`
	// RegexFlags are RE2 flags from regex_options (caseless i, multiline
	// m, dotall s, ungreedy U), applied as (?flags) before Regex.
	RegexFlags string `json:"regex_flags,omitempty"`
	// RegexMinOffset and RegexMaxOffset are regex_min_offset and
	// regex_max_offset (nil: none).
	RegexMinOffset int  `json:"regex_min_offset,omitempty"`
	RegexMaxOffset *int `json:"regex_max_offset,omitempty"`
}
