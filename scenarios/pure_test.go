package scenarios

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestOutages(t *testing.T) {
	ok := func(start int) Request { return Request{Start: ms(start), Latency: ms(5), OK: true, Server: "rs1"} }
	bad := func(start int) Request { return Request{Start: ms(start), Latency: ms(500), Error: "timeout"} }
	tests := []struct {
		name    string
		reqs    []Request
		want    []Window
		longest time.Duration
	}{
		{"no requests", nil, nil, 0},
		{"all fine", []Request{ok(0), ok(50), ok(100)}, nil, 0},
		{"one gap", []Request{ok(0), bad(50), bad(100), ok(150), ok(200)}, []Window{{ms(50), ms(150)}}, ms(100)},
		{"two gaps, longest second", []Request{ok(0), bad(50), ok(100), bad(200), bad(250), bad(300), ok(400)}, []Window{{ms(50), ms(100)}, {ms(200), ms(400)}}, ms(200)},
		{"starts failing", []Request{bad(0), ok(100)}, []Window{{0, ms(100)}}, ms(100)},
		{"ends failing: closes when the last request ended", []Request{ok(0), bad(100), bad(200)}, []Window{{ms(100), ms(700)}}, ms(600)},
		{"out of order input", []Request{ok(150), bad(50), ok(0)}, []Window{{ms(50), ms(150)}}, ms(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Outages(tt.reqs)
			if len(got) != len(tt.want) {
				t.Fatalf("Outages = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("window %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
			if l := LongestOutage(tt.reqs); l != tt.longest {
				t.Errorf("LongestOutage = %v, want %v", l, tt.longest)
			}
		})
	}
}

func TestDistribution(t *testing.T) {
	reqs := []Request{
		{OK: true, Server: "rs1"}, {OK: true, Server: "rs2"}, {OK: true, Server: "rs1"}, {Error: "refused"},
	}
	d := Distribute(reqs)
	if d.Total != 4 || d.OK != 3 || d.Errors != 1 || d.ByServer["rs1"] != 2 {
		t.Fatalf("Distribute = %+v", d)
	}
	if s := d.Share("rs1"); math.Abs(s-2.0/3) > 1e-9 {
		t.Errorf("Share(rs1) = %v", s)
	}
	if s := Distribute(nil).Share("rs1"); s != 0 {
		t.Errorf("share of nothing = %v", s)
	}
	if got := d.String(); got != "4 requests: rs1 2 (67%), rs2 1 (33%); 1 errors" {
		t.Errorf("String = %q", got)
	}
	in := InWindow([]Request{{Start: ms(10)}, {Start: ms(20)}, {Start: ms(30)}}, Window{ms(10), ms(30)})
	if len(in) != 2 {
		t.Errorf("InWindow kept %d, want 2 (from inclusive, to exclusive)", len(in))
	}
}

func intp(n int) *int { return &n }

func TestEvaluate(t *testing.T) {
	addrs := map[string]string{"rs1": "172.16.1.10", "rs2": "172.16.1.11"}
	table := TableObs{Reals: []RealObs{{Address: "172.16.1.10:80", InTable: false}, {Address: "172.16.1.11:80", InTable: true}}}
	traffic := []Request{
		{Start: 0, OK: true, Server: "rs1"}, {Start: ms(50), Error: "x"}, {Start: ms(100), Error: "x"},
		{Start: ms(150), OK: true, Server: "rs2"}, {Start: ms(200), OK: true, Server: "rs2"},
	}
	d := Duration(ms(50))
	tests := []struct {
		name     string
		e        Expectation
		obs      Observation
		met      bool
		measured string
	}{
		{"owner match", Expectation{VIPOwner: &Owners{Hosts: []string{"lb2"}}}, Observation{VIPOwners: []string{"lb2"}}, true, "lb2"},
		{"owner mismatch", Expectation{VIPOwner: &Owners{Hosts: []string{"lb2"}}}, Observation{VIPOwners: []string{"lb1"}}, false, "lb1"},
		{"split brain listed", Expectation{VIPOwner: &Owners{Hosts: []string{"lb1", "lb2"}}}, Observation{VIPOwners: []string{"lb2", "lb1"}}, true, "lb1+lb2"},
		{"none", Expectation{VIPOwner: &Owners{}}, Observation{}, true, "none"},
		{"any with two owners", Expectation{VIPOwner: &Owners{Any: true}}, Observation{VIPOwners: []string{"lb1", "lb2"}}, false, "lb1+lb2"},
		{"vip on among two", Expectation{VIPOn: "lb2"}, Observation{VIPOwners: []string{"lb1", "lb2"}}, true, "lb1+lb2"},
		{"vip on missing", Expectation{VIPOn: "lb2"}, Observation{VIPOwners: []string{"lb1"}}, false, "lb1"},
		{"routes any order", Expectation{Routes: []string{"lb1", "lb3"}}, Observation{Routes: []string{"lb3", "lb1"}}, true, "via lb1,lb3"},
		{"routes one too many", Expectation{Routes: []string{"lb1", "lb3"}}, Observation{Routes: []string{"lb1", "lb2", "lb3"}}, false, "via lb1,lb2,lb3"},
		{"routes none", Expectation{Routes: []string{}}, Observation{Routes: []string{}}, true, "no route"},
		{"routes none but one", Expectation{Routes: []string{}}, Observation{Routes: []string{"lb1"}}, false, "via lb1"},
		{"vrrp all instances", Expectation{VRRP: map[string]string{"lb1": "MASTER"}},
			Observation{VRRP: map[string]HostVRRP{"lb1": {Instances: map[string]string{"A": "MASTER", "B": "MASTER"}}}}, true, "lb1 MASTER"},
		{"vrrp mixed", Expectation{VRRP: map[string]string{"lb1": "MASTER"}},
			Observation{VRRP: map[string]HostVRRP{"lb1": {Instances: map[string]string{"A": "MASTER", "B": "BACKUP"}}}}, false, "lb1 MIXED(A=MASTER,B=BACKUP)"},
		{"vrrp one instance", Expectation{VRRP: map[string]string{"lb1/B": "BACKUP"}},
			Observation{VRRP: map[string]HostVRRP{"lb1": {Instances: map[string]string{"A": "MASTER", "B": "BACKUP"}}}}, true, "lb1/B BACKUP"},
		{"vrrp down", Expectation{VRRP: map[string]string{"lb1": "DOWN"}}, Observation{VRRP: map[string]HostVRRP{"lb1": {Down: true}}}, true, "lb1 DOWN"},
		{"vrrp frozen", Expectation{VRRP: map[string]string{"lb1": "MASTER"}}, Observation{VRRP: map[string]HostVRRP{"lb1": {Err: "timeout"}}}, false, "lb1 UNREACHABLE"},
		{"table out by name", Expectation{Table: &TableExpect{On: "lb1", In: []string{"rs2"}, Out: []string{"rs1"}}},
			Observation{Tables: map[string]TableObs{"lb1": table}, Addrs: addrs}, true, "in table: rs2"},
		{"table in fails", Expectation{Table: &TableExpect{On: "lb1", In: []string{"172.16.1.10:80"}}},
			Observation{Tables: map[string]TableObs{"lb1": table}, Addrs: addrs}, false, "in table: rs2"},
		{"table unreadable", Expectation{Table: &TableExpect{On: "lb1", In: []string{"rs1"}}},
			Observation{Tables: map[string]TableObs{"lb1": {Err: "no socket"}}}, false, "no socket"},
		{"page differs", Expectation{Page: &PageExpect{URL: "u", Digest: "aa", Matches: false}},
			Observation{Pages: map[string]Fetch{"client u": {OK: true, Digest: "bb"}}}, true, "digest bb"},
		{"page matches", Expectation{Page: &PageExpect{URL: "u", Digest: "aa", Matches: true}},
			Observation{Pages: map[string]Fetch{"client u": {OK: true, Digest: "aa"}}}, true, "digest aa"},
		{"reach fails as expected", Expectation{Reach: &ReachExpect{URL: "u", OK: false}},
			Observation{Reach: map[string]Fetch{"client u": {Err: "connection refused"}}}, true, "failed: connection refused"},
		{"reach served by wrong host", Expectation{Reach: &ReachExpect{URL: "u", OK: true, ServedBy: "rs1"}},
			Observation{Reach: map[string]Fetch{"client u": {OK: true, ServedBy: "rs2"}}}, false, "answered by rs2"},
		{"share in bounds", Expectation{Share: &ShareExpect{Server: "rs2", Min: 0.5, Max: 1}}, Observation{Requests: traffic}, true, "0.67 (2 of 3 answered)"},
		{"share out of bounds", Expectation{Share: &ShareExpect{Server: "rs1", Min: 0.5, Max: 1}}, Observation{Requests: traffic}, false, "0.33 (1 of 3 answered)"},
		{"share without answers", Expectation{Share: &ShareExpect{Server: "rs1", Min: 0, Max: 1}}, Observation{}, false, "no successful request in this phase"},
		{"outage too long", Expectation{MaxOutage: &d}, Observation{Requests: traffic}, false, "0.10s"},
		{"errors", Expectation{MaxErrors: intp(2)}, Observation{Requests: traffic}, true, "2 of 5"},
		{"min requests", Expectation{MinRequests: intp(6)}, Observation{Requests: traffic}, false, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(&tt.e, tt.obs)
			if v.Met != tt.met || v.Measured != tt.measured {
				t.Errorf("Evaluate = met %v measured %q (bound %q), want met %v measured %q", v.Met, v.Measured, v.Bound, tt.met, tt.measured)
			}
			if v.Expectation == "" || v.Bound == "" {
				t.Errorf("verdict without label or bound: %+v", v)
			}
		})
	}
}

func TestScanInstancesAndMasterDown(t *testing.T) {
	conf := `global_defs {
   vrrp_version 3   # all instances
}
vrrp_instance VI_1 {
   state BACKUP
   priority 200 ! comment
   advert_int 0.1
   nopreempt
   virtual_ipaddress {
     10.0.0.1/24
   }
}
vrrp_instance VI_2 {
   version 2
   track_interface {
     priority 7
   }
}
`
	got := ScanInstances(conf)
	if len(got) != 2 {
		t.Fatalf("ScanInstances = %+v", got)
	}
	want0 := InstanceParams{Name: "VI_1", State: "BACKUP", Priority: 200, AdvertInt: 0.1, Version: 3, Nopreempt: true}
	want1 := InstanceParams{Name: "VI_2", Priority: 100, AdvertInt: 1, Version: 2}
	if got[0] != want0 || got[1] != want1 {
		t.Errorf("got %+v\nwant %+v and %+v", got, want0, want1)
	}
	tests := []struct {
		p    InstanceParams
		want float64
	}{
		{InstanceParams{Priority: 100, AdvertInt: 1, Version: 2}, 3 + 156.0/256},    // 3.609, the how-to's backup
		{InstanceParams{Priority: 100, AdvertInt: 0.1, Version: 3}, 0.3 + 15.6/256}, // VRRPv3 skew scales with the interval
		{InstanceParams{Priority: 255, AdvertInt: 1, Version: 2}, 3 + 1.0/256},
	}
	for _, tt := range tests {
		if got := tt.p.MasterDownInterval(); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%+v: MasterDownInterval = %v, want %v", tt.p, got, tt.want)
		}
	}
	if f := tests[0].p.Formula(); f != "3 × 1 s + (256 − 100)/256 s = 3.61 s" {
		t.Errorf("Formula = %q", f)
	}
}

func TestRender(t *testing.T) {
	vals := LabValues{VIP: "10.0.0.1", Addrs: map[string]string{"rs1": "10.0.0.10", "lb1": "10.0.0.2"},
		Page: func(host, path string) (string, bool) { return host + path, host == "rs1" }}
	tests := []struct {
		tmpl, want, err string
	}{
		{"{{.VIP}} {{.Host}} {{.Addr}}", "10.0.0.1 lb1 10.0.0.2", ""},
		{`{{addr "rs1"}}`, "10.0.0.10", ""},
		{`{{digest "rs1" "/teste.html"}}`, Digest([]byte("rs1/teste.html")), ""},
		{`{{var "priority" "100"}} {{var "state"}}`, "100 MASTER", ""},
		{`{{range list "a b"}}[{{.}}]{{end}}`, "[a][b]", ""},
		{`{{if has "rs1 rs2" "rs2"}}yes{{end}}`, "yes", ""},
		{`{{addr "rs9"}}`, "", `no host "rs9"`},
		{`{{digest "rs2" "/x"}}`, "", "has no original page"},
		{`{{var "nope"}}`, "", `var "nope" is not set`},
		{`{{.Nope}}`, "", "Nope"},
		{`{{`, "", "template t"},
	}
	for _, tt := range tests {
		got, err := Render("t", tt.tmpl, vals, "lb1", map[string]string{"state": "MASTER"})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Render(%q) err = %v, want %q", tt.tmpl, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
	if d := Digest([]byte("")); d != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Errorf("Digest of nothing = %s", d)
	}
}

// sampleTimeline is a short master crash, as the engine writes it.
const sampleTimeline = `{"t":-1.3,"kind":"scenario","text":"demo","scenario":"demo","description":"A crash."}
{"t":-1.2,"host":"lb1","kind":"daemon","text":"start drlb","action":"start","daemon":"drlb","priority":150,"advert_int":1,"version":2,"preempt":true}
{"t":-1.1,"host":"lb2","kind":"daemon","text":"start drlb","action":"start","daemon":"drlb","priority":100,"advert_int":1,"version":2,"preempt":true}
{"t":-0.1,"host":"lb1","kind":"vrrp","text":"(VI_1) BACKUP → MASTER","instance":"VI_1","from":"BACKUP","to":"MASTER"}
{"t":-0.05,"kind":"vip","text":"VIP held by lb1","owners":["lb1"]}
{"t":0,"kind":"ready","text":"ready; time 0"}
{"t":0.1,"host":"client","kind":"request","ok":true,"served_by":"rs1"}
{"t":0.2,"host":"client","kind":"request","ok":true,"served_by":"rs2"}
{"t":1.1,"host":"client","kind":"request","ok":true,"served_by":"rs1"}
{"t":2,"host":"lb1","kind":"step","text":"kill -9 drlb on lb1","step":1,"action":"kill"}
{"t":2.1,"host":"client","kind":"request","ok":false,"error":"timeout"}
{"t":5.61,"host":"lb2","kind":"vrrp","text":"(VI_1) BACKUP → MASTER","instance":"VI_1","from":"BACKUP","to":"MASTER"}
{"t":5.62,"kind":"vip","text":"VIP held by lb1+lb2","owners":["lb1","lb2"]}
{"t":5.7,"host":"client","kind":"request","ok":true,"served_by":"rs2"}
{"t":6,"kind":"expectation","text":"vip on lb2","met":true,"measured":"lb1+lb2","bound":"includes lb2"}
{"t":6.5,"kind":"end","text":"PASSED","passed":true}
`

func TestReplayIsDeterministicAndNarrates(t *testing.T) {
	events, err := ReadTimeline(strings.NewReader(sampleTimeline))
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	var slept []time.Duration
	if err := Replay(events, &a, 2, func(d time.Duration) { slept = append(slept, d) }); err != nil {
		t.Fatal(err)
	}
	if err := Replay(events, &b, 0, func(time.Duration) { t.Fatal("speed 0 must not sleep") }); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("replays differ:\n%s\n---\n%s", a.String(), b.String())
	}
	out := a.String()
	for _, want := range []string{
		"scenario demo",
		"Master_Down_Interval = 3 × 1 s + (256 − 100)/256 s = 3.61 s",
		"lb2 became MASTER 3.61 s after lb1's kill -9",
		"state: lb1 daemon killed VIP | lb2 ok",
		"lb1 holds the VIP only because its dead daemon left it configured",
		"0s+ client traffic     2 answered (rs1 1, rs2 1), 0 failed  ##",
		"2s+ client traffic     0 answered, 1 failed  x",
		"ok   vip on lb2: measured lb1+lb2, bound includes lb2",
		"6.500s -      end         PASSED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("replay lacks %q:\n%s", want, out)
		}
	}
	var total time.Duration
	for _, d := range slept {
		total += d
	}
	// From -1.3 s to 6.5 s at speed 2.
	if want := 3900 * time.Millisecond; total < want-time.Millisecond || total > want+time.Millisecond {
		t.Errorf("slept %v in total, want %v", total, want)
	}
}

func TestReadTimelineErrors(t *testing.T) {
	for _, in := range []string{"{not json}\n", `{"t":1}` + "\n"} {
		if _, err := ReadTimeline(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ReadTimeline(%q) err = %v", in, err)
		}
	}
}

func TestTimelineHoldsEventsUntilZero(t *testing.T) {
	var buf bytes.Buffer
	var seen []Event
	tl := NewTimeline(&buf, func(ev Event) { seen = append(seen, ev) })
	base := time.Unix(1000, 0)
	tl.Add(base, Event{Kind: EvDaemon, Text: "early"})
	if buf.Len() != 0 || len(seen) != 0 {
		t.Fatal("events written before time 0 was known")
	}
	tl.SetZero(base.Add(1500 * time.Millisecond))
	tl.Add(base.Add(2*time.Second), Event{Kind: EvStep, Text: "later"})
	if err := tl.Flush(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadTimeline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].T != -1.5 || events[1].T != 0.5 || len(seen) != 2 {
		t.Errorf("events %+v (seen %d)", events, len(seen))
	}
}

func BenchmarkParseLibrary(b *testing.B) {
	data, err := library.ReadFile("library/master-crash.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("master-crash.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
