package scenarios

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// Timeline event kinds.
const (
	EvScenario    = "scenario"    // header: name, description
	EvDaemon      = "daemon"      // a daemon started, stopped, died (Priority/AdvertInt for narration)
	EvVRRP        = "vrrp"        // From → To
	EvHealth      = "health"      // Server up/down
	EvDataplane   = "dataplane"   // the table changed
	EvReload      = "reload"      // a daemon reloaded its config
	EvVIP         = "vip"         // the set of VIP owners changed
	EvReady       = "ready"       // time 0: ready conditions held; traffic starts
	EvStep        = "step"        // a step's action
	EvRequest     = "request"     // one client request
	EvTraffic     = "traffic"     // a note about the client itself
	EvExpectation = "expectation" // a verdict
	EvOutage      = "outage"      // a computed outage window
	EvTeardown    = "teardown"    // the scenario is over; daemons stop
	EvEnd         = "end"         // the run's result

	// Sampled from a drlb's status (every StatusInterval) for the training
	// report; the text replay does not print them.
	EvTable    = "table"    // Host's forwarding table changed: Reals
	EvAdvert   = "advert"   // Host sent Sent and received Received adverts since the last sample
	EvPriority = "priority" // Host's effective VRRP priority of Instance is now Priority
)

// Event is one line of a timeline (JSON lines). T is seconds since time 0
// (when the scenario was ready and traffic started); earlier events are negative.
type Event struct {
	T    float64 `json:"t"`
	Host string  `json:"host,omitempty"`
	Kind string  `json:"kind"`
	Text string  `json:"text,omitempty"`

	Instance string   `json:"instance,omitempty"`
	From     string   `json:"from,omitempty"`
	To       string   `json:"to,omitempty"`
	Server   string   `json:"server,omitempty"`
	Up       *bool    `json:"up,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Owners   []string `json:"owners,omitempty"`

	Step    int    `json:"step,omitempty"` // 1-based
	Action  string `json:"action,omitempty"`
	Peer    string `json:"peer,omitempty"`
	Explain string `json:"explain,omitempty"`

	OK        *bool   `json:"ok,omitempty"`
	ServedBy  string  `json:"served_by,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     string  `json:"error,omitempty"`

	Met      *bool  `json:"met,omitempty"`
	Measured string `json:"measured,omitempty"`
	Bound    string `json:"bound,omitempty"`
	Scope    string `json:"scope,omitempty"`

	// Daemon parameters, for narration (Master_Down_Interval).
	Daemon    string  `json:"daemon,omitempty"`
	Priority  int     `json:"priority,omitempty"`
	AdvertInt float64 `json:"advert_int,omitempty"`
	Version   int     `json:"version,omitempty"`
	Preempt   *bool   `json:"preempt,omitempty"`

	// Sampled status (EvTable, EvAdvert).
	Reals    []TableReal `json:"reals,omitempty"`
	Sent     int         `json:"sent,omitempty"`
	Received int         `json:"received,omitempty"`

	Scenario    string `json:"scenario,omitempty"`
	Description string `json:"description,omitempty"`
	Passed      *bool  `json:"passed,omitempty"`
}

// TableReal is one real server in a balancer's forwarding table, as drlb's
// status reports it.
type TableReal struct {
	Server  string `json:"server"`  // lab host name (or the address when unknown)
	Address string `json:"address"` // IP:PORT
	Service string `json:"service"` // VIP:PORT of its virtual_server
	// Weight is the weight in the data plane now: 0 with InTable means
	// inhibited (keepalived's inhibit_on_failure), no new connections.
	Weight  int    `json:"weight"`
	InTable bool   `json:"in_table"`
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"` // the last check result
}

// Seconds rounds a duration to milliseconds, in seconds.
func Seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

func boolPtr(b bool) *bool { return &b }

// Timeline writes events as JSON lines. Until SetZero it holds them (their
// offsets are unknown); then it writes them with offsets from zero. Each
// event is also passed to onEvent (live output). Safe for concurrent use.
type Timeline struct {
	mu      sync.Mutex
	enc     *json.Encoder
	onEvent func(Event)
	zero    time.Time
	zeroSet bool
	pending []timed
	events  []Event
	err     error
}

type timed struct {
	at time.Time
	ev Event
}

// NewTimeline writes to w (nil: keep events in memory only).
func NewTimeline(w io.Writer, onEvent func(Event)) *Timeline {
	t := &Timeline{onEvent: onEvent}
	if w != nil {
		t.enc = json.NewEncoder(w)
	}
	return t
}

// Add records ev as happening at at.
func (t *Timeline) Add(at time.Time, ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.zeroSet {
		t.pending = append(t.pending, timed{at, ev})
		return
	}
	t.emitLocked(at, ev)
}

func (t *Timeline) emitLocked(at time.Time, ev Event) {
	ev.T = Seconds(at.Sub(t.zero))
	t.events = append(t.events, ev)
	if t.enc != nil && t.err == nil {
		if err := t.enc.Encode(ev); err != nil {
			t.err = fmt.Errorf("write timeline: %w", err)
		}
	}
	if t.onEvent != nil {
		t.onEvent(ev)
	}
}

// SetZero fixes time 0 and writes the events held so far.
func (t *Timeline) SetZero(zero time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.zeroSet {
		return
	}
	t.zero, t.zeroSet = zero, true
	for _, p := range t.pending {
		t.emitLocked(p.at, p.ev)
	}
	t.pending = nil
}

// Zero returns time 0 (the zero time before SetZero).
func (t *Timeline) Zero() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.zero
}

// Flush writes held events with the first one's time as zero (a run that
// never became ready) and returns the first write error.
func (t *Timeline) Flush() error {
	t.mu.Lock()
	var first time.Time
	if len(t.pending) > 0 {
		first = t.pending[0].at
	}
	zeroSet := t.zeroSet
	t.mu.Unlock()
	if !zeroSet {
		if first.IsZero() {
			first = time.Now()
		}
		t.SetZero(first)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Events returns the events written so far.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// ReadTimeline parses a timeline file.
func ReadTimeline(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("timeline line %d: %w", line, err)
		}
		if ev.Kind == "" {
			return nil, fmt.Errorf("timeline line %d: event without kind", line)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read timeline: %w", err)
	}
	return out, nil
}
