package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/drlb/drlb/daemon/vrrp"
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
	// Ready, if set, is called once the daemon serves (sd_notify READY=1).
	Ready func()
}

// Daemon is a running drlb: one supervisor for VRRP, health checks and the data plane.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	hub     *hub
	metrics *metrics
	started time.Time

	applyReq chan struct{}
	// fatal carries the error of a component that stopped on its own (a
	// VRRP socket failed, say): the daemon stops rather than run half blind,
	// and systemd's Restart=on-failure brings it back.
	fatal chan error
	// reloadMu makes reloads (SIGHUP and POST /reload) one at a time.
	reloadMu sync.Mutex
	// runCtx is Run's context: components started by a reload live in it,
	// not in the context of the request that asked for the reload.
	runCtx context.Context

	// scripts tracks quorum scripts running in the background (quorum.go).
	scripts sync.WaitGroup

	// hmu guards health; it is taken alone by the health-event pump, or
	// after mu, so stopping the checker while holding mu cannot deadlock.
	hmu    sync.Mutex
	health map[check.Target]Health

	// dpMu serializes calls into the data plane (taken after mu when both
	// are needed), so a slow Observe for status never blocks the supervisor.
	dpMu sync.Mutex

	// mu guards everything below.
	mu         sync.Mutex
	cfg        *config.Config
	services   map[string]ServiceState
	reloads    int
	lastReload time.Time
	applied    *dataplane.Table // last table applied successfully
	applyErr   error
	dp         dataplane.Dataplane
	nodeRun    *runner
	sched      *check.Scheduler
	schedRun   *runner
	vrrpCfg    vrrp.Config
	// node is the running VRRP node, or nil. It is set under mu and read
	// without it too (loops that yield to its timers, metrics).
	node atomic.Pointer[vrrp.Node]
	// checkChange says what the last startComponents did to the health
	// checks, "" for nothing (for reloads).
	checkChange string
	// bgp is the scale-out BGP speaker and its announcements (bgp.go).
	bgp bgpState
	// newSpeaker starts BGP speakers (nil: GoBGP); tests replace it.
	newSpeaker newSpeakerFunc
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

// Load reads and validates a configuration, logging every diagnostic.
func Load(file, configID string, log *slog.Logger) (*config.Config, config.Diagnostics, error) {
	cfg, diags, err := config.Load(file, config.Options{ConfigID: configID})
	for _, d := range diags {
		if d.Severity == config.SeverityError {
			log.Error(d.String())
		} else {
			log.Warn(d.String())
		}
	}
	if err != nil {
		return nil, diags, fmt.Errorf("%w: %s: %w", ErrConfig, file, err)
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
		opts:     opts,
		log:      opts.Logger,
		hub:      newHub(),
		started:  time.Now(),
		applyReq: make(chan struct{}, 1),
		fatal:    make(chan error, 1),
		services: map[string]ServiceState{},
	}
	d.metrics = newMetrics(d)
	cfg, _, err := Load(opts.ConfigFile, opts.ConfigID, d.log)
	if err != nil {
		return nil, err
	}
	if opts.Dataplane != "" {
		if _, err := dataplane.ParseKind(opts.Dataplane); err != nil {
			return nil, err
		}
	}
	d.cfg = cfg
	d.health = initialHealth(cfg, nil, nil)
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
	d.log.Info("Starting drlb", "version", d.opts.Version, "config", d.opts.ConfigFile, "run_dir", d.opts.RunDir)
	if err := d.startDataplane(d.cfg); err != nil {
		_ = ctrl.Close()
		_ = metricsSrv.Close()
		return err
	}
	d.mu.Lock()
	err = d.startComponents(ctx, d.cfg)
	if err == nil {
		err = d.startBGP(ctx, d.cfg)
	}
	d.mu.Unlock()
	if err != nil {
		d.stopAll(ctx)
		_ = ctrl.Close()
		_ = metricsSrv.Close()
		return err
	}
	d.requestApply()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveUntil(gctx, ctrl) })
	g.Go(func() error { return serveUntil(gctx, metricsSrv) })
	g.Go(func() error { return d.loop(gctx) })
	d.publish(api.Event{Kind: api.EventDaemon, Detail: "started"})
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	err = g.Wait()
	d.log.Info("Stopping drlb")
	// Scale-out: routes go first, the data plane after the drain delay.
	d.drainBGP(context.WithoutCancel(ctx))
	d.stopAll(context.WithoutCancel(ctx))
	d.runOmegaScripts(ctx)
	d.hub.close()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

// loop is the supervisor: it applies the data plane when health or VRRP
// state changed, reloads on request, and retries failed applies.
func (d *Daemon) loop(ctx context.Context) error {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.opts.Reload:
			res := d.Reload(ctx)
			if !res.OK {
				d.log.Error("Reload refused: the running configuration stays", "problems", len(res.Diagnostics))
			}
		case err := <-d.fatal:
			return err
		case <-d.applyReq:
			d.apply(ctx)
		case <-retry.C:
			d.mu.Lock()
			failed := d.applyErr != nil
			d.mu.Unlock()
			if failed {
				d.apply(ctx)
			}
		}
	}
}

func (d *Daemon) requestApply() {
	select {
	case d.applyReq <- struct{}{}:
	default:
	}
}

// startDataplane opens the data plane when cfg has virtual servers and
// none is open yet (at start-up, or a reload adding the first service).
func (d *Daemon) startDataplane(cfg *config.Config) error {
	d.mu.Lock()
	open := d.dp != nil
	d.mu.Unlock()
	if open || d.opts.VRRPOnly || len(cfg.VirtualServers) == 0 {
		return nil
	}
	kind := dataplane.Kind(cfg.Global.Dataplane)
	if d.opts.Dataplane != "" {
		kind = dataplane.Kind(d.opts.Dataplane)
	}
	if kind == "" {
		kind = dataplane.KindAuto
	}
	dp, err := backend.New(kind, dataplane.Options{StateDir: d.opts.RunDir, Logger: d.log})
	if err != nil {
		return fmt.Errorf("data plane %s: %w", kind, err)
	}
	// No flush here: after a crash the first Apply reconciles with what the
	// kernel still holds (a diff), so established connections survive.
	d.mu.Lock()
	d.dp = dp
	d.mu.Unlock()
	d.log.Info("Data plane ready", "kind", dp.Kind())
	return nil
}

// startComponents starts (or keeps) VRRP and checks for cfg (d.mu held);
// checkers start from the health in d.health.
func (d *Daemon) startComponents(ctx context.Context, cfg *config.Config) error {
	if !d.opts.CheckOnly && len(cfg.Instances) > 0 {
		vcfg, err := VRRPConfig(cfg)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if d.node.Load() == nil || !reflect.DeepEqual(vcfg, d.vrrpCfg) {
			// NewNode may fill defaults into the slices it is given: hand
			// it its own copy so d.vrrpCfg stays comparable.
			own, _ := VRRPConfig(cfg)
			if err := d.restartVRRP(ctx, own, vcfg); err != nil {
				return err
			}
		}
	} else if d.node.Load() != nil {
		d.stopVRRP()
	}
	if !d.opts.VRRPOnly {
		start := map[check.Target]bool{}
		d.hmu.Lock()
		for t, h := range d.health {
			start[t] = h.Up
		}
		d.hmu.Unlock()
		servers, err := checkServers(cfg, start, yield.Before(d.nextVRRPTimer))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		d.checkChange = ""
		switch {
		case d.sched != nil && len(servers) > 0:
			// The scheduler compares server by server: only what changed
			// restarts, probes of unchanged servers go on.
			res, err := d.sched.Update(servers)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrConfig, err)
			}
			if res.Started+res.Stopped > 0 {
				d.checkChange = fmt.Sprintf("health checks: %d real servers unchanged (their checks run on), %d started, %d stopped",
					res.Kept, res.Started, res.Stopped)
				d.log.Info("Health checks updated", "kept", res.Kept, "started", res.Started, "stopped", res.Stopped)
			}
		case d.sched != nil || len(servers) > 0:
			if err := d.restartChecks(ctx, servers); err != nil {
				return err
			}
			d.checkChange = fmt.Sprintf("health checks: started for %d real servers", len(servers))
			if len(servers) == 0 {
				d.checkChange = "health checks: stopped (no real servers left)"
			}
		}
	}
	return nil
}

func (d *Daemon) restartVRRP(ctx context.Context, run, compare vrrp.Config) error {
	d.stopVRRP()
	node, err := vrrp.NewNode(run, vrrp.Options{Logger: d.log, OnTransition: d.onVRRPTransition})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d.node.Store(node)
	d.vrrpCfg = compare
	d.nodeRun = start(ctx, func(ctx context.Context) error {
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

// nextVRRPTimer is when the running VRRP node's next timer falls due (zero
// without one): long loops of reloads and applies yield then.
func (d *Daemon) nextVRRPTimer() time.Time {
	if n := d.node.Load(); n != nil {
		return n.NextTimer()
	}
	return time.Time{}
}

func (d *Daemon) stopVRRP() {
	if d.nodeRun != nil {
		if err := d.nodeRun.stop(); err != nil {
			d.log.Error("VRRP stop", "error", err)
		}
	}
	d.node.Store(nil)
	d.nodeRun, d.vrrpCfg = nil, vrrp.Config{}
}

func (d *Daemon) restartChecks(ctx context.Context, servers []check.Server) error {
	if d.schedRun != nil {
		// Stopping waits for the probes in flight (each bounded by its timeout).
		_ = d.schedRun.stop()
	}
	d.sched, d.schedRun = nil, nil
	if len(servers) == 0 {
		return nil
	}
	sched, err := check.NewScheduler(check.Config{Servers: servers, YieldBefore: d.nextVRRPTimer,
		OnScript: func(t check.Target, cmd string, res check.ScriptResult) {
			d.log.Info("notify script ran", "server", t.String(), "command", cmd, "result", fmt.Sprintf("%+v", res))
		}})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d.sched = sched
	d.schedRun = start(ctx, func(ctx context.Context) error {
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
			for tr := range sched.Events() {
				d.onHealth(tr)
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

func (d *Daemon) stopAll(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.schedRun != nil {
		_ = d.schedRun.stop()
		d.sched, d.schedRun = nil, nil
	}
	d.stopVRRP()
	d.stopBGP()
	if d.dp != nil {
		d.dpMu.Lock()
		defer d.dpMu.Unlock()
		if !d.opts.KeepDataplane {
			if err := d.dp.Flush(ctx); err != nil {
				d.log.Error("Data plane flush", "error", err)
			} else {
				d.log.Info("Data plane flushed")
			}
		}
		if err := d.dp.Close(); err != nil {
			d.log.Error("Data plane close", "error", err)
		}
		d.dp = nil
	}
}

func (d *Daemon) onVRRPTransition(t vrrp.Transition) {
	d.metrics.vrrpTransition(t.Instance, t.To.String())
	d.publish(api.Event{Time: t.Time, Kind: api.EventVRRP, Instance: t.Instance, From: t.From.String(), To: t.To.String(), Reason: t.Reason})
	// ha_suspend services follow VIP ownership.
	d.requestApply()
}

func (d *Daemon) onHealth(tr check.Transition) {
	d.hmu.Lock()
	if _, known := d.health[tr.Target]; !known {
		d.hmu.Unlock()
		return // a server removed by a reload
	}
	d.health[tr.Target] = Health{Up: tr.Up, Weight: tr.Weight}
	d.hmu.Unlock()
	state := "DOWN"
	if tr.Up {
		state = "UP"
	}
	if tr.Up != tr.WasUp {
		d.log.Info(fmt.Sprintf("Real server %s of %s is %s: %s", tr.Target.RealServer, tr.Target.VirtualServer, state, tr.Reason),
			"latency", tr.Latency.Round(time.Microsecond))
		d.metrics.healthTransition(tr.Target, tr.Up)
	}
	up := tr.Up
	d.publish(api.Event{Time: tr.Time, Kind: api.EventHealth, Service: tr.Target.VirtualServer, Server: tr.Target.RealServer,
		Up: &up, Reason: tr.Reason, Latency: tr.Latency})
	d.requestApply()
}

// placement answers where VIPs live, from the VRRP configuration and state
// and, for addresses no instance carries, the routing table.
func (d *Daemon) placement() Placement {
	owned := map[netip.Addr]bool{}
	ifaces := map[netip.Addr]string{}
	for _, in := range d.cfg.Instances {
		for _, v := range in.VirtualIPs {
			dev := v.Dev
			if dev == "" {
				dev = in.Interface
			}
			ifaces[v.Prefix.Addr()] = dev
		}
	}
	if node := d.node.Load(); node != nil {
		for _, st := range node.Status() {
			if st.State != vrrp.StateMaster {
				continue
			}
			for _, in := range d.cfg.Instances {
				if in.Name != st.Name {
					continue
				}
				for _, v := range in.VirtualIPs {
					owned[v.Prefix.Addr()] = true
				}
			}
		}
	}
	return Placement{
		Interface: func(vip netip.Addr) string {
			if dev, ok := ifaces[vip]; ok {
				return dev
			}
			return routeDevice(vip)
		},
		Owned: func(vip netip.Addr) bool {
			if owned[vip] {
				return true
			}
			return d.node.Load() == nil && localAddress(vip)
		},
	}
}

// routeDevice is the interface the kernel would use to reach addr.
func routeDevice(addr netip.Addr) string {
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

func localAddress(addr netip.Addr) bool {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return true
		}
	}
	return false
}

// apply computes the desired table and hands the data plane what changed.
func (d *Daemon) apply(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dp == nil {
		return
	}
	// Announcements follow quorum and readiness, whatever the apply does.
	defer d.syncBGP(ctx)
	health := d.healthCopy()
	pause := yield.Before(d.nextVRRPTimer)
	prevServices := d.services
	d.services = evaluateServices(d.cfg, health, d.services, pause)
	d.onQuorumChange(prevServices, d.services)
	// Withdraw lost services before the (possibly slow) apply, announce after it.
	d.withdrawBGP(ctx)
	want := desired(d.cfg, health, d.services, d.placement(), pause).Canonical()
	if d.applied != nil && d.applyErr == nil && reflect.DeepEqual(*d.applied, want) {
		return
	}
	first := d.applied == nil
	var changes []dataplane.Change
	if !first {
		changes = dataplane.Diff(*d.applied, want)
	}
	start := time.Now()
	d.dpMu.Lock()
	err := d.dp.Apply(ctx, want)
	d.dpMu.Unlock()
	d.metrics.dataplaneApply(time.Since(start), err)
	if err != nil {
		d.applyErr = err
		d.log.Error("Data plane apply failed: the previous table stays in force", "error", err)
		d.publish(api.Event{Kind: api.EventDataplane, Reason: "apply failed", Detail: err.Error()})
		return
	}
	d.applied, d.applyErr = &want, nil
	detail := describeChanges(changes)
	if first {
		detail = fmt.Sprintf("initial table: %d services", len(want.Services))
	}
	d.log.Info("Data plane updated", "changes", detail, "took", time.Since(start).Round(time.Microsecond))
	d.publish(api.Event{Kind: api.EventDataplane, Detail: detail})
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

// Reload re-reads the configuration file. A file with errors is refused
// and everything keeps running; otherwise only what changed is restarted:
// unchanged VRRP instances keep running (no flap), real servers keep their
// health, new ones join after their first good check, and the data plane
// gets only the difference.
func (d *Daemon) Reload(ctx context.Context) api.ReloadResult {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	defer relaxGC()()
	begin := time.Now()
	d.log.Info("Reloading configuration", "file", d.opts.ConfigFile)
	// Yield: parsing a large file lets timers (VRRP adverts) run.
	cfg, diags, err := config.Load(d.opts.ConfigFile, config.Options{ConfigID: d.opts.ConfigID, Yield: yield.Before(d.nextVRRPTimer)})
	res := api.ReloadResult{}
	mark := begin
	phase := func(name string) {
		now := time.Now()
		res.Phases = append(res.Phases, api.Phase{Name: name, Duration: now.Sub(mark)})
		mark = now
	}
	phase("parse")
	for _, diag := range diags {
		res.Diagnostics = append(res.Diagnostics, diag.String())
		if diag.Severity == config.SeverityError {
			d.log.Error(diag.String())
		} else {
			d.log.Warn(diag.String())
		}
	}
	if err != nil {
		res.Duration = time.Since(begin)
		d.publish(api.Event{Kind: api.EventReload, Reason: "refused", Detail: err.Error()})
		d.metrics.reload(false)
		return res
	}
	if err := d.startDataplane(cfg); err != nil {
		res.Diagnostics = append(res.Diagnostics, err.Error())
		res.Duration = time.Since(begin)
		d.log.Error("Reload failed", "error", err)
		d.metrics.reload(false)
		return res
	}
	d.mu.Lock()
	oldVRRP, oldCfg := d.vrrpCfg, d.cfg
	d.hmu.Lock()
	oldHealth := d.health
	d.health = initialHealth(cfg, d.health, yield.Before(d.nextVRRPTimer))
	d.hmu.Unlock()
	if err := d.startComponents(d.runCtx, cfg); err != nil { //nolint:contextcheck // components outlive this reload request: they live in Run's context
		d.hmu.Lock()
		d.health = oldHealth
		d.hmu.Unlock()
		d.mu.Unlock()
		res.Diagnostics = append(res.Diagnostics, err.Error())
		res.Duration = time.Since(begin)
		d.log.Error("Reload failed", "error", err)
		d.publish(api.Event{Kind: api.EventReload, Reason: "failed", Detail: err.Error()})
		d.metrics.reload(false)
		return res
	}
	if err := d.startBGP(d.runCtx, cfg); err != nil { //nolint:contextcheck // the speaker outlives this reload request
		d.log.Error("BGP speaker restart failed: routes stay withdrawn", "error", err)
		res.Changes = append(res.Changes, "bgp speaker failed: "+err.Error())
	}
	d.cfg = cfg
	d.onReloadRemoved(oldCfg, oldHealth)
	if !reflect.DeepEqual(oldVRRP, d.vrrpCfg) {
		res.Changes = append(res.Changes, "vrrp instances changed: restarted")
	}
	if d.checkChange != "" {
		res.Changes = append(res.Changes, d.checkChange)
	}
	d.reloads++
	d.lastReload = time.Now()
	d.mu.Unlock()
	phase("components")
	d.apply(ctx)
	phase("dataplane")
	res.OK = true
	res.Duration = time.Since(begin)
	if len(res.Changes) == 0 {
		res.Changes = []string{"no change"}
	}
	d.log.Info("Reload done", "changes", strings.Join(res.Changes, "; "), "took", res.Duration.Round(time.Microsecond),
		"phases", formatPhases(res.Phases))
	d.publish(api.Event{Kind: api.EventReload, Reason: "ok", Detail: strings.Join(res.Changes, "; ")})
	d.metrics.reload(true)
	return res
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
func claimPIDFile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "drlb" {
				return fmt.Errorf("another drlb (pid %d) runs with this run directory (%s); stop it or use --run-dir", pid, filepath.Dir(path))
			}
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// Status builds the control socket's status document. It holds the
// supervisor's lock only to copy references; the kernel is asked for
// connection counts with a short deadline (falling back on the last
// applied table), so status stays responsive with large tables.
func (d *Daemon) Status(ctx context.Context) *api.Status {
	d.mu.Lock()
	cfg, node, sched, dp, applied := d.cfg, d.node.Load(), d.sched, d.dp, d.applied
	services := make(map[string]ServiceState, len(d.services))
	for k, v := range d.services {
		services[k] = v
	}
	st := &api.Status{
		Version: d.opts.Version, PID: os.Getpid(), ConfigFile: d.opts.ConfigFile, ConfigID: d.opts.ConfigID,
		Started: d.started, Reloads: d.reloads, LastReload: d.lastReload, Dataplane: "none",
		Instances: []api.Instance{}, Services: []api.Service{},
	}
	d.mu.Unlock()
	st.BGP = d.bgpStatus(ctx)
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
		d.dpMu.Lock()
		obs, err := dp.Observe(octx)
		d.dpMu.Unlock()
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
	health := d.healthCopy()
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

func (d *Daemon) healthCopy() map[check.Target]Health {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	out := make(map[check.Target]Health, len(d.health))
	for t, h := range d.health {
		out[t] = h
	}
	return out
}
