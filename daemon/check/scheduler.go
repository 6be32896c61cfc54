package check

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drlb/drlb/internal/yield"
)

// Server is a real server with its checkers. It is up when all its
// checkers are up (a server without checkers is always up).
type Server struct {
	Target Target
	// Weight is the configured weight, reported while no misc_dynamic
	// script has set another one.
	Weight int
	// NotifyUp and NotifyDown are command lines run (without a shell) when
	// the server goes up or down.
	NotifyUp, NotifyDown string
	// Checkers are the server's health checkers.
	Checkers []Spec
}

// Transition is a change of a real server's health or dynamic weight.
type Transition struct {
	Target Target
	// Up is the server's new state.
	Up bool
	// WasUp is the state before; equal to Up for a weight-only change.
	WasUp bool
	// Weight is the effective weight (a misc_dynamic weight, else the
	// configured one).
	Weight int
	// Checker is the index of the checker whose probe caused the change.
	Checker int
	// Reason and Latency come from that probe.
	Reason  string
	Latency time.Duration
	// Time is when the probe finished.
	Time time.Time
}

// CheckerStatus is one checker's state in a Snapshot.
type CheckerStatus struct {
	Kind        Kind
	Addr        netip.AddrPort
	Up          bool
	Failures    int
	LastOK      bool
	LastReason  string
	LastLatency time.Duration
	// LastCheck is zero before the first probe.
	LastCheck time.Time
	Checks    uint64
	Failed    uint64
}

// ServerStatus is one real server's state in a Snapshot.
type ServerStatus struct {
	Target Target
	Up     bool
	Weight int
	// LastReason, LastLatency and LastCheck are from the most recent probe
	// of any of the server's checkers.
	LastReason  string
	LastLatency time.Duration
	LastCheck   time.Time
	Checkers    []CheckerStatus
}

// Config configures a Scheduler.
type Config struct {
	// Servers are the real servers to check.
	Servers []Server
	// Workers bounds concurrent probes (default 256). A probe of a dead
	// server holds its worker up to connect_timeout, so size for the number
	// of servers that may time out at once.
	Workers int
	// StartSpread spreads the first probes of checkers without warmup over
	// min(StartSpread, delay_loop) so they do not fire together (default 1s).
	StartSpread time.Duration
	// ScriptTimeout bounds notify_up/notify_down scripts (default 10s).
	ScriptTimeout time.Duration
	// EventBuffer is the capacity of the Events channel (default 1024).
	EventBuffer int
	// Probe runs one check; nil means Probe. Tests inject fakes here.
	Probe func(ctx context.Context, spec Spec) Result
	// RunScript runs notify scripts; nil means RunScript.
	RunScript ScriptFunc
	// OnScript, if set, is called after each notify script with its command
	// line and result (for logging).
	OnScript func(target Target, command string, res ScriptResult)
	// YieldBefore, if set, returns when a timer elsewhere in the process
	// falls due (VRRP's next advert); Update's loops give up the processor
	// then (package internal/yield).
	YieldBefore func() time.Time
}

// checkerRun is a checker's mutable state, guarded by Scheduler.mu.
type checkerRun struct {
	srv    *serverRun
	index  int
	spec   Spec
	state  CheckerState
	status CheckerStatus
	weight int
	dyn    bool
	// removed is set when Update drops the checker: its pending timer and
	// any probe in flight are then ignored.
	removed bool
}

type serverRun struct {
	cfg      Server
	key      Server // cfg with defaults applied and Alpha cleared, compared by Update
	checkers []*checkerRun
	up       bool
	weight   int
	last     *checkerRun
}

// setWeight changes the configured weight (s.mu held); a weight set by a
// misc_dynamic script stays in force, as it does after a probe.
func (sr *serverRun) setWeight(w int) {
	sr.cfg.Weight = w
	for _, c := range sr.checkers {
		if c.dyn {
			return
		}
	}
	sr.weight = w
}

// Scheduler runs health checks and reports transitions.
type Scheduler struct {
	cfg      Config
	events   chan Transition
	wake     chan struct{}
	started  atomic.Bool
	scripts  sync.WaitGroup
	scriptSe chan struct{}
	checks   atomic.Uint64
	failed   atomic.Uint64

	// updateMu serializes Update; byTarget changes only there.
	updateMu sync.Mutex

	mu       sync.Mutex
	servers  []*serverRun // in configuration order
	byTarget map[Target]*serverRun
	running  bool // Run has queued the first probes and takes jobs
	queue    timerHeap
	// Run's worker pool, grown by Update up to Config.Workers.
	jobs     chan *checkerRun
	workers  sync.WaitGroup
	nworkers int
	runCtx   context.Context //nolint:containedctx // Run's context, for workers Update starts

	// emitMu is taken under mu and held while sending, so transitions
	// leave in the order the state changed.
	emitMu sync.Mutex
}

// NewScheduler validates cfg and returns a Scheduler whose Snapshot already
// shows the initial states (up, or down for alpha checkers).
func NewScheduler(cfg Config) (*Scheduler, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	if cfg.StartSpread <= 0 {
		cfg.StartSpread = time.Second
	}
	if cfg.ScriptTimeout <= 0 {
		cfg.ScriptTimeout = 10 * time.Second
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	if cfg.Probe == nil {
		cfg.Probe = Probe
	}
	if cfg.RunScript == nil {
		cfg.RunScript = RunScript
	}
	servers, err := buildServers(cfg.Servers)
	if err != nil {
		return nil, fmt.Errorf("check: new scheduler: %w", err)
	}
	s := &Scheduler{
		cfg:      cfg,
		events:   make(chan Transition, cfg.EventBuffer),
		wake:     make(chan struct{}, 1),
		scriptSe: make(chan struct{}, 16),
		servers:  servers,
		byTarget: make(map[Target]*serverRun, len(servers)),
	}
	for _, sr := range servers {
		s.byTarget[sr.cfg.Target] = sr
	}
	s.cfg.Servers = nil // the live set is s.servers
	return s, nil
}

// buildServers validates servers and returns their initial run state.
func buildServers(servers []Server) ([]*serverRun, error) {
	keys, err := serverKeys(servers, func() {})
	if err != nil {
		return nil, err
	}
	out := make([]*serverRun, len(servers))
	for i := range servers {
		out[i] = newServerRun(servers[i], keys[i])
	}
	return out, nil
}

// serverKeys validates servers and returns each one's key: the server with
// its checkers' defaults applied and Alpha cleared (Alpha only sets where
// a checker starts), which is what Update compares.
func serverKeys(servers []Server, pause func()) ([]Server, error) {
	var errs []error
	keys := make([]Server, len(servers))
	seen := make(map[Target]bool, len(servers))
	for i, srv := range servers {
		pause()
		if seen[srv.Target] {
			errs = append(errs, fmt.Errorf("server %s: duplicate target", srv.Target))
		}
		seen[srv.Target] = true
		key := srv
		key.Checkers = make([]Spec, len(srv.Checkers))
		for ci, spec := range srv.Checkers {
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("server %s checker %d: %w", srv.Target, ci+1, err))
			}
			spec.Alpha = false
			key.Checkers[ci] = spec
		}
		keys[i] = key
	}
	return keys, errors.Join(errs...)
}

// newServerRun is the initial run state of a validated server.
func newServerRun(srv Server, key Server) *serverRun {
	sr := &serverRun{cfg: srv, key: key, weight: srv.Weight, up: true}
	sr.checkers = make([]*checkerRun, len(key.Checkers))
	for ci, spec := range key.Checkers {
		spec.Alpha = srv.Checkers[ci].Alpha
		cr := &checkerRun{srv: sr, index: ci, spec: spec, state: InitialState(spec)}
		cr.status = CheckerStatus{Kind: spec.Kind, Addr: spec.Addr, Up: cr.state.Up}
		sr.checkers[ci] = cr
		if !cr.state.Up {
			sr.up = false
		}
	}
	return sr
}

// equal reports whether two servers are configured the same (checkers
// compared with Spec.Equal).
func (s Server) equal(o Server) bool {
	return s.Target == o.Target && s.Weight == o.Weight && s.NotifyUp == o.NotifyUp && s.NotifyDown == o.NotifyDown &&
		slices.EqualFunc(s.Checkers, o.Checkers, Spec.Equal)
}

// sameChecks reports whether two servers are checked the same way: equal
// but for the weight. keepalived changes a weight in place, without
// restarting the server's checkers, and so does Update.
func (s Server) sameChecks(o Server) bool {
	o.Weight = s.Weight
	return s.equal(o)
}

// UpdateResult counts what Update did with each real server.
type UpdateResult struct {
	// Kept servers were unchanged: their checkers go on with their state,
	// timers and counters.
	Kept int
	// Started servers are new or changed: they start from the state their
	// specs give (Alpha) and are probed within StartSpread.
	Started int
	// Stopped servers were removed or changed: their probes in flight are
	// ignored and they emit no more transitions.
	Stopped int
}

// Update replaces the set of servers while the scheduler runs (or before):
// servers equal to a running one (ignoring Spec.Alpha, which only sets a
// starting state, and the weight, which changes in place) keep running
// with their state and retry progress; others start, and servers no
// longer listed stop. An invalid set is refused and nothing changes.
func (s *Scheduler) Update(servers []Server) (UpdateResult, error) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	// An update of 10,000 servers must not hold a processor while the
	// timer of YieldBefore (VRRP's next advert) falls due.
	pause := yield.Before(s.cfg.YieldBefore)
	keys, err := serverKeys(servers, pause)
	if err != nil {
		return UpdateResult{}, fmt.Errorf("check: update: %w", err)
	}
	// Compare without s.mu (only Update replaces byTarget, and a server's
	// key never changes), so probes complete meanwhile.
	s.mu.Lock()
	current := s.byTarget
	s.mu.Unlock()
	var res UpdateResult
	next := make([]*serverRun, len(servers))
	byTarget := make(map[Target]*serverRun, len(servers))
	var fresh []*checkerRun
	for i, srv := range servers {
		pause()
		if old, ok := current[srv.Target]; ok && old.key.sameChecks(keys[i]) {
			if old.key.Weight != keys[i].Weight {
				old.key.Weight = keys[i].Weight
				s.mu.Lock()
				old.setWeight(srv.Weight)
				s.mu.Unlock()
			}
			next[i] = old
			byTarget[srv.Target] = old
			res.Kept++
			continue
		}
		sr := newServerRun(srv, keys[i])
		next[i] = sr
		byTarget[srv.Target] = sr
		fresh = append(fresh, sr.checkers...)
		res.Started++
	}
	s.mu.Lock()
	for t, old := range s.byTarget {
		if byTarget[t] == old {
			continue
		}
		for _, c := range old.checkers {
			c.removed = true
		}
		res.Stopped++
	}
	s.servers, s.byTarget = next, byTarget
	if s.running {
		s.schedule(time.Now(), fresh)
		s.growWorkers()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return res, nil
}

// schedule queues the first probes of checkers (s.mu held): at a random
// point of their warmup, else spread over min(StartSpread, delay_loop) so
// they do not fire together.
func (s *Scheduler) schedule(start time.Time, checkers []*checkerRun) {
	n := len(checkers)
	for i, c := range checkers {
		var off time.Duration
		if c.spec.Warmup > 0 {
			off = rand.N(c.spec.Warmup)
		} else if n > 1 {
			off = min(s.cfg.StartSpread, c.spec.DelayLoop) * time.Duration(i) / time.Duration(n)
		}
		heap.Push(&s.queue, timerEntry{at: start.Add(off), c: c})
	}
}

// growWorkers starts workers up to min(Workers, checkers) (s.mu held,
// s.running): a small configuration keeps a small pool.
func (s *Scheduler) growWorkers() {
	n := 0
	for _, sr := range s.servers {
		n += len(sr.checkers)
	}
	for ; s.nworkers < min(s.cfg.Workers, max(n, 1)); s.nworkers++ {
		s.workers.Go(func() {
			for c := range s.jobs {
				res := s.cfg.Probe(s.runCtx, c.spec)
				s.complete(s.runCtx, c, res)
			}
		})
	}
}

// Totals counts the probes run and those that failed since the scheduler
// started, across updates.
func (s *Scheduler) Totals() (checks, failed uint64) {
	// failed first: each failure is counted after its check, so this order
	// never reports more failures than checks.
	failed = s.failed.Load()
	return s.checks.Load(), failed
}

// Events delivers transitions in the order the states changed. The consumer must
// keep reading: a full channel stalls the checks. It is closed when Run
// returns.
func (s *Scheduler) Events() <-chan Transition { return s.events }

// Run schedules and runs the checks until ctx ends, then waits for probes
// and notify scripts in flight and closes Events. It can be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("check: scheduler already started")
	}
	defer close(s.events)
	s.mu.Lock()
	var all []*checkerRun
	for _, sr := range s.servers {
		all = append(all, sr.checkers...)
	}
	s.schedule(time.Now(), all)
	s.running = true
	s.jobs, s.runCtx = make(chan *checkerRun), ctx
	s.growWorkers()
	jobs := s.jobs
	s.mu.Unlock()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*checkerRun
loop:
	for {
		clear(due)
		due = due[:0]
		s.mu.Lock()
		now := time.Now()
		for s.queue.Len() > 0 && !s.queue[0].at.After(now) {
			if c := heap.Pop(&s.queue).(timerEntry).c; !c.removed {
				due = append(due, c)
			}
		}
		wait := time.Hour
		if s.queue.Len() > 0 {
			wait = s.queue[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, c := range due {
			select {
			case jobs <- c:
			case <-ctx.Done():
				break loop
			}
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	close(jobs)
	s.workers.Wait()
	s.scripts.Wait()
	return nil
}

// complete records a probe result, reschedules the checker and emits a
// transition when the server's state or weight changed.
func (s *Scheduler) complete(ctx context.Context, c *checkerRun, res Result) {
	if ctx.Err() != nil {
		return // a probe cut short by shutdown says nothing about the server
	}
	s.checks.Add(1)
	if !res.OK {
		s.failed.Add(1)
	}
	now := time.Now()
	s.mu.Lock()
	if c.removed {
		s.mu.Unlock()
		return // dropped by Update while in flight
	}
	srv := c.srv
	var delay time.Duration
	c.state, delay = Step(c.state, res.OK, c.spec)
	if res.OK && res.WeightSet {
		c.weight, c.dyn = res.Weight, true
	}
	st := &c.status
	st.Up, st.Failures, st.LastOK = c.state.Up, c.state.Failures, res.OK
	st.LastReason, st.LastLatency, st.LastCheck = res.Reason, res.Latency, now
	st.Checks++
	if !res.OK {
		st.Failed++
	}
	srv.last = c
	wasUp, oldWeight := srv.up, srv.weight
	srv.up, srv.weight = true, srv.cfg.Weight
	for _, o := range srv.checkers {
		if !o.state.Up {
			srv.up = false
		}
		if o.dyn {
			srv.weight = o.weight
		}
	}
	heap.Push(&s.queue, timerEntry{at: now.Add(delay), c: c})
	// keepalived (update_svr_checker_state) also notifies on an alpha
	// checker's first verdict when it is a failure: the server started
	// down and stays down, yet notify_down runs once.
	var alphaDown string
	target := srv.cfg.Target
	if st.Checks == 1 && c.spec.Alpha && !c.state.Up && !srv.up && !wasUp {
		alphaDown = srv.cfg.NotifyDown
	}
	var tr *Transition
	if srv.up != wasUp || srv.weight != oldWeight {
		tr = &Transition{
			Target: srv.cfg.Target, Up: srv.up, WasUp: wasUp, Weight: srv.weight,
			Checker: c.index, Reason: res.Reason, Latency: res.Latency, Time: now,
		}
	}
	if tr != nil {
		s.emitMu.Lock()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if tr == nil {
		if alphaDown != "" {
			s.runNotify(ctx, target, alphaDown)
		}
		return
	}
	defer s.emitMu.Unlock()
	if tr.Up != tr.WasUp {
		script := srv.cfg.NotifyDown
		if tr.Up {
			script = srv.cfg.NotifyUp
		}
		if script != "" {
			s.runNotify(ctx, tr.Target, script)
		}
	}
	select {
	case s.events <- *tr:
	case <-ctx.Done():
	}
}

// runNotify starts a notify script in the background; at most 16 run at once.
func (s *Scheduler) runNotify(ctx context.Context, target Target, script string) {
	s.scripts.Go(func() {
		select {
		case s.scriptSe <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.scriptSe }()
		res := s.cfg.RunScript(ctx, SplitCommand(script), s.cfg.ScriptTimeout)
		if s.cfg.OnScript != nil {
			s.cfg.OnScript(target, script, res)
		}
	})
}

// Snapshot returns every server's current state, in configuration order.
func (s *Scheduler) Snapshot() []ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServerStatus, len(s.servers))
	for i, srv := range s.servers {
		ss := ServerStatus{Target: srv.cfg.Target, Up: srv.up, Weight: srv.weight}
		if srv.last != nil {
			ss.LastReason, ss.LastLatency, ss.LastCheck = srv.last.status.LastReason, srv.last.status.LastLatency, srv.last.status.LastCheck
		}
		for _, c := range srv.checkers {
			ss.Checkers = append(ss.Checkers, c.status)
		}
		out[i] = ss
	}
	return out
}

// timerEntry is a checker due at a time.
type timerEntry struct {
	at time.Time
	c  *checkerRun
}

// timerHeap is a min-heap of timerEntry by time.
type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
