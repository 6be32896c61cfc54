package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options are a Node's dependencies. The zero value runs for real in the
// calling thread's network namespace.
type Options struct {
	// Logger receives keepalived-like lines ("(VI_1) Entering MASTER STATE");
	// nil means slog.Default().
	Logger *slog.Logger
	// NetNS, when > 0, is the network namespace the sockets are created in
	// and the default netlink handle is opened for. Zero or netns.None()
	// means the calling thread's namespace.
	NetNS netns.NsHandle
	// Netlink is the handle used for addresses and links; nil means Node
	// opens (and closes) one for NetNS.
	Netlink *netlink.Handle
	// NetlinkCmdRcvBuf, when > 0, is the receive buffer in bytes of the
	// netlink handle Node opens (keepalived's vrrp_netlink_cmd_rcv_bufs);
	// with NetlinkCmdRcvBufForce it is set with SO_RCVBUFFORCE, beyond
	// net.core.rmem_max. NetlinkMonitorRcvBuf[Force] is the same for the
	// link and address subscriptions (vrrp_netlink_monitor_rcv_bufs).
	NetlinkCmdRcvBuf, NetlinkMonitorRcvBuf           int
	NetlinkCmdRcvBufForce, NetlinkMonitorRcvBufForce bool
	// AcceptNFT is the no_accept table's name, priority and counters
	// (keepalived's nftables, nftables_priority, nftables_counters).
	AcceptNFT NFTFilterOptions
	// OnTransition, if set, is called for every state change of every
	// instance, from Run's goroutine, in order. It must not block (hand the
	// value to a buffered channel or a timeline).
	OnTransition func(Transition)

	// Listen opens an instance's VRRP socket; nil means ListenIPv4, or
	// ListenIPv6 for an IPv6 source (in NetNS).
	Listen func(TransportConfig) (Conn, error)
	// DialGARP opens an interface's gratuitous ARP sender; nil means
	// DialGARP (in NetNS).
	DialGARP func(ifname string) (GARPSender, error)
	// DialNA opens an interface's unsolicited neighbour advertisement
	// sender, used for IPv6 addresses as DialGARP is for IPv4 ones; nil
	// means DialNA (in NetNS).
	DialNA func(ifname string) (GARPSender, error)
	// Addresses adds and removes VIPs; nil means NetlinkAddresses{Netlink}
	// with AcceptFilter.
	Addresses AddressManager
	// Routes adds and removes virtual_routes and virtual_rules; nil means
	// NetlinkRoutes{Netlink} when Addresses is nil too, else none.
	Routes RouteManager
	// AcceptFilter drops traffic to the VIPs of instances without accept
	// mode while they are on the interface; nil means an NFTFilter created
	// when the first such VIP is added. It is used only with the default
	// Addresses (with fakes, the fake sees VIP.NoAccept).
	AcceptFilter VIPFilter
	// LinkUp reports whether an interface is up and running. When set (and
	// Interface is not), interfaces are taken to exist and are polled every
	// DefaultLinkPollInterval; tests use it.
	LinkUp func(ifname string) (bool, error)
	// Interface reads an interface's state; nil means a netlink query, and
	// changes are then learnt from netlink link and address notifications.
	Interface func(ifname string) (InterfaceState, error)
	// RunScript runs notify and track scripts; nil means ExecScript.
	RunScript ScriptRunner
	// OnNotify, if set, is called where keepalived notifies (its notify
	// scripts, notify FIFO and smtp_alert): kind "INSTANCE" or "GROUP",
	// the instance's or group's name, the state entered and the effective
	// priority (0 for a group). It runs on VRRP's thread and must not block.
	OnNotify func(kind, name string, state State, priority uint8)
	// OnEvent, if set, is called for keepalived's instance notifications
	// that are not states (its notify FIFO's third word): EventMasterRxLowerPri
	// when a master hears a lower priority, and with notify_priority_changes
	// EventMasterPriority / EventBackupPriority when the effective priority
	// changes. It runs on VRRP's thread and must not block.
	OnEvent func(name, event string, priority uint8)
	// ServicesChecked, if set, returns a channel that is closed once every
	// service behind the node's VIPs has finished a round of health checks
	// started at or after since (the daemon's health scheduler answers).
	// An instance that regains its interface holds preemption until then,
	// at most Config.RecoveryHold, so that it does not take the VIPs with
	// a table whose real servers are all still marked down.
	ServicesChecked func(ctx context.Context, since time.Time) <-chan struct{}
	// LinkReady waits until an interface can send (operstate UP), bounded
	// by ctx; nil means a netlink query, or no wait with injected
	// interface states. Gratuitous ARPs wait for it.
	LinkReady func(ctx context.Context, ifname string) error
}

// Counters are an instance's running totals since Run started.
type Counters struct {
	// AdvertsSent counts adverts sent (per destination), priority 0 included.
	AdvertsSent uint64
	// AdvertsReceived counts adverts that passed validation.
	AdvertsReceived uint64
	// PriorityZeroSent and PriorityZeroReceived count priority-0 adverts.
	PriorityZeroSent, PriorityZeroReceived uint64
	// AddressListMismatches counts adverts dropped because their address list differs from ours.
	AddressListMismatches uint64
	// Drops counts dropped packets by reason.
	Drops map[DropReason]uint64
	// Suspects counts valid adverts the state machine did not obey at once,
	// by reason (stranger.go).
	Suspects map[SuspectReason]uint64
	// Transitions counts state changes; BecameMaster counts entries into MASTER.
	Transitions, BecameMaster uint64
	// GARPsSent counts gratuitous ARPs sent.
	GARPsSent uint64
	// Errors counts failed sends, address changes, ARPs and scripts.
	Errors uint64
}

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	// Name, Interface, VRID and Version identify the instance.
	Name      string
	Interface string
	VRID      uint8
	Version   Version
	// SourceIP is the address our adverts come from.
	SourceIP netip.Addr
	// State is the current state.
	State State
	// Priority is the configured priority; EffectivePriority includes tracking weights.
	Priority, EffectivePriority uint8
	// MasterIP is the current master (ours when MASTER), invalid when unknown.
	MasterIP netip.Addr
	// MasterPriority is the master's advertised priority.
	MasterPriority uint8
	// Fault is set while a tracker of this instance or its group is failing.
	Fault bool
	// Since is the time of the last transition.
	Since time.Time
	// Counters are the running totals.
	Counters Counters
	// Timing is how punctual our adverts and timers were, and the gaps
	// between the master's adverts.
	Timing Timing
}

// Node runs a set of VRRP instances and sync groups: one goroutine steps
// every state machine, so that sync groups move atomically.
type Node struct {
	cfg  Config
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards status and ran
	status  []InstanceStatus
	ran     bool
	insts   []*instance
	groups  []group
	scripts sync.WaitGroup // notify scripts and ARP bursts in flight
	// closeNetlink is set when Run opened opts.Netlink itself.
	closeNetlink bool
	// promoted are the interfaces whose promote_secondaries Run looked at,
	// with the value to restore ("" when it was already set); loop only.
	promoted map[string]string
	// filter drops traffic to VIPs of masters without accept mode.
	filter VIPFilter
	// polled is set when interface states come from injected functions,
	// which have no change notifications: they are polled.
	polled bool
	// nextTimer is when the earliest machine timer falls due (UnixNano; 0
	// for none), for NextTimer.
	nextTimer atomic.Int64
	// tid is the OS thread Run is locked to (0 before Run).
	tid atomic.Int64

	// updates carries Update's requests to Run's loop; done is closed when
	// Run returns.
	updates chan updateRequest
	done    chan struct{}
	// The loop's channels and background context, set by Run.
	bg       context.Context
	packets  chan packetIn
	tracks   chan trackIn
	readErr  chan error
	workers  sync.WaitGroup // readers and track scripts
	watchFor atomic.Pointer[[]string]
	kick     chan struct{}
	// ifstate is the last known state of every watched interface (loop only).
	ifstate map[string]InterfaceState
	// released carries instances whose services were checked after their
	// interface came back (see Options.ServicesChecked).
	released chan *instance
}

// NextTimer is when the node's next timer falls due (an advert to send, a
// master-down timeout), or zero when none is set. Long CPU-bound work
// elsewhere in the process can give up its processor then, so the timer
// is not held behind it (see package internal/yield).
func (n *Node) NextTimer() time.Time {
	if v := n.nextTimer.Load(); v != 0 {
		return time.Unix(0, v)
	}
	return time.Time{}
}

type group struct {
	cfg     SyncGroupConfig
	members []int
	state   State
}

type instance struct {
	cfg      InstanceConfig
	m        Machine
	conn     Conn
	garp     []garpTarget // one per interface carrying VIPs
	group    int          // index in Node.groups, -1 for none
	params   ValidationParams
	dsts     []netip.Addr
	source   netip.Addr
	vipAddrs []netip.Addr // carried in adverts
	allVIPs  []VIP        // VIPs and ExcludedVIPs: what MASTER adds
	// trackers[0..] are the interface trackers (own interface first), then scripts.
	trackers    []tracker
	garpCancel  context.CancelFunc
	garpSent    *atomic.Uint64 // written by ARP goroutines
	garpRunning *atomic.Int32  // ARP goroutines still sending
	counters    Counters
	since       time.Time
	warnings    map[string]*warnLimiter // by drop or suspect reason
	hmac        *HMACVerifier           // nil without auth_hmac
	hmacSeq     uint64                  // last auth_hmac sequence sent
	// stop ends the instance's reader; scriptStop its track scripts, whose
	// reports carry scriptGen so that stale ones are ignored.
	stop       context.CancelFunc
	scriptStop context.CancelFunc
	scriptGen  int
	// ifindex is the index of Interface when conn was opened (0: not open).
	ifindex int
	// staleChecked is set once VIPs left by a killed predecessor were removed.
	staleChecked bool
	// noAddrLogged avoids repeating "no IPv4 address" while it lasts.
	noAddrLogged bool
	// holdStop cancels a pending wait for the services' first checks.
	holdStop context.CancelFunc
	// vmac is the VMAC we created (use_vmac), nil before.
	vmac *vmacState
	// addrVMACs are the address VMACs we created (use_vmac_addr).
	addrVMACs []vmacState
	// timing is the lateness bookkeeping; adv caches the marshalled
	// adverts, so that sending one does not allocate.
	timing timingState
	adv    advertCache
	// checksum is the form of VRRPv3 IPv4 checksums (v3_checksum_as_v2,
	// old_unicast_checksum); the zero value is RFC 5798's.
	checksum Checksum
}

// advertCache holds in's adverts as sent (one per destination) for one
// priority; setAddresses and setParams empty it.
type advertCache struct {
	valid bool
	prio  uint8
	msgs  [][]byte
}

type trackerKind uint8

const (
	trackOwnInterface trackerKind = iota
	trackInterface
	trackScript
	trackFile
	trackProcess
)

type tracker struct {
	kind    trackerKind
	name    string
	weight  int
	reverse bool
	ok      bool
	ignore  bool  // dont_track_primary
	value   int64 // trackFile: the number read from the file
}

// NewNode checks cfg, fills in keepalived's defaults and returns a Node
// ready to Run. Errors wrap ErrConfig.
func NewNode(cfg Config, opts Options) (*Node, error) {
	n := &Node{opts: opts, log: opts.Logger, updates: make(chan updateRequest), done: make(chan struct{}), promoted: map[string]string{}}
	if n.log == nil {
		n.log = slog.Default()
	}
	cfg, insts, groups, err := buildConfig(cfg)
	if err != nil {
		return nil, err
	}
	n.cfg, n.insts, n.groups = cfg, insts, groups
	n.publish()
	return n, nil
}

// buildConfig validates cfg, fills in defaults and builds its instances
// and groups (shared by NewNode and Update). Errors wrap ErrConfig.
func buildConfig(cfg Config) (Config, []*instance, []group, error) {
	if err := cfg.Thread.Validate(); err != nil {
		return cfg, nil, nil, err
	}
	if cfg.ScriptTimeout == 0 {
		cfg.ScriptTimeout = DefaultScriptTimeout
	}
	cfg.Instances = slices.Clone(cfg.Instances)
	byName := map[string]int{}
	vrids := map[string]bool{}
	var insts []*instance
	for i, ic := range cfg.Instances {
		ic, err := ic.withDefaults()
		if err != nil {
			return cfg, nil, nil, err
		}
		if _, dup := byName[ic.Name]; dup {
			return cfg, nil, nil, fmt.Errorf("%w: instance %q defined twice", ErrConfig, ic.Name)
		}
		// keepalived: a VRID is unique per interface and address family.
		key := fmt.Sprintf("%s/%d/%s", ic.Interface, ic.VRID, familyName(ic.IPv6()))
		if vrids[key] {
			return cfg, nil, nil, fmt.Errorf("%w: instance %q: VRID %d already used on %s", ErrConfig, ic.Name, ic.VRID, ic.Interface)
		}
		vrids[key] = true
		byName[ic.Name] = i
		cfg.Instances[i] = ic
		insts = append(insts, newInstance(ic))
	}
	var groups []group
	for _, g := range cfg.SyncGroups {
		gi := len(groups)
		grp := group{cfg: g, state: StateInit}
		for _, name := range g.Instances {
			i, ok := byName[name]
			if !ok {
				return cfg, nil, nil, fmt.Errorf("%w: sync group %q: unknown instance %q", ErrConfig, g.Name, name)
			}
			if insts[i].group >= 0 {
				return cfg, nil, nil, fmt.Errorf("%w: instance %q is in two sync groups", ErrConfig, name)
			}
			insts[i].group = gi
			grp.members = append(grp.members, i)
		}
		groups = append(groups, grp)
	}
	return cfg, insts, groups, nil
}

// newInstance is the not yet opened runtime of ic (defaults applied).
func newInstance(ic InstanceConfig) *instance {
	in := &instance{cfg: ic, group: -1, warnings: map[string]*warnLimiter{}, garpSent: &atomic.Uint64{}, garpRunning: &atomic.Int32{}}
	in.setAddresses()
	in.setHMAC()
	in.trackers = newTrackers(ic, nil)
	in.m = NewMachine(in.machineParams())
	return in
}

// setHMAC builds the auth_hmac verifier for cfg (nil without auth_hmac);
// a new verifier forgets the senders' sequences.
func (in *instance) setHMAC() {
	in.hmac = nil
	if h := in.cfg.AuthHMAC; h != nil {
		in.hmac = NewHMACVerifier(*h, len(in.cfg.UnicastPeers)+len(in.cfg.AcceptFrom))
	}
}

// setAddresses derives the advert and MASTER address lists from cfg.
func (in *instance) setAddresses() {
	in.adv = advertCache{}
	in.vipAddrs = nil
	for _, v := range in.cfg.VIPs {
		in.vipAddrs = append(in.vipAddrs, v.Prefix.Addr())
	}
	in.allVIPs = append(slices.Clone(in.cfg.VIPs), in.cfg.ExcludedVIPs...)
}

// machineParams are the state machine's settings from cfg and the source.
func (in *instance) machineParams() Params {
	c := in.cfg
	return Params{Version: c.Version, Priority: c.Priority, AdvertInterval: c.AdvertInterval,
		Preempt: !c.NoPreempt, PreemptDelay: c.PreemptDelay, PrimaryIP: in.source, WantMaster: c.WantMaster,
		DownTimerAdverts: c.Protocol.DownTimerAdverts, HigherPrioSendAdvert: c.Protocol.HigherPrioSendAdvert,
		LowerPrioNoAdvert: c.Protocol.LowerPrioNoAdvert, TimerExpiredBackup: c.Protocol.TimerExpiredBackup}
}

// newTrackers lists ic's trackers (own interface, track_interface, then
// track_script); a tracker also in prev keeps its status, as keepalived
// keeps a script's result across a reload.
func newTrackers(ic InstanceConfig, prev []tracker) []tracker {
	status := func(kind trackerKind, name string, def bool) bool {
		for _, t := range prev {
			if t.kind == kind && t.name == name {
				return t.ok
			}
		}
		return def
	}
	out := []tracker{{kind: trackOwnInterface, name: ic.Interface, ok: status(trackOwnInterface, ic.Interface, true), ignore: ic.DontTrackPrimary}}
	for _, ti := range ic.TrackInterfaces {
		out = append(out, tracker{kind: trackInterface, name: ti.Name, weight: ti.Weight, reverse: ti.Reverse, ok: status(trackInterface, ti.Name, true)})
	}
	for _, ts := range ic.TrackScripts {
		out = append(out, tracker{kind: trackScript, name: ts.Name, weight: ts.Weight, reverse: ts.Reverse, ok: status(trackScript, ts.Name, !ts.InitFail)})
	}
	out = append(out, fileTrackers(ic, prev)...)
	return append(out, processTrackers(ic, prev)...)
}

// Status returns a snapshot of every instance, in configuration order. It
// is safe to call from any goroutine, before, during and after Run.
func (n *Node) Status() []InstanceStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]InstanceStatus, len(n.status))
	for i, s := range n.status {
		s.Counters.Drops = make(map[DropReason]uint64, len(s.Counters.Drops))
		for k, v := range n.status[i].Counters.Drops {
			s.Counters.Drops[k] = v
		}
		s.Counters.Suspects = maps.Clone(n.status[i].Counters.Suspects)
		out[i] = s
	}
	return out
}

// publish copies the loop's state into the snapshot Status reads. It
// reuses the snapshot's memory, so that the advert path does not allocate.
func (n *Node) publish() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.status) != len(n.insts) {
		n.status = make([]InstanceStatus, len(n.insts))
	}
	for i, in := range n.insts {
		c := in.counters
		c.GARPsSent = in.garpSent.Load()
		c.Drops = n.status[i].Counters.Drops
		if len(in.counters.Drops) == 0 {
			c.Drops = nil
		} else {
			if c.Drops == nil {
				c.Drops = make(map[DropReason]uint64, len(in.counters.Drops))
			}
			clear(c.Drops)
			for k, v := range in.counters.Drops {
				c.Drops[k] = v
			}
		}
		c.Suspects = maps.Clone(in.counters.Suspects) // nil (no allocation) until a suspect advert
		n.status[i] = InstanceStatus{
			Name: in.cfg.Name, Interface: in.cfg.Interface, VRID: in.cfg.VRID, Version: in.cfg.Version,
			SourceIP: in.source, State: in.m.State, Priority: in.cfg.Priority, EffectivePriority: in.m.EffectivePriority,
			MasterIP: in.m.MasterIP, MasterPriority: in.m.MasterPriority, Fault: in.m.OwnFault || in.m.GroupFault,
			Since: in.since, Counters: c, Timing: in.timing.t,
		}
		if in.m.State == StateInit && n.status[i].EffectivePriority == 0 {
			n.status[i].EffectivePriority = in.cfg.Priority
		}
	}
}

type packetIn struct {
	inst int // set by the loop from from
	from *instance
	data []byte
	info PacketInfo
	at   time.Time // when the reader got it
}

type trackIn struct {
	in      *instance
	gen     int
	tracker int
	ok      bool
	value   int64 // trackFile
}

// Run opens the sockets, removes VIPs a killed predecessor may have left,
// starts every instance and runs until ctx ends. It then sends priority-0
// adverts for the instances that are MASTER, removes the VIPs, runs the
// notify_stop scripts (waiting at most the script timeout) and returns nil.
//
// An instance whose interface has no IPv4 address (an IPv6 instance: no
// usable link-local address) and no configured source starts in FAULT and leaves it by itself once the address
// appears; so does one whose interface does not exist yet, with
// Config.DynamicInterfaces (keepalived's dynamic_interfaces). Without it, a
// missing interface is an error, as keepalived refuses it at start. Run
// also returns an error if a socket cannot be opened at start or fails
// while running. Run may be called once.
func (n *Node) Run(ctx context.Context) (err error) {
	n.mu.Lock()
	if n.ran {
		n.mu.Unlock()
		return errors.New("vrrp: node already ran")
	}
	n.ran = true
	n.mu.Unlock()
	defer close(n.done)
	n.lockThread()
	defer n.releaseThread()

	if err := n.setupDeps(); err != nil {
		return err
	}
	defer n.closeDeps()
	// Background work (readers, trackers, ARP) outlives ctx until the
	// shutdown adverts are out; scripts get their own timeout.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	n.bg = bg
	n.startAcceptFilter(context.WithoutCancel(bg)) // Close runs after bg ends
	n.packets = make(chan packetIn, 64)
	n.tracks = make(chan trackIn, 16)
	n.readErr = make(chan error, 1)
	n.kick = make(chan struct{}, 1)
	n.released = make(chan *instance, 1)
	// Registered before open, so that a partial open closes what it opened.
	defer func() { //nolint:contextcheck // teardown runs after ctx ended; each step bounds itself
		stopBG()
		for _, in := range n.insts {
			n.closeInstance(in)
			n.releaseVMAC(in)
		}
		n.applyStatic(n.cfg, Config{})
		n.restorePromoted()
		n.workers.Wait()
		n.scripts.Wait()
		n.publish()
	}()

	n.applyStatic(Config{}, n.cfg)
	n.setWatched()
	n.ifstate = n.readInterfaces(*n.watchFor.Load())
	for _, in := range n.insts {
		if n.ifstate[in.cfg.Interface].Index == 0 && !n.cfg.DynamicInterfaces {
			return fmt.Errorf("vrrp: instance %s: interface %s does not exist (global_defs dynamic_interfaces allows that)", in.cfg.Name, in.cfg.Interface)
		}
		if err := n.syncInterfaces(in, n.ifstate, true); err != nil { //nolint:contextcheck // sockets and readers live in the node's context (n.bg)
			return err
		}
		if !in.staleChecked && n.ifstate[in.cfg.Interface].Index != 0 {
			// Not opened (no address yet): its VIPs, left by a killed
			// predecessor, must not stay while it waits in FAULT.
			in.staleChecked = true
			n.removeStaleVIPs(in)
		}
		n.startScripts(in) //nolint:contextcheck // track scripts live in the node's context (n.bg)
	}
	ifaces := make(chan map[string]InterfaceState, 1)
	n.workers.Go(func() { n.watchInterfaces(bg, ifaces) })
	now := time.Now()
	for _, in := range n.insts {
		delta, fault := in.trackResult()
		in.m, _ = Step(in.m, EventTrack{Delta: delta, Fault: fault}, now)
	}
	// A member in fault at start holds its whole group in fault.
	for gi := range n.groups {
		for _, f := range GroupFaultForces(n.members(&n.groups[gi])) {
			i := n.index(f.Instance)
			n.insts[i].m, _ = Step(n.insts[i].m, f.Event, now)
		}
	}
	var startup <-chan time.Time
	if d := startupDelay(n.cfg.StartupDelay, n.cfg.DelayAfterBoot, systemUptime()); d > 0 {
		n.log.Info(fmt.Sprintf("Delaying startup for %v", d.Round(time.Millisecond)))
		st := time.NewTimer(d)
		defer st.Stop()
		startup = st.C
	} else {
		n.startInstances(bg, now)
	}
	n.publish()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.resetTimer(timer)
		select {
		case <-ctx.Done():
			n.shutdown(bg)
			return nil
		case rerr := <-n.readErr:
			n.shutdown(bg)
			return rerr
		case p := <-n.packets:
			n.handlePacket(bg, p)
		case t := <-n.tracks:
			i := slices.Index(n.insts, t.in)
			if i < 0 || t.gen != t.in.scriptGen {
				break // from an instance or script set replaced by Update
			}
			in := t.in
			if tr := &in.trackers[t.tracker]; tr.ok != t.ok || tr.value != t.value {
				tr.ok, tr.value = t.ok, t.value
				n.log.Info(fmt.Sprintf("(%s) tracker %s is %s", in.cfg.Name, tr.name, trackerWord(*tr)), "instance", in.cfg.Name)
				delta, fault := in.trackResult()
				n.step(bg, i, EventTrack{Delta: delta, Fault: fault}, time.Now())
			}
		case st := <-ifaces:
			n.ifstate = st
			now := time.Now()
			for i, in := range n.insts {
				before := slices.Clone(in.trackers)
				if err := n.syncInterfaces(in, st, false); err != nil { //nolint:contextcheck // sockets and readers live in the node's context (n.bg)
					n.log.Warn(fmt.Sprintf("(%s) cannot open VRRP on %s", in.cfg.Name, in.cfg.Interface), "instance", in.cfg.Name, "err", err)
					in.counters.Errors++
				}
				n.trackersChanged(i, before, now) //nolint:contextcheck // the preemption hold lives in the node's context (n.bg)
			}
		case in := <-n.released:
			if slices.Contains(n.insts, in) && !in.m.PreemptHeldUntil.IsZero() {
				in.m.PreemptHeldUntil = time.Time{}
				n.log.Info(fmt.Sprintf("(%s) services checked since the interface came back: preemption allowed", in.cfg.Name), "instance", in.cfg.Name)
			}
		case req := <-n.updates:
			req.reply <- n.update(req.cfg) //nolint:contextcheck // instances live in the node's context (n.bg), not the update request's
		case <-timer.C:
			n.timerFired(bg, time.Now())
		case <-startup:
			startup = nil
			n.startInstances(bg, time.Now())
		}
		n.publish()
	}
}

// startInstances sends every instance its EventStartup (after
// vrrp_startup_delay, if any).
func (n *Node) startInstances(ctx context.Context, now time.Time) {
	for i := range n.insts {
		n.step(ctx, i, EventStartup{}, now)
	}
}

// lockThread gives Run its own OS thread for good: the goroutine is
// locked to it and never unlocked, so the thread, with its scheduling,
// ends when Run returns instead of going back to the runtime's pool. The
// thread is then scheduled as Config.Thread says; a setting the kernel
// refuses (no CAP_SYS_NICE, say) is a warning, as in keepalived.
func (n *Node) lockThread() {
	runtime.LockOSThread()
	tid := unix.Gettid()
	n.tid.Store(int64(tid))
	t := n.cfg.Thread
	if err := ApplyThread(tid, t); err != nil {
		n.log.Warn("VRRP thread scheduling not (fully) applied", "err", err)
		return
	}
	if t.RTPriority > 0 || t.Nice != 0 || len(t.CPUs) > 0 || t.LockMemory {
		n.log.Info(fmt.Sprintf("VRRP thread %d: SCHED_RR priority %d, nice %d, CPUs %v, rlimit_rttime %v, memory locked %v",
			tid, t.RTPriority, t.Nice, t.CPUs, t.RLimitRTTime, t.LockMemory))
	}
}

// releaseThread takes the thread's scheduling away as Run ends. The
// thread itself ends with Run's goroutine, except the process's main
// thread, which the Go runtime parks instead: it must not stay real-time.
func (n *Node) releaseThread() {
	tid := int(n.tid.Load())
	if err := ApplyThread(tid, ThreadConfig{}); err != nil {
		n.log.Debug("VRRP thread scheduling not reset", "err", err)
	}
	if len(n.cfg.Thread.CPUs) > 0 {
		var all unix.CPUSet
		for c := range runtime.NumCPU() {
			all.Set(c)
		}
		_ = unix.SchedSetaffinity(tid, &all) // best effort, as above
	}
}

// ThreadID is the OS thread Run is locked to (see Config.Thread), or 0
// before Run started.
func (n *Node) ThreadID() int { return int(n.tid.Load()) }

func (n *Node) setupDeps() error {
	if n.opts.Netlink == nil && (n.opts.Addresses == nil || (n.opts.LinkUp == nil && n.opts.Interface == nil)) {
		var h *netlink.Handle
		var err error
		if n.opts.NetNS > 0 {
			h, err = netlink.NewHandleAt(n.opts.NetNS, unix.NETLINK_ROUTE)
		} else {
			h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		}
		if err != nil {
			return fmt.Errorf("vrrp: open netlink handle: %w", err)
		}
		if size := n.opts.NetlinkCmdRcvBuf; size > 0 {
			if err := h.SetSocketReceiveBufferSize(size, n.opts.NetlinkCmdRcvBufForce); err != nil {
				n.log.Warn("vrrp_netlink_cmd_rcv_bufs not applied", "bytes", size, "force", n.opts.NetlinkCmdRcvBufForce, "err", err)
			}
		}
		n.opts.Netlink = h
		n.closeNetlink = true
	}
	if n.opts.Addresses == nil {
		n.opts.Addresses = NetlinkAddresses{Handle: n.opts.Netlink}
		n.setupAcceptFilter()
		if n.opts.Routes == nil {
			n.opts.Routes = NetlinkRoutes{Handle: n.opts.Netlink}
		}
	}
	if n.opts.Interface == nil {
		if up := n.opts.LinkUp; up != nil {
			n.polled = true
			n.opts.Interface = func(name string) (InterfaceState, error) {
				ok, err := up(name)
				return InterfaceState{Index: 1, Up: ok && err == nil}, err
			}
		} else {
			h := n.opts.Netlink
			n.opts.Interface = func(name string) (InterfaceState, error) { return netlinkInterface(h, name) }
		}
	} else {
		n.polled = true
	}
	if n.opts.RunScript == nil {
		n.opts.RunScript = ExecScript
	}
	if n.opts.LinkReady == nil {
		if n.polled {
			n.opts.LinkReady = func(context.Context, string) error { return nil }
		} else {
			h := n.opts.Netlink
			n.opts.LinkReady = func(ctx context.Context, name string) error { return waitOperUp(ctx, h, name) }
		}
	}
	inNS := func(fn func() error) error {
		if n.opts.NetNS > 0 {
			return InNamespace(n.opts.NetNS, fn)
		}
		return fn()
	}
	if n.opts.Listen == nil {
		n.opts.Listen = func(tc TransportConfig) (Conn, error) {
			if tc.Source.Is6() {
				var c *IPv6Conn
				err := inNS(func() (err error) { c, err = ListenIPv6(tc); return err })
				return c, err
			}
			var c *IPv4Conn
			err := inNS(func() (err error) { c, err = ListenIPv4(tc); return err })
			return c, err
		}
	}
	if n.opts.DialNA == nil {
		n.opts.DialNA = func(ifname string) (GARPSender, error) {
			var s *NASender
			err := inNS(func() (err error) { s, err = DialNA(ifname); return err })
			return s, err
		}
	}
	if n.opts.DialGARP == nil {
		n.opts.DialGARP = func(ifname string) (GARPSender, error) {
			var s *ARPSender
			err := inNS(func() (err error) { s, err = DialGARP(ifname); return err })
			return s, err
		}
	}
	return nil
}

func (n *Node) closeDeps() {
	n.closeAcceptFilter()
	if n.closeNetlink {
		n.opts.Netlink.Close()
	}
}

// openInstance opens in's socket (from source, on the interface with
// index ifindex), its ARP senders and its reader.
func (n *Node) openInstance(in *instance, source netip.Addr, ifindex int) error {
	c := in.cfg
	in.source = source
	in.dsts = c.UnicastPeers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{c.MulticastGroup}
	}
	in.setParams()
	in.m.Params.PrimaryIP = source
	if err := n.ensureVMAC(in); err != nil {
		return fmt.Errorf("vrrp: instance %s: %w", c.Name, err)
	}
	if c.Protocol.PromoteSecondaries {
		n.promoteSecondaries(c.Interface)
	}
	conn, err := n.opts.Listen(in.transport())
	if err != nil {
		return fmt.Errorf("vrrp: instance %s: %w", c.Name, err)
	}
	in.conn, in.ifindex = conn, ifindex
	n.dialGARP(in)
	rctx, stop := context.WithCancel(n.bg)
	in.stop = stop
	name := c.Name
	n.workers.Go(func() { n.read(rctx, in, name, conn) })
	n.log.Info(fmt.Sprintf("(%s) VRRP %v VRID %d on %s from %v, priority %d", c.Name, c.Version, c.VRID, c.Interface, in.source, c.Priority),
		"instance", c.Name)
	if !in.staleChecked {
		in.staleChecked = true
		n.removeStaleVIPs(in)
	}
	return nil
}

// transport is the socket in's configuration needs.
func (in *instance) transport() TransportConfig {
	c := in.cfg
	tc := TransportConfig{Interface: c.transportInterface(), Source: in.source, Group: c.MulticastGroup, Unicast: len(c.UnicastPeers) > 0,
		RxBufSize: c.Protocol.RxBufSize, RxBufMTUs: c.Protocol.RxBufMTUs}
	if tc.Unicast {
		tc.TTL = c.Protocol.unicastTTL()
	}
	return tc
}

// setParams derives the advert validation parameters from cfg and source.
func (in *instance) setParams() {
	in.adv = advertCache{}
	c := in.cfg
	var auth [AuthDataLen]byte
	if c.AuthType == AuthPass {
		auth = PassAuthData(c.AuthPass)
	}
	in.params = ValidationParams{Version: c.Version, VRID: c.VRID, AuthType: c.AuthType, AuthData: auth,
		AdvertInterval: c.AdvertInterval, VirtualAddresses: in.vipAddrs, Strict: c.Strict, LocalAddresses: []netip.Addr{in.source},
		UnicastPeers: c.UnicastPeers, AcceptFrom: c.AcceptFrom, SkipCheckAdvAddr: c.Protocol.SkipCheckAdvAddr}
	in.checksum = Checksum{NoPseudoHeader: c.Protocol.V3ChecksumAsV2}
	if c.Protocol.OldUnicastChecksum && len(c.UnicastPeers) > 0 {
		in.checksum.PseudoDst = c.MulticastGroup
	}
}

// dialGARP opens an ARP sender per interface carrying in's IPv4
// addresses and a neighbour advertisement sender per interface carrying
// its IPv6 ones.
func (n *Node) dialGARP(in *instance) {
	for _, v := range in.allVIPs {
		v6 := v.Prefix.Addr().Is6()
		k := slices.IndexFunc(in.garp, func(g garpTarget) bool { return g.ifname == v.Interface && g.v6 == v6 })
		if k >= 0 {
			in.garp[k].ips = append(in.garp[k].ips, v.Prefix.Addr())
			continue
		}
		dial, what := n.opts.DialGARP, "gratuitous ARP"
		if v6 {
			dial, what = n.opts.DialNA, "unsolicited neighbour advertisement"
		}
		sender, err := dial(v.Interface)
		if err != nil {
			// Without ARP or NA the VIP still moves; clients just learn it later.
			n.log.Warn(fmt.Sprintf("(%s) no %s on %s", in.cfg.Name, what, v.Interface), "instance", in.cfg.Name, "err", err)
			continue
		}
		in.garp = append(in.garp, garpTarget{ifname: v.Interface, v6: v6, sender: sender, ips: []netip.Addr{v.Prefix.Addr()}})
	}
}

// closeGARP stops the ARP bursts and closes the senders.
func (n *Node) closeGARP(in *instance) {
	if in.garpCancel != nil {
		in.garpCancel()
		in.garpCancel = nil
	}
	for _, g := range in.garp {
		if err := g.sender.Close(); err != nil {
			n.log.Warn("close ARP socket", "instance", in.cfg.Name, "err", err)
		}
	}
	in.garp = nil
}

// closeInstance closes in's socket, reader and ARP senders (idempotent).
func (n *Node) closeInstance(in *instance) {
	if in.stop != nil {
		in.stop()
		in.stop = nil
	}
	if in.holdStop != nil {
		in.holdStop()
		in.holdStop = nil
	}
	if in.conn != nil {
		if err := in.conn.Close(); err != nil {
			n.log.Warn("close VRRP socket", "instance", in.cfg.Name, "err", err)
		}
		in.conn, in.ifindex = nil, 0
	}
	n.closeGARP(in)
}

// stopScripts ends in's track script goroutines.
func (n *Node) stopScripts(in *instance) {
	if in.scriptStop != nil {
		in.scriptStop()
		in.scriptStop = nil
	}
	in.scriptGen++
}

// startScripts runs in's track scripts (after stopping any running).
func (n *Node) startScripts(in *instance) {
	n.stopScripts(in)
	if len(in.cfg.TrackScripts) == 0 && len(in.cfg.TrackFiles) == 0 && len(in.cfg.TrackProcesses) == 0 {
		return
	}
	sctx, stop := context.WithCancel(n.bg)
	in.scriptStop = stop
	gen := in.scriptGen
	first := 1 + len(in.cfg.TrackInterfaces)
	for k, ts := range in.cfg.TrackScripts {
		ok := in.trackers[first+k].ok
		n.workers.Go(func() { n.runTrackScript(sctx, in, gen, first+k, ts, ok) })
	}
	n.startTrackFiles(sctx, in, gen, first+len(in.cfg.TrackScripts))
	n.startTrackProcesses(sctx, in, gen, first+len(in.cfg.TrackScripts)+len(in.cfg.TrackFiles))
}

func (n *Node) removeStaleVIPs(in *instance) {
	for _, v := range in.allVIPs {
		if v.Prefix.Addr() == in.source {
			continue // the owner's real address is not ours to remove
		}
		removed, err := n.opts.Addresses.Remove(v)
		if err != nil {
			in.counters.Errors++
			n.log.Warn(fmt.Sprintf("(%s) cannot remove stale VIP %v", in.cfg.Name, v.Prefix), "instance", in.cfg.Name, "err", err)
		} else if removed {
			n.log.Info(fmt.Sprintf("(%s) removed stale VIP %v from %s left by a previous run", in.cfg.Name, v.Prefix, v.Interface), "instance", in.cfg.Name)
		}
	}
}

// read forwards packets from conn to the loop until the conn is closed.
// name is passed in: in belongs to the loop.
func (n *Node) read(ctx context.Context, in *instance, name string, conn Conn) {
	buf := make([]byte, 2048)
	for {
		nb, info, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				select {
				case n.readErr <- fmt.Errorf("vrrp: instance %s: %w", name, err):
				default:
				}
			}
			return
		}
		select {
		case n.packets <- packetIn{from: in, data: append([]byte(nil), buf[:nb]...), info: info, at: time.Now()}:
		case <-ctx.Done():
			return
		}
	}
}

// handlePacket passes a packet from a reader to its instance, unless the
// instance was replaced or closed since.
func (n *Node) handlePacket(ctx context.Context, p packetIn) {
	if p.inst = slices.Index(n.insts, p.from); p.inst >= 0 && p.from.conn != nil {
		n.receive(ctx, p)
	}
}

// PendingReader is a Conn that can return a message already queued on its
// socket without waiting (IPv4Conn). Before a backup declares its master
// down, the loop reads what is pending: an advert that reached the kernel
// in time but not yet this process (a busy machine, the Go runtime's
// network poller) must not cause a failover.
type PendingReader interface {
	// ReadPending is Read without blocking: ok is false when nothing is queued.
	ReadPending(b []byte) (n int, info PacketInfo, ok bool, err error)
}

// catchUp handles, before master-down timers are acted on, every advert
// that already arrived: those the readers queued for the loop (select
// picks among ready channels at random, so the timer can win over them)
// and those still in the kernel's socket buffers of backups that are due.
func (n *Node) catchUp(ctx context.Context, now time.Time) {
	for {
		select {
		case p := <-n.packets:
			n.handlePacket(ctx, p)
			continue
		default:
		}
		break
	}
	var buf []byte
	for i, in := range n.insts {
		due := in.m.TimerAt
		if in.m.State != StateBackup || due.IsZero() || now.Before(due) {
			continue
		}
		pr, ok := in.conn.(PendingReader)
		if !ok {
			continue
		}
		if buf == nil {
			buf = make([]byte, 2048)
		}
		for range 64 { // bounded: a flood must not hold the loop
			nb, info, ok, err := pr.ReadPending(buf)
			if err != nil || !ok {
				break
			}
			n.receive(ctx, packetIn{inst: i, from: in, data: slices.Clone(buf[:nb]), info: info, at: time.Now()})
			if in.conn == nil || in.m.State != StateBackup {
				break
			}
		}
	}
}

// timerFired steps every instance whose timer is due at now. A MASTER's
// advert timer, the common case, takes a path that does not allocate
// (Machine.AdvertTimer, the advert cache); lateness is recorded for both
// kinds of timer.
func (n *Node) timerFired(ctx context.Context, now time.Time) {
	for _, in := range n.insts {
		if in.m.State == StateBackup && !in.m.TimerAt.IsZero() && !now.Before(in.m.TimerAt) {
			n.catchUp(ctx, now)
			break
		}
	}
	for i, in := range n.insts {
		due := in.m.TimerAt
		if due.IsZero() || now.Before(due) {
			continue
		}
		switch in.m.State {
		case StateMaster:
			if !in.m.TimerExpired(now) {
				n.advertTimer(in, now)
				continue
			}
		case StateBackup:
			msg, held := in.timing.masterDown(due, now, in.m.MasterIP.As16(), in.m.masterInterval())
			n.timingWarn(in, msg, held)
		}
		n.step(ctx, i, EventTimer{}, now)
	}
}

// advertTimer is Step's EventTimer for a MASTER whose timer is due: send
// the advert, schedule the next, record how late it left.
func (n *Node) advertTimer(in *instance, now time.Time) {
	due := in.m.TimerAt
	in.m = in.m.AdvertTimer(now)
	n.sendAdvert(in, in.m.EffectivePriority)
	msg, held := in.timing.sent(due, time.Now(), in.cfg.AdvertInterval)
	n.timingWarn(in, msg, held)
}

// timingWarn logs a timing warning (rate-limited by its caller; "" is none).
func (n *Node) timingWarn(in *instance, msg string, held uint64) {
	if msg == "" {
		return
	}
	if held > 0 {
		n.log.Warn(fmt.Sprintf("(%s) %s", in.cfg.Name, msg), "instance", in.cfg.Name, "suppressed", held)
		return
	}
	n.log.Warn(fmt.Sprintf("(%s) %s", in.cfg.Name, msg), "instance", in.cfg.Name)
}

func (n *Node) resetTimer(t *time.Timer) {
	var next time.Time
	for _, in := range n.insts {
		if at := in.m.TimerAt; !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	d := time.Hour
	if !next.IsZero() {
		d = max(time.Until(next), 0)
		n.nextTimer.Store(next.UnixNano())
	} else {
		n.nextTimer.Store(0)
	}
	t.Reset(d)
}

func (in *instance) trackResult() (delta int, fault bool) {
	// Without a socket (no interface or address yet) an instance cannot
	// take part, even with dont_track_primary.
	fault = in.conn == nil || in.cfg.Protocol.NoPeerFault
	for _, t := range in.trackers {
		if t.ignore {
			continue
		}
		d, f := TrackEffect(t.weight, t.reverse, t.ok)
		if t.kind == trackFile {
			d, f = FileTrackEffect(t.weight, t.reverse, t.value)
		}
		delta += d
		fault = fault || f
	}
	return delta, fault
}

func (n *Node) receive(ctx context.Context, p packetIn) {
	in := n.insts[p.inst]
	msg, trailer := p.data, []byte(nil)
	if in.hmac != nil {
		msg, trailer = SplitHMACTrailer(p.data, p.info.Src)
	}
	a, err := ParseChecksum(msg, p.info.Src, p.info.Dst, in.checksum)
	oldForm := false
	if err != nil && in.detectOldChecksum() && errors.Is(err, ErrChecksum) {
		// keepalived's automatic detection of a pre-1.3.6 peer: adopted
		// below, once the advert passed validation (a peer's).
		if a2, err2 := ParseChecksum(msg, p.info.Src, p.info.Dst, Checksum{PseudoDst: in.cfg.MulticastGroup}); err2 == nil {
			a, err, oldForm = a2, nil, true
		}
	}
	if err != nil {
		n.drop(in, DropReasonOf(err), err.Error())
		return
	}
	params := in.params
	if in.m.State == StateBackup {
		params.CurrentMaster = in.m.MasterIP // skip_check_adv_addr
	}
	v := Validate(a, p.info, params)
	if v.AddressListMismatch {
		in.counters.AddressListMismatches++
		v.Detail = fmt.Sprintf("ip address associated with VRID %d not present in MASTER advert: %s", a.VRID, v.Detail)
	}
	if v.Drop != DropNone {
		if v.Drop == DropVRID && n.cfg.LogUnknownVRIDs {
			n.unknownVRID(in, a.VRID, p.info.Src)
		}
		n.drop(in, v.Drop, v.Detail)
		return
	}
	if in.hmac != nil {
		// Before any field reaches the state machine, as keepalived does.
		if err := in.hmac.Verify(in.cfg.Version, in.cfg.VRID, p.info.Src, msg, trailer, time.Now()); err != nil {
			n.drop(in, DropReasonOf(err), err.Error())
			return
		}
	}
	if oldForm {
		n.log.Info(fmt.Sprintf("(%s) Setting unicast VRRPv3 checksum to old version", in.cfg.Name), "instance", in.cfg.Name, "from", p.info.Src)
		in.checksum.PseudoDst = in.cfg.MulticastGroup
		in.adv = advertCache{} // re-marshal our adverts in the old form
	}
	in.counters.AdvertsReceived++
	if a.Priority != PriorityStop && p.info.Src.IsValid() {
		at := p.at
		if at.IsZero() {
			at = time.Now()
		}
		msg, held := in.timing.received(p.info.Src.As16(), at, in.m.MasterDown())
		n.timingWarn(in, msg, held)
	}
	if a.Priority == PriorityStop {
		in.counters.PriorityZeroReceived++
		if in.m.State == StateBackup {
			n.log.Info(fmt.Sprintf("(%s) Backup received priority 0 advertisement", in.cfg.Name), "instance", in.cfg.Name, "from", p.info.Src)
		}
	} else if in.m.State == StateMaster && a.Priority < in.m.EffectivePriority {
		election := ", forcing new election"
		if in.cfg.Protocol.LowerPrioNoAdvert {
			election = ""
		}
		n.log.Info(fmt.Sprintf("(%s) Received advert from %v with lower priority %d, ours %d%s", in.cfg.Name, p.info.Src, a.Priority, in.m.EffectivePriority, election),
			"instance", in.cfg.Name)
		if n.opts.OnEvent != nil {
			n.opts.OnEvent(in.cfg.Name, EventMasterRxLowerPri, in.m.EffectivePriority)
		}
		if s := in.cfg.Protocol.NotifyMasterRxLowerPri; s != "" {
			n.notify(ctx, NotifyScripts{Master: s}, "INSTANCE", in.cfg.Name, StateMaster, in.m.EffectivePriority)
		}
	}
	n.step(ctx, p.inst, EventAdvert{Src: p.info.Src, Priority: a.Priority, AdvertInterval: a.AdvertInterval}, time.Now())
}

func (n *Node) drop(in *instance, r DropReason, detail string) {
	if in.counters.Drops == nil {
		in.counters.Drops = map[DropReason]uint64{}
	}
	in.counters.Drops[r]++
	msg := fmt.Sprintf("(%s) dropped VRRP packet: %s", in.cfg.Name, detail)
	// Other VRIDs on a shared segment are normal; everything else is worth
	// a warning, rate-limited per reason.
	if r == DropVRID {
		n.log.Debug(msg, "instance", in.cfg.Name, "reason", r.String())
		return
	}
	n.warnLimited(in, "drop:"+r.String(), msg, "reason", r.String())
}

// suspect counts and logs (rate-limited) an advert the machine held back.
func (n *Node) suspect(in *instance, s Suspect) {
	if in.counters.Suspects == nil {
		in.counters.Suspects = map[SuspectReason]uint64{}
	}
	in.counters.Suspects[s.Reason]++
	n.warnLimited(in, "suspect:"+s.Reason.String(), fmt.Sprintf("(%s) %s", in.cfg.Name, s.Detail()),
		"reason", s.Reason.String(), "from", s.Src.String())
}

// warnLimited logs msg as a warning at most once per WarnInterval for key,
// and at the debug level in between.
func (n *Node) warnLimited(in *instance, key, msg string, args ...any) {
	w := in.warnings[key]
	if w == nil {
		w = &warnLimiter{}
		in.warnings[key] = w
	}
	args = append([]any{"instance", in.cfg.Name}, args...)
	ok, suppressed := w.allow(time.Now())
	if !ok {
		n.log.Debug(msg, args...)
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	n.log.Warn(msg, args...)
}

// step feeds ev to instance i, carries out the actions and moves the rest
// of its sync group along.
func (n *Node) step(ctx context.Context, i int, ev Event, now time.Time) {
	trs := n.stepOne(ctx, i, ev, now)
	in := n.insts[i]
	if in.group < 0 {
		return
	}
	g := &n.groups[in.group]
	for _, f := range GroupFaultForces(n.members(g)) {
		n.stepOne(ctx, n.index(f.Instance), f.Event, now)
	}
	for _, t := range trs {
		forces := SyncGroupForces(n.members(g), t)
		for _, f := range forces {
			n.stepOne(ctx, n.index(f.Instance), f.Event, now)
		}
		if t.To != g.state && n.groupAgrees(g, t.To) {
			n.log.Info(fmt.Sprintf("(%s) Syncing instances to %s state", g.cfg.Name, t.To), "group", g.cfg.Name)
			g.state = t.To
			n.notify(ctx, g.cfg.Notify, "GROUP", g.cfg.Name, t.To, in.m.EffectivePriority)
		}
	}
}

// members returns the sync group's members as SyncGroupForces sees them.
func (n *Node) members(g *group) []SyncMember {
	out := make([]SyncMember, 0, len(g.members))
	for _, mi := range g.members {
		m := n.insts[mi].m
		out = append(out, SyncMember{Name: n.insts[mi].cfg.Name, State: m.State, OwnFault: m.OwnFault, GroupFault: m.GroupFault})
	}
	return out
}

// index returns the position of the instance called name.
func (n *Node) index(name string) int {
	return slices.IndexFunc(n.insts, func(in *instance) bool { return in.cfg.Name == name })
}

func (n *Node) groupAgrees(g *group, s State) bool {
	for _, mi := range g.members {
		if n.insts[mi].m.State != s {
			return false
		}
	}
	return true
}

// stepOne steps one machine and executes its actions; it returns its transitions.
func (n *Node) stepOne(ctx context.Context, i int, ev Event, now time.Time) []Transition {
	in := n.insts[i]
	var acts []Action
	before := in.m
	in.m, acts = Step(in.m, ev, now)
	if in.m.EffectivePriority != before.EffectivePriority {
		n.priorityChanged(in, before)
	}
	var trs []Transition
	for _, act := range acts {
		switch a := act.(type) {
		case SendAdvert:
			n.sendAdvert(in, a.Priority)
		case AddVIPs:
			for _, v := range in.allVIPs {
				if err := n.opts.Addresses.Add(v); err != nil {
					in.counters.Errors++
					n.log.Error(fmt.Sprintf("(%s) cannot add VIP %v", in.cfg.Name, v.Prefix), "instance", in.cfg.Name, "err", err)
				}
			}
			n.addRoutes(in)
		case RemoveVIPs:
			if in.garpCancel != nil {
				in.garpCancel()
				in.garpCancel = nil
			}
			n.removeRoutes(in)
			for _, v := range in.allVIPs {
				if v.Prefix.Addr() == in.source {
					continue // the owner's real address is not ours to remove
				}
				if _, err := n.opts.Addresses.Remove(v); err != nil {
					in.counters.Errors++
					n.log.Error(fmt.Sprintf("(%s) cannot remove VIP %v", in.cfg.Name, v.Prefix), "instance", in.cfg.Name, "err", err)
				}
			}
		case SendGARP:
			if a.LowerPriority && in.garpRunning.Load() > 0 {
				break
			}
			if a.LowerPriority {
				n.startGARPWith(ctx, in, in.cfg.GARP.lowerPriority())
				break
			}
			n.startGARP(ctx, in)
		case RunNotify:
			n.notify(ctx, in.cfg.Notify, "INSTANCE", in.cfg.Name, a.State, in.m.EffectivePriority)
		case ResetTimer:
			// The loop re-arms its timer from every machine's TimerAt.
		case Suspect:
			n.suspect(in, a)
		case Transition:
			a.Instance = in.cfg.Name
			in.counters.Transitions++
			if a.To == StateMaster {
				in.counters.BecameMaster++
			}
			in.since = a.Time
			n.log.Info(fmt.Sprintf("(%s) Entering %s STATE", in.cfg.Name, a.To), "instance", in.cfg.Name, "from", a.From.String(), "reason", a.Reason)
			if n.opts.OnTransition != nil {
				n.opts.OnTransition(a)
			}
			trs = append(trs, a)
		}
	}
	return trs
}

func (n *Node) sendAdvert(in *instance, prio uint8) {
	if in.conn == nil {
		return
	}
	c := in.cfg
	h := c.AuthHMAC
	sign := h != nil && h.Mode != HMACReceiveOnly
	if sign {
		// One sequence per advert: every peer's copy carries the same one.
		in.hmacSeq = NextHMACSeq(in.hmacSeq, time.Now(), !h.Monotonic, h.TimeWindow)
	} else if !in.adv.valid || in.adv.prio != prio || len(in.adv.msgs) != len(in.dsts) {
		n.marshalAdverts(in, prio)
	}
	for k, dst := range in.dsts {
		var msg []byte
		var err error
		switch {
		case sign:
			// auth_hmac signs a new sequence each time: marshalled (and
			// allocated) per advert, the one exception to the cache.
			adv := Advertisement{Version: c.Version, VRID: c.VRID, Priority: prio, AdvertInterval: c.AdvertInterval,
				AuthType: c.AuthType, AuthData: in.params.AuthData, Addresses: in.vipAddrs}
			if msg, err = MarshalChecksum(adv, in.source, dst, in.checksum); err == nil {
				msg = SignHMAC(msg, c.Version, c.VRID, in.source, h.ActiveKey, h.Keys[h.ActiveKey], in.hmacSeq)
			}
		case in.adv.msgs[k] == nil:
			err = fmt.Errorf("vrrp: cannot marshal advert to %v", dst)
		default:
			msg = in.adv.msgs[k]
		}
		if err == nil {
			err = in.conn.Write(msg, dst)
		}
		if err != nil {
			in.counters.Errors++
			n.log.Warn(fmt.Sprintf("(%s) cannot send advert", c.Name), "instance", c.Name, "err", err)
			continue
		}
		in.counters.AdvertsSent++
		if prio == PriorityStop {
			in.counters.PriorityZeroSent++
			n.log.Info(fmt.Sprintf("(%s) sent 0 priority", c.Name), "instance", c.Name, "to", dst)
		}
	}
}

// marshalAdverts fills in's advert cache for prio: one message per
// destination (the checksum covers the pseudo-header in v3); a message
// that cannot be marshalled is nil and its error logged.
func (n *Node) marshalAdverts(in *instance, prio uint8) {
	c := in.cfg
	adv := Advertisement{Version: c.Version, VRID: c.VRID, Priority: prio, AdvertInterval: c.AdvertInterval,
		AuthType: c.AuthType, AuthData: in.params.AuthData, Addresses: in.vipAddrs}
	in.adv = advertCache{valid: true, prio: prio, msgs: make([][]byte, len(in.dsts))}
	for k, dst := range in.dsts {
		msg, err := MarshalChecksum(adv, in.source, dst, in.checksum)
		if err != nil {
			in.counters.Errors++
			n.log.Warn(fmt.Sprintf("(%s) cannot build advert", c.Name), "instance", c.Name, "err", err)
			continue
		}
		in.adv.msgs[k] = msg
	}
}

type garpTarget struct {
	ifname string
	v6     bool // unsolicited neighbour advertisements, not ARP
	sender GARPSender
	ips    []netip.Addr
}

func (n *Node) startGARP(ctx context.Context, in *instance) {
	n.startGARPWith(ctx, in, in.cfg.GARP)
}

// startGARPWith is startGARP with schedule sched.
func (n *Node) startGARPWith(ctx context.Context, in *instance, sched GARPSchedule) {
	if len(in.garp) == 0 || sched.Repeat <= 0 {
		return
	}
	if in.garpCancel != nil {
		in.garpCancel()
	}
	gctx, cancel := context.WithCancel(ctx)
	in.garpCancel = cancel
	name, sent, running := in.cfg.Name, in.garpSent, in.garpRunning
	ready := n.opts.LinkReady
	for _, g := range in.garp {
		running.Add(1)
		what, sched := "gratuitous ARPs", sched
		if g.v6 {
			// keepalived's words; NAs have their own gap (gna_interval).
			what, sched.Interval = "Unsolicited Neighbour Adverts", in.cfg.GNAInterval
		}
		n.log.Info(fmt.Sprintf("(%s) Sending/queueing %s on %s for %v", name, what, g.ifname, g.ips), "instance", name)
		n.scripts.Go(func() {
			// Just after link-up the kernel refuses to send ("network is
			// down") until the link is operationally up: wait for it.
			wctx, cancel := context.WithTimeout(gctx, GARPLinkWait)
			if err := ready(wctx, g.ifname); err != nil && gctx.Err() == nil {
				n.log.Warn(fmt.Sprintf("(%s) %s not ready for gratuitous ARP, sending anyway", name, g.ifname), "instance", name, "err", err)
			}
			cancel()
			// Other counters belong to the loop: report failures through the log only.
			k := SendGARPBursts(gctx, g.sender, g.ips, sched, func(err error) {
				n.log.Warn(fmt.Sprintf("(%s) gratuitous ARP failed", name), "instance", name, "err", err)
			})
			sent.Add(uint64(k))
			running.Add(-1)
		})
		if every := in.cfg.garpExtraIf(g.ifname); every > 0 {
			n.startExtraGARP(gctx, in, g, every)
		}
	}
}

// notify runs the scripts for a transition asynchronously, each bounded by
// the script timeout; the state machine never waits for them.
func (n *Node) notify(ctx context.Context, s NotifyScripts, kind, name string, state State, prio uint8) {
	if n.opts.OnNotify != nil {
		p := prio
		if kind == "GROUP" {
			p = 0 // keepalived gives a group priority 0
		}
		n.opts.OnNotify(kind, name, state, p)
	}
	cmds, err := NotifyCommands(s, kind, name, state, prio)
	if err != nil {
		n.log.Error(fmt.Sprintf("(%s) bad notify script", name), "err", err)
		return
	}
	if len(cmds) == 0 {
		return
	}
	// Scripts run to their own timeout even when ctx ends.
	base := context.WithoutCancel(ctx)
	run, timeout := n.opts.RunScript, n.cfg.ScriptTimeout
	n.scripts.Go(func() {
		for _, argv := range cmds {
			ctx, cancel := context.WithTimeout(base, timeout)
			err := run(ctx, argv)
			cancel()
			if err != nil {
				n.log.Warn(fmt.Sprintf("(%s) notify script failed", name), "err", err)
			}
		}
	})
}

// shutdown stops every running instance: priority 0 from masters, VIPs removed.
func (n *Node) shutdown(ctx context.Context) {
	now := time.Now()
	for i := range n.insts {
		n.stepOne(ctx, i, EventShutdown{}, now)
	}
	for gi := range n.groups {
		g := &n.groups[gi]
		if g.state != StateInit && g.state != StateStopped {
			g.state = StateStopped
			n.notify(ctx, g.cfg.Notify, "GROUP", g.cfg.Name, StateStopped, 0)
		}
	}
	n.log.Info("VRRP stopped")
}
