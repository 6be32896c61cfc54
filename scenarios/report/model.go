package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drlb/drlb/scenarios"
)

// BucketWidth is the width of one client traffic bucket, in seconds.
const BucketWidth = 0.1

// Balancer lane states (Span.State on an instance row). The VRRP states are
// the daemon's own; Down means no daemon runs on the host.
const (
	StateMaster = "MASTER"
	StateBackup = "BACKUP"
	StateFault  = "FAULT"
	StateStop   = "STOP"
	StateInit   = "INIT"
	StateDown   = "DOWN"
)

// Real server row states (Span.State on a server row).
const (
	ServerIn      = "in"       // in the table with a weight: gets new connections
	ServerWeight0 = "weight 0" // in the table, weight 0: keeps its connections, gets no new ones
	ServerOut     = "out"      // not in the table
	ServerUnknown = "unknown"  // no sample: the daemon is down or was not asked yet
)

// Model is what a timeline shows, derived from its events: one lane per
// balancer, the client's traffic, the steps and the verdicts on one time
// axis in seconds since time 0 (the moment the scenario was ready).
type Model struct {
	Scenario    string
	Description string
	// Result is PASSED, FAILED (with the reason the run gave) or
	// UNFINISHED when the timeline has no end event.
	Result string
	Passed bool
	// Start and End bound the time axis: the first and the last event.
	Start, End float64
	Balancers  []Balancer
	Client     Client
	Steps      []Step
	Verdicts   []Verdict
	// Events lists every event but the client's single requests and the
	// status samples (adverts), with its narration, in time order.
	Events []Item
	// Failovers counts the times a balancer became MASTER after time 0.
	Failovers int
}

// Span is a state held over [From, To) seconds.
type Span struct {
	From, To float64
	State    string
	// Note says why (the check result that changed a server, the VRRP
	// reason); Event indexes Model.Events (-1: none).
	Note  string
	Event int
}

// Balancer is one balancer's lane.
type Balancer struct {
	Host   string
	Daemon string // drlb or keepalived (the last started)
	// Instances hold the VRRP state spans of each vrrp_instance, DOWN
	// where no daemon runs.
	Instances []Instance
	// VIP holds the spans in which the host held the VIP on an interface
	// (State "VIP", Note "daemon down" when its daemon was not running).
	VIP []Span
	// Conditions are what a step did to the host: frozen, link down,
	// partitioned (State says which).
	Conditions []Span
	// Priorities are the effective priority changes (the first is the
	// configured one at start).
	Priorities []Point
	// Adverts are the sampled advert counts; empty when the timeline has
	// none (recorded before sampling existed, or keepalived).
	Adverts []Advert
	// Servers are the real servers of this balancer's table; empty when
	// the timeline has neither table samples nor health events.
	Servers []ServerRow
}

// Instance is one vrrp_instance's state row.
type Instance struct {
	Name  string
	Spans []Span
}

// Point is a value that changed at T.
type Point struct {
	T     float64
	Value int
	Event int
}

// Advert is one status sample's advert counts since the previous one.
type Advert struct {
	T              float64
	Sent, Received int
}

// ServerRow is one real server's place in a balancer's table over time.
type ServerRow struct {
	Server string
	Spans  []Span
}

// Client is the client's traffic in buckets of BucketWidth seconds.
type Client struct {
	// Servers are the real servers that answered, sorted; Buckets count
	// per server in this order.
	Servers  []string
	Buckets  []Bucket
	Requests int
	OK       int
	Failed   int
	// Shares are each server's fraction of the answered requests (Servers order).
	Shares []float64
	// Outages are the windows in which no request got an answer
	// (scenarios.Outages), Longest the longest (nil without).
	Outages []Window
	Longest *Window
	// MaxBucket is the largest bucket total (for the bar scale).
	MaxBucket int
}

// Bucket counts the requests sent in [From, From+BucketWidth).
type Bucket struct {
	From     float64
	ByServer []int // Client.Servers order
	Failed   int
}

// Total is the number of requests in the bucket.
func (b Bucket) Total() int {
	n := b.Failed
	for _, c := range b.ByServer {
		n += c
	}
	return n
}

// Window is a time interval in seconds.
type Window struct {
	From, To float64
}

// Len is the window's length in seconds.
func (w Window) Len() float64 { return w.To - w.From }

// Step is a scenario step: a vertical marker across the lanes.
type Step struct {
	T      float64
	Number int
	Action string
	Host   string
	Label  string // short: "kill lb1"
	Text   string
	Event  int
}

// Verdict is an expectation decided at T.
type Verdict struct {
	T        float64
	Text     string
	Met      bool
	Measured string
	Bound    string
	Scope    string
	Event    int
}

// Item is one event for the side panel, with its narration.
type Item struct {
	T         float64
	Kind      string
	Host      string
	Text      string
	Narration string
	// Failed marks an expectation that did not hold.
	Failed bool
}

// ErrEmpty is returned for a timeline without events.
var ErrEmpty = errors.New("report: the timeline has no events")

// Build derives the model from a timeline's events (as recorded, in time
// order). It fails only on an empty timeline.
func Build(events []scenarios.Event) (*Model, error) {
	if len(events) == 0 {
		return nil, ErrEmpty
	}
	b := newBuilder()
	for _, ev := range events {
		b.event(ev)
	}
	return b.finish(), nil
}

type hostBuild struct {
	daemon     string
	running    bool
	runSince   float64
	daemonRuns []Span // running spans
	inst       map[string]*instBuild
	instOrder  []string
	vipSince   float64
	vip        bool
	vipStale   bool
	vipSpans   []Span
	conds      map[string]float64 // condition → since
	condSpans  []Span
	prios      []Point
	adverts    []Advert
	servers    map[string]*serverBuild
	srvOrder   []string
	hasTable   bool
	lastReason map[string]cause // server → the check result the next table change shows
}

// cause is why a row changed: a note and the event that said it.
type cause struct {
	note  string
	event int
}

type instBuild struct {
	state string
	since float64
	note  string
	event int
	spans []Span
	first float64
}

type serverBuild struct {
	state string
	since float64
	note  string
	event int
	spans []Span
}

type builder struct {
	m       Model
	hosts   map[string]*hostBuild
	order   []string
	narr    *scenarios.Narrator
	reqs    []scenarios.Request
	t       float64
	started bool
}

func newBuilder() *builder {
	return &builder{hosts: map[string]*hostBuild{}, narr: scenarios.NewNarrator(), m: Model{Result: "UNFINISHED"}}
}

func (b *builder) host(name string) *hostBuild {
	h, ok := b.hosts[name]
	if !ok {
		h = &hostBuild{inst: map[string]*instBuild{}, conds: map[string]float64{}, servers: map[string]*serverBuild{}, lastReason: map[string]cause{}}
		b.hosts[name] = h
		b.order = append(b.order, name)
	}
	return h
}

// isBalancer reports whether name has a daemon lane.
func (b *builder) isBalancer(name string) bool {
	h, ok := b.hosts[name]
	return ok && (h.daemon != "" || len(h.instOrder) > 0)
}

func (b *builder) event(ev scenarios.Event) {
	if !b.started {
		b.m.Start, b.started = ev.T, true
	}
	b.t = max(b.t, ev.T)
	b.m.Start = min(b.m.Start, ev.T)
	if ev.Kind == scenarios.EvRequest {
		b.reqs = append(b.reqs, scenarios.Request{
			Start:   time.Duration(ev.T * float64(time.Second)),
			Latency: time.Duration(ev.LatencyMS * float64(time.Millisecond)),
			OK:      ev.OK != nil && *ev.OK, Server: ev.ServedBy, Error: ev.Error,
		})
		return
	}
	if ev.Kind == scenarios.EvTable && !b.tableChanges(ev) {
		return // a sample that moves nothing (older recordings repeat them)
	}
	narration := b.narr.Narrate(ev)
	idx := -1
	if ev.Kind != scenarios.EvAdvert {
		idx = len(b.m.Events)
		b.m.Events = append(b.m.Events, Item{T: ev.T, Kind: ev.Kind, Host: ev.Host, Text: ev.Text, Narration: b.explain(ev, narration),
			Failed: ev.Kind == scenarios.EvExpectation && (ev.Met == nil || !*ev.Met)})
	}
	switch ev.Kind {
	case scenarios.EvScenario:
		b.m.Scenario, b.m.Description = ev.Scenario, strings.TrimSpace(ev.Description)
	case scenarios.EvDaemon:
		b.daemon(ev, idx)
	case scenarios.EvVRRP:
		b.vrrp(ev, idx)
	case scenarios.EvVIP:
		b.vipOwners(ev.T, ev.Owners)
	case scenarios.EvStep:
		b.step(ev, idx)
	case scenarios.EvHealth:
		b.health(ev, idx)
	case scenarios.EvTable:
		b.table(ev, idx)
	case scenarios.EvAdvert:
		h := b.host(ev.Host)
		h.adverts = append(h.adverts, Advert{T: ev.T, Sent: ev.Sent, Received: ev.Received})
	case scenarios.EvPriority:
		h := b.host(ev.Host)
		if n := len(h.prios); n == 0 || h.prios[n-1].Value != ev.Priority {
			h.prios = append(h.prios, Point{T: ev.T, Value: ev.Priority, Event: idx})
		}
	case scenarios.EvExpectation:
		b.m.Verdicts = append(b.m.Verdicts, Verdict{T: ev.T, Text: ev.Text, Met: ev.Met != nil && *ev.Met,
			Measured: ev.Measured, Bound: ev.Bound, Scope: ev.Scope, Event: idx})
	case scenarios.EvEnd:
		b.m.Passed = ev.Passed != nil && *ev.Passed
		b.m.Result = "FAILED"
		if b.m.Passed {
			b.m.Result = "PASSED"
		}
		if ev.Text != "" {
			b.m.Result = ev.Text
		}
	}
}

// explain adds narration for the sampled kinds the text narrator skips.
func (b *builder) explain(ev scenarios.Event, narration string) string {
	if narration != "" {
		return narration
	}
	switch ev.Kind {
	case scenarios.EvTable:
		return fmt.Sprintf("%s's forwarding table (sampled from drlb status): %s. Only servers \"in\" with a weight get new connections.",
			ev.Host, strings.TrimPrefix(ev.Text, "table: "))
	case scenarios.EvPriority:
		return fmt.Sprintf("%s's effective VRRP priority is %d; the highest priority becomes MASTER.", ev.Host, ev.Priority)
	case scenarios.EvDataplane:
		return fmt.Sprintf("%s's data plane applied a change to the kernel's table: %s.", ev.Host, ev.Text)
	case scenarios.EvExpectation:
		mark := "held"
		if ev.Met == nil || !*ev.Met {
			mark = "FAILED"
		}
		return fmt.Sprintf("Expectation %s (%s): measured %s, bound %s.", mark, ev.Scope, ev.Measured, ev.Bound)
	}
	return ""
}

func (b *builder) daemon(ev scenarios.Event, idx int) {
	h := b.host(ev.Host)
	switch ev.Action {
	case "start":
		h.daemon = ev.Daemon
		if !h.running {
			h.running, h.runSince = true, ev.T
		}
		if h.vip {
			b.setVIP(h, true, false, ev.T)
		}
		for _, name := range h.instOrder {
			b.setInstance(h, name, StateInit, ev.T, "daemon started", idx)
		}
		if ev.Priority > 0 {
			if n := len(h.prios); n == 0 || h.prios[n-1].Value != ev.Priority {
				h.prios = append(h.prios, Point{T: ev.T, Value: ev.Priority, Event: idx})
			}
		}
	case "exit":
		if h.running {
			h.daemonRuns = append(h.daemonRuns, Span{From: h.runSince, To: ev.T, State: "running", Event: -1})
			h.running = false
		}
		for _, name := range h.instOrder {
			b.setInstance(h, name, StateDown, ev.T, ev.Text, idx)
		}
		for _, name := range h.srvOrder {
			b.setServer(h, name, ServerUnknown, ev.T, "no daemon: the kernel keeps the last table", idx)
		}
		if h.vip {
			b.setVIP(h, true, true, ev.T)
		}
	}
}

func (b *builder) vrrp(ev scenarios.Event, idx int) {
	h := b.host(ev.Host)
	name := ev.Instance
	if name == "" {
		name = "VRRP"
	}
	if _, ok := h.inst[name]; !ok {
		h.inst[name] = &instBuild{first: ev.T, event: -1}
		h.instOrder = append(h.instOrder, name)
	}
	note := ev.Reason
	if note == "" {
		note = ev.Text
	}
	b.setInstance(h, name, ev.To, ev.T, note, idx)
	if ev.To == StateMaster && ev.T >= 0 {
		b.m.Failovers++
	}
}

func (b *builder) setInstance(h *hostBuild, name, state string, t float64, note string, idx int) {
	in := h.inst[name]
	if in.state != "" && in.state == state {
		return
	}
	// Two changes at the same instant: the later one wins.
	if in.state != "" && t > in.since {
		in.spans = append(in.spans, Span{From: in.since, To: t, State: in.state, Note: in.note, Event: in.event})
	}
	in.state, in.since, in.note, in.event = state, t, note, idx
}

func (b *builder) vipOwners(t float64, owners []string) {
	holds := map[string]bool{}
	for _, o := range owners {
		holds[o] = true
		b.host(o)
	}
	for _, name := range b.order {
		h := b.hosts[name]
		b.setVIP(h, holds[name], holds[name] && !h.running && h.daemon != "", t)
	}
}

func (b *builder) setVIP(h *hostBuild, held, stale bool, t float64) {
	if held == h.vip && stale == h.vipStale {
		return
	}
	if h.vip && t > h.vipSince {
		note := ""
		if h.vipStale {
			note = "daemon down"
		}
		h.vipSpans = append(h.vipSpans, Span{From: h.vipSince, To: t, State: "VIP", Note: note, Event: -1})
	}
	h.vip, h.vipStale, h.vipSince = held, stale, t
}

func (b *builder) step(ev scenarios.Event, idx int) {
	label := strings.TrimSpace(ev.Action + " " + ev.Host)
	if ev.Peer != "" {
		label += "↔" + ev.Peer
	}
	if ev.Action == "checkpoint" || ev.Action == "" {
		label = strings.TrimSpace(strings.TrimPrefix(ev.Text, "checkpoint"))
	}
	b.m.Steps = append(b.m.Steps, Step{T: ev.T, Number: ev.Step, Action: ev.Action, Host: ev.Host, Label: label, Text: ev.Text, Event: idx})
	cond := func(host, c string, on bool) {
		if host == "" {
			return
		}
		h := b.host(host)
		since, active := h.conds[c]
		switch {
		case on && !active:
			h.conds[c] = ev.T
		case !on && active:
			h.condSpans = append(h.condSpans, Span{From: since, To: ev.T, State: c, Event: idx})
			delete(h.conds, c)
		}
	}
	switch ev.Action {
	case "freeze":
		cond(ev.Host, "frozen", true)
	case "thaw", "kill", "terminate":
		cond(ev.Host, "frozen", false)
	case "link-down":
		cond(ev.Host, "link down", true)
	case "link-up":
		cond(ev.Host, "link down", false)
	case "partition":
		cond(ev.Host, "partitioned", true)
		cond(ev.Peer, "partitioned", true)
	case "heal":
		cond(ev.Host, "partitioned", false)
		cond(ev.Peer, "partitioned", false)
	}
}

func (b *builder) health(ev scenarios.Event, idx int) {
	if ev.Server == "" || ev.Up == nil {
		return
	}
	h := b.host(ev.Host)
	reason := ev.Reason
	if reason == "" {
		reason = map[bool]string{true: "check passed", false: "check failed"}[*ev.Up]
	}
	if h.hasTable {
		// The table sample that follows shows the effect; this says why.
		h.lastReason[ev.Server] = cause{reason, idx}
		return
	}
	state := ServerOut
	if *ev.Up {
		state = ServerIn
	}
	b.setServer(h, ev.Server, state, ev.T, reason, idx)
}

func (b *builder) table(ev scenarios.Event, idx int) {
	h := b.host(ev.Host)
	if !h.hasTable {
		// Health-derived rows give way to the samples from here on.
		h.hasTable = true
	}
	seen := map[string]bool{}
	for _, r := range ev.Reals {
		if seen[r.Server] {
			continue // the same server in several services: the first decides the row
		}
		seen[r.Server] = true
		c, ok := h.lastReason[r.Server]
		if !ok {
			c = cause{r.Reason, idx}
		}
		if b.setServer(h, r.Server, r.State(), ev.T, c.note, c.event) {
			delete(h.lastReason, r.Server)
		}
	}
	for _, name := range h.srvOrder {
		if !seen[name] {
			b.setServer(h, name, ServerOut, ev.T, "not configured", idx)
		}
	}
}

// tableChanges reports whether a table sample changes a server row.
func (b *builder) tableChanges(ev scenarios.Event) bool {
	h := b.host(ev.Host)
	if !h.hasTable {
		return true
	}
	seen := map[string]bool{}
	for _, r := range ev.Reals {
		if seen[r.Server] {
			continue
		}
		seen[r.Server] = true
		if s, ok := h.servers[r.Server]; !ok || s.state != r.State() {
			return true
		}
	}
	return len(seen) != len(h.srvOrder)
}

// setServer changes a server row's state; it reports whether it changed.
func (b *builder) setServer(h *hostBuild, name, state string, t float64, note string, idx int) bool {
	s, ok := h.servers[name]
	if !ok {
		s = &serverBuild{event: -1}
		h.servers[name] = s
		h.srvOrder = append(h.srvOrder, name)
	}
	if s.state == state {
		return false
	}
	if s.state != "" && t > s.since {
		s.spans = append(s.spans, Span{From: s.since, To: t, State: s.state, Note: s.note, Event: s.event})
	}
	s.state, s.since, s.note, s.event = state, t, note, idx
	return true
}

func (b *builder) finish() *Model {
	m := &b.m
	m.End = b.t
	if m.End <= m.Start {
		m.End = m.Start + 1
	}
	for _, name := range b.order {
		if !b.isBalancer(name) {
			continue
		}
		h := b.hosts[name]
		bal := Balancer{Host: name, Daemon: h.daemon, Priorities: h.prios, Adverts: h.adverts}
		runs := h.daemonRuns
		if h.running {
			runs = append(runs, Span{From: h.runSince, To: m.End, State: "running"})
		}
		for _, iname := range h.instOrder {
			in := h.inst[iname]
			if in.state != "" && m.End > in.since {
				in.spans = append(in.spans, Span{From: in.since, To: m.End, State: in.state, Note: in.note, Event: in.event})
			}
			spans := append(before(runs, m.Start, in.first), in.spans...)
			bal.Instances = append(bal.Instances, Instance{Name: iname, Spans: merge(spans)})
		}
		if len(h.instOrder) == 0 {
			bal.Instances = append(bal.Instances, Instance{Name: "VRRP", Spans: before(runs, m.Start, m.End)})
		}
		b.setVIP(h, false, false, m.End)
		bal.VIP = h.vipSpans
		for c, since := range h.conds {
			h.condSpans = append(h.condSpans, Span{From: since, To: m.End, State: c, Event: -1})
		}
		sort.SliceStable(h.condSpans, func(i, j int) bool { return h.condSpans[i].From < h.condSpans[j].From })
		bal.Conditions = h.condSpans
		for _, sname := range h.srvOrder {
			s := h.servers[sname]
			if m.End > s.since {
				s.spans = append(s.spans, Span{From: s.since, To: m.End, State: s.state, Note: s.note, Event: s.event})
			}
			first := m.End
			if len(s.spans) > 0 {
				first = s.spans[0].From
			}
			var spans []Span
			if first > m.Start {
				spans = append(spans, Span{From: m.Start, To: first, State: ServerUnknown, Note: "not sampled yet", Event: -1})
			}
			bal.Servers = append(bal.Servers, ServerRow{Server: sname, Spans: append(spans, s.spans...)})
		}
		sort.SliceStable(bal.Servers, func(i, j int) bool { return bal.Servers[i].Server < bal.Servers[j].Server })
		m.Balancers = append(m.Balancers, bal)
	}
	sort.SliceStable(m.Balancers, func(i, j int) bool { return m.Balancers[i].Host < m.Balancers[j].Host })
	m.Client = buildClient(b.reqs)
	sortEvents(m)
	return m
}

// sortEvents puts the event list in time order (the engine writes computed
// outages after the end) and renumbers every reference to it.
func sortEvents(m *Model) {
	order := make([]int, len(m.Events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return m.Events[order[i]].T < m.Events[order[j]].T })
	renum := make([]int, len(order))
	sorted := make([]Item, len(order))
	for newIdx, old := range order {
		renum[old] = newIdx
		sorted[newIdx] = m.Events[old]
	}
	m.Events = sorted
	fix := func(i *int) {
		if *i >= 0 {
			*i = renum[*i]
		}
	}
	fixSpans := func(spans []Span) {
		for i := range spans {
			fix(&spans[i].Event)
		}
	}
	for bi := range m.Balancers {
		b := &m.Balancers[bi]
		for _, in := range b.Instances {
			fixSpans(in.Spans)
		}
		fixSpans(b.VIP)
		fixSpans(b.Conditions)
		for _, r := range b.Servers {
			fixSpans(r.Spans)
		}
		for i := range b.Priorities {
			fix(&b.Priorities[i].Event)
		}
	}
	for i := range m.Steps {
		fix(&m.Steps[i].Event)
	}
	for i := range m.Verdicts {
		fix(&m.Verdicts[i].Event)
	}
}

// before fills [start, until) from the daemon's running spans: INIT while
// it ran (no state known yet), DOWN while it did not.
func before(runs []Span, start, until float64) []Span {
	var out []Span
	t := start
	for _, r := range runs {
		if t >= until {
			break
		}
		if r.From > t {
			out = append(out, Span{From: t, To: min(r.From, until), State: StateDown, Note: "no daemon", Event: -1})
			t = min(r.From, until)
		}
		if r.To > t && t < until {
			out = append(out, Span{From: t, To: min(r.To, until), State: StateInit, Event: -1})
			t = min(r.To, until)
		}
	}
	if t < until {
		out = append(out, Span{From: t, To: until, State: StateDown, Note: "no daemon", Event: -1})
	}
	return out
}

// merge joins adjacent spans of the same state and drops empty ones.
func merge(spans []Span) []Span {
	var out []Span
	for _, s := range spans {
		if s.To <= s.From {
			continue
		}
		if n := len(out); n > 0 && out[n-1].State == s.State && out[n-1].To >= s.From {
			out[n-1].To = max(out[n-1].To, s.To)
			continue
		}
		out = append(out, s)
	}
	return out
}

// buildClient buckets the requests by BucketWidth and computes outages as
// the scenario engine does (scenarios.Outages).
func buildClient(reqs []scenarios.Request) Client {
	var c Client
	if len(reqs) == 0 {
		return c
	}
	servers := map[string]bool{}
	for _, r := range reqs {
		if r.OK {
			servers[r.Server] = true
		}
	}
	for s := range servers {
		c.Servers = append(c.Servers, s)
	}
	slices.Sort(c.Servers)
	col := map[string]int{}
	for i, s := range c.Servers {
		col[s] = i
	}
	byBucket := map[int]*Bucket{}
	var keys []int
	for _, r := range reqs {
		k := int(math.Floor(r.Start.Seconds()/BucketWidth + 1e-9))
		bk, ok := byBucket[k]
		if !ok {
			bk = &Bucket{From: round3(float64(k) * BucketWidth), ByServer: make([]int, len(c.Servers))}
			byBucket[k] = bk
			keys = append(keys, k)
		}
		c.Requests++
		if r.OK {
			c.OK++
			bk.ByServer[col[r.Server]]++
		} else {
			c.Failed++
			bk.Failed++
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.Buckets = append(c.Buckets, *byBucket[k])
		c.MaxBucket = max(c.MaxBucket, byBucket[k].Total())
	}
	d := scenarios.Distribute(reqs)
	for _, s := range c.Servers {
		c.Shares = append(c.Shares, d.Share(s))
	}
	for _, w := range scenarios.Outages(reqs) {
		win := Window{From: scenarios.Seconds(w.From), To: scenarios.Seconds(w.To)}
		c.Outages = append(c.Outages, win)
		if c.Longest == nil || win.Len() > c.Longest.Len() {
			l := win
			c.Longest = &l
		}
	}
	return c
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Snapshot is the state of every lane at one instant: what the page's
// state panel shows under the cursor.
type Snapshot struct {
	T float64
	// Balancers by host: the first instance's state (DOWN: no daemon),
	// whether it holds the VIP and whether that VIP is a dead daemon's.
	State    map[string]string
	VIP      map[string]bool
	StaleVIP map[string]bool
	// Table by balancer, then server: in, weight 0, out, unknown.
	Table map[string]map[string]string
	// InOutage reports whether t lies in a client outage.
	InOutage bool
}

// At returns the state of every lane at t (seconds). A span holds from its
// From (inclusive) to its To (exclusive); at the end of the axis the last
// spans hold.
func (m *Model) At(t float64) Snapshot {
	s := Snapshot{T: t, State: map[string]string{}, VIP: map[string]bool{}, StaleVIP: map[string]bool{}, Table: map[string]map[string]string{}}
	for _, b := range m.Balancers {
		s.State[b.Host] = StateDown
		if len(b.Instances) > 0 {
			if sp, ok := spanAt(b.Instances[0].Spans, t, m.End); ok {
				s.State[b.Host] = sp.State
			}
		}
		if sp, ok := spanAt(b.VIP, t, m.End); ok {
			s.VIP[b.Host] = true
			s.StaleVIP[b.Host] = sp.Note != ""
		}
		tbl := map[string]string{}
		for _, r := range b.Servers {
			tbl[r.Server] = ServerUnknown
			if sp, ok := spanAt(r.Spans, t, m.End); ok {
				tbl[r.Server] = sp.State
			}
		}
		s.Table[b.Host] = tbl
	}
	for _, w := range m.Client.Outages {
		if w.From <= t && t < w.To {
			s.InOutage = true
		}
	}
	return s
}

func spanAt(spans []Span, t, end float64) (Span, bool) {
	for _, s := range spans {
		if s.From <= t && t < s.To {
			return s, true
		}
	}
	if n := len(spans); n > 0 && t >= end && spans[n-1].To >= end {
		return spans[n-1], true
	}
	return Span{}, false
}
