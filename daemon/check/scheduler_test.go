package check

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeProbes answers probes from a per-address health table.
type fakeProbes struct {
	mu      sync.Mutex
	healthy map[netip.AddrPort]bool
	weight  map[netip.AddrPort]int
	calls   map[netip.AddrPort]int
}

func newFakeProbes() *fakeProbes {
	return &fakeProbes{healthy: map[netip.AddrPort]bool{}, weight: map[netip.AddrPort]int{}, calls: map[netip.AddrPort]int{}}
}

func (f *fakeProbes) set(a netip.AddrPort, ok bool) {
	f.mu.Lock()
	f.healthy[a] = ok
	f.mu.Unlock()
}

func (f *fakeProbes) probe(_ context.Context, spec Spec) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[spec.Addr]++
	if !f.healthy[spec.Addr] {
		return Result{Reason: "fake failure", Latency: time.Millisecond}
	}
	r := Result{OK: true, Reason: "fake ok", Latency: time.Millisecond}
	if w, ok := f.weight[spec.Addr]; ok {
		r.Weight, r.WeightSet = w, true
	}
	return r
}

func addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(10000+i))
}

func fastSpec(a netip.AddrPort) Spec {
	return Spec{Kind: KindTCP, Addr: a, DelayLoop: 10 * time.Millisecond, DelayBeforeRetry: 5 * time.Millisecond, Retry: 2, ConnectTimeout: time.Second}
}

func startScheduler(t *testing.T, cfg Config) (*Scheduler, context.CancelFunc, chan error) {
	t.Helper()
	s, err := NewScheduler(cfg)
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range s.Events() { // drain until closed
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, cancel, done
}

func nextEvent(t *testing.T, s *Scheduler, within time.Duration) Transition {
	t.Helper()
	select {
	case tr, ok := <-s.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return tr
	case <-time.After(within):
		t.Fatalf("no transition within %s", within)
	}
	return Transition{}
}

func TestSchedulerRetryDownAndUp(t *testing.T) {
	f := newFakeProbes()
	f.set(addr(1), true)
	var scripts sync.Map
	scriptRan := make(chan string, 4)
	cfg := Config{
		Servers: []Server{{Target: Target{"vs", "rs1"}, Weight: 3, NotifyUp: "/bin/up 'rs 1'", NotifyDown: "/bin/down rs1", Checkers: []Spec{fastSpec(addr(1))}}},
		Probe:   f.probe,
		RunScript: func(_ context.Context, argv []string, timeout time.Duration) ScriptResult {
			scripts.Store(strings.Join(argv, "|"), timeout)
			scriptRan <- strings.Join(argv, "|")
			return ScriptResult{}
		},
		ScriptTimeout: 3 * time.Second,
	}
	s, _, _ := startScheduler(t, cfg)
	if snap := s.Snapshot(); len(snap) != 1 || !snap[0].Up || snap[0].Weight != 3 {
		t.Fatalf("initial snapshot = %+v, want up weight 3", snap)
	}
	f.set(addr(1), false)
	tr := nextEvent(t, s, 2*time.Second)
	if tr.Up || !tr.WasUp || tr.Target.RealServer != "rs1" || tr.Reason != "fake failure" || tr.Weight != 3 {
		t.Fatalf("transition = %+v, want down", tr)
	}
	snap := s.Snapshot()[0]
	if snap.Up || snap.Checkers[0].Up || snap.LastReason != "fake failure" || snap.LastCheck.IsZero() {
		t.Fatalf("snapshot after down = %+v", snap)
	}
	if c := snap.Checkers[0]; c.Failed < 3 {
		t.Fatalf("failed probes at down = %d, want at least retry+1 = 3", c.Failed)
	}
	if got := <-scriptRan; got != "/bin/down|rs1" {
		t.Fatalf("notify script = %q", got)
	}
	f.set(addr(1), true)
	tr = nextEvent(t, s, 2*time.Second)
	if !tr.Up || tr.WasUp {
		t.Fatalf("transition = %+v, want up", tr)
	}
	if got := <-scriptRan; got != "/bin/up|rs 1" {
		t.Fatalf("notify script = %q", got)
	}
	if v, _ := scripts.Load("/bin/up|rs 1"); v != 3*time.Second {
		t.Fatalf("script timeout = %v", v)
	}
}

func TestSchedulerFailuresBeforeDownCount(t *testing.T) {
	// retry 3: the server goes down when the 4th consecutive probe fails,
	// not before. Probe 5 blocks so the count is stable when we look.
	var mu sync.Mutex
	var starts []time.Time
	probe := func(ctx context.Context, _ Spec) Result {
		mu.Lock()
		starts = append(starts, time.Now())
		n := len(starts)
		mu.Unlock()
		if n > 4 {
			<-ctx.Done()
		}
		return Result{Reason: "down"}
	}
	spec := fastSpec(addr(1))
	spec.Retry = 3
	s, _, _ := startScheduler(t, Config{Servers: []Server{{Target: Target{"vs", "rs"}, Checkers: []Spec{spec}}}, Probe: probe})
	tr := nextEvent(t, s, 2*time.Second)
	if tr.Up {
		t.Fatalf("transition %+v", tr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) < 4 || !tr.Time.After(starts[3]) {
		t.Fatalf("went down at %s before the 4th probe started (starts %v)", tr.Time, starts)
	}
	if f := s.Snapshot()[0].Checkers[0].Failed; f != 4 {
		t.Fatalf("failed probes = %d, want 4", f)
	}
	// Retries come after delay_before_retry (5ms), not delay_loop.
	if gap := starts[1].Sub(starts[0]); gap < spec.DelayBeforeRetry || gap > spec.DelayLoop+500*time.Millisecond {
		t.Fatalf("retry gap %s", gap)
	}
}

func TestSchedulerAlphaAndMultipleCheckers(t *testing.T) {
	f := newFakeProbes()
	a, b := fastSpec(addr(1)), fastSpec(addr(2))
	a.Alpha, b.Alpha = true, true
	s, err := NewScheduler(Config{Servers: []Server{{Target: Target{"vs", "rs"}, Weight: 1, Checkers: []Spec{a, b}}}, Probe: f.probe})
	if err != nil {
		t.Fatal(err)
	}
	if s.Snapshot()[0].Up {
		t.Fatal("alpha server starts up")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		for range s.Events() { // drain
		}
		<-done
	}()
	f.set(addr(1), true) // one of two checkers up: still down
	f.set(addr(2), true)
	tr := nextEvent(t, s, 2*time.Second)
	if !tr.Up || tr.WasUp {
		t.Fatalf("transition = %+v, want up once both checkers pass", tr)
	}
	f.set(addr(2), false)
	tr = nextEvent(t, s, 2*time.Second)
	if tr.Up || tr.Checker != 1 {
		t.Fatalf("transition = %+v, want down caused by checker 1", tr)
	}
}

func TestSchedulerDynamicWeight(t *testing.T) {
	f := newFakeProbes()
	f.set(addr(1), true)
	s, _, _ := startScheduler(t, Config{Servers: []Server{{Target: Target{"vs", "rs"}, Weight: 1, Checkers: []Spec{fastSpec(addr(1))}}}, Probe: f.probe})
	f.mu.Lock()
	f.weight[addr(1)] = 7
	f.mu.Unlock()
	tr := nextEvent(t, s, 2*time.Second)
	if !tr.Up || !tr.WasUp || tr.Weight != 7 {
		t.Fatalf("transition = %+v, want weight-only change to 7", tr)
	}
	if w := s.Snapshot()[0].Weight; w != 7 {
		t.Fatalf("snapshot weight = %d", w)
	}
}

func TestSchedulerBoundsConcurrencyAndSpreads(t *testing.T) {
	const n, workers = 200, 4
	var cur, peak atomic.Int32
	var mu sync.Mutex
	first := map[netip.AddrPort]time.Time{}
	all := make(chan struct{})
	probe := func(_ context.Context, spec Spec) Result {
		c := cur.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		mu.Lock()
		if _, ok := first[spec.Addr]; !ok {
			first[spec.Addr] = time.Now()
			if len(first) == n {
				close(all)
			}
		}
		mu.Unlock()
		time.Sleep(100 * time.Microsecond) // simulated probe work, not a readiness wait
		cur.Add(-1)
		return Result{OK: true}
	}
	var servers []Server
	for i := range n {
		spec := fastSpec(addr(i))
		spec.DelayLoop = time.Second
		servers = append(servers, Server{Target: Target{"vs", addr(i).String()}, Checkers: []Spec{spec}})
	}
	startScheduler(t, Config{Servers: servers, Probe: probe, Workers: workers, StartSpread: 200 * time.Millisecond})
	select {
	case <-all:
	case <-time.After(5 * time.Second):
		t.Fatal("not every checker ran")
	}
	if p := peak.Load(); p > workers {
		t.Fatalf("peak concurrency %d > %d workers", p, workers)
	}
	mu.Lock()
	defer mu.Unlock()
	lo, hi := first[addr(0)], first[addr(0)]
	for _, at := range first {
		if at.Before(lo) {
			lo = at
		}
		if at.After(hi) {
			hi = at
		}
	}
	if spread := hi.Sub(lo); spread < 100*time.Millisecond {
		t.Fatalf("first probes spread over %s, want about 200ms", spread)
	}
}

func TestSchedulerWarmup(t *testing.T) {
	started := time.Now()
	ran := make(chan time.Time, 1)
	probe := func(context.Context, Spec) Result {
		select {
		case ran <- time.Now():
		default:
		}
		return Result{OK: true}
	}
	spec := fastSpec(addr(1))
	spec.Warmup = 50 * time.Millisecond
	startScheduler(t, Config{Servers: []Server{{Target: Target{"vs", "rs"}, Checkers: []Spec{spec}}}, Probe: probe})
	select {
	case at := <-ran:
		if at.Sub(started) > time.Second {
			t.Fatalf("first probe after %s, want within warmup", at.Sub(started))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no probe")
	}
}

func TestSchedulerLifecycle(t *testing.T) {
	if _, err := NewScheduler(Config{Servers: []Server{{Target: Target{"vs", "rs"}, Checkers: []Spec{{Kind: KindHTTP}}}}}); err == nil || !strings.Contains(err.Error(), "no url") {
		t.Fatalf("invalid spec accepted: %v", err)
	}
	if _, err := NewScheduler(Config{Servers: []Server{{Target: Target{"vs", "rs"}}, {Target: Target{"vs", "rs"}}}}); err == nil {
		t.Fatal("duplicate target accepted")
	}
	s, err := NewScheduler(Config{Servers: []Server{{Target: Target{"vs", "rs"}, Checkers: []Spec{fastSpec(addr(1))}}}, Probe: newFakeProbes().probe})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, ok := <-s.Events(); ok {
		t.Fatal("events not closed")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

// TestSchedulerHTTPDigestChange is the lab scenario on loopback: a changed
// page marks the server down within delay_loop + connect_timeout*(retry+1) +
// delay_before_retry*retry, and restoring it brings the server back.
func TestSchedulerHTTPDigestChange(t *testing.T) {
	var page atomic.Value
	page.Store("original page\n")
	srv := startRaw(t, func(c net.Conn, _ []byte) {
		_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n" + page.Load().(string)))
	})
	spec := Spec{
		Kind: KindHTTP, Addr: srv.addr(), ConnectTimeout: 200 * time.Millisecond,
		DelayLoop: 50 * time.Millisecond, DelayBeforeRetry: 30 * time.Millisecond, Retry: 1,
		HTTP: HTTPSpec{URLs: []URL{{Path: "/teste.html", Digest: md5hex("original page\n")}}},
	}
	s, _, _ := startScheduler(t, Config{Servers: []Server{{Target: Target{"vip:80", "rs1"}, Weight: 1, Checkers: []Spec{spec}}}})
	changed := time.Now()
	page.Store("defaced\n")
	tr := nextEvent(t, s, 3*time.Second)
	bound := spec.DelayLoop + spec.ConnectTimeout*2 + spec.DelayBeforeRetry + 500*time.Millisecond
	if tr.Up || !strings.Contains(tr.Reason, "MD5 digest") {
		t.Fatalf("transition = %+v, want down on digest", tr)
	}
	if el := tr.Time.Sub(changed); el > bound {
		t.Fatalf("down after %s, bound %s", el, bound)
	}
	page.Store("original page\n")
	if tr = nextEvent(t, s, 3*time.Second); !tr.Up {
		t.Fatalf("transition = %+v, want up", tr)
	}
}

func (f *fakeProbes) count(a netip.AddrPort) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[a]
}

// TestSchedulerUpdate changes the server set of a running scheduler: kept
// servers go on with their state and counters (a failed one is not reset),
// a new one is probed and reported, removed ones stop, a changed one
// restarts from the state its spec carries, and an invalid set changes
// nothing.
func TestSchedulerUpdate(t *testing.T) {
	f := newFakeProbes()
	f.set(addr(1), true)
	srv := func(name string, a netip.AddrPort, alpha bool) Server {
		sp := fastSpec(a)
		sp.Alpha = alpha
		return Server{Target: Target{"vs", name}, Weight: 1, Checkers: []Spec{sp}}
	}
	s, _, _ := startScheduler(t, Config{Servers: []Server{srv("a", addr(1), false), srv("b", addr(2), false)}, Probe: f.probe})
	if tr := nextEvent(t, s, 2*time.Second); tr.Target.RealServer != "b" || tr.Up {
		t.Fatalf("first transition = %+v, want b down", tr)
	}
	before := s.Snapshot()

	// b is carried as down (Alpha), c is new and healthy but starts down.
	f.set(addr(3), true)
	res, err := s.Update([]Server{srv("a", addr(1), false), srv("b", addr(2), true), srv("c", addr(3), true)})
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpdateResult{Kept: 2, Started: 1}) {
		t.Fatalf("Update = %+v, want 2 kept, 1 started", res)
	}
	if tr := nextEvent(t, s, 2*time.Second); tr.Target.RealServer != "c" || !tr.Up || tr.WasUp {
		t.Fatalf("transition after update = %+v, want c up (and nothing for a or b)", tr)
	}
	// The kept servers' counters go on from where they were (a restarted
	// checker would count from 0) and b stays down.
	deadline := time.Now().Add(2 * time.Second)
	for {
		snap := s.Snapshot()
		if len(snap) != 3 || snap[2].Target.RealServer != "c" || !snap[2].Up || snap[1].Up {
			t.Fatalf("snapshot = %+v", snap)
		}
		a, b := snap[0].Checkers[0].Checks, snap[1].Checkers[0].Checks
		if a < before[0].Checkers[0].Checks || b < before[1].Checkers[0].Checks {
			t.Fatalf("kept servers' counters reset: before %+v, after %+v", before, snap[:2])
		}
		if a > before[0].Checkers[0].Checks+2 && b > before[1].Checkers[0].Checks+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kept servers not probed after the update: %+v", snap)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Invalid: refused, nothing changes.
	if _, err := s.Update([]Server{srv("a", addr(1), false), srv("a", addr(1), false)}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate set: %v", err)
	}
	if n := len(s.Snapshot()); n != 3 {
		t.Fatalf("refused update changed the set: %d servers", n)
	}

	// a changes (slower delay_loop): restarted; b and c removed, c fails
	// from now on, which would be a transition if it still ran.
	changed := srv("a", addr(1), false)
	changed.Checkers[0].DelayLoop = 20 * time.Millisecond
	f.set(addr(3), false)
	res, err = s.Update([]Server{changed})
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpdateResult{Started: 1, Stopped: 3}) {
		t.Fatalf("Update = %+v, want a restarted (1 started, 1 stopped) and b, c stopped", res)
	}
	stoppedAt := f.count(addr(3))
	select {
	case tr := <-s.Events():
		t.Fatalf("transition from a removed or unchanged server: %+v", tr)
	case <-time.After(300 * time.Millisecond):
	}
	if n := f.count(addr(3)); n > stoppedAt+1 { // one probe may have been in flight
		t.Fatalf("removed server probed %d more times", n-stoppedAt)
	}
	if snap := s.Snapshot(); len(snap) != 1 || !snap[0].Up || snap[0].Checkers[0].Checks == 0 {
		t.Fatalf("snapshot = %+v, want a alone, up and probed", snap)
	}
	if checks, failed := s.Totals(); checks == 0 || failed == 0 || failed >= checks {
		t.Fatalf("Totals = %d checks, %d failed", checks, failed)
	}
}

// TestSchedulerUpdateGrowsWorkers starts with one server (one worker) and
// grows to 16 slow ones: they must be probed concurrently.
func TestSchedulerUpdateGrowsWorkers(t *testing.T) {
	var mu sync.Mutex
	busy, peak := 0, 0
	probe := func(ctx context.Context, _ Spec) Result {
		mu.Lock()
		busy++
		peak = max(peak, busy)
		mu.Unlock()
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		mu.Lock()
		busy--
		mu.Unlock()
		return Result{OK: true}
	}
	one := []Server{{Target: Target{"vs", "0"}, Checkers: []Spec{fastSpec(addr(0))}}}
	s, _, _ := startScheduler(t, Config{Servers: one, Probe: probe, StartSpread: time.Millisecond})
	var many []Server
	for i := range 16 {
		many = append(many, Server{Target: Target{"vs", strconv.Itoa(i)}, Checkers: []Spec{fastSpec(addr(i))}})
	}
	if _, err := s.Update(many); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		p := peak
		mu.Unlock()
		if p >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peak concurrent probes after growing to 16 servers = %d, want >= 8", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSchedulerUpdateWeightOnly: a reload that changes only a real server's
// weight keeps its checker running with its retry progress (keepalived
// changes the IPVS weight in place); the snapshot reports the new weight.
func TestSchedulerUpdateWeightOnly(t *testing.T) {
	f := newFakeProbes()
	sp := fastSpec(addr(1))
	sp.Retry, sp.DelayBeforeRetry = 5, 500*time.Millisecond // failures counted, server still up: progress to keep
	srv := Server{Target: Target{"vs", "a"}, Weight: 1, Checkers: []Spec{sp}}
	s, _, _ := startScheduler(t, Config{Servers: []Server{srv}, Probe: f.probe})
	deadline := time.Now().Add(2 * time.Second)
	for s.Snapshot()[0].Checkers[0].Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed probe counted")
		}
		time.Sleep(2 * time.Millisecond)
	}
	before := s.Snapshot()[0].Checkers[0]
	srv.Weight = 7
	res, err := s.Update([]Server{srv})
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpdateResult{Kept: 1}) {
		t.Fatalf("Update = %+v, want the server kept (a weight is not part of its checks)", res)
	}
	after := s.Snapshot()[0]
	if after.Weight != 7 {
		t.Fatalf("weight after update = %d, want 7", after.Weight)
	}
	if after.Checkers[0].Checks < before.Checks || after.Checkers[0].Failures < before.Failures {
		t.Fatalf("checker restarted: before %+v, after %+v", before, after.Checkers[0])
	}
}
