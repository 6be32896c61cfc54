package daemon

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/bgp"
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/script"
	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/drlb/drlb/internal/yield"
)

// The supervisor is one loop (Seesaw's engine, etcd raft's node.run): one
// goroutine owns the state, a select takes one event at a time, the state
// is updated, a pure function decides the desired table, and effects that
// may block (parsing a file, a data-plane apply, starting or stopping
// components) run on their own goroutines and report back as events.
//
//	events in                      loop (owns state)                 effects out
//	VRRP transition (inbox) ──┐                                   ┌─► apply table ──► applyDone
//	health transition ────────┤   update state                    ├─► parse file ───► parsed
//	reload request ───────────┼─► decide (pure: config + health ──┼─► components ───► componentsDone
//	status/metrics view ──────┤   + VRRP masters → table)         └─► reply (copy of state)
//	effect results ───────────┘
//
// Adding an event is a type below and a case in handle.

// event is one input of the supervisor loop.
type event interface{ isEvent() }

// effectResult is an event that ends an effect the loop started.
type effectResult interface {
	event
	isEffect()
}

// vrrpEvent: an instance changed state (queued by onVRRPTransition).
type vrrpEvent struct{ vrrp.Transition }

// healthEvent: a real server's health changed (from the checker pump).
type healthEvent struct{ check.Transition }

// reloadRequest asks for a reload (SIGHUP or POST /reload).
type reloadRequest struct {
	opts api.ReloadOptions
	// signal is set for SIGHUP: nobody reads the answer, so a refusal is logged.
	signal bool
	reply  chan api.ReloadResult // buffered: the loop never waits on it
}

// viewRequest asks for a copy of the state (status, metrics).
type viewRequest struct {
	// full asks for configuration, health and quorum too (status); metrics
	// need only the components.
	full  bool
	reply chan view // buffered
}

// parsedEvent: a reload's parse effect finished.
type parsedEvent struct {
	// scripts is the new configuration's script table (nil on errors).
	scripts *script.Table
	cfg     *config.Config
	diags   config.Diagnostics
	err     error
}

// componentsDone: a reload's components effect finished. comp is what
// runs now, whatever happened.
type componentsDone struct {
	comp   components
	host   hostFacts
	change string // what happened to the health checks, "" for nothing
	dpErr  error  // the data plane could not be opened (nothing else was touched)
	err    error
}

// applyDone: a data-plane apply finished.
type applyDone struct {
	host    hostFacts // looked up after the apply
	want    dataplane.Table
	changes []dataplane.Change
	first   bool // no table had been applied before
	skipped bool // want equals the table applied: nothing was done
	took    time.Duration
	err     error
	gen     int // the configuration generation it was decided with
}

func (vrrpEvent) isEvent()      {}
func (healthEvent) isEvent()    {}
func (reloadRequest) isEvent()  {}
func (viewRequest) isEvent()    {}
func (parsedEvent) isEvent()    {}
func (componentsDone) isEvent() {}
func (applyDone) isEvent()      {}

func (parsedEvent) isEffect()    {}
func (componentsDone) isEffect() {}
func (applyDone) isEffect()      {}

// state is what the supervisor loop owns.
type state struct {
	cfg      *config.Config
	health   map[check.Target]Health
	services map[string]ServiceState // quorum state, for hysteresis
	comp     components
	host     hostFacts
	applied  *dataplane.Table // last table applied successfully
	applyErr error
	// notifyKey is notifySettings of the configuration d.notifier serves.
	notifyKey string

	reloads    int
	lastReload time.Time
	// gen counts the configurations installed; an apply carries the gen it
	// was decided with, so a reload knows which apply is its own.
	gen int

	// applying is set while an apply effect runs; dirty asks for another
	// decision once it ends (changes coalesce meanwhile).
	applying, dirty bool
	// reload is the reload in progress (nil: none); queued wait for it.
	reload *reloadRun
	queued []reloadRequest
	// effects counts effects in flight; the loop waits for them on exit.
	effects int
	// bgp is the scale-out BGP speaker and its announcements (bgp.go).
	bgp bgpState
}

// reloadRun is a reload on its way through parse, components and dataplane.
type reloadRun struct {
	req       reloadRequest
	begin     time.Time
	mark      time.Time
	res       api.ReloadResult
	restoreGC func()
	cfg       *config.Config
	// oldHealth is the health before the new configuration's was put in
	// place; holding is set meanwhile: no apply is decided while the
	// configuration and the health do not match.
	oldHealth map[check.Target]Health
	holding   bool
	// oldScripts is the script table before the new one was put in place.
	oldScripts *script.Table
	// waitGen is the generation whose apply ends the reload (0: not yet).
	waitGen int
}

func (r *reloadRun) phase(name string) {
	now := time.Now()
	r.res.Phases = append(r.res.Phases, api.Phase{Name: name, Duration: now.Sub(r.mark)})
	r.mark = now
}

// view is a copy of the loop's state for readers on other goroutines.
// Configurations and applied tables are never changed once built, so the
// pointers are shared; maps are copied.
type view struct {
	cfg        *config.Config
	node       vrrpNode
	sched      *check.Scheduler
	dp         dataplane.Dataplane
	applied    *dataplane.Table
	services   map[string]ServiceState
	health     map[check.Target]Health
	reloads    int
	lastReload time.Time
	// bgpSpeaker and bgpRoutes are the BGP speaker (nil: none) and its
	// last decision (bgp.go).
	bgpSpeaker bgp.Speaker
	bgpRoutes  []api.BGPRoute
}

// loop is the supervisor. It returns when ctx ends or a component fails,
// after the effects it started have reported back.
func (d *Daemon) loop(ctx context.Context) error {
	defer d.drainEffects()
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	d.requestApply(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-d.fatal:
			return err
		case <-d.opts.Reload:
			d.handle(ctx, reloadRequest{signal: true, reply: make(chan api.ReloadResult, 1)})
		case <-d.vrrpIn.ready:
			for _, t := range d.vrrpIn.take() {
				d.handle(ctx, vrrpEvent{t})
			}
		case ev := <-d.events:
			d.handle(ctx, ev)
		case <-retry.C:
			if d.st.applyErr != nil {
				d.requestApply(ctx)
			}
		}
	}
}

// handle dispatches one event to its handler.
func (d *Daemon) handle(ctx context.Context, ev event) {
	if _, ok := ev.(effectResult); ok {
		d.st.effects--
	}
	switch ev := ev.(type) {
	case vrrpEvent:
		d.vrrpChanged(ctx, ev.Transition)
	case healthEvent:
		d.onHealth(ctx, ev.Transition)
	case reloadRequest:
		d.onReloadRequest(ev)
	case parsedEvent:
		d.onParsed(ctx, ev)
	case componentsDone:
		d.onComponentsDone(ctx, ev)
	case applyDone:
		d.onApplyDone(ctx, ev)
	case viewRequest:
		ev.reply <- d.copyState(ev.full)
	case drainRequest:
		d.onDrain(ctx, ev)
	}
}

// effect runs fn on its own goroutine and hands its result to the loop.
func (d *Daemon) effect(fn func() effectResult) {
	d.st.effects++
	go func() { d.events <- fn() }()
}

// drainEffects stops taking requests and waits for the effects in flight,
// installing components a reload started, so that Run stops them too.
func (d *Daemon) drainEffects() {
	close(d.stopped)
	for d.st.effects > 0 {
		ev := <-d.events
		if _, ok := ev.(effectResult); !ok {
			continue // health events and requests: nobody acts on them now
		}
		d.st.effects--
		if c, ok := ev.(componentsDone); ok {
			d.st.comp = c.comp
		}
	}
}

// view asks the loop for a copy of its state; ok is false when the daemon
// is stopping or ctx ended first.
func (d *Daemon) view(ctx context.Context, full bool) (view, bool) {
	req := viewRequest{full: full, reply: make(chan view, 1)}
	select {
	case d.events <- req:
	case <-ctx.Done():
		return view{}, false
	case <-d.stopped:
		return view{}, false
	}
	select {
	case v := <-req.reply:
		return v, true
	case <-ctx.Done():
		return view{}, false
	case <-d.stopped:
		return view{}, false
	}
}

func (d *Daemon) copyState(full bool) view {
	v := view{cfg: d.st.cfg, node: d.st.comp.node, sched: d.st.comp.sched, dp: d.st.comp.dp, applied: d.st.applied,
		reloads: d.st.reloads, lastReload: d.st.lastReload, bgpSpeaker: d.st.bgp.speaker, bgpRoutes: d.st.bgp.routes}
	if !full {
		return v
	}
	health := d.st.health
	if r := d.st.reload; r != nil && r.holding {
		health = r.oldHealth // the health that goes with d.st.cfg
	}
	v.health = make(map[check.Target]Health, len(health))
	for t, h := range health {
		v.health[t] = h
	}
	v.services = make(map[string]ServiceState, len(d.st.services))
	for k, s := range d.st.services {
		v.services[k] = s
	}
	return v
}

// vrrpChanged takes a VRRP transition: ha_suspend services follow VIP
// ownership, so the table is decided again.
func (d *Daemon) vrrpChanged(ctx context.Context, _ vrrp.Transition) {
	d.requestApply(ctx)
}

// onHealth takes a real server's health transition.
func (d *Daemon) onHealth(ctx context.Context, tr check.Transition) {
	if _, known := d.st.health[tr.Target]; !known {
		return // a server removed by a reload
	}
	d.st.health[tr.Target] = Health{Up: tr.Up, Weight: tr.Weight}
	state := "DOWN"
	if tr.Up {
		state = "UP"
	}
	if tr.Up != tr.WasUp {
		d.log.Info(fmt.Sprintf("Real server %s of %s is %s: %s", tr.Target.RealServer, tr.Target.VirtualServer, state, tr.Reason),
			"latency", tr.Latency.Round(time.Microsecond))
		d.metrics.healthTransition(tr.Target, tr.Up)
		d.notifier.Load().healthChanged(d.st.cfg, tr)
	}
	up := tr.Up
	d.publish(api.Event{Time: tr.Time, Kind: api.EventHealth, Service: tr.Target.VirtualServer, Server: tr.Target.RealServer,
		Up: &up, Reason: tr.Reason, Latency: tr.Latency})
	d.requestApply(ctx)
}

// requestApply asks for the table to be decided and applied again. While
// an apply runs, or a reload swaps the configuration, requests coalesce
// into one that follows.
func (d *Daemon) requestApply(ctx context.Context) {
	d.st.dirty = true
	if d.st.reload != nil && d.st.reload.holding {
		return
	}
	if d.st.applying {
		// Scale-out: a service that lost quorum is withdrawn now, not
		// after the apply in flight (its quorum state is decided then).
		if d.st.bgp.speaker != nil {
			d.withdrawBGP(ctx, evaluateServices(d.st.cfg, d.st.health, d.st.services, nil))
		}
		return
	}
	d.apply(ctx)
}

// apply decides the desired table and starts the effect that hands the
// data plane what changed.
func (d *Daemon) apply(ctx context.Context) {
	d.st.dirty = false
	dp := d.st.comp.dp
	if dp == nil {
		return
	}
	masters := map[string]bool{}
	node := d.st.comp.node
	if node != nil {
		// The node owns its state machines; Status is a copy it keeps (a
		// child's last one: the loop does not wait for the child).
		for _, s := range lastStatus(node) {
			if s.State == vrrp.StateMaster {
				masters[s.Name] = true
			}
		}
	}
	where := placement(d.st.cfg, masters, node != nil, d.st.host)
	services, want := decide(d.st.cfg, d.st.health, d.st.services, where, yield.Before(d.nextVRRPTimer))
	prevServices := d.st.services
	d.st.services = services
	d.onQuorumChange(prevServices, services) //nolint:contextcheck // quorum scripts run in Run's context (d.runCtx), not the apply's
	// Withdraw lost services before the (possibly slow) apply; announce after it.
	d.withdrawBGP(ctx, services)
	prev, prevErr, gen, cfg := d.st.applied, d.st.applyErr, d.st.gen, d.st.cfg
	d.st.applying = true
	d.effect(func() effectResult {
		res := applyTable(ctx, dp, prev, prevErr, want, gen, d.metrics)
		res.host = lookupHostFacts(cfg)
		return res
	})
}

// decide is the supervisor's decision, a pure function: each virtual
// server's quorum state (from its real servers' health and its previous
// state, for hysteresis) and the data-plane table for the configuration,
// the health and where the VIPs live. pause (if set) is called once per
// virtual server (package yield).
func decide(cfg *config.Config, health map[check.Target]Health, prev map[string]ServiceState, where Placement, pause func()) (map[string]ServiceState, dataplane.Table) {
	services := evaluateServices(cfg, health, prev, pause)
	return services, desired(cfg, health, services, where, pause).Canonical()
}

// applyTable is the apply effect: it hands dp the difference between
// prev (the table applied last, nil for none) and want.
func applyTable(ctx context.Context, dp dataplane.Dataplane, prev *dataplane.Table, prevErr error, want dataplane.Table, gen int, m *metrics) applyDone {
	res := applyDone{want: want, gen: gen, first: prev == nil}
	if prev != nil && prevErr == nil && reflect.DeepEqual(*prev, want) {
		res.skipped = true
		return res
	}
	if !res.first {
		res.changes = dataplane.Diff(*prev, want)
	}
	start := time.Now()
	res.err = dp.Apply(ctx, want)
	res.took = time.Since(start)
	m.dataplaneApply(res.took, res.err)
	return res
}

func (d *Daemon) onApplyDone(ctx context.Context, ev applyDone) {
	d.st.applying = false
	switch {
	case ev.skipped:
	case ev.err != nil:
		d.st.applyErr = ev.err
		d.log.Error("Data plane apply failed: the previous table stays in force", "error", ev.err)
		d.publish(api.Event{Kind: api.EventDataplane, Reason: "apply failed", Detail: ev.err.Error()})
	default:
		want := ev.want
		d.st.applied, d.st.applyErr = &want, nil
		detail := describeChanges(ev.changes)
		if ev.first {
			detail = fmt.Sprintf("initial table: %d services", len(want.Services))
		}
		d.log.Info("Data plane updated", "changes", detail, "took", ev.took.Round(time.Microsecond))
		d.publish(api.Event{Kind: api.EventDataplane, Detail: detail})
	}
	d.syncBGP(ctx)
	if ev.gen == d.st.gen && !ev.host.equal(d.st.host) {
		// A route or an address changed under us: decide again with it.
		d.st.host = ev.host
		d.st.dirty = true
	}
	if r := d.st.reload; r != nil && r.waitGen > 0 && ev.gen >= r.waitGen {
		// The answer names what the data plane did: a reload that only
		// changes weights or a scheduler is not "no change".
		switch {
		case ev.err != nil:
			r.res.Changes = append(r.res.Changes, "data plane apply failed, the previous table stays: "+ev.err.Error())
		case !ev.skipped && !ev.first && len(ev.changes) > 0:
			r.res.Changes = append(r.res.Changes, "data plane: "+describeChanges(ev.changes))
		}
		r.phase("dataplane")
		d.finishReload(ctx, true)
	}
	if d.st.dirty {
		d.requestApply(ctx)
	}
}

// Reload re-reads the configuration file. A file with errors is refused
// and everything keeps running, and so is a file that would remove every
// VRRP instance and every virtual server, or has no directives at all,
// unless opts.AllowEmpty. Otherwise only what changed is restarted:
// unchanged VRRP instances keep running (no flap), real servers keep their
// health, new ones join after their first good check, and the data plane
// gets only the difference. Reloads run one at a time, in the loop; Reload
// waits for the answer (or ctx).
func (d *Daemon) Reload(ctx context.Context, opts api.ReloadOptions) api.ReloadResult {
	req := reloadRequest{opts: opts, reply: make(chan api.ReloadResult, 1)}
	gone := func(why string) api.ReloadResult {
		return api.ReloadResult{Diagnostics: []string{"reload: " + why}}
	}
	select {
	case d.events <- req:
	case <-ctx.Done():
		return gone(ctx.Err().Error())
	case <-d.stopped:
		return gone("the daemon is stopping")
	}
	select {
	case res := <-req.reply:
		return res
	case <-ctx.Done():
		return gone(ctx.Err().Error())
	case <-d.stopped:
		return gone("the daemon is stopping")
	}
}

// onReloadRequest starts a reload (or queues it behind the running one)
// with the parse effect.
func (d *Daemon) onReloadRequest(req reloadRequest) {
	if d.st.reload != nil {
		d.st.queued = append(d.st.queued, req)
		return
	}
	now := time.Now()
	d.st.reload = &reloadRun{req: req, begin: now, mark: now, restoreGC: relaxGC()}
	d.log.Info("Reloading configuration", "file", d.opts.ConfigFile)
	file, id, hostIPVS := d.opts.ConfigFile, d.opts.ConfigID, d.opts.HostIPVS()
	reloadFile := d.reloadFile()
	d.effect(func() effectResult {
		d.createReloadFile(reloadFile)
		defer d.removeReloadFile(reloadFile)
		// Yield: parsing a large file lets timers (VRRP adverts) run.
		cfg, diags, err := config.Load(file, config.Options{ConfigID: id, Yield: yield.Before(d.nextVRRPTimer), IPVSAvailable: hostIPVS})
		var scripts *script.Table
		if err == nil {
			// The scripts are checked on this host as at start-up.
			var sdiags config.Diagnostics
			scripts, sdiags = prepareScripts(cfg, &d.scriptStats)
			diags = append(diags, sdiags...)
			if sdiags.HasErrors() {
				err = fmt.Errorf("%s: scripts: %w", file, config.ErrInvalid)
			}
		}
		return parsedEvent{cfg: cfg, scripts: scripts, diags: diags, err: err}
	})
}

// onParsed refuses a configuration with errors or one that would remove
// everything, else puts its health in place and starts the components
// effect.
func (d *Daemon) onParsed(ctx context.Context, ev parsedEvent) {
	r := d.st.reload
	r.phase("parse")
	for _, diag := range ev.diags {
		r.res.Diagnostics = append(r.res.Diagnostics, diag.String())
		if diag.Severity == config.SeverityError {
			d.log.Error(diag.String())
		} else {
			d.log.Warn(diag.String())
		}
	}
	if ev.err != nil {
		d.publish(api.Event{Kind: api.EventReload, Reason: "refused", Detail: ev.err.Error()})
		d.metrics.reload(false)
		d.finishReload(ctx, false)
		return
	}
	if why := reloadRefusal(d.st.cfg, ev.cfg, d.opts, r.req.opts.AllowEmpty); why != "" {
		msg := fmt.Sprintf("%s: error: %s", d.opts.ConfigFile, why)
		r.res.Diagnostics = append(r.res.Diagnostics, msg)
		d.log.Error(msg)
		d.publish(api.Event{Kind: api.EventReload, Reason: "refused", Detail: why})
		d.metrics.reload(false)
		d.finishReload(ctx, false)
		return
	}
	r.cfg = ev.cfg
	r.oldHealth = d.st.health
	// Components started for the new configuration run its scripts.
	r.oldScripts = d.scriptTable.Swap(ev.scripts)
	d.st.health = initialHealth(ev.cfg, d.st.health, yield.Before(d.nextVRRPTimer))
	r.holding = true
	start := make(map[check.Target]bool, len(d.st.health))
	for t, h := range d.st.health {
		start[t] = h.Up
	}
	comp, cfg := d.st.comp, ev.cfg
	d.effect(func() effectResult {
		if err := d.startDataplane(d.runCtx, &comp, cfg); err != nil {
			return componentsDone{comp: comp, dpErr: err}
		}
		// Components outlive this reload request: they live in Run's context.
		change, err := d.startComponents(d.runCtx, cfg, &comp, start)
		return componentsDone{comp: comp, host: lookupHostFacts(cfg), change: change, err: err}
	})
}

// onComponentsDone installs the components the reload left running and,
// when they run as the new configuration asks, the configuration itself;
// then the reload waits for its apply.
func (d *Daemon) onComponentsDone(ctx context.Context, ev componentsDone) {
	r := d.st.reload
	oldVRRP := d.st.comp.vrrpCfg
	d.st.comp = ev.comp
	r.holding = false
	if err := cmpErr(ev.dpErr, ev.err); err != nil {
		d.st.health = r.oldHealth
		d.scriptTable.Store(r.oldScripts)
		r.res.Diagnostics = append(r.res.Diagnostics, err.Error())
		d.log.Error("Reload failed", "error", err)
		if ev.dpErr == nil {
			d.publish(api.Event{Kind: api.EventReload, Reason: "failed", Detail: err.Error()})
		}
		d.metrics.reload(false)
		d.finishReload(ctx, false)
		return
	}
	oldCfg := d.st.cfg
	d.st.cfg, d.st.host = r.cfg, ev.host
	d.st.gen++
	if err := d.startBGP(d.runCtx, d.st.cfg); err != nil { //nolint:contextcheck // the speaker outlives this reload request
		d.log.Error("BGP speaker restart failed: routes stay withdrawn", "error", err)
		r.res.Changes = append(r.res.Changes, "bgp speaker failed: "+err.Error())
	}
	d.prevScriptTable.Store(r.oldScripts)
	d.onReloadRemoved(oldCfg, r.oldHealth) //nolint:contextcheck // the removed servers' scripts run in Run's context (d.runCtx)
	if !reflect.DeepEqual(oldVRRP, d.st.comp.vrrpCfg) {
		r.res.Changes = append(r.res.Changes, d.st.comp.vrrpChange...)
	}
	if ev.change != "" {
		r.res.Changes = append(r.res.Changes, ev.change)
	}
	d.st.reloads++
	d.st.lastReload = time.Now()
	r.phase("components")
	if d.st.comp.dp == nil {
		r.phase("dataplane")
		d.finishReload(ctx, true)
		return
	}
	r.waitGen = d.st.gen
	d.requestApply(ctx)
}

// cmpErr is the first non-nil error.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// finishReload answers the reload in progress and starts the next queued one.
func (d *Daemon) finishReload(ctx context.Context, ok bool) {
	r := d.st.reload
	r.res.OK = ok
	r.res.Duration = time.Since(r.begin)
	if ok {
		d.reloadNotifier()
		if len(r.res.Changes) == 0 {
			r.res.Changes = []string{"no change"}
		}
		d.log.Info("Reload done", "changes", strings.Join(r.res.Changes, "; "), "took", r.res.Duration.Round(time.Microsecond),
			"phases", formatPhases(r.res.Phases))
		d.publish(api.Event{Kind: api.EventReload, Reason: "ok", Detail: strings.Join(r.res.Changes, "; ")})
		d.metrics.reload(true)
	} else if r.req.signal {
		d.log.Error("Reload refused: the running configuration stays", "problems", len(r.res.Diagnostics))
	}
	if ok {
		applyUmask(d.st.cfg)
		if node := d.st.comp.node; node != nil && d.st.cfg.Global.Housekeeping.FIFOWriteVRRPStatesOnReload {
			d.notifier.Load().writeVRRPStates(d.st.cfg, lastStatus(node))
		}
	}
	d.writeReloadCheckLog(r.res)
	r.restoreGC()
	r.req.reply <- r.res
	d.st.reload = nil
	if d.st.dirty {
		d.requestApply(ctx)
	}
	if len(d.st.queued) > 0 {
		next := d.st.queued[0]
		d.st.queued = d.st.queued[1:]
		d.onReloadRequest(next)
	}
}

// inbox is a queue that never blocks its producer: VRRP's thread hands
// transitions to the loop through it. ready holds a token while items wait.
type inbox[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{}
}

func newInbox[T any]() *inbox[T] { return &inbox[T]{ready: make(chan struct{}, 1)} }

func (b *inbox[T]) push(v T) {
	b.mu.Lock()
	b.items = append(b.items, v)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// take returns the queued items, oldest first, and empties the queue.
func (b *inbox[T]) take() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.items
	b.items = nil
	return out
}
