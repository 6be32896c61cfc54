package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	// OnTransition, if set, is called for every state change of every
	// instance, from Run's goroutine, in order. It must not block (hand the
	// value to a buffered channel or a timeline).
	OnTransition func(Transition)

	// Listen opens an instance's VRRP socket; nil means ListenIPv4 (in NetNS).
	Listen func(TransportConfig) (Conn, error)
	// DialGARP opens an interface's gratuitous ARP sender; nil means
	// DialGARP (in NetNS).
	DialGARP func(ifname string) (GARPSender, error)
	// Addresses adds and removes VIPs; nil means NetlinkAddresses{Netlink}.
	Addresses AddressManager
	// LinkUp reports whether an interface is up and running; nil means a
	// netlink query.
	LinkUp func(ifname string) (bool, error)
	// RunScript runs notify and track scripts; nil means ExecScript.
	RunScript ScriptRunner
}

// Counters are an instance's running totals since Run started.
type Counters struct {
	// AdvertsSent counts adverts sent (per destination), priority 0 included.
	AdvertsSent uint64
	// AdvertsReceived counts adverts that passed validation.
	AdvertsReceived uint64
	// PriorityZeroSent and PriorityZeroReceived count priority-0 adverts.
	PriorityZeroSent, PriorityZeroReceived uint64
	// AddressListMismatches counts accepted adverts whose address list differs from ours.
	AddressListMismatches uint64
	// Drops counts dropped packets by reason.
	Drops map[DropReason]uint64
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
	// nextTimer is when the earliest machine timer falls due (UnixNano; 0
	// for none), for NextTimer.
	nextTimer atomic.Int64
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
	warned      map[DropReason]bool
}

type tracker struct {
	name    string
	weight  int
	reverse bool
	ok      bool
	ignore  bool // dont_track_primary
}

// NewNode checks cfg, fills in keepalived's defaults and returns a Node
// ready to Run. Errors wrap ErrConfig.
func NewNode(cfg Config, opts Options) (*Node, error) {
	n := &Node{opts: opts, log: opts.Logger}
	if n.log == nil {
		n.log = slog.Default()
	}
	if cfg.ScriptTimeout == 0 {
		cfg.ScriptTimeout = DefaultScriptTimeout
	}
	byName := map[string]int{}
	vrids := map[string]bool{}
	for i, ic := range cfg.Instances {
		ic, err := ic.withDefaults()
		if err != nil {
			return nil, err
		}
		if _, dup := byName[ic.Name]; dup {
			return nil, fmt.Errorf("%w: instance %q defined twice", ErrConfig, ic.Name)
		}
		key := fmt.Sprintf("%s/%d/%d", ic.Interface, ic.VRID, ic.Version)
		if vrids[key] {
			return nil, fmt.Errorf("%w: instance %q: VRID %d already used on %s", ErrConfig, ic.Name, ic.VRID, ic.Interface)
		}
		vrids[key] = true
		byName[ic.Name] = i
		cfg.Instances[i] = ic
		in := &instance{cfg: ic, group: -1, warned: map[DropReason]bool{}, garpSent: &atomic.Uint64{}, garpRunning: &atomic.Int32{}}
		for _, v := range ic.VIPs {
			in.vipAddrs = append(in.vipAddrs, v.Prefix.Addr())
		}
		in.allVIPs = append(slices.Clone(ic.VIPs), ic.ExcludedVIPs...)
		in.trackers = append(in.trackers, tracker{name: ic.Interface, ok: true, ignore: ic.DontTrackPrimary})
		for _, ti := range ic.TrackInterfaces {
			in.trackers = append(in.trackers, tracker{name: ti.Name, weight: ti.Weight, reverse: ti.Reverse, ok: true})
		}
		for _, ts := range ic.TrackScripts {
			in.trackers = append(in.trackers, tracker{name: ts.Name, weight: ts.Weight, reverse: ts.Reverse, ok: !ts.InitFail})
		}
		n.insts = append(n.insts, in)
	}
	for _, g := range cfg.SyncGroups {
		gi := len(n.groups)
		grp := group{cfg: g, state: StateInit}
		for _, name := range g.Instances {
			i, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("%w: sync group %q: unknown instance %q", ErrConfig, g.Name, name)
			}
			if n.insts[i].group >= 0 {
				return nil, fmt.Errorf("%w: instance %q is in two sync groups", ErrConfig, name)
			}
			n.insts[i].group = gi
			grp.members = append(grp.members, i)
		}
		n.groups = append(n.groups, grp)
	}
	n.cfg = cfg
	n.publish()
	return n, nil
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
		out[i] = s
	}
	return out
}

// publish copies the loop's state into the snapshot Status reads.
func (n *Node) publish() {
	st := make([]InstanceStatus, len(n.insts))
	for i, in := range n.insts {
		c := in.counters
		c.GARPsSent = in.garpSent.Load()
		c.Drops = make(map[DropReason]uint64, len(in.counters.Drops))
		for k, v := range in.counters.Drops {
			c.Drops[k] = v
		}
		st[i] = InstanceStatus{
			Name: in.cfg.Name, Interface: in.cfg.Interface, VRID: in.cfg.VRID, Version: in.cfg.Version,
			SourceIP: in.source, State: in.m.State, Priority: in.cfg.Priority, EffectivePriority: in.m.EffectivePriority,
			MasterIP: in.m.MasterIP, MasterPriority: in.m.MasterPriority, Fault: in.m.OwnFault || in.m.GroupFault,
			Since: in.since, Counters: c,
		}
		if in.m.State == StateInit && st[i].EffectivePriority == 0 {
			st[i].EffectivePriority = in.cfg.Priority
		}
	}
	n.mu.Lock()
	n.status = st
	n.mu.Unlock()
}

type packetIn struct {
	inst int
	data []byte
	info PacketInfo
}

type trackIn struct {
	inst, tracker int
	ok            bool
}

// Run opens the sockets, removes VIPs a killed predecessor may have left,
// starts every instance and runs until ctx ends. It then sends priority-0
// adverts for the instances that are MASTER, removes the VIPs, runs the
// notify_stop scripts (waiting at most the script timeout) and returns nil.
// It returns an error if the sockets cannot be opened or a socket fails
// while running. Run may be called once.
func (n *Node) Run(ctx context.Context) (err error) {
	n.mu.Lock()
	if n.ran {
		n.mu.Unlock()
		return errors.New("vrrp: node already ran")
	}
	n.ran = true
	n.mu.Unlock()

	if err := n.setupDeps(); err != nil {
		return err
	}
	defer n.closeDeps()
	// Background work (readers, trackers, ARP) outlives ctx until the
	// shutdown adverts are out; scripts get their own timeout.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	// Registered before open, so that a partial open closes what it opened.
	defer func() {
		stopBG()
		for _, in := range n.insts {
			if in.conn != nil {
				if cerr := in.conn.Close(); cerr != nil {
					n.log.Warn("close VRRP socket", "instance", in.cfg.Name, "err", cerr)
				}
			}
			for _, g := range in.garp {
				if cerr := g.sender.Close(); cerr != nil {
					n.log.Warn("close ARP socket", "instance", in.cfg.Name, "err", cerr)
				}
			}
		}
		wg.Wait()
		n.scripts.Wait()
		n.publish()
	}()

	if err := n.open(); err != nil {
		return err
	}
	for _, in := range n.insts {
		n.removeStaleVIPs(in)
	}
	packets := make(chan packetIn, 64)
	tracks := make(chan trackIn, 16)
	readErr := make(chan error, len(n.insts))
	for i, in := range n.insts {
		wg.Go(func() { n.read(bg, i, in.conn, packets, readErr) })
		n.initialLinkState(i)
		wg.Go(func() { n.pollLinks(bg, i, tracks) })
		for k, ts := range in.cfg.TrackScripts {
			wg.Go(func() { n.runTrackScript(bg, i, 1+len(in.cfg.TrackInterfaces)+k, ts, tracks) })
		}
	}
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
	for i := range n.insts {
		n.step(bg, i, EventStartup{}, now)
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
		case rerr := <-readErr:
			n.shutdown(bg)
			return rerr
		case p := <-packets:
			n.receive(bg, p)
		case t := <-tracks:
			in := n.insts[t.inst]
			if in.trackers[t.tracker].ok != t.ok {
				in.trackers[t.tracker].ok = t.ok
				n.log.Info(fmt.Sprintf("(%s) tracker %s is %s", in.cfg.Name, in.trackers[t.tracker].name, map[bool]string{true: "up", false: "down"}[t.ok]),
					"instance", in.cfg.Name)
				delta, fault := in.trackResult()
				n.step(bg, t.inst, EventTrack{Delta: delta, Fault: fault}, time.Now())
			}
		case <-timer.C:
			now := time.Now()
			for i, in := range n.insts {
				if !in.m.TimerAt.IsZero() && !now.Before(in.m.TimerAt) {
					n.step(bg, i, EventTimer{}, now)
				}
			}
		}
		n.publish()
	}
}

func (n *Node) setupDeps() error {
	if n.opts.Netlink == nil && (n.opts.Addresses == nil || n.opts.LinkUp == nil || n.needsSourceLookup()) {
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
		n.opts.Netlink = h
		n.closeNetlink = true
	}
	if n.opts.Addresses == nil {
		n.opts.Addresses = NetlinkAddresses{Handle: n.opts.Netlink}
	}
	if n.opts.LinkUp == nil {
		h := n.opts.Netlink
		n.opts.LinkUp = func(name string) (bool, error) {
			link, err := h.LinkByName(name)
			if err != nil {
				return false, fmt.Errorf("vrrp: find interface %s: %w", name, err)
			}
			a := link.Attrs()
			return a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0, nil
		}
	}
	if n.opts.RunScript == nil {
		n.opts.RunScript = ExecScript
	}
	inNS := func(fn func() error) error {
		if n.opts.NetNS > 0 {
			return InNamespace(n.opts.NetNS, fn)
		}
		return fn()
	}
	if n.opts.Listen == nil {
		n.opts.Listen = func(tc TransportConfig) (Conn, error) {
			var c *IPv4Conn
			err := inNS(func() (err error) { c, err = ListenIPv4(tc); return err })
			return c, err
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

func (n *Node) needsSourceLookup() bool {
	for _, in := range n.insts {
		if !in.cfg.SourceIP.IsValid() {
			return true
		}
	}
	return false
}

func (n *Node) closeDeps() {
	if n.closeNetlink {
		n.opts.Netlink.Close()
	}
}

// open resolves source addresses and opens every instance's sockets.
func (n *Node) open() error {
	for _, in := range n.insts {
		c := in.cfg
		in.source = c.SourceIP
		if !in.source.IsValid() {
			src, err := PrimaryIPv4(n.opts.Netlink, c.Interface, in.allVIPs)
			if err != nil {
				return fmt.Errorf("vrrp: instance %s: %w", c.Name, err)
			}
			in.source = src
		}
		in.dsts = c.UnicastPeers
		if len(in.dsts) == 0 {
			in.dsts = []netip.Addr{c.MulticastGroup}
		}
		var auth [AuthDataLen]byte
		if c.AuthType == AuthPass {
			auth = PassAuthData(c.AuthPass)
		}
		in.params = ValidationParams{Version: c.Version, VRID: c.VRID, AuthType: c.AuthType, AuthData: auth,
			AdvertInterval: c.AdvertInterval, VirtualAddresses: in.vipAddrs, LocalAddresses: []netip.Addr{in.source},
			UnicastPeers: c.UnicastPeers}
		in.m = NewMachine(Params{Version: c.Version, Priority: c.Priority, AdvertInterval: c.AdvertInterval,
			Preempt: !c.NoPreempt, PreemptDelay: c.PreemptDelay, PrimaryIP: in.source, WantMaster: c.WantMaster})
		conn, err := n.opts.Listen(TransportConfig{Interface: c.Interface, Source: in.source, Group: c.MulticastGroup, Unicast: len(c.UnicastPeers) > 0})
		if err != nil {
			return fmt.Errorf("vrrp: instance %s: %w", c.Name, err)
		}
		in.conn = conn
		for _, v := range in.allVIPs {
			k := slices.IndexFunc(in.garp, func(g garpTarget) bool { return g.ifname == v.Interface })
			if k >= 0 {
				in.garp[k].ips = append(in.garp[k].ips, v.Prefix.Addr())
				continue
			}
			sender, err := n.opts.DialGARP(v.Interface)
			if err != nil {
				// Without ARP the VIP still moves; clients just learn it later.
				n.log.Warn(fmt.Sprintf("(%s) no gratuitous ARP on %s", c.Name, v.Interface), "instance", c.Name, "err", err)
				continue
			}
			in.garp = append(in.garp, garpTarget{ifname: v.Interface, sender: sender, ips: []netip.Addr{v.Prefix.Addr()}})
		}
		n.log.Info(fmt.Sprintf("(%s) VRRP %v VRID %d on %s from %v, priority %d", c.Name, c.Version, c.VRID, c.Interface, in.source, c.Priority),
			"instance", c.Name)
	}
	return nil
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
func (n *Node) read(ctx context.Context, i int, conn Conn, out chan<- packetIn, errc chan<- error) {
	buf := make([]byte, 2048)
	for {
		nb, info, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("vrrp: instance %s: %w", n.insts[i].cfg.Name, err)
			}
			return
		}
		select {
		case out <- packetIn{inst: i, data: append([]byte(nil), buf[:nb]...), info: info}:
		case <-ctx.Done():
			return
		}
	}
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
	for _, t := range in.trackers {
		if t.ignore {
			continue
		}
		d, f := TrackEffect(t.weight, t.reverse, t.ok)
		delta += d
		fault = fault || f
	}
	return delta, fault
}

func (n *Node) receive(ctx context.Context, p packetIn) {
	in := n.insts[p.inst]
	a, err := Parse(p.data, p.info.Src, p.info.Dst)
	if err != nil {
		n.drop(in, DropReasonOf(err), err.Error())
		return
	}
	v := Validate(a, p.info, in.params)
	if v.Drop != DropNone {
		n.drop(in, v.Drop, v.Detail)
		return
	}
	if v.AddressListMismatch {
		in.counters.AddressListMismatches++
		n.log.Warn(fmt.Sprintf("(%s) ip address associated with VRID %d not present in MASTER advert: %s", in.cfg.Name, a.VRID, v.Detail),
			"instance", in.cfg.Name)
	}
	in.counters.AdvertsReceived++
	if a.Priority == PriorityStop {
		in.counters.PriorityZeroReceived++
		if in.m.State == StateBackup {
			n.log.Info(fmt.Sprintf("(%s) Backup received priority 0 advertisement", in.cfg.Name), "instance", in.cfg.Name, "from", p.info.Src)
		}
	} else if in.m.State == StateMaster && a.Priority < in.m.EffectivePriority {
		n.log.Info(fmt.Sprintf("(%s) Received advert from %v with lower priority %d, ours %d, forcing new election", in.cfg.Name, p.info.Src, a.Priority, in.m.EffectivePriority),
			"instance", in.cfg.Name)
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
	// one warning per reason, then debug lines.
	if r == DropVRID || in.warned[r] {
		n.log.Debug(msg, "instance", in.cfg.Name, "reason", r.String())
		return
	}
	in.warned[r] = true
	n.log.Warn(msg, "instance", in.cfg.Name, "reason", r.String())
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
	in.m, acts = Step(in.m, ev, now)
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
		case RemoveVIPs:
			if in.garpCancel != nil {
				in.garpCancel()
				in.garpCancel = nil
			}
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
			n.startGARP(ctx, in)
		case RunNotify:
			n.notify(ctx, in.cfg.Notify, "INSTANCE", in.cfg.Name, a.State, in.m.EffectivePriority)
		case ResetTimer:
			// The loop re-arms its timer from every machine's TimerAt.
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
	c := in.cfg
	adv := Advertisement{Version: c.Version, VRID: c.VRID, Priority: prio, AdvertInterval: c.AdvertInterval,
		AuthType: c.AuthType, AuthData: in.params.AuthData, Addresses: in.vipAddrs}
	for _, dst := range in.dsts {
		msg, err := Marshal(adv, in.source, dst)
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

type garpTarget struct {
	ifname string
	sender GARPSender
	ips    []netip.Addr
}

func (n *Node) startGARP(ctx context.Context, in *instance) {
	if len(in.garp) == 0 {
		return
	}
	if in.garpCancel != nil {
		in.garpCancel()
	}
	gctx, cancel := context.WithCancel(ctx)
	in.garpCancel = cancel
	sched, name, sent, running := in.cfg.GARP, in.cfg.Name, in.garpSent, in.garpRunning
	for _, g := range in.garp {
		running.Add(1)
		n.log.Info(fmt.Sprintf("(%s) Sending/queueing gratuitous ARPs on %s for %v", name, g.ifname, g.ips), "instance", name)
		n.scripts.Go(func() {
			// Other counters belong to the loop: report failures through the log only.
			k := SendGARPBursts(gctx, g.sender, g.ips, sched, func(err error) {
				n.log.Warn(fmt.Sprintf("(%s) gratuitous ARP failed", name), "instance", name, "err", err)
			})
			sent.Add(uint64(k))
			running.Add(-1)
		})
	}
}

// notify runs the scripts for a transition asynchronously, each bounded by
// the script timeout; the state machine never waits for them.
func (n *Node) notify(ctx context.Context, s NotifyScripts, kind, name string, state State, prio uint8) {
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
