package check

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
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
	RunScript func(ctx context.Context, argv []string, timeout time.Duration) ScriptResult
	// OnScript, if set, is called after each notify script with its command
	// line and result (for logging).
	OnScript func(target Target, command string, res ScriptResult)
}

// checkerRun is a checker's mutable state, guarded by Scheduler.mu.
type checkerRun struct {
	server int
	index  int
	spec   Spec
	state  CheckerState
	status CheckerStatus
	weight int
	dyn    bool
}

type serverRun struct {
	cfg      Server
	checkers []int
	up       bool
	weight   int
	last     *checkerRun
}

// Scheduler runs health checks and reports transitions.
type Scheduler struct {
	cfg      Config
	checkers []*checkerRun
	servers  []*serverRun
	events   chan Transition
	wake     chan struct{}
	started  atomic.Bool
	scripts  sync.WaitGroup
	scriptSe chan struct{}

	mu    sync.Mutex
	queue timerHeap
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
	s := &Scheduler{
		cfg:      cfg,
		events:   make(chan Transition, cfg.EventBuffer),
		wake:     make(chan struct{}, 1),
		scriptSe: make(chan struct{}, 16),
	}
	var errs []error
	seen := make(map[Target]bool, len(cfg.Servers))
	for si, srv := range cfg.Servers {
		if seen[srv.Target] {
			errs = append(errs, fmt.Errorf("server %s: duplicate target", srv.Target))
		}
		seen[srv.Target] = true
		sr := &serverRun{cfg: srv, weight: srv.Weight, up: true}
		for ci, spec := range srv.Checkers {
			spec = spec.WithDefaults()
			if err := spec.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("server %s checker %d: %w", srv.Target, ci+1, err))
				continue
			}
			cr := &checkerRun{server: si, index: ci, spec: spec, state: InitialState(spec)}
			cr.status = CheckerStatus{Kind: spec.Kind, Addr: spec.Addr, Up: cr.state.Up}
			sr.checkers = append(sr.checkers, len(s.checkers))
			s.checkers = append(s.checkers, cr)
			if !cr.state.Up {
				sr.up = false
			}
		}
		s.servers = append(s.servers, sr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("check: new scheduler: %w", err)
	}
	return s, nil
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
	start := time.Now()
	s.mu.Lock()
	n := len(s.checkers)
	for i, c := range s.checkers {
		var off time.Duration
		if c.spec.Warmup > 0 {
			off = rand.N(c.spec.Warmup)
		} else if n > 1 {
			off = min(s.cfg.StartSpread, c.spec.DelayLoop) * time.Duration(i) / time.Duration(n)
		}
		heap.Push(&s.queue, timerEntry{at: start.Add(off), idx: i})
	}
	s.mu.Unlock()

	jobs := make(chan int)
	var workers sync.WaitGroup
	for range min(s.cfg.Workers, max(n, 1)) {
		workers.Go(func() {
			for idx := range jobs {
				c := s.checkers[idx]
				res := s.cfg.Probe(ctx, c.spec)
				s.complete(ctx, idx, res)
			}
		})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []int
loop:
	for {
		due = due[:0]
		s.mu.Lock()
		now := time.Now()
		for s.queue.Len() > 0 && !s.queue[0].at.After(now) {
			due = append(due, heap.Pop(&s.queue).(timerEntry).idx)
		}
		wait := time.Hour
		if s.queue.Len() > 0 {
			wait = s.queue[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, idx := range due {
			select {
			case jobs <- idx:
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
	close(jobs)
	workers.Wait()
	s.scripts.Wait()
	return nil
}

// complete records a probe result, reschedules the checker and emits a
// transition when the server's state or weight changed.
func (s *Scheduler) complete(ctx context.Context, idx int, res Result) {
	if ctx.Err() != nil {
		return // a probe cut short by shutdown says nothing about the server
	}
	now := time.Now()
	s.mu.Lock()
	c := s.checkers[idx]
	srv := s.servers[c.server]
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
	for _, ci := range srv.checkers {
		o := s.checkers[ci]
		if !o.state.Up {
			srv.up = false
		}
		if o.dyn {
			srv.weight = o.weight
		}
	}
	heap.Push(&s.queue, timerEntry{at: now.Add(delay), idx: idx})
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
		for _, ci := range srv.checkers {
			ss.Checkers = append(ss.Checkers, s.checkers[ci].status)
		}
		out[i] = ss
	}
	return out
}

// timerEntry is a checker due at a time.
type timerEntry struct {
	at  time.Time
	idx int
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
