package scenarios

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/topology"
)

// Options configure Run.
type Options struct {
	// Lab is a running lab built from the scenario's topology. Run does not
	// tear it down (the caller owns it), but stops the daemons it started.
	Lab *topology.Lab
	// DrlbBinary runs `drlb run` on drlb balancers.
	DrlbBinary string
	// KeepalivedBinary runs keepalived balancers (default /usr/sbin/keepalived).
	KeepalivedBinary string
	// Timeline receives the timeline as JSON lines (may be nil);
	// TimelinePath names it in reports.
	Timeline     io.Writer
	TimelinePath string
	// OnEvent sees every timeline event as it is written (live output).
	OnEvent func(Event)
	// BeforeStep, if set, is called before each step (--step waits for Enter).
	BeforeStep func(ctx context.Context, index int, step *Step) error
}

// Result is the outcome of a run.
type Result struct {
	Scenario     string
	File         string
	TimelinePath string
	Verdicts     []Verdict
	Requests     []Request
	Outages      []Window
	Distribution Distribution
	// Skipped counts requests the client did not send because it fell
	// behind (a busy machine); they are not errors of the service.
	Skipped int
	Wall    time.Duration
	// Err is set when the run could not complete (lab or daemon trouble);
	// Verdicts holds what was judged before.
	Err error
}

// Passed reports whether the run completed and every expectation held.
func (r *Result) Passed() bool {
	if r.Err != nil || len(r.Verdicts) == 0 {
		return false
	}
	for _, v := range r.Verdicts {
		if !v.Met {
			return false
		}
	}
	return true
}

// Failed returns the unmet verdicts.
func (r *Result) Failed() []Verdict {
	var out []Verdict
	for _, v := range r.Verdicts {
		if !v.Met {
			out = append(out, v)
		}
	}
	return out
}

// run is one scenario run's state.
type run struct {
	sc   *Scenario
	opts Options
	lab  *topology.Lab
	vals LabValues
	tl   *Timeline
	vip  netip.Addr

	mu       sync.Mutex
	requests []Request
	vrrp     map[string]map[string]string // from events and logs
	procs    map[string]*topology.Process
	kinds    map[string]string
	configs  map[string]string            // current template name per balancer
	vars     map[string]map[string]string // current vars per balancer
	verdicts []Verdict
	skipped  int // requests the client could not send on time
	watchers sync.WaitGroup
}

// MinReportedOutage is the shortest outage written to the timeline as an
// event (shorter ones are single failed requests, visible in the traffic).
const MinReportedOutage = 250 * time.Millisecond

// pollInterval is how often conditions and expectations are re-checked.
const pollInterval = 100 * time.Millisecond

// Run plays sc in opts.Lab and judges its expectations. The returned
// Result is never nil; Result.Err says why a run stopped early.
func Run(ctx context.Context, sc *Scenario, opts Options) *Result {
	start := time.Now()
	res := &Result{Scenario: sc.Name, File: sc.File, TimelinePath: opts.TimelinePath}
	if opts.Lab == nil {
		res.Err = errors.New("run scenario: no lab")
		return res
	}
	if err := sc.CheckHosts(opts.Lab.Spec()); err != nil {
		res.Err = err
		return res
	}
	if opts.KeepalivedBinary == "" {
		opts.KeepalivedBinary = DefaultKeepalived
	}
	r := &run{
		sc: sc, opts: opts, lab: opts.Lab,
		vals:    ValuesForFamily(opts.Lab.Spec(), sc.Family == FamilyIPv6),
		tl:      NewTimeline(opts.Timeline, opts.OnEvent),
		vrrp:    map[string]map[string]string{},
		procs:   map[string]*topology.Process{},
		kinds:   map[string]string{},
		configs: map[string]string{},
		vars:    map[string]map[string]string{},
	}
	r.vip, _ = netip.ParseAddr(r.vals.VIP)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		r.watchers.Wait()
	}()
	r.add(time.Now(), Event{Kind: EvScenario, Scenario: sc.Name, Description: sc.Description, Text: sc.Name})
	res.Err = r.play(ctx)
	r.mu.Lock()
	started := len(r.procs) > 0
	r.mu.Unlock()
	if started {
		r.add(time.Now(), Event{Kind: EvTeardown, Text: "end of scenario: stopping the daemons"})
	}
	r.stopDaemons()
	cancel()
	r.watchers.Wait()

	r.mu.Lock()
	res.Requests = sortRequests(r.requests)
	r.mu.Unlock()
	res.Outages = Outages(res.Requests)
	res.Distribution = Distribute(res.Requests)
	res.Skipped = r.skipped
	for _, w := range res.Outages {
		if w.Len() < MinReportedOutage {
			continue
		}
		r.tl.Add(r.tl.Zero().Add(w.From), Event{Kind: EvOutage, Host: "client", Text: "no answer " + w.String()})
	}
	r.mu.Lock()
	res.Verdicts = append([]Verdict(nil), r.verdicts...)
	r.mu.Unlock()
	res.Wall = time.Since(start)
	text := "PASSED"
	if !res.Passed() {
		text = "FAILED"
		if res.Err != nil {
			text += ": " + res.Err.Error()
		}
	}
	r.add(time.Now(), Event{Kind: EvEnd, Passed: boolPtr(res.Passed()), Text: text})
	if err := r.tl.Flush(); err != nil && res.Err == nil {
		res.Err = err
	}
	return res
}

func (r *run) add(at time.Time, ev Event) { r.tl.Add(at, ev) }

// play runs the scenario up to its end; its error ends the run early.
func (r *run) play(ctx context.Context) error {
	if len(r.sc.Balancers) > 0 {
		r.watch(ctx, r.watchVIP)
	}
	for _, b := range r.sc.Balancers {
		r.kinds[b.Host] = b.Daemon
		if r.kinds[b.Host] == "" {
			r.kinds[b.Host] = DaemonDrlb
		}
		r.configs[b.Host] = b.Config
		r.vars[b.Host] = maps.Clone(b.Vars)
		if b.Stopped {
			continue
		}
		if err := r.startDaemon(ctx, b.Host); err != nil {
			return err
		}
	}
	timeout := r.sc.ReadyTimeout.D()
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if len(r.sc.Ready) > 0 {
		ok := true
		for i := range r.sc.Ready {
			if !r.condition(ctx, &r.sc.Ready[i], "ready", timeout, time.Now()) {
				ok = false
			}
		}
		if !ok {
			return errors.New("the lab never became ready (see the ready expectations)")
		}
	}
	zero := time.Now()
	r.tl.SetZero(zero)
	r.add(zero, Event{Kind: EvReady, Text: "ready; time 0"})

	var trafficDone <-chan struct{}
	if r.sc.Traffic != nil {
		done := make(chan struct{})
		trafficDone = done
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			defer close(done)
			r.traffic(ctx, zero)
		}()
	}

	type phase struct {
		step int
		from time.Duration
	}
	var phases []phase
	for i := range r.sc.Steps {
		st := &r.sc.Steps[i]
		if st.At != nil {
			if err := waitUntil(ctx, zero.Add(st.At.D())); err != nil {
				return err
			}
		}
		if st.Delay != nil {
			if err := waitUntil(ctx, time.Now().Add(st.Delay.D())); err != nil {
				return err
			}
		}
		if r.opts.BeforeStep != nil {
			if err := r.opts.BeforeStep(ctx, i, st); err != nil {
				return err
			}
		}
		scope := stepScope(i, st)
		timeout := st.Timeout.D()
		if timeout == 0 {
			timeout = 20 * time.Second
		}
		condStart := time.Now()
		for j := range st.After {
			if !r.condition(ctx, &st.After[j], scope+" after", timeout, condStart) {
				return fmt.Errorf("%s: condition %q did not hold within %v", scope, st.After[j].Label(), timeout)
			}
		}
		ev := Event{Kind: EvStep, Step: i + 1, Host: st.Host, Peer: st.Peer, Action: st.Do, Explain: st.Explain, Text: r.describe(st)}
		if st.Do == "" {
			ev.Action = "checkpoint"
			ev.Text = "checkpoint " + stepTitle(st)
		}
		r.add(time.Now(), ev)
		if err := r.act(ctx, st); err != nil {
			r.verdict(time.Now(), Verdict{Expectation: "action " + st.Do, Kind: "action", Scope: scope, Line: st.Line, Measured: err.Error(), Bound: "succeeds"})
			return fmt.Errorf("%s: %w", scope, err)
		}
		phases = append(phases, phase{step: i, from: time.Since(zero)})
		for j := range st.Expect {
			if st.Expect[j].IsTraffic() {
				continue
			}
			r.check(ctx, &st.Expect[j], scope)
		}
	}
	if trafficDone != nil {
		select {
		case <-trafficDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range r.sc.Expect {
		if !r.sc.Expect[i].IsTraffic() {
			r.check(ctx, &r.sc.Expect[i], "end")
		}
	}
	r.mu.Lock()
	reqs := sortRequests(r.requests)
	r.mu.Unlock()
	end := time.Since(zero)
	for k, ph := range phases {
		to := end
		if k+1 < len(phases) {
			to = phases[k+1].from
		}
		st := &r.sc.Steps[ph.step]
		w := Window{From: ph.from, To: to}
		for j := range st.Expect {
			if e := &st.Expect[j]; e.IsTraffic() {
				v := Evaluate(e, Observation{Requests: InWindow(reqs, w), Addrs: r.vals.Addrs})
				v.Scope = stepScope(ph.step, st) + " phase " + w.String()
				r.verdict(zero.Add(to), v)
			}
		}
	}
	for i := range r.sc.Expect {
		if e := &r.sc.Expect[i]; e.IsTraffic() {
			v := Evaluate(e, Observation{Requests: reqs, Addrs: r.vals.Addrs})
			v.Scope = "end (whole run)"
			r.verdict(time.Now(), v)
		}
	}
	return nil
}

func stepScope(i int, st *Step) string {
	return fmt.Sprintf("step %d (%s)", i+1, stepTitle(st))
}

func stepTitle(st *Step) string {
	if st.Name != "" {
		return st.Name
	}
	if st.Do != "" {
		return strings.TrimSpace(st.Do + " " + st.Host)
	}
	return "checkpoint"
}

func (r *run) watch(ctx context.Context, fn func(context.Context)) {
	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		fn(ctx)
	}()
}

func waitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// verdict records v and writes it to the timeline.
func (r *run) verdict(at time.Time, v Verdict) {
	r.mu.Lock()
	r.verdicts = append(r.verdicts, v)
	r.mu.Unlock()
	r.add(at, Event{Kind: EvExpectation, Text: v.Expectation, Met: boolPtr(v.Met), Measured: v.Measured, Bound: v.Bound, Scope: v.Scope})
}

// condition waits until e holds (a ready or after condition) and records the verdict.
func (r *run) condition(ctx context.Context, e *Expectation, scope string, timeout time.Duration, since time.Time) bool {
	v := r.poll(ctx, e, max(timeout, e.Within.D()), since)
	v.Scope = scope
	r.verdict(time.Now(), v)
	return v.Met
}

// check judges a state expectation with its within/for bounds and records it.
func (r *run) check(ctx context.Context, e *Expectation, scope string) {
	v := r.poll(ctx, e, e.Within.D(), time.Now())
	if v.Met && e.For > 0 {
		holdFrom := time.Now()
		for time.Since(holdFrom) < e.For.D() {
			if waitUntil(ctx, time.Now().Add(pollInterval)) != nil {
				break
			}
			v2 := r.judge(ctx, e)
			if !v2.Met {
				v = v2
				v.Measured += fmt.Sprintf(" (broke after %s of %s)", secs(time.Since(holdFrom)), e.For)
				break
			}
		}
		if v.Met {
			v.Measured += fmt.Sprintf(" (held %s)", e.For)
		}
	}
	v.Scope = scope
	r.verdict(time.Now(), v)
}

// poll judges e until it holds or within has passed since since.
func (r *run) poll(ctx context.Context, e *Expectation, within time.Duration, since time.Time) Verdict {
	deadline := since.Add(within)
	for {
		v := r.judge(ctx, e)
		if v.Met {
			if within > 0 {
				v.Measured += fmt.Sprintf(" (after %s)", secs(time.Since(since)))
			}
			return v
		}
		if !time.Now().Before(deadline) || waitUntil(ctx, time.Now().Add(pollInterval)) != nil {
			if within > 0 {
				v.Measured += fmt.Sprintf(" (still, after %s)", secs(time.Since(since)))
			}
			return v
		}
	}
}

// judge observes what e needs and evaluates it.
func (r *run) judge(ctx context.Context, e *Expectation) Verdict {
	re, err := r.renderExpectation(e)
	if err != nil {
		return Verdict{Expectation: e.Label(), Kind: e.Kind(), Line: e.Line, Measured: err.Error(), Bound: "a valid template"}
	}
	obs := Observation{Addrs: r.vals.Addrs}
	switch re.Kind() {
	case KindVIPOwner, KindVIPOn:
		owners, err := r.lab.VIPOwners(r.vip)
		if err != nil {
			return Verdict{Expectation: re.Label(), Kind: re.Kind(), Line: e.Line, Measured: err.Error(), Bound: "VIP owners readable"}
		}
		obs.VIPOwners = owners
	case KindVRRP:
		obs.VRRP = map[string]HostVRRP{}
		for key := range re.VRRP {
			host, _, _ := strings.Cut(key, "/")
			obs.VRRP[host] = r.hostVRRP(ctx, host)
		}
	case KindTable:
		obs.Tables = map[string]TableObs{re.Table.On: r.table(ctx, re.Table.On)}
	case KindPage:
		obs.Pages = map[string]Fetch{FetchKey(re.Page.From, re.Page.URL): r.fetch(ctx, re.Page.From, re.Page.URL)}
	case KindReach:
		obs.Reach = map[string]Fetch{FetchKey(re.Reach.From, re.Reach.URL): r.fetch(ctx, re.Reach.From, re.Reach.URL)}
	case KindRoutes:
		routes, err := r.routes()
		if err != nil {
			return Verdict{Expectation: re.Label(), Kind: re.Kind(), Line: e.Line, Measured: err.Error(), Bound: "the router's routes readable"}
		}
		obs.Routes = routes
	}
	v := Evaluate(&re, obs)
	v.Line = e.Line
	return v
}

// renderExpectation fills the templates in e's URLs and digests.
func (r *run) renderExpectation(e *Expectation) (Expectation, error) {
	out := *e
	var err error
	render := func(s, host string) string {
		if err != nil || !strings.Contains(s, "{{") {
			return s
		}
		var v string
		v, err = Render("expectation", s, r.vals, host, nil)
		return v
	}
	if e.Page != nil {
		p := *e.Page
		p.URL, p.Digest = render(p.URL, p.From), render(p.Digest, p.From)
		out.Page = &p
	}
	if e.Reach != nil {
		p := *e.Reach
		p.URL = render(p.URL, p.From)
		out.Reach = &p
	}
	return out, err
}

func (r *run) hostVRRP(ctx context.Context, host string) HostVRRP {
	r.mu.Lock()
	kind := r.kinds[host]
	r.mu.Unlock()
	if kind == "" || !r.lab.Running(host, ProcessName(kind)) {
		return HostVRRP{Down: true}
	}
	if kind == DaemonKeepalived {
		r.mu.Lock()
		defer r.mu.Unlock()
		return HostVRRP{Instances: maps.Clone(r.vrrp[host])}
	}
	st, err := r.status(ctx, host)
	if err != nil {
		return HostVRRP{Err: err.Error()}
	}
	h := HostVRRP{Instances: map[string]string{}}
	for _, in := range st.Instances {
		h.Instances[in.Name] = in.State
	}
	return h
}

func (r *run) status(ctx context.Context, host string) (*api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	return api.NewClient(r.lab.RunDir(host)).Status(ctx)
}

func (r *run) table(ctx context.Context, host string) TableObs {
	r.mu.Lock()
	kind := r.kinds[host]
	r.mu.Unlock()
	if kind != DaemonDrlb {
		return TableObs{Err: host + " runs no drlb (no table to read)"}
	}
	if !r.lab.Running(host, DrlbProcess) {
		return TableObs{Err: "drlb is not running on " + host}
	}
	st, err := r.status(ctx, host)
	if err != nil {
		return TableObs{Err: err.Error()}
	}
	var t TableObs
	for _, svc := range st.Services {
		for _, real := range svc.Reals {
			t.Reals = append(t.Reals, RealObs{Address: real.Address, InTable: real.InTable, Healthy: real.Healthy})
		}
	}
	return t
}

// fetch GETs url from host and digests the body.
func (r *run) fetch(ctx context.Context, from, url string) Fetch {
	if from == "" {
		from = "client"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Fetch{Err: err.Error()}
	}
	resp, err := r.lab.HTTPClient(from, 2*time.Second).Do(req)
	if err != nil {
		return Fetch{Err: shortErr(err)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Fetch{Err: shortErr(err)}
	}
	f := Fetch{ServedBy: resp.Header.Get("X-Real-Server"), Digest: Digest(body), OK: resp.StatusCode == http.StatusOK}
	if !f.OK {
		f.Err = resp.Status
	}
	return f
}

// shortErr keeps the end of a network error ("connection refused", "i/o timeout").
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 60 {
		return s[i+2:]
	}
	return s
}

// traffic sends the background requests until the duration ends.
func (r *run) traffic(ctx context.Context, zero time.Time) {
	t := r.sc.Traffic
	from := t.From
	if from == "" {
		from = "client"
	}
	timeout := t.Timeout.D()
	if timeout == 0 {
		timeout = time.Second
	}
	var urls []string
	if t.URL != "" {
		urls = append(urls, t.URL)
	}
	urls = append(urls, t.URLs...)
	for i, u := range urls {
		if v, err := Render("traffic url", u, r.vals, from, nil); err == nil {
			urls[i] = v
		}
	}
	client := r.lab.HTTPClient(from, timeout)
	interval := time.Duration(float64(time.Second) / t.Rate)
	inflight := make(chan struct{}, int(t.Rate*timeout.Seconds())+4)
	var wg sync.WaitGroup
	defer wg.Wait()
	end := zero.Add(t.Duration.D())
	var skipped int
	defer func() {
		if skipped > 0 {
			r.mu.Lock()
			r.skipped = skipped
			r.mu.Unlock()
			r.add(end, Event{Kind: EvTraffic, Host: "client", Text: fmt.Sprintf("the client fell behind and did not send %d requests (a busy machine, not the service)", skipped)})
		}
	}()
	for n := 0; ; n++ {
		at := zero.Add(time.Duration(n) * interval)
		// A client that fell behind (a busy machine) skips the slots it
		// missed instead of sending a burst that would measure itself.
		if late := time.Since(at); late > interval {
			missed := int(late / interval)
			skipped += missed
			n += missed
			at = zero.Add(time.Duration(n) * interval)
		}
		if !at.Before(end) || waitUntil(ctx, at) != nil {
			return
		}
		url := urls[n%len(urls)]
		select {
		case inflight <- struct{}{}:
		default:
			skipped++ // every slot is waiting for an answer: the client, not the service, is saturated
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inflight }()
			start := time.Now()
			req := Request{URL: url}
			resp, err := client.Get(url)
			if err == nil {
				_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				if cerr := resp.Body.Close(); err == nil {
					err = cerr
				}
				req.Server = resp.Header.Get("X-Real-Server")
				req.OK = err == nil && resp.StatusCode == http.StatusOK
				if err == nil && !req.OK {
					req.Error = resp.Status
				}
			}
			if err != nil {
				req.Error = shortErr(err)
			}
			req.Latency = time.Since(start)
			r.record(zero, start, req)
		}()
	}
}

func (r *run) record(zero, start time.Time, req Request) {
	req.Start = start.Sub(zero)
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.mu.Unlock()
	ev := Event{Kind: EvRequest, Host: "client", OK: boolPtr(req.OK), ServedBy: req.Server,
		LatencyMS: float64(req.Latency.Microseconds()) / 1000, Error: req.Error}
	if req.OK {
		ev.Text = "GET " + req.URL + " → " + req.Server
	} else {
		ev.Text = "GET " + req.URL + " failed: " + req.Error
	}
	r.add(start, ev)
}

// watchVIP writes a vip event whenever the set of VIP owners changes.
func (r *run) watchVIP(ctx context.Context) {
	if !r.vip.IsValid() {
		return
	}
	last := "?"
	for {
		owners, err := r.lab.VIPOwners(r.vip)
		if err == nil {
			if key := strings.Join(owners, ","); key != last {
				last = key
				text := "VIP " + r.vals.VIP + " held by " + ownersText(owners)
				r.add(time.Now(), Event{Kind: EvVIP, Owners: owners, Text: text})
			}
		}
		if waitUntil(ctx, time.Now().Add(50*time.Millisecond)) != nil {
			return
		}
	}
}

// renderConfig renders host's current config template.
func (r *run) renderConfig(host string) (string, error) {
	r.mu.Lock()
	name, vars := r.configs[host], maps.Clone(r.vars[host])
	r.mu.Unlock()
	tmpl, err := r.sc.ConfigTemplate(name)
	if err != nil {
		return "", err
	}
	return Render(name, tmpl, r.vals, host, vars)
}

func (r *run) configPath(host string) string {
	return filepath.Join(r.lab.RunDir(host), "keepalived.conf")
}

// writeConfig renders and writes host's config; it returns the text.
func (r *run) writeConfig(host string) (string, error) {
	text, err := r.renderConfig(host)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(r.lab.RunDir(host), 0o755); err != nil {
		return "", fmt.Errorf("config for %s: %w", host, err)
	}
	tmp := r.configPath(host) + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("config for %s: %w", host, err)
	}
	if err := os.Rename(tmp, r.configPath(host)); err != nil {
		return "", fmt.Errorf("config for %s: %w", host, err)
	}
	return text, nil
}

// startDaemon writes host's config, starts its daemon and follows its events.
func (r *run) startDaemon(ctx context.Context, host string) error {
	text, err := r.writeConfig(host)
	if err != nil {
		return err
	}
	kind := r.kinds[host]
	b := r.sc.Balancer(host)
	o := DaemonOptions{Kind: kind, Binary: r.opts.DrlbBinary, ConfigFile: r.configPath(host), ConfigID: host, Dataplane: b.Dataplane}
	if kind == DaemonKeepalived {
		o.Binary = r.opts.KeepalivedBinary
	}
	ev := Event{Kind: EvDaemon, Host: host, Action: "start", Daemon: kind, Text: "start " + kind + " -f " + r.configPath(host)}
	if ps := ScanInstances(text); len(ps) > 0 {
		ev.Priority, ev.AdvertInt, ev.Version, ev.Preempt = ps[0].Priority, ps[0].AdvertInt, ps[0].Version, boolPtr(!ps[0].Nopreempt)
	}
	r.add(time.Now(), ev)
	r.mu.Lock()
	r.vrrp[host] = map[string]string{}
	r.mu.Unlock()
	var offset int64
	if fi, err := os.Stat(filepath.Join(r.lab.Dir(), "logs", host, ProcessName(kind)+".log")); err == nil {
		offset = fi.Size()
	}
	proc, err := StartDaemon(ctx, r.lab, host, o)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.procs[host] = proc
	r.mu.Unlock()
	r.watch(ctx, func(ctx context.Context) {
		select {
		case <-proc.Done():
			r.add(time.Now(), Event{Kind: EvDaemon, Host: host, Action: "exit", Daemon: kind, Text: fmt.Sprintf("%s exited (%v)", kind, exitText(context.WithoutCancel(ctx), proc))})
		case <-ctx.Done():
		}
	})
	if kind == DaemonKeepalived {
		r.watch(ctx, func(ctx context.Context) { r.followLog(ctx, host, proc, offset) })
	} else {
		r.watch(ctx, func(ctx context.Context) { r.followEvents(ctx, host, proc) })
		r.watch(ctx, func(ctx context.Context) { r.sampleStatus(ctx, host, proc) })
		r.initialStates(ctx, host)
	}
	return nil
}

// initialStates records the VRRP states a daemon reached before its event
// stream was followed (its startup transitions).
func (r *run) initialStates(ctx context.Context, host string) {
	// Wait (briefly) for the instances to leave INIT: that transition may
	// happen before the event stream is followed.
	var st *api.Status
	deadline := time.Now().Add(3 * time.Second)
	for {
		var err error
		st, err = r.status(ctx, host)
		if err != nil {
			return
		}
		settled := true
		for _, in := range st.Instances {
			settled = settled && in.State != "INIT"
		}
		if settled || time.Now().After(deadline) || waitUntil(ctx, time.Now().Add(50*time.Millisecond)) != nil {
			break
		}
	}
	now := time.Now()
	for _, in := range st.Instances {
		r.mu.Lock()
		if r.vrrp[host] == nil {
			r.vrrp[host] = map[string]string{}
		}
		known := r.vrrp[host][in.Name] != "" || in.State == "INIT" // a transition follows INIT
		if !known {
			r.vrrp[host][in.Name] = in.State
		}
		r.mu.Unlock()
		if !known {
			r.add(now, Event{Kind: EvVRRP, Host: host, Instance: in.Name, To: in.State,
				Text: fmt.Sprintf("(%s) %s at start (priority %d)", in.Name, in.State, in.Priority)})
		}
	}
}

// exitText describes how an exited process ended.
func exitText(ctx context.Context, p *topology.Process) string {
	if err := p.Wait(ctx); err != nil {
		return err.Error()
	}
	return "status 0"
}

// followEvents streams a drlb's events into the timeline while it runs.
func (r *run) followEvents(ctx context.Context, host string, proc *topology.Process) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-proc.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	client := api.NewClient(r.lab.RunDir(host))
	for ctx.Err() == nil {
		err := client.Events(ctx, func(ev api.Event) { r.daemonEvent(host, ev) })
		if ctx.Err() != nil || err == nil {
			return
		}
		if waitUntil(ctx, time.Now().Add(200*time.Millisecond)) != nil {
			return
		}
	}
}

// daemonEvent turns a drlb event into a timeline event.
func (r *run) daemonEvent(host string, ev api.Event) {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	out := Event{Host: host, Instance: ev.Instance, From: ev.From, To: ev.To, Reason: ev.Reason, Up: ev.Up}
	switch ev.Kind {
	case api.EventVRRP:
		out.Kind = EvVRRP
		out.Text = fmt.Sprintf("(%s) %s → %s", ev.Instance, orDash(ev.From), ev.To)
		if ev.Reason != "" {
			out.Text += ": " + ev.Reason
		}
		r.mu.Lock()
		if r.vrrp[host] == nil {
			r.vrrp[host] = map[string]string{}
		}
		r.vrrp[host][ev.Instance] = ev.To
		r.mu.Unlock()
	case api.EventHealth:
		out.Kind = EvHealth
		out.Server = HostOfAddr(ev.Server, r.vals.Addrs)
		state := "down"
		if ev.Up != nil && *ev.Up {
			state = "up"
		}
		out.Text = fmt.Sprintf("%s (%s) %s", out.Server, ev.Server, state)
		if ev.Reason != "" {
			out.Text += ": " + ev.Reason
		}
	case api.EventDataplane:
		out.Kind, out.Text = EvDataplane, ev.Detail
	case api.EventReload:
		out.Kind, out.Text = EvReload, strings.TrimSpace(ev.Detail+" "+ev.Reason)
	default:
		out.Kind, out.Text = EvDaemon, strings.TrimSpace(ev.Detail+" "+ev.Reason)
	}
	r.add(at, out)
}

// keepalivedState matches keepalived's state lines, e.g. "(VI_1) Entering MASTER STATE".
var keepalivedState = regexp.MustCompile(`\(([^)]+)\) Entering (\w+) STATE`)

// followLog turns keepalived's state log lines, from offset on, into vrrp events.
func (r *run) followLog(ctx context.Context, host string, proc *topology.Process, offset int64) {
	f, err := os.Open(proc.LogPath)
	if err != nil {
		return
	}
	defer f.Close() //nolint:errcheck // read-only file
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	rd := bufio.NewReader(f)
	var partial string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			partial += line
			if proc.Exited() {
				return
			}
			if waitUntil(ctx, time.Now().Add(25*time.Millisecond)) != nil {
				return
			}
			continue
		}
		line, partial = partial+line, ""
		m := keepalivedState.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		inst, to := m[1], m[2]
		r.mu.Lock()
		if r.vrrp[host] == nil {
			r.vrrp[host] = map[string]string{}
		}
		from := r.vrrp[host][inst]
		r.vrrp[host][inst] = to
		r.mu.Unlock()
		r.add(time.Now(), Event{Kind: EvVRRP, Host: host, Instance: inst, From: from, To: to,
			Text: fmt.Sprintf("(%s) %s → %s (keepalived)", inst, orDash(from), to)})
	}
}

// describe says what a step's action does, for the timeline.
func (r *run) describe(st *Step) string {
	host, name := st.Host, ProcessName(r.kinds[st.Host])
	switch st.Do {
	case "kill":
		return "kill -9 " + name + " on " + host
	case "terminate":
		return "SIGTERM " + name + " on " + host + " (clean shutdown)"
	case "freeze":
		return "SIGSTOP " + name + " on " + host + " (frozen)"
	case "thaw":
		return "SIGCONT " + name + " on " + host
	case "start":
		return "start " + name + " on " + host
	case "reload":
		return "new config + SIGHUP to " + name + " on " + host
	case "link-down", "link-up":
		return fmt.Sprintf("ip link set %s %s on %s", orDefault(st.Iface, "eth1"), strings.TrimPrefix(st.Do, "link-"), host)
	case "partition":
		return fmt.Sprintf("drop VRRP between %s and %s (nft, both ways)", host, st.Peer)
	case "heal":
		return fmt.Sprintf("let VRRP flow again between %s and %s", host, st.Peer)
	case "page-set":
		return fmt.Sprintf("change %s on %s to %q", orDefault(st.Path, topology.TestPage), host, trimTo(st.Content, 40))
	case "page-reset":
		return "restore " + orDefault(st.Path, topology.TestPage) + " on " + host
	case "web-stop":
		return "stop the web server on " + host
	case "web-start":
		return "start the web server on " + host
	case "slow":
		return fmt.Sprintf("delay every answer of %s's web server by %s", host, st.For)
	case "wait":
		return "wait " + st.For.String()
	}
	return st.Do
}

// act performs a step's action.
func (r *run) act(ctx context.Context, st *Step) error {
	host := st.Host
	name := ProcessName(r.kinds[host])
	switch st.Do {
	case "":
		return nil
	case "kill", "terminate":
		sig, grace := syscall.SIGKILL, 5*time.Second
		if st.Do == "terminate" {
			sig, grace = syscall.SIGTERM, 10*time.Second
		}
		if err := r.lab.Signal(host, name, sig); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, grace)
		defer cancel()
		return WaitExit(wctx, r.lab, host, name)
	case "freeze":
		return r.lab.Signal(host, name, syscall.SIGSTOP)
	case "thaw":
		return r.lab.Signal(host, name, syscall.SIGCONT)
	case "start":
		r.overrideConfig(st)
		return r.startDaemon(ctx, host)
	case "reload":
		r.overrideConfig(st)
		if _, err := r.writeConfig(host); err != nil {
			return err
		}
		return r.lab.Signal(host, name, syscall.SIGHUP)
	case "link-down", "link-up":
		iface := orDefault(st.Iface, "eth1")
		h, err := r.lab.Handle(host)
		if err != nil {
			return err
		}
		link, err := h.LinkByName(iface)
		if err != nil {
			return fmt.Errorf("find %s on %s: %w", iface, host, err)
		}
		if st.Do == "link-down" {
			return h.LinkSetDown(link)
		}
		return h.LinkSetUp(link)
	case "partition":
		for _, pair := range [][2]string{{host, st.Peer}, {st.Peer, host}} {
			if err := r.dropVRRP(ctx, pair[0], pair[1]); err != nil {
				return err
			}
		}
		return nil
	case "heal":
		for _, h := range []string{host, st.Peer} {
			if _, err := r.lab.Output(ctx, h, "nft", "delete table inet drlab_partition"); err != nil {
				return err
			}
		}
		return nil
	case "page-set":
		content, err := Render("content", st.Content, r.vals, host, nil)
		if err != nil {
			return err
		}
		return r.lab.SetPage(host, orDefault(st.Path, topology.TestPage), content)
	case "page-reset":
		return r.lab.ResetPage(host, orDefault(st.Path, topology.TestPage))
	case "web-stop":
		if err := r.lab.Signal(host, "web", syscall.SIGTERM); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return WaitExit(wctx, r.lab, host, "web")
	case "web-start":
		spec, err := r.lab.ServiceSpec(host, "web")
		if err != nil {
			return err
		}
		if _, err := r.lab.Start(host, spec); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return r.lab.WaitTCP(wctx, host, fmt.Sprintf("127.0.0.1:%d", webPort(r.lab, host)))
	case "slow":
		return r.lab.SetDelay(host, st.For.D())
	case "wait":
		return waitUntil(ctx, time.Now().Add(st.For.D()))
	}
	return fmt.Errorf("unknown action %q", st.Do)
}

// overrideConfig applies a step's config and vars to its host's balancer.
func (r *run) overrideConfig(st *Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.Config != "" {
		r.configs[st.Host] = st.Config
	}
	if len(st.Vars) > 0 {
		if r.vars[st.Host] == nil {
			r.vars[st.Host] = map[string]string{}
		}
		maps.Copy(r.vars[st.Host], st.Vars)
	}
}

// dropVRRP makes host drop VRRP (IP protocol 112) from peer, before any
// socket sees it.
func (r *run) dropVRRP(ctx context.Context, host, peer string) error {
	addr, ok := r.vals.Addrs[peer]
	if !ok {
		return fmt.Errorf("partition: no host %q", peer)
	}
	for _, cmd := range []string{
		"add table inet drlab_partition",
		"add chain inet drlab_partition input { type filter hook input priority -300; policy accept; }",
		"add rule inet drlab_partition input ip saddr " + addr + " ip protocol vrrp drop",
	} {
		if _, err := r.lab.Output(ctx, host, "nft", cmd); err != nil {
			return fmt.Errorf("partition %s from %s: %w", host, peer, err)
		}
	}
	return nil
}

func webPort(lab *topology.Lab, host string) int {
	if h := lab.Spec().Host(host); h != nil {
		for _, s := range h.Services {
			if s.Web != nil {
				return s.Web.Port
			}
		}
	}
	return 80
}

// stopDaemons ends the daemons the run started: SIGTERM (thawing a frozen
// one first), then SIGKILL after a grace period.
func (r *run) stopDaemons() {
	r.mu.Lock()
	procs := maps.Clone(r.procs)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.Exited() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Signal(syscall.SIGCONT)
			_ = p.Stop(3 * time.Second)
		}()
	}
	wg.Wait()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func trimTo(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func commandOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// routes lists the hosts the lab's router (the host running FRR) sends
// the VIP to: its ECMP next hops, by host name.
func (r *run) routes() ([]string, error) {
	router := ""
	for _, h := range r.lab.Spec().Hosts {
		for _, svc := range h.Services {
			if svc.FRR != nil {
				router = h.Name
			}
		}
	}
	if router == "" {
		return nil, fmt.Errorf("topology %s has no router (a host running frr)", r.lab.Spec().Name)
	}
	hops, err := r.lab.NextHops(router, r.vip)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, h := range hops {
		out = append(out, HostOfAddr(h.String(), r.vals.Addrs))
	}
	return out, nil
}
