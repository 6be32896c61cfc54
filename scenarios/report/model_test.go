package report

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/drlb/drlb/scenarios"
)

func readTimeline(t *testing.T, path string) []scenarios.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := scenarios.ReadTimeline(f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func build(t *testing.T, evs []scenarios.Event) *Model {
	t.Helper()
	m, err := Build(evs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func bp(b bool) *bool { return &b }

// TestRecordedTimelines checks the model of real runs at chosen instants:
// who is master, who holds the VIP, what each table holds.
func TestRecordedTimelines(t *testing.T) {
	type at struct {
		t        float64
		state    map[string]string
		vip      map[string]bool
		stale    map[string]bool
		table    map[string]map[string]string
		inOutage bool
	}
	both := map[string]string{"rs1": ServerIn, "rs2": ServerIn}
	for _, tc := range []struct {
		file      string
		scenario  string
		result    string
		failovers int
		requests  int
		failed    int
		verdicts  int
		adverts   bool
		longest   *Window
		at        []at
	}{
		{
			// Recorded with status samples: drlab scenario run master-crash.
			file: "testdata/master-crash.timeline.jsonl", scenario: "master-crash", result: "PASSED",
			failovers: 1, requests: 240, verdicts: 10, adverts: true,
			at: []at{
				{t: -1.159, state: map[string]string{"lb1": StateDown, "lb2": StateDown}, vip: map[string]bool{}, stale: map[string]bool{},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": {"rs1": ServerUnknown, "rs2": ServerUnknown}}},
				{t: -1.1, state: map[string]string{"lb1": StateInit, "lb2": StateDown}, vip: map[string]bool{}, stale: map[string]bool{},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": {"rs1": ServerUnknown, "rs2": ServerUnknown}}},
				{t: -1.05, state: map[string]string{"lb1": StateBackup, "lb2": StateInit}, vip: map[string]bool{}, stale: map[string]bool{},
					table: map[string]map[string]string{"lb1": both, "lb2": {"rs1": ServerUnknown, "rs2": ServerUnknown}}},
				{t: 1, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": both, "lb2": both}},
				// kill -9 at 3.001; the daemon's exit seen at 3.017: lb1's kernel keeps the VIP.
				{t: 5, state: map[string]string{"lb1": StateDown, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": true},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": both}},
				{t: 6.505, state: map[string]string{"lb1": StateDown, "lb2": StateMaster}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": true},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": both}},
				{t: 7, state: map[string]string{"lb1": StateDown, "lb2": StateMaster}, vip: map[string]bool{"lb1": true, "lb2": true}, stale: map[string]bool{"lb1": true, "lb2": false},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": both}},
				{t: 12.98, state: map[string]string{"lb1": StateDown, "lb2": StateStop}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": true},
					table: map[string]map[string]string{"lb1": {"rs1": ServerUnknown, "rs2": ServerUnknown}, "lb2": both}},
			},
		},
		{
			file: "testdata/page-altered.timeline.jsonl", scenario: "page-altered", result: "PASSED",
			requests: 320, verdicts: 10, adverts: true,
			at: []at{
				{t: 5, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": both, "lb2": both}},
				// lb1's checker gave up on rs1 at 6.076; the sample at 6.138 shows it out.
				{t: 6.2, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": {"rs1": ServerOut, "rs2": ServerIn}, "lb2": both}},
				{t: 8, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": {"rs1": ServerOut, "rs2": ServerIn}, "lb2": {"rs1": ServerOut, "rs2": ServerIn}}},
				{t: 14, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": both, "lb2": both}},
			},
		},
		{
			// lb1's link goes down at 3 s (FAULT, VIP dropped: an outage until
			// lb2 takes over) and up at 9 s (lb1 preempts at 12.49 s).
			file: "testdata/balancer-link-down.timeline.jsonl", scenario: "balancer-link-down", result: "PASSED",
			failovers: 2, requests: 320, failed: 71, verdicts: 10, adverts: true, longest: &Window{3.002, 6.551},
			at: []at{
				{t: 4, state: map[string]string{"lb1": StateFault, "lb2": StateBackup}, vip: map[string]bool{}, stale: map[string]bool{},
					table: map[string]map[string]string{"lb1": both, "lb2": both}, inOutage: true},
				{t: 7, state: map[string]string{"lb1": StateFault, "lb2": StateMaster}, vip: map[string]bool{"lb2": true}, stale: map[string]bool{"lb2": false},
					table: map[string]map[string]string{"lb1": {"rs1": ServerOut, "rs2": ServerOut}, "lb2": both}},
				{t: 13, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": both, "lb2": both}},
			},
		},
		{
			// Recorded before status sampling: no table rows, no adverts.
			file: "../testdata/master-crash.timeline.jsonl", scenario: "master-crash", result: "PASSED",
			failovers: 1, requests: 240, verdicts: 10,
			at: []at{
				{t: 1, state: map[string]string{"lb1": StateMaster, "lb2": StateBackup}, vip: map[string]bool{"lb1": true}, stale: map[string]bool{"lb1": false},
					table: map[string]map[string]string{"lb1": {}, "lb2": {}}},
				{t: 7, state: map[string]string{"lb1": StateDown, "lb2": StateMaster}, vip: map[string]bool{"lb1": true, "lb2": true}, stale: map[string]bool{"lb1": true, "lb2": false},
					table: map[string]map[string]string{"lb1": {}, "lb2": {}}},
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := build(t, readTimeline(t, tc.file))
			if m.Scenario != tc.scenario || m.Result != tc.result || !m.Passed {
				t.Errorf("scenario %q result %q passed %v, want %q %q", m.Scenario, m.Result, m.Passed, tc.scenario, tc.result)
			}
			if m.Failovers != tc.failovers {
				t.Errorf("failovers %d, want %d", m.Failovers, tc.failovers)
			}
			if m.Client.Requests != tc.requests || m.Client.Failed != tc.failed || !reflect.DeepEqual(m.Client.Longest, tc.longest) {
				t.Errorf("client %d requests, %d failed, longest %v; want %d, %d, %v", m.Client.Requests, m.Client.Failed, m.Client.Longest, tc.requests, tc.failed, tc.longest)
			}
			for i := 1; i < len(m.Events); i++ {
				if m.Events[i].T < m.Events[i-1].T {
					t.Fatalf("events out of time order at %d: %g after %g", i, m.Events[i].T, m.Events[i-1].T)
				}
			}
			for _, s := range m.Steps {
				if e := m.Events[s.Event]; e.Kind != scenarios.EvStep || e.T != s.T {
					t.Errorf("step %d points at %s event at %g", s.Number, e.Kind, e.T)
				}
			}
			for _, v := range m.Verdicts {
				if e := m.Events[v.Event]; e.Kind != scenarios.EvExpectation || e.Text != v.Text {
					t.Errorf("verdict %q points at %s event %q", v.Text, e.Kind, e.Text)
				}
			}
			if len(m.Verdicts) != tc.verdicts {
				t.Errorf("%d verdicts, want %d", len(m.Verdicts), tc.verdicts)
			}
			if hosts := []string{m.Balancers[0].Host, m.Balancers[1].Host}; len(m.Balancers) != 2 || !reflect.DeepEqual(hosts, []string{"lb1", "lb2"}) {
				t.Errorf("balancers %v, want lb1, lb2", hosts)
			}
			for _, b := range m.Balancers {
				if got := len(b.Adverts) > 0; got != tc.adverts {
					t.Errorf("%s has adverts %v, want %v", b.Host, got, tc.adverts)
				}
				checkSpans(t, m, b)
			}
			for _, w := range tc.at {
				s := m.At(w.t)
				if !reflect.DeepEqual(s.State, w.state) {
					t.Errorf("at %g: states %v, want %v", w.t, s.State, w.state)
				}
				if !reflect.DeepEqual(s.VIP, w.vip) || !reflect.DeepEqual(s.StaleVIP, w.stale) {
					t.Errorf("at %g: VIP %v stale %v, want %v %v", w.t, s.VIP, s.StaleVIP, w.vip, w.stale)
				}
				if !reflect.DeepEqual(s.Table, w.table) {
					t.Errorf("at %g: tables %v, want %v", w.t, s.Table, w.table)
				}
				if s.InOutage != w.inOutage {
					t.Errorf("at %g: in outage %v, want %v", w.t, s.InOutage, w.inOutage)
				}
			}
		})
	}
}

// checkSpans asserts that each row covers the axis without gaps or overlaps.
func checkSpans(t *testing.T, m *Model, b Balancer) {
	t.Helper()
	rows := map[string][]Span{}
	for _, in := range b.Instances {
		rows["instance "+in.Name] = in.Spans
	}
	for _, r := range b.Servers {
		rows["server "+r.Server] = r.Spans
	}
	for name, spans := range rows {
		if len(spans) == 0 {
			t.Errorf("%s %s: no spans", b.Host, name)
			continue
		}
		if spans[0].From != m.Start || spans[len(spans)-1].To != m.End {
			t.Errorf("%s %s: covers %g..%g, want %g..%g", b.Host, name, spans[0].From, spans[len(spans)-1].To, m.Start, m.End)
		}
		for i, s := range spans {
			if s.To <= s.From {
				t.Errorf("%s %s: empty span %+v", b.Host, name, s)
			}
			if i > 0 && spans[i-1].To != s.From {
				t.Errorf("%s %s: gap or overlap between %+v and %+v", b.Host, name, spans[i-1], s)
			}
			if i > 0 && spans[i-1].State == s.State {
				t.Errorf("%s %s: two adjacent %s spans", b.Host, name, s.State)
			}
		}
	}
}

func req(t float64, server string) scenarios.Event {
	ev := scenarios.Event{T: t, Kind: scenarios.EvRequest, Host: "client", OK: bp(server != ""), ServedBy: server, LatencyMS: 1}
	if server == "" {
		ev.Error = "timeout"
		ev.LatencyMS = 500
	}
	return ev
}

func TestClientBuckets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		events   []scenarios.Event
		servers  []string
		buckets  []Bucket
		shares   []float64
		outages  []Window
		longest  *Window
		maxTotal int
	}{
		{name: "no traffic", events: []scenarios.Event{{T: 0, Kind: scenarios.EvReady}}},
		{
			name:    "two servers, two buckets; bucket edges are inclusive at From",
			events:  []scenarios.Event{req(0, "rs1"), req(0.05, "rs2"), req(0.0999, "rs1"), req(0.1, "rs2")},
			servers: []string{"rs1", "rs2"},
			buckets: []Bucket{{From: 0, ByServer: []int{2, 1}}, {From: 0.1, ByServer: []int{0, 1}}},
			shares:  []float64{0.5, 0.5}, maxTotal: 3,
		},
		{
			name: "failures counted apart; the longest outage is the longer window",
			events: []scenarios.Event{req(0, "rs1"), req(0.2, ""), req(0.25, ""), req(0.3, "rs2"),
				req(1.0, ""), req(1.1, ""), req(1.2, ""), req(1.5, "rs1")},
			servers: []string{"rs1", "rs2"},
			buckets: []Bucket{{From: 0, ByServer: []int{1, 0}}, {From: 0.2, ByServer: []int{0, 0}, Failed: 2}, {From: 0.3, ByServer: []int{0, 1}},
				{From: 1, ByServer: []int{0, 0}, Failed: 1}, {From: 1.1, ByServer: []int{0, 0}, Failed: 1}, {From: 1.2, ByServer: []int{0, 0}, Failed: 1},
				{From: 1.5, ByServer: []int{1, 0}}},
			shares:  []float64{2.0 / 3, 1.0 / 3},
			outages: []Window{{0.2, 0.3}, {1.0, 1.5}}, longest: &Window{1.0, 1.5}, maxTotal: 2,
		},
		{
			name:    "an outage open at the end closes when the last request ended",
			events:  []scenarios.Event{req(0, "rs1"), req(2, "")},
			servers: []string{"rs1"},
			buckets: []Bucket{{From: 0, ByServer: []int{1}}, {From: 2, ByServer: []int{0}, Failed: 1}},
			shares:  []float64{1}, outages: []Window{{2, 2.5}}, longest: &Window{2, 2.5}, maxTotal: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := build(t, tc.events).Client
			if !reflect.DeepEqual(c.Servers, tc.servers) || !reflect.DeepEqual(c.Buckets, tc.buckets) {
				t.Errorf("servers %v buckets %+v\nwant %v %+v", c.Servers, c.Buckets, tc.servers, tc.buckets)
			}
			if len(c.Shares) != len(tc.shares) {
				t.Fatalf("shares %v, want %v", c.Shares, tc.shares)
			}
			for i := range c.Shares {
				if math.Abs(c.Shares[i]-tc.shares[i]) > 1e-9 {
					t.Errorf("shares %v, want %v", c.Shares, tc.shares)
				}
			}
			if !reflect.DeepEqual(c.Outages, tc.outages) || !reflect.DeepEqual(c.Longest, tc.longest) {
				t.Errorf("outages %v longest %v, want %v %v", c.Outages, c.Longest, tc.outages, tc.longest)
			}
			if c.MaxBucket != tc.maxTotal {
				t.Errorf("max bucket %d, want %d", c.MaxBucket, tc.maxTotal)
			}
		})
	}
}

func TestBalancerSpans(t *testing.T) {
	daemon := func(tt float64, host, action string) scenarios.Event {
		return scenarios.Event{T: tt, Kind: scenarios.EvDaemon, Host: host, Action: action, Daemon: "drlb", Priority: 100}
	}
	vrrp := func(tt float64, host, to string) scenarios.Event {
		return scenarios.Event{T: tt, Kind: scenarios.EvVRRP, Host: host, Instance: "VI_1", To: to}
	}
	step := func(tt float64, action, host, peer string) scenarios.Event {
		return scenarios.Event{T: tt, Kind: scenarios.EvStep, Action: action, Host: host, Peer: peer}
	}
	health := func(tt float64, host, server string, up bool) scenarios.Event {
		return scenarios.Event{T: tt, Kind: scenarios.EvHealth, Host: host, Server: server, Up: bp(up), Reason: "r"}
	}
	table := func(tt float64, host string, reals ...scenarios.TableReal) scenarios.Event {
		return scenarios.Event{T: tt, Kind: scenarios.EvTable, Host: host, Reals: reals}
	}
	in := scenarios.TableReal{Server: "rs1", Weight: 1, InTable: true}
	w0 := scenarios.TableReal{Server: "rs1", Weight: 0, InTable: true}
	out := scenarios.TableReal{Server: "rs1"}
	type sp = Span
	for _, tc := range []struct {
		name   string
		events []scenarios.Event
		// want spans of lb1 (without notes and events)
		inst, vip, conds, rs1 []sp
	}{
		{
			name:   "start, master, kill: DOWN after the exit, the VIP kept by the kernel",
			events: []scenarios.Event{daemon(0, "lb1", "start"), vrrp(1, "lb1", "BACKUP"), vrrp(2, "lb1", "MASTER"), {T: 2.5, Kind: scenarios.EvVIP, Owners: []string{"lb1"}}, step(4, "kill", "lb1", ""), daemon(4.1, "lb1", "exit"), {T: 6, Kind: scenarios.EvEnd}},
			inst:   []sp{{From: 0, To: 1, State: StateInit}, {From: 1, To: 2, State: StateBackup}, {From: 2, To: 4.1, State: StateMaster}, {From: 4.1, To: 6, State: StateDown}},
			vip:    []sp{{From: 2.5, To: 4.1, State: "VIP"}, {From: 4.1, To: 6, State: "VIP", Note: "daemon down"}},
		},
		{
			name:   "no daemon before the start; a restart is INIT again",
			events: []scenarios.Event{{T: -1, Kind: scenarios.EvScenario}, daemon(0, "lb1", "start"), vrrp(0.5, "lb1", "MASTER"), daemon(2, "lb1", "exit"), daemon(3, "lb1", "start"), vrrp(4, "lb1", "BACKUP"), {T: 5, Kind: scenarios.EvEnd}},
			inst:   []sp{{From: -1, To: 0, State: StateDown}, {From: 0, To: 0.5, State: StateInit}, {From: 0.5, To: 2, State: StateMaster}, {From: 2, To: 3, State: StateDown}, {From: 3, To: 4, State: StateInit}, {From: 4, To: 5, State: StateBackup}},
		},
		{
			name:   "freeze/thaw and a partition are conditions; an open one lasts to the end",
			events: []scenarios.Event{daemon(0, "lb1", "start"), vrrp(0, "lb1", "MASTER"), step(1, "freeze", "lb1", ""), step(2, "thaw", "lb1", ""), step(3, "partition", "lb1", "lb2"), {T: 5, Kind: scenarios.EvEnd}},
			inst:   []sp{{From: 0, To: 5, State: StateMaster}},
			conds:  []sp{{From: 1, To: 2, State: "frozen"}, {From: 3, To: 5, State: "partitioned"}},
		},
		{
			name:   "without table samples, health events make the rows",
			events: []scenarios.Event{daemon(0, "lb1", "start"), health(1, "lb1", "rs1", true), health(3, "lb1", "rs1", false), {T: 5, Kind: scenarios.EvEnd}},
			inst:   []sp{{From: 0, To: 5, State: StateInit}},
			rs1:    []sp{{From: 0, To: 1, State: ServerUnknown}, {From: 1, To: 3, State: ServerIn}, {From: 3, To: 5, State: ServerOut}},
		},
		{
			name: "table samples decide; the health event before says why",
			events: []scenarios.Event{daemon(0, "lb1", "start"), table(0.5, "lb1", in), health(2, "lb1", "rs1", false), table(2.1, "lb1", w0),
				table(2.2, "lb1", w0), table(3, "lb1", out), {T: 5, Kind: scenarios.EvEnd}},
			inst: []sp{{From: 0, To: 5, State: StateInit}},
			rs1:  []sp{{From: 0, To: 0.5, State: ServerUnknown}, {From: 0.5, To: 2.1, State: ServerIn}, {From: 2.1, To: 3, State: ServerWeight0}, {From: 3, To: 5, State: ServerOut}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, tc.events)
			if len(m.Balancers) != 1 || m.Balancers[0].Host != "lb1" {
				t.Fatalf("balancers %+v, want lb1", m.Balancers)
			}
			b := m.Balancers[0]
			strip := func(spans []Span, keepNote bool) []Span {
				var out []Span
				for _, s := range spans {
					s.Event = 0
					if !keepNote {
						s.Note = ""
					}
					out = append(out, s)
				}
				return out
			}
			if got := strip(b.Instances[0].Spans, false); !reflect.DeepEqual(got, tc.inst) {
				t.Errorf("instance spans %+v\nwant %+v", got, tc.inst)
			}
			if got := strip(b.VIP, true); !reflect.DeepEqual(got, tc.vip) {
				t.Errorf("VIP spans %+v\nwant %+v", got, tc.vip)
			}
			if got := strip(b.Conditions, false); !reflect.DeepEqual(got, tc.conds) {
				t.Errorf("conditions %+v\nwant %+v", got, tc.conds)
			}
			var rs1 []Span
			if len(b.Servers) > 0 {
				rs1 = strip(b.Servers[0].Spans, false)
			}
			if !reflect.DeepEqual(rs1, tc.rs1) {
				t.Errorf("rs1 spans %+v\nwant %+v", rs1, tc.rs1)
			}
		})
	}
}

func TestHealthReasonNotesTheTableChange(t *testing.T) {
	m := build(t, readTimeline(t, "testdata/page-altered.timeline.jsonl"))
	for _, s := range m.Balancers[0].Servers[0].Spans {
		if s.State == ServerOut {
			if want := "HTTP_GET /teste.html: MD5 digest"; len(s.Note) < len(want) || s.Note[:len(want)] != want {
				t.Errorf("rs1 out on lb1 because %q, want the check result %q…", s.Note, want)
			}
			if e := m.Events[s.Event]; e.Kind != scenarios.EvHealth || e.T != 6.076 {
				t.Errorf("rs1's out span points at a %s event at %g, want the health event at 6.076 that caused it", e.Kind, e.T)
			}
			return
		}
	}
	t.Fatal("rs1 never out on lb1")
}

func TestBuildEmpty(t *testing.T) {
	if _, err := Build(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Build(nil) error %v, want ErrEmpty", err)
	}
}

func TestTickStep(t *testing.T) {
	for _, tc := range []struct{ span, want float64 }{
		{0, 1}, {-3, 1}, {math.Inf(1), 1}, {1, 0.5}, {8, 0.5}, {14, 1}, {16, 1}, {17, 2}, {40, 5}, {100, 10}, {300, 20}, {1e6, 1e5},
	} {
		if got := tickStep(tc.span); got != tc.want {
			t.Errorf("tickStep(%g) = %g, want %g", tc.span, got, tc.want)
		}
		if tc.span > 0 && !math.IsInf(tc.span, 0) && tc.span/tickStep(tc.span) > 16 {
			t.Errorf("tickStep(%g): more than 16 ticks", tc.span)
		}
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		start, end float64
		want       []float64
	}{
		{-1.16, 2.1, []float64{-1, -0.5, 0, 0.5, 1, 1.5, 2}},
		{0, 14, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}},
		{3, 3, nil},
		{-1e308, 1e308, nil}, // the span overflows: no ticks rather than an endless loop
	} {
		if got := ticks(tc.start, tc.end); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ticks(%g, %g) = %v, want %v", tc.start, tc.end, got, tc.want)
		}
	}
}

// FuzzRender feeds arbitrary timelines through Build and Write: a bad or
// strange timeline gives an error or a page, never a panic or a hang.
func FuzzRender(f *testing.F) {
	for _, path := range []string{"testdata/page-altered.timeline.jsonl", "testdata/balancer-link-down.timeline.jsonl"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Huge times (tick and bucket loops), out-of-order events, unknown kinds.
	f.Add([]byte(`{"t":-1e308,"kind":"daemon","host":"a","action":"start"}` + "\n" + `{"t":1e308,"kind":"request","ok":true,"served_by":"x"}` + "\n"))
	f.Add([]byte(`{"t":-1e300,"kind":"daemon","host":"a","action":"start"}` + "\n" + `{"t":1e300,"kind":"request","ok":false}` + "\n"))
	f.Add([]byte(`{"t":5,"kind":"vrrp","host":"a","to":"MASTER"}` + "\n" + `{"t":1,"kind":"table","host":"a","reals":[{"server":"x","in_table":true}]}` + "\n" + `{"t":3,"kind":"zzz"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := scenarios.ReadTimeline(bytes.NewReader(data))
		if err != nil || len(events) > 2000 {
			return
		}
		m, err := Build(events)
		if err != nil {
			return
		}
		if err := m.Write(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}
