package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/backend"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/daemon/script"
	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/drlb/drlb/daemon/vrrpproc"
	"github.com/drlb/drlb/internal/yield"
)

// Options configure Run.
type Options struct {
	// ConfigFile is the keepalived.conf to run.
	ConfigFile string
	// ConfigID selects @id conditional lines (default: the host name).
	ConfigID string
	// RunDir holds the pid file, the control socket and the IPVS back
	// end's list of the services it manages.
	RunDir string
	// Dataplane overrides global_defs drlb_dataplane ("" keeps the file's choice).
	Dataplane string
	// VRRPOnly runs only VRRP (keepalived -P); CheckOnly only checks and data plane (-C).
	VRRPOnly, CheckOnly bool
	// MetricsAddr serves Prometheus metrics ("" disables them).
	MetricsAddr string
	// KeepDataplane leaves the kernel's forwarding table in place on stop
	// (the default flushes it, as keepalived does).
	KeepDataplane bool
	// Version is reported in status and metrics.
	Version string
	// Logger receives the daemon's log; nil means slog.Default().
	Logger *slog.Logger
	// Reload delivers reload requests (SIGHUP).
	Reload <-chan struct{}
	// Dump delivers keepalived's dump requests (SIGUSR1, SIGUSR2,
	// SIGRTMIN+2): see DumpKind. Nil: none.
	Dump <-chan DumpKind
	// Ready, if set, is called once the daemon serves (sd_notify READY=1).
	Ready func()
	// VRRPChild runs VRRP in a child process of its own (package
	// vrrpproc), as keepalived runs its VRRP child: drlb run's default.
	// False runs the node on a thread of this process (tests, and drlb
	// run's hidden --vrrp-in-process for debugging). The program must call
	// vrrpproc.MaybeChild first thing in main (or TestMain).
	VRRPChild bool
}

// vrrpNode is what the daemon uses of a running VRRP node: a *vrrp.Node
// on a thread of this process or a *vrrpproc.Remote in a child process.
type vrrpNode interface {
	// Run runs the node until ctx ends (priority 0 sent, VIPs removed).
	Run(ctx context.Context) error
	// Update applies a changed configuration (vrrp.Node.Update).
	Update(ctx context.Context, cfg vrrp.Config) (vrrp.UpdateResult, error)
	// Status is a snapshot of every instance.
	Status() []vrrp.InstanceStatus
	// NextTimer is when the node's next timer in this process falls due
	// (zero for none, and always for a child: nothing here delays it).
	NextTimer() time.Time
}

// lastStatus is node's status without waiting: a child's last snapshot
// (its states kept current by its transitions), a *vrrp.Node's copy.
func lastStatus(node vrrpNode) []vrrp.InstanceStatus {
	if r, ok := node.(interface{ LastStatus() []vrrp.InstanceStatus }); ok {
		return r.LastStatus()
	}
	return node.Status()
}

// nodeRef holds the running node for atomic publication.
type nodeRef struct{ vrrpNode }

// HostIPVS tells config (config.Options.IPVSAvailable) which data plane
// drlb run will program on this host, so that a service it cannot program
// is refused at its position when the file is loaded (start-up, -t and
// every reload) instead of the data plane refusing the whole table while
// the VIP is held: nil when no data plane runs (-P) or IPVS is forced,
// "no IPVS" when nftables is forced (--dataplane nft), else whether this
// kernel has IPVS (auto).
func (o Options) HostIPVS() func() bool {
	switch dataplane.Kind(o.Dataplane) {
	case dataplane.KindIPVS:
		return nil
	case dataplane.KindNFT:
		return func() bool { return false }
	}
	if o.VRRPOnly {
		return nil
	}
	return func() bool { return ipvs.Available(dataplane.Options{}) == nil }
}

// Daemon is a running drlb: one supervisor for VRRP, health checks and the data plane.
//
// Its state (configuration, health, applied table, components) has one
// owner, the supervisor loop (see loop in supervisor.go): VRRP and health
// transitions, reload and status requests reach it as events on channels,
// and what may block (parsing, data-plane applies, starting and stopping
// components) runs outside it and reports back as events.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	hub     *hub
	metrics *metrics
	started time.Time

	// events carries every input of the loop but VRRP transitions.
	events chan event
	// vrrpIn carries VRRP transitions: the VRRP thread must never wait
	// for the loop, so it queues them without blocking.
	vrrpIn *inbox[vrrp.Transition]
	// stopped is closed when the loop stops taking requests.
	stopped chan struct{}
	// fatal carries the error of a component that stopped on its own (a
	// VRRP socket failed, say): the daemon stops rather than run half blind,
	// and systemd's Restart=on-failure brings it back.
	fatal chan error
	// runCtx is Run's context: components started by a reload live in it,
	// not in the context of the request that asked for the reload.
	runCtx context.Context
	// newDataplane opens the data plane (backend.New; tests replace it).
	newDataplane func(dataplane.Kind, dataplane.Options) (dataplane.Dataplane, error)
	// newSpeaker starts BGP speakers (nil: GoBGP); tests replace it.
	newSpeaker newSpeakerFunc

	// scripts tracks quorum scripts running in the background (quorum.go).
	scripts sync.WaitGroup
	// scriptTable runs the current configuration's scripts (read by the
	// components on their own goroutines), prevScriptTable the
	// configuration's before the last reload (its removed servers'
	// notify_down, quorum_down); scriptStats counts their runs across
	// reloads.
	scriptTable, prevScriptTable atomic.Pointer[script.Table]
	scriptStats                  script.Stats

	// node is the running VRRP node, or nil, published for loops that
	// yield to its timers (any goroutine may read it). The loop's own
	// reference is st.comp.node.
	node atomic.Pointer[nodeRef]

	// notifier writes notify FIFO lines and queues smtp_alert mail (nil
	// when the configuration has neither); VRRP's thread reads it.
	notifier atomic.Pointer[notifier]
	// syncd switches the IPVS sync daemon with its VRRP instance (nil
	// without lvs_sync_daemon); VRRP's thread reads it.
	syncd atomic.Pointer[syncDaemons]

	// st is the supervisor's state: New and Run set it up before the loop
	// starts, the loop alone reads and writes it while it runs, and Run
	// stops its components after the loop has returned.
	st state
}

// runner is a restartable component goroutine.
type runner struct {
	cancel context.CancelFunc
	done   chan error
}

func start(ctx context.Context, fn func(context.Context) error) *runner {
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- fn(ctx) }()
	return r
}

func (r *runner) stop() error {
	if r == nil {
		return nil
	}
	r.cancel()
	err := <-r.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// ErrConfig is wrapped when the configuration cannot be used.
var ErrConfig = errors.New("configuration unusable")

// Load reads and validates a configuration against this host (drlb run
// -t, keepalived's -t: an instance's missing interface is an error unless
// dynamic_interfaces), logging every diagnostic.
func Load(file, configID string, hostIPVS func() bool, log *slog.Logger) (*config.Config, config.Diagnostics, error) {
	cfg, _, diags, err := loadWithScripts(file, configID, hostIPVS, nil)
	for _, d := range diags {
		if d.Severity == config.SeverityError {
			log.Error(d.String())
		} else {
			log.Warn(d.String())
		}
	}
	if err != nil {
		return nil, diags, fmt.Errorf("%w: %w", ErrConfig, err) // err names the file
	}
	return cfg, diags, nil
}

// Run runs the daemon until ctx ends, then stops cleanly: checks stop,
// VRRP sends priority 0 and removes its VIPs, the data plane is flushed
// (unless KeepDataplane), the control socket and pid file are removed.
func Run(ctx context.Context, opts Options) error {
	d, err := New(opts)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// New loads the configuration and prepares a daemon without starting anything.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RunDir == "" {
		opts.RunDir = api.DefaultRunDir
	}
	d := &Daemon{
		opts:         opts,
		log:          opts.Logger,
		hub:          newHub(),
		started:      time.Now(),
		events:       make(chan event, 64),
		vrrpIn:       newInbox[vrrp.Transition](),
		stopped:      make(chan struct{}),
		fatal:        make(chan error, 1),
		newDataplane: backend.New,
	}
	d.metrics = newMetrics(d)
	cfg, _, err := Load(opts.ConfigFile, opts.ConfigID, opts.HostIPVS(), d.log)
	if err != nil {
		return nil, err
	}
	tbl, _ := prepareScripts(cfg, &d.scriptStats) // diagnostics: logged by Load
	d.scriptTable.Store(tbl)
	if opts.Dataplane != "" {
		if _, err := dataplane.ParseKind(opts.Dataplane); err != nil {
			return nil, err
		}
	}
	d.st = state{cfg: cfg, health: initialHealth(cfg, nil, nil), services: map[string]ServiceState{}, gen: 1}
	return d, nil
}

// initialHealth is each real server's starting health: up unless its
// checkers start in alpha mode; prev carries health across a reload.
func initialHealth(c *config.Config, prev map[check.Target]Health, pause func()) map[check.Target]Health {
	out := make(map[check.Target]Health, len(prev))
	for vi := range c.VirtualServers {
		if pause != nil {
			pause()
		}
		vs := &c.VirtualServers[vi]
		targets := targetsOf(vs)
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			t := targets[ri]
			if h, ok := prev[t]; ok {
				out[t] = Health{Up: h.Up, Weight: rs.Weight}
				continue
			}
			up := len(rs.Checkers) == 0 || !vs.Alpha
			if prev != nil && len(rs.Checkers) > 0 {
				up = false // added by a reload: in only after its first good check
			}
			out[t] = Health{Up: up, Weight: rs.Weight}
		}
	}
	return out
}

// Run starts every component and serves until ctx ends.
func (d *Daemon) Run(ctx context.Context) error {
	applyUmask(d.st.cfg) // before the first file drlb creates
	if err := os.MkdirAll(d.opts.RunDir, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	pidFile := filepath.Join(d.opts.RunDir, "drlb.pid")
	if err := claimPIDFile(pidFile); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pidFile) }()

	ctrl, err := d.listenControl()
	if err != nil {
		return err
	}
	metricsSrv, err := d.metrics.listen(d.opts.MetricsAddr)
	if err != nil {
		_ = ctrl.Close()
		return err
	}

	d.runCtx = ctx
	if d.opts.VRRPChild {
		// A daemon, not a test binary running one: process_name applies.
		vrrpproc.SetProcessName(parentProcessName(d.st.cfg))
	}
	d.log.Info("Starting drlb", "version", d.opts.Version, "config", d.opts.ConfigFile, "run_dir", d.opts.RunDir)
	d.runStartupScript(ctx)
	defer d.runShutdownScript(ctx)
	// The loop has not started: this goroutine owns d.st until it does.
	if err := d.startDataplane(ctx, &d.st.comp, d.st.cfg); err != nil {
		_ = ctrl.Close()
		_ = metricsSrv.Close()
		return err
	}
	d.notifier.Store(startNotifier(ctx, d.st.cfg, d.log, d.runFIFOScript))
	d.st.notifyKey = notifySettings(d.st.cfg)
	defer func() { d.notifier.Swap(nil).close() }()
	start := map[check.Target]bool{}
	for t, h := range d.st.health {
		start[t] = h.Up
	}
	_, err = d.startComponents(ctx, d.st.cfg, &d.st.comp, start)
	if err == nil {
		err = d.startBGP(ctx, d.st.cfg)
	}
	if err != nil {
		d.stopAll(ctx)
		_ = ctrl.Close()
		_ = metricsSrv.Close()
		return err
	}
	d.st.host = lookupHostFacts(d.st.cfg)
	d.rsInitNotifies(ctx)

	// A stop (ctx ends) first drains BGP with everything still running,
	// then stops the loop and the servers.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	go func() {
		select {
		case <-ctx.Done():
			drainCtx, cancel := context.WithTimeout(serveCtx, 10*time.Minute+5*time.Second)
			d.drainBGP(drainCtx)
			cancel()
			stopServing()
		case <-serveCtx.Done():
		}
	}()
	g, gctx := errgroup.WithContext(serveCtx)
	g.Go(func() error { return serveUntil(gctx, ctrl) })
	g.Go(func() error { return serveUntil(gctx, metricsSrv) })
	g.Go(func() error { return d.loop(gctx) })
	g.Go(func() error { d.serveDumps(gctx); return nil })
	d.publish(api.Event{Kind: api.EventDaemon, Detail: "started"})
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	err = g.Wait()
	d.log.Info("Stopping drlb")
	// The loop has returned (and waited for its effects): d.st is ours again.
	d.stopAll(context.WithoutCancel(ctx))
	d.runOmegaScripts(ctx)
	d.hub.close()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

// components are the running parts of the daemon. The loop owns them; a
// reload hands a copy to the effect that reconciles them with the new
// configuration, and installs the copy the effect returns.
type components struct {
	dp      dataplane.Dataplane
	node    vrrpNode
	nodeRun *runner
	vrrpCfg vrrp.Config
	// vrrpName is the VRRP child's process name for the configuration
	// being started (vrrp_process_name, process_names).
	vrrpName string
	// vrrpChange says what the last startComponents did to each VRRP
	// instance (for the reload's result).
	vrrpChange []string
	sched      *check.Scheduler
	schedRun   *runner
	// hk holds what lvs_flush, lvs_timeouts, lvs_sync_daemon started.
	hk *housekeeping
	// vrrpNetlink is vrrp_netlink_cmd_rcv_bufs and
	// vrrp_netlink_monitor_rcv_bufs for the next VRRP node started.
	vrrpNetlink [2]config.RcvBuf
	// acceptNFT is global_defs nftables, nftables_priority and
	// nftables_counters for the next VRRP node started.
	acceptNFT vrrp.NFTFilterOptions
}

// startDataplane opens the data plane when cfg has virtual servers and
// none is open yet (at start-up, or a reload adding the first service).
func (d *Daemon) startDataplane(ctx context.Context, c *components, cfg *config.Config) error {
	if c.dp != nil {
		if c.hk != nil && c.hk.netns != ipvsNetNSPath(cfg) {
			d.log.Warn("net_namespace_ipvs changed: the data plane stays in its namespace until drlb restarts", "namespace", c.hk.netns)
		}
		d.reloadHousekeeping(ctx, c.hk, cfg.Global.LVS)
		return nil
	}
	if d.opts.VRRPOnly || len(cfg.VirtualServers) == 0 {
		return nil
	}
	kind := dataplane.Kind(cfg.Global.Dataplane)
	if d.opts.Dataplane != "" {
		kind = dataplane.Kind(d.opts.Dataplane)
	}
	if kind == "" {
		kind = dataplane.KindAuto
	}
	// lvs_timeouts tcp is the nft back end's idle timeout of its
	// connection tables (IPVS gets all three through housekeeping).
	netns := ipvsNetNSPath(cfg)
	dp, err := d.newDataplane(kind, dataplane.Options{StateDir: d.opts.RunDir, Logger: d.log, ConnTimeout: cfg.Global.LVS.Timeouts.TCP,
		NetNSPath: netns})
	if err != nil {
		return fmt.Errorf("data plane %s: %w", kind, err)
	}
	c.hk = d.startHousekeeping(ctx, dp, cfg.Global.LVS, netns)
	// No flush here: after a crash the first Apply reconciles with what the
	// kernel still holds (a diff), so established connections survive.
	c.dp = newSerialDataplane(dp)
	d.log.Info("Data plane ready", "kind", dp.Kind())
	return nil
}

// serialDataplane makes calls into a data plane one at a time: the apply
// effect, status's Observe and the final Flush may overlap. Observe gives
// up when its context ends while it waits, so status falls back on the
// applied table instead of waiting out a long apply (a scale-out table of
// 65,537 slots can take seconds to load).
type serialDataplane struct {
	dataplane.Dataplane
	turn chan struct{} // holds a token while a call runs
}

func newSerialDataplane(dp dataplane.Dataplane) *serialDataplane {
	return &serialDataplane{Dataplane: dp, turn: make(chan struct{}, 1)}
}

func (s *serialDataplane) lock()   { s.turn <- struct{}{} }
func (s *serialDataplane) unlock() { <-s.turn }

func (s *serialDataplane) Apply(ctx context.Context, t dataplane.Table) error {
	s.lock()
	defer s.unlock()
	return s.Dataplane.Apply(ctx, t)
}

func (s *serialDataplane) Observe(ctx context.Context) (dataplane.Observation, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return dataplane.Observation{}, fmt.Errorf("observe: waiting for the data plane: %w", ctx.Err())
	}
	defer s.unlock()
	return s.Dataplane.Observe(ctx)
}

func (s *serialDataplane) Flush(ctx context.Context) error {
	s.lock()
	defer s.unlock()
	return s.Dataplane.Flush(ctx)
}

func (s *serialDataplane) Close() error {
	s.lock()
	defer s.unlock()
	return s.Dataplane.Close()
}

// startComponents starts (or keeps) VRRP and checks for cfg in c; start
// is the health each real server's checkers start from. It returns what
// it did to the health checks ("" for nothing), for the reload's answer.
// It may block (a VRRP node stopping sends priority 0, checkers stopping
// wait for their probes): the loop runs it as an effect, never itself.
func (d *Daemon) startComponents(ctx context.Context, cfg *config.Config, c *components, start map[check.Target]bool) (checkChange string, err error) {
	c.vrrpChange = nil
	c.vrrpNetlink = [2]config.RcvBuf{cfg.Global.Housekeeping.VRRPNetlinkCmd, cfg.Global.Housekeeping.VRRPNetlinkMonitor}
	c.acceptNFT = vrrp.NFTFilterOptions{Table: cfg.Global.Housekeeping.NFTTable, Priority: cfg.Global.Housekeeping.NFTPriority,
		Counters: cfg.Global.Housekeeping.NFTCounters}
	if !d.opts.CheckOnly {
		if err := InitTrackFiles(cfg); err != nil {
			d.log.Warn("Cannot initialise a track_file", "err", err)
		}
	}
	if !d.opts.CheckOnly && len(cfg.Instances) > 0 {
		vcfg, err := VRRPConfig(cfg)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if !d.opts.VRRPOnly {
			vcfg.RecoveryHold = recoveryHold(cfg)
		}
		c.vrrpName = vrrpProcessName(cfg)
		if c.node == nil || !reflect.DeepEqual(vcfg, c.vrrpCfg) {
			// NewNode may fill defaults into the slices it is given: hand
			// it its own copy so c.vrrpCfg stays comparable.
			own, _ := VRRPConfig(cfg)
			own.RecoveryHold = vcfg.RecoveryHold
			if err := d.updateVRRP(ctx, c, own, vcfg); err != nil {
				return "", err
			}
		}
	} else if c.node != nil {
		d.stopVRRP(c)
		c.vrrpChange = []string{"vrrp instances stopped"}
	}
	if !d.opts.VRRPOnly {
		servers, err := checkServers(cfg, start, yield.Before(d.nextVRRPTimer))
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrConfig, err)
		}
		switch {
		case c.sched != nil && len(servers) > 0:
			// The scheduler compares server by server: only what changed
			// restarts, probes of unchanged servers go on.
			res, err := c.sched.Update(servers)
			if err != nil {
				return "", fmt.Errorf("%w: %w", ErrConfig, err)
			}
			if res.Started+res.Stopped > 0 {
				checkChange = fmt.Sprintf("health checks: %d real servers unchanged (their checks run on), %d started, %d stopped",
					res.Kept, res.Started, res.Stopped)
				d.log.Info("Health checks updated", "kept", res.Kept, "started", res.Started, "stopped", res.Stopped)
			}
		case c.sched != nil || len(servers) > 0:
			if err := d.restartChecks(ctx, c, servers); err != nil {
				return "", err
			}
			checkChange = fmt.Sprintf("health checks: started for %d real servers", len(servers))
			if len(servers) == 0 {
				checkChange = "health checks: stopped (no real servers left)"
			}
		}
	}
	return checkChange, nil
}

// updateVRRP applies a changed VRRP configuration to the running node
// instance by instance (vrrp.Node.Update: in place where keepalived
// would keep the instance), or starts a node when none runs.
func (d *Daemon) updateVRRP(ctx context.Context, c *components, run, compare vrrp.Config) error {
	if c.node != nil {
		res, err := c.node.Update(ctx, run)
		if err == nil {
			c.vrrpCfg = compare
			for _, ch := range res.Changes {
				if ch.Kind != vrrp.ChangeNone {
					c.vrrpChange = append(c.vrrpChange, "vrrp instance "+ch.String())
				}
			}
			return nil
		}
		if !errors.Is(err, vrrp.ErrNotRunning) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	c.vrrpChange = []string{"vrrp instances started"}
	return d.restartVRRP(ctx, c, run, compare)
}

func (d *Daemon) restartVRRP(ctx context.Context, c *components, run, compare vrrp.Config) error {
	d.stopVRRP(c)
	onNotify := func(kind, name string, state vrrp.State, prio uint8) {
		d.notifier.Load().vrrpNotify(kind, name, state, prio)
	}
	onEvent := func(name, event string, prio uint8) { d.notifier.Load().vrrpEvent(name, event, prio) }
	// global_defs vrrp_netlink_*_rcv_bufs and nftables* (globals.go).
	sockets := vrrpproc.Sockets{NetlinkCmdRcvBuf: c.vrrpNetlink[0].Size, NetlinkCmdRcvBufForce: c.vrrpNetlink[0].Force,
		NetlinkMonitorRcvBuf: c.vrrpNetlink[1].Size, NetlinkMonitorRcvBufForce: c.vrrpNetlink[1].Force, AcceptNFT: c.acceptNFT}
	var node vrrpNode
	var err error
	if d.opts.VRRPChild {
		node, err = vrrpproc.New(run, vrrpproc.Options{Logger: d.log, OnTransition: d.onVRRPTransition, RunScript: d.runVRRPScript,
			ServicesChecked: d.servicesChecked, OnNotify: onNotify, OnEvent: onEvent, Name: c.vrrpName, Sockets: sockets})
	} else {
		node, err = vrrp.NewNode(run, vrrp.Options{Logger: d.log, OnTransition: d.onVRRPTransition, RunScript: d.runVRRPScript,
			ServicesChecked: d.servicesChecked, OnNotify: onNotify, OnEvent: onEvent,
			NetlinkCmdRcvBuf: sockets.NetlinkCmdRcvBuf, NetlinkCmdRcvBufForce: sockets.NetlinkCmdRcvBufForce,
			NetlinkMonitorRcvBuf: sockets.NetlinkMonitorRcvBuf, NetlinkMonitorRcvBufForce: sockets.NetlinkMonitorRcvBufForce,
			AcceptNFT: sockets.AcceptNFT})
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.node = node
	d.node.Store(&nodeRef{node})
	c.vrrpCfg = compare
	c.nodeRun = start(ctx, func(ctx context.Context) error {
		err := node.Run(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("VRRP stopped", "error", err)
			d.fail(err)
			return nil // reported: the daemon stops with it
		}
		return err
	})
	return nil
}

// DefaultVRRPProcessName is the VRRP child's name with process_names and
// no vrrp_process_name (keepalived's is keepalived_vrrp).
const DefaultVRRPProcessName = "drlb_vrrp"

// vrrpProcessName is the VRRP child's process name: vrrp_process_name,
// else DefaultVRRPProcessName with process_names, else "" (the binary's
// name, as keepalived's children keep "keepalived" without them).
func vrrpProcessName(cfg *config.Config) string {
	switch {
	case cfg.Global.VRRPProcessName != "":
		return cfg.Global.VRRPProcessName
	case cfg.Global.ProcessNames:
		return DefaultVRRPProcessName
	}
	return ""
}

// parentProcessName is the parent's process name: process_name, else ""
// (unchanged; process_names' default for the parent is "drlb", its name).
func parentProcessName(cfg *config.Config) string {
	return cfg.Global.ProcessName
}

// nextVRRPTimer is when the running VRRP node's next timer falls due (zero
// without one): long loops of reloads and applies yield then.
func (d *Daemon) nextVRRPTimer() time.Time {
	if n := d.node.Load(); n != nil {
		return n.NextTimer()
	}
	return time.Time{}
}

func (d *Daemon) stopVRRP(c *components) {
	if c.nodeRun != nil {
		if err := c.nodeRun.stop(); err != nil {
			d.log.Error("VRRP stop", "error", err)
		}
	}
	d.node.Store(nil)
	c.node, c.nodeRun, c.vrrpCfg = nil, nil, vrrp.Config{}
}

func (d *Daemon) restartChecks(ctx context.Context, c *components, servers []check.Server) error {
	if c.schedRun != nil {
		// Stopping waits for the probes in flight (each bounded by its timeout).
		_ = c.schedRun.stop()
	}
	c.sched, c.schedRun = nil, nil
	if len(servers) == 0 {
		return nil
	}
	sched, err := check.NewScheduler(check.Config{Servers: servers, YieldBefore: d.nextVRRPTimer, Probe: d.probe, RunScript: d.runScript,
		OnScript: func(t check.Target, cmd string, res check.ScriptResult) {
			d.log.Info("notify script ran", "server", t.String(), "command", cmd, "result", fmt.Sprintf("%+v", res))
		}})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.sched = sched
	c.schedRun = start(ctx, func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			err := sched.Run(gctx)
			if err != nil && ctx.Err() == nil {
				d.log.Error("Health checks stopped", "error", err)
				d.fail(fmt.Errorf("health checks: %w", err))
				return nil // reported: the daemon stops with it
			}
			return err
		})
		g.Go(func() error {
			// The pump: health transitions become the loop's events.
			for tr := range sched.Events() {
				select {
				case d.events <- healthEvent{tr}:
				case <-gctx.Done():
					return nil
				}
			}
			return nil
		})
		return g.Wait()
	})
	return nil
}

// fail stops the daemon with err (the first failure wins).
func (d *Daemon) fail(err error) {
	select {
	case d.fatal <- err:
	default:
	}
}

// stopAll stops every component; Run calls it once the loop has returned.
func (d *Daemon) stopAll(ctx context.Context) {
	c := &d.st.comp
	if c.schedRun != nil {
		_ = c.schedRun.stop()
		c.sched, c.schedRun = nil, nil
	}
	d.stopVRRP(c)
	d.stopBGP()
	if c.dp != nil {
		if !d.opts.KeepDataplane {
			if err := c.dp.Flush(ctx); err != nil {
				d.log.Error("Data plane flush", "error", err)
			} else {
				d.log.Info("Data plane flushed")
			}
		}
		d.syncd.Store(nil)
		c.hk.stop(d.log, !d.opts.KeepDataplane)
		c.hk = nil
		if err := c.dp.Close(); err != nil {
			d.log.Error("Data plane close", "error", err)
		}
		c.dp = nil
	}
}

// onVRRPTransition is the VRRP node's OnTransition: it runs on VRRP's own
// thread, so it only counts, publishes and queues the transition for the
// loop, none of which waits.
func (d *Daemon) onVRRPTransition(t vrrp.Transition) {
	d.syncd.Load().observe(t.Instance, t.To)
	d.metrics.vrrpTransition(t.Instance, t.To.String())
	d.publish(api.Event{Time: t.Time, Kind: api.EventVRRP, Instance: t.Instance, From: t.From.String(), To: t.To.String(), Reason: t.Reason})
	d.vrrpIn.push(t)
}

// hostFacts are what the kernel said about the virtual-server addresses:
// the interface that routes to each address no VRRP instance carries, and
// which addresses this host holds. The loop decides from them without
// asking the kernel itself; each apply effect looks them up again after
// applying, and the loop decides again when they changed.
type hostFacts struct {
	iface map[netip.Addr]string
	local map[netip.Addr]bool
}

func (h hostFacts) equal(o hostFacts) bool {
	return maps.Equal(h.iface, o.iface) && maps.Equal(h.local, o.local)
}

// lookupHostFacts asks the kernel about cfg's virtual-server addresses
// (netlink: run it outside the loop).
func lookupHostFacts(cfg *config.Config) hostFacts {
	carried := map[netip.Addr]bool{}
	for _, in := range cfg.Instances {
		for _, v := range in.VirtualIPs {
			carried[v.Prefix.Addr()] = true
		}
	}
	held := localAddresses()
	h := hostFacts{iface: map[netip.Addr]string{}, local: map[netip.Addr]bool{}}
	for vi := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[vi]
		if vs.FWMark != 0 {
			continue
		}
		if held[vs.Address] {
			h.local[vs.Address] = true
		}
		if _, done := h.iface[vs.Address]; done || carried[vs.Address] {
			continue
		}
		h.iface[vs.Address] = routeDevice(vs.Address)
	}
	return h
}

// placement answers where VIPs live, from the VRRP configuration, the
// instances that are MASTER now (masters; vrrpRuns says whether a VRRP
// node runs at all) and, for addresses no instance carries, host. It is
// pure: the loop calls it when it decides.
func placement(cfg *config.Config, masters map[string]bool, vrrpRuns bool, host hostFacts) Placement {
	owned := map[netip.Addr]bool{}
	ifaces := map[netip.Addr]string{}
	forward := map[netip.Addr]string{}
	for _, in := range cfg.Instances {
		for _, v := range in.VirtualIPs {
			ifaces[v.Prefix.Addr()] = in.VIPDevice(v)
			if base := in.VMACBase(in.VIPDevice(v)); base != "" {
				forward[v.Prefix.Addr()] = base
			}
			if masters[in.Name] {
				owned[v.Prefix.Addr()] = true
			}
		}
	}
	return Placement{
		Interface: func(vip netip.Addr) string {
			if dev, ok := ifaces[vip]; ok {
				return dev
			}
			return host.iface[vip]
		},
		Forward: func(vip netip.Addr) string { return forward[vip] },
		Owned: func(vip netip.Addr) bool {
			if owned[vip] {
				return true
			}
			return !vrrpRuns && host.local[vip]
		},
	}
}

// routeDevice is the interface that holds addr (a VIP configured outside
// VRRP), else the one the kernel would use to reach it. A local address
// routes through lo, which is not where its packets arrive.
func routeDevice(addr netip.Addr) string {
	if addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL); err == nil {
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr.Unmap() {
				if link, err := netlink.LinkByIndex(a.LinkIndex); err == nil && link.Attrs().Flags&net.FlagLoopback == 0 {
					return link.Attrs().Name
				}
			}
		}
	}
	routes, err := netlink.RouteGet(addr.AsSlice())
	if err != nil || len(routes) == 0 {
		return ""
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return ""
	}
	return link.Attrs().Name
}

// localAddresses lists the addresses this host holds (none if the kernel
// cannot be asked).
func localAddresses() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out[ip.Unmap()] = true
		}
	}
	return out
}

func describeChanges(changes []dataplane.Change) string {
	if len(changes) == 0 {
		return "no change"
	}
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, "; ")
}

// reloadGCPercent is the GOGC a reload runs with. A reload allocates about
// as much as the live heap (1,000 x 10 real servers: 70 MB for a 60 MB
// heap), so at GOGC=100 it would start a collection and pay for it in mark
// assists while the CPU is also marking; at 400 the collection comes after
// the reload. Measured under 10,000 checks a second: median reload 136 ->
// 99 ms.
const reloadGCPercent = 400

// relaxGC raises GOGC to reloadGCPercent and returns the function that
// restores it. An operator's higher GOGC, or GOGC=off, is left alone.
func relaxGC() (restore func()) {
	prev := debug.SetGCPercent(reloadGCPercent)
	if prev < 0 || prev >= reloadGCPercent {
		debug.SetGCPercent(prev)
		return func() {}
	}
	return func() { debug.SetGCPercent(prev) }
}

// formatPhases renders reload phases as "parse 12ms, components 1ms, …".
func formatPhases(ps []api.Phase) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " " + p.Duration.Round(time.Microsecond).String()
	}
	return strings.Join(parts, ", ")
}

func (d *Daemon) publish(ev api.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.hub.publish(ev)
}

// claimPIDFile writes our PID, refusing when another live drlb owns the file.
// A live drlb is a process running our executable (process_name may have
// renamed it) or one named "drlb".
func claimPIDFile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && isDrlb(pid) {
			return fmt.Errorf("another drlb (pid %d) runs with this run directory (%s); stop it or use --run-dir", pid, filepath.Dir(path))
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// isDrlb reports whether process pid runs this executable (compared by
// /proc/PID/exe, an upgraded binary's " (deleted)" suffix removed) or is
// named "drlb".
func isDrlb(pid int) bool {
	exe := func(p string) string {
		s, err := os.Readlink(p)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(s, " (deleted)")
	}
	if self, other := exe("/proc/self/exe"), exe(fmt.Sprintf("/proc/%d/exe", pid)); self != "" && self == other {
		return true
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "drlb"
}

// Status builds the control socket's status document from a copy of the
// loop's state (a view), so the loop is held only for the copy; the kernel
// is asked for connection counts with a short deadline (falling back on
// the last applied table), so status stays responsive with large tables.
func (d *Daemon) Status(ctx context.Context) *api.Status {
	st := &api.Status{
		Version: d.opts.Version, PID: os.Getpid(), ConfigFile: d.opts.ConfigFile, ConfigID: d.opts.ConfigID,
		Started: d.started, Dataplane: "none", Instances: []api.Instance{}, Services: []api.Service{},
	}
	v, ok := d.view(ctx, true)
	if !ok {
		return st // stopping: nothing left to report
	}
	st.Reloads, st.LastReload = v.reloads, v.lastReload
	st.BGP = bgpStatus(ctx, v, d.log)
	cfg, node, sched, dp, applied, services, health := v.cfg, v.node, v.sched, v.dp, v.applied, v.services, v.health
	if node != nil {
		st.Instances = instanceStatus(cfg, node.Status())
	}
	checks := map[check.Target]check.ServerStatus{}
	if sched != nil {
		for _, s := range sched.Snapshot() {
			checks[s.Target] = s
		}
	}
	observed := map[string]map[string]dataplane.ObservedReal{}
	if applied != nil {
		for _, s := range applied.Services {
			m := map[string]dataplane.ObservedReal{}
			for _, r := range s.Reals {
				m[r.AddrPort().String()] = dataplane.ObservedReal{Real: r}
			}
			observed[s.Key().String()] = m
		}
	}
	if dp != nil {
		st.Dataplane = string(dp.Kind())
		octx, cancel := context.WithTimeout(ctx, time.Second)
		obs, err := dp.Observe(octx)
		cancel()
		if err == nil {
			observed = map[string]map[string]dataplane.ObservedReal{}
			for _, s := range obs.Services {
				m := map[string]dataplane.ObservedReal{}
				for _, r := range s.Observed {
					m[r.AddrPort().String()] = r
				}
				observed[s.Key().String()] = m
			}
		}
	}
	for vi := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[vi]
		id := ServiceID(vs)
		svc := api.Service{Protocol: string(vs.Protocol), Address: netip.AddrPortFrom(vs.Address, vs.Port).String(),
			Scheduler: vs.Scheduler, Method: methodOf(vs.Method).IPVSName(), Quorum: true}
		if vs.FWMark != 0 {
			svc.Address = fmt.Sprintf("FWM %d", vs.FWMark)
		}
		if vs.PersistenceTimeout > 0 {
			svc.Flags = fmt.Sprintf("persistent %d", int(vs.PersistenceTimeout.Seconds()))
		}
		if ss, ok := services[id]; ok {
			svc.Quorum = ss.QuorumUp
			if ss.SorryActive && vs.SorryServer != nil {
				svc.SorryServer = netip.AddrPortFrom(vs.SorryServer.Address, vs.SorryServer.Port).String()
			}
		}
		obs := observed[id]
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			t := TargetOf(vs, rs)
			r := api.Real{Address: RealID(rs), ConfiguredWeight: rs.Weight, Healthy: health[t].Up}
			if o, ok := obs[RealID(rs)]; ok {
				r.InTable, r.Weight, r.ActiveConn, r.InActConn = true, int(o.Weight), uint64(o.ActiveConn), uint64(o.InActConn)
			}
			if c, ok := checks[t]; ok {
				r.LastReason, r.LastCheck, r.Latency = c.LastReason, c.LastCheck, c.LastLatency
			}
			svc.Reals = append(svc.Reals, r)
		}
		slices.SortFunc(svc.Reals, func(a, b api.Real) int { return strings.Compare(a.Address, b.Address) })
		st.Services = append(st.Services, svc)
	}
	return st
}
func instanceStatus(cfg *config.Config, nodes []vrrp.InstanceStatus) []api.Instance {
	groups := map[string]string{}
	for _, g := range cfg.SyncGroups {
		for _, m := range g.Group {
			groups[m] = g.Name
		}
	}
	vips := map[string][]string{}
	for _, in := range cfg.Instances {
		for _, v := range in.VirtualIPs {
			vips[in.Name] = append(vips[in.Name], v.Prefix.String())
		}
	}
	out := make([]api.Instance, 0, len(nodes))
	for _, s := range nodes {
		in := api.Instance{
			Name: s.Name, Group: groups[s.Name], Interface: s.Interface, VRID: int(s.VRID), Version: int(s.Version),
			State: s.State.String(), Priority: int(s.Priority), EffectivePriority: int(s.EffectivePriority),
			VIPs: vips[s.Name], Since: s.Since,
			AdvertsSent: s.Counters.AdvertsSent, AdvertsReceived: s.Counters.AdvertsReceived,
			Transitions: s.Counters.Transitions,
		}
		if s.MasterIP.IsValid() {
			in.MasterAddr = s.MasterIP.String()
		}
		if len(s.Counters.Drops) > 0 {
			in.Drops = map[string]uint64{}
			for r, n := range s.Counters.Drops {
				in.Drops[r.String()] = n
			}
		}
		out = append(out, in)
	}
	return out
}
