package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drlb/drlb/internal/suggest"
	"github.com/drlb/drlb/topology"
)

//go:embed library/*.yaml library/configs/*.conf
var library embed.FS

// Scenario is one scenario file.
type Scenario struct {
	// Name identifies the scenario (`drlab scenario run NAME`); it matches the file name.
	Name string `yaml:"name"`
	// Description tells a trainee what happens and what to watch for.
	Description string `yaml:"description"`
	// Labels select scenarios in CI (failover, health, interop, reload, slow).
	Labels []string `yaml:"labels,omitempty"`
	// Topology is a built-in topology name or spec file (default seed).
	Topology string `yaml:"topology,omitempty"`
	// Family is the address family the scenario runs over: ipv4 (default)
	// or ipv6. With ipv6, {{.VIP}} is the lab's IPv6 VIP, {{addr}} and
	// table checks use the hosts' IPv6 addresses and vip_owner watches the
	// IPv6 VIP; URLs are written http://[{{.VIP}}]/...
	Family string `yaml:"family,omitempty"`
	// Configs are daemon configuration templates by name, in addition to the
	// library's (library/configs/NAME.conf).
	Configs map[string]string `yaml:"configs,omitempty"`
	// Balancers are the daemons started when the scenario begins.
	Balancers []Balancer `yaml:"balancers,omitempty"`
	// Ready conditions must all hold before traffic and steps start (time 0
	// of the timeline); ReadyTimeout bounds the wait (default 30s).
	Ready        []Expectation `yaml:"ready,omitempty"`
	ReadyTimeout Duration      `yaml:"ready_timeout,omitempty"`
	// Traffic is the background client load, if any.
	Traffic *Traffic `yaml:"traffic,omitempty"`
	// Steps run in order.
	Steps []Step `yaml:"steps"`
	// Expect is checked at the end: states as they are then, traffic over the whole run.
	Expect []Expectation `yaml:"expect,omitempty"`

	// File is where the scenario was read from.
	File string `yaml:"-"`
}

// Address families a scenario can run over (Scenario.Family).
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Daemon kinds a balancer can run.
const (
	DaemonDrlb       = "drlb"
	DaemonKeepalived = "keepalived"
)

// Balancer is a daemon on a host.
type Balancer struct {
	Host string `yaml:"host"`
	// Daemon is drlb (default) or keepalived (VRRP only, the reference peer).
	Daemon string `yaml:"daemon,omitempty"`
	// Config names a template in the scenario's configs or the library.
	Config string `yaml:"config"`
	// Vars are this host's template values ({{var "priority" "100"}}).
	Vars map[string]string `yaml:"vars,omitempty"`
	// Dataplane is passed to drlb run --dataplane (default auto).
	Dataplane string `yaml:"dataplane,omitempty"`
	// Stopped leaves the daemon stopped at the start (a step starts it).
	Stopped bool `yaml:"stopped,omitempty"`
	Line    int  `yaml:"-"`
}

// Traffic is bounded background client load: GET requests at a fixed rate
// for a fixed duration, each on a new connection (a new balancing decision).
type Traffic struct {
	From string `yaml:"from,omitempty"` // default client
	// URL (or URLs, taken in turn) to fetch; templates allowed ({{.VIP}}).
	URL  string   `yaml:"url,omitempty"`
	URLs []string `yaml:"urls,omitempty"`
	// Rate in requests per second (at most MaxRate).
	Rate float64 `yaml:"rate"`
	// Duration from time 0 (at most MaxDuration).
	Duration Duration `yaml:"duration"`
	// Timeout of each request (default 1s).
	Timeout Duration `yaml:"timeout,omitempty"`
	Line    int      `yaml:"-"`
}

// Traffic bounds: the lab shares a 2-core machine.
const (
	MaxRate     = 100
	MaxDuration = 5 * time.Minute
)

// Step is one thing that happens during a scenario. It waits for At (time
// since 0), then Delay (since the previous step), then until every After
// condition holds (within Timeout), does its action, and checks Expect.
type Step struct {
	Name  string        `yaml:"name,omitempty"`
	At    *Duration     `yaml:"at,omitempty"`
	Delay *Duration     `yaml:"delay,omitempty"`
	After []Expectation `yaml:"after,omitempty"`
	// Timeout bounds the wait for After (default 20s).
	Timeout Duration `yaml:"timeout,omitempty"`

	// Do is the action (see Actions); empty for a checkpoint.
	Do      string            `yaml:"do,omitempty"`
	Host    string            `yaml:"host,omitempty"`
	Peer    string            `yaml:"peer,omitempty"`    // partition, heal
	Iface   string            `yaml:"iface,omitempty"`   // link-down, link-up (default eth1)
	Path    string            `yaml:"path,omitempty"`    // page-set, page-reset (default /teste.html)
	Content string            `yaml:"content,omitempty"` // page-set
	Config  string            `yaml:"config,omitempty"`  // reload, start: another template
	Vars    map[string]string `yaml:"vars,omitempty"`    // reload, start: values replacing the balancer's
	For     Duration          `yaml:"for,omitempty"`     // wait, slow

	// Explain tells the trainee why this step matters.
	Explain string `yaml:"explain,omitempty"`
	// Expect is checked after the action. Traffic expectations (share,
	// max_outage, max_errors, min_requests) cover this step's phase: from the
	// end of its action to the start of the next step.
	Expect []Expectation `yaml:"expect,omitempty"`
	Line   int           `yaml:"-"`
}

// Actions are the step actions and what each needs.
var actions = map[string]string{
	"kill":       "host", // SIGKILL the daemon
	"terminate":  "host", // SIGTERM the daemon and wait for it to exit
	"freeze":     "host", // SIGSTOP the daemon (a hung process)
	"thaw":       "host", // SIGCONT
	"start":      "host", // start the daemon again (after kill/terminate)
	"reload":     "host", // rewrite its config (config/vars) and SIGHUP
	"link-down":  "host", // set the host's interface down
	"link-up":    "host",
	"partition":  "host peer", // drop VRRP between host and peer, both ways
	"heal":       "host peer",
	"page-set":   "host content",
	"page-reset": "host",
	"web-stop":   "host", // stop the real server's web server
	"web-start":  "host",
	"slow":       "host", // delay each answer of host's web server by For (0 restores)
	"wait":       "for",
}

// Actions lists the step actions, sorted.
func Actions() []string {
	out := make([]string, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Expectation is one check with bounds. Exactly one kind is set.
type Expectation struct {
	// Name labels the expectation in reports (default: generated from its kind).
	Name string `yaml:"name,omitempty"`

	// VIPOwner: who holds the VIP on a non-loopback interface: a host, a
	// list (split brain), "none", or "any" (exactly one, whoever it is).
	VIPOwner *Owners `yaml:"vip_owner,omitempty"`
	// VIPOn: this host holds the VIP (others may too: a killed daemon's
	// kernel keeps the address it configured).
	VIPOn string `yaml:"vip_on,omitempty"`
	// VRRP: host → state (MASTER, BACKUP, FAULT, STOP, DOWN = no daemon)
	// of every instance on it, or host/instance → state.
	VRRP map[string]string `yaml:"vrrp,omitempty"`
	// Table: real servers in (and out of) a balancer's forwarding table.
	Table *TableExpect `yaml:"table,omitempty"`
	// Page: the MD5 digest of a page fetched from a host matches (or not).
	Page *PageExpect `yaml:"page,omitempty"`
	// Reach: a URL answers from a host (or not), optionally served by a given server.
	Reach *ReachExpect `yaml:"reach,omitempty"`
	// Routes: the balancers the lab's router sends the VIP to (its BGP
	// ECMP next hops, routed topologies such as scaleout); [] for none.
	Routes []string `yaml:"routes,omitempty"`

	// Share of successful requests served by a real server, within [min, max].
	Share *ShareExpect `yaml:"share,omitempty"`
	// MaxOutage bounds the longest window without a successful request.
	MaxOutage *Duration `yaml:"max_outage,omitempty"`
	// MaxErrors bounds failed requests.
	MaxErrors *int `yaml:"max_errors,omitempty"`
	// MinRequests makes sure traffic ran (a control for the other traffic checks).
	MinRequests *int `yaml:"min_requests,omitempty"`

	// Within polls a state expectation until it holds or this much time passed.
	Within Duration `yaml:"within,omitempty"`
	// For requires a state expectation to keep holding this long (after Within).
	For  Duration `yaml:"for,omitempty"`
	Line int      `yaml:"-"`
}

// Owners is the vip_owner value.
type Owners struct {
	Hosts []string // exact set; empty means none
	Any   bool     // exactly one owner, any host
}

// TableExpect checks real servers (host names or IP:PORT) in a balancer's table.
type TableExpect struct {
	On  string   `yaml:"on"`
	In  []string `yaml:"in,omitempty"`
	Out []string `yaml:"out,omitempty"`
}

// PageExpect fetches URL from From and compares the body's MD5 with Digest.
type PageExpect struct {
	From    string `yaml:"from,omitempty"` // default client
	URL     string `yaml:"url"`
	Digest  string `yaml:"digest"`
	Matches bool   `yaml:"matches"`
}

// ReachExpect fetches URL from From.
type ReachExpect struct {
	From     string `yaml:"from,omitempty"` // default client
	URL      string `yaml:"url"`
	OK       bool   `yaml:"ok"`
	ServedBy string `yaml:"served_by,omitempty"`
}

// ShareExpect bounds one server's share of successful requests.
type ShareExpect struct {
	Server string  `yaml:"server"`
	Min    float64 `yaml:"min"`
	Max    float64 `yaml:"max"`
}

// Expectation kinds.
const (
	KindVIPOwner    = "vip_owner"
	KindVIPOn       = "vip_on"
	KindVRRP        = "vrrp"
	KindTable       = "table"
	KindPage        = "page"
	KindReach       = "reach"
	KindRoutes      = "routes"
	KindShare       = "share"
	KindMaxOutage   = "max_outage"
	KindMaxErrors   = "max_errors"
	KindMinRequests = "min_requests"
)

// Kinds returns the kinds set in e (valid expectations have exactly one).
func (e *Expectation) Kinds() []string {
	var k []string
	add := func(set bool, name string) {
		if set {
			k = append(k, name)
		}
	}
	add(e.VIPOwner != nil, KindVIPOwner)
	add(e.VIPOn != "", KindVIPOn)
	add(len(e.VRRP) > 0, KindVRRP)
	add(e.Table != nil, KindTable)
	add(e.Page != nil, KindPage)
	add(e.Reach != nil, KindReach)
	add(e.Routes != nil, KindRoutes)
	add(e.Share != nil, KindShare)
	add(e.MaxOutage != nil, KindMaxOutage)
	add(e.MaxErrors != nil, KindMaxErrors)
	add(e.MinRequests != nil, KindMinRequests)
	return k
}

// Kind is the expectation's kind ("" if not exactly one is set).
func (e *Expectation) Kind() string {
	if k := e.Kinds(); len(k) == 1 {
		return k[0]
	}
	return ""
}

// IsTraffic reports whether e is judged from the request log.
func (e *Expectation) IsTraffic() bool {
	switch e.Kind() {
	case KindShare, KindMaxOutage, KindMaxErrors, KindMinRequests:
		return true
	}
	return false
}

// Label is the expectation's name, or a description generated from it.
func (e *Expectation) Label() string {
	if e.Name != "" {
		return e.Name
	}
	switch e.Kind() {
	case KindVIPOwner:
		return "vip owner " + e.VIPOwner.String()
	case KindVIPOn:
		return "vip on " + e.VIPOn
	case KindRoutes:
		if len(e.Routes) == 0 {
			return "router has no route to the vip"
		}
		return "router routes the vip via " + strings.Join(e.Routes, ",")
	case KindVRRP:
		keys := sortedKeys(e.VRRP)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " " + e.VRRP[k]
		}
		return "vrrp " + strings.Join(parts, ", ")
	case KindTable:
		s := "table on " + e.Table.On
		if len(e.Table.In) > 0 {
			s += " has " + strings.Join(e.Table.In, ",")
		}
		if len(e.Table.Out) > 0 {
			s += " lacks " + strings.Join(e.Table.Out, ",")
		}
		return s
	case KindPage:
		if e.Page.Matches {
			return "page " + e.Page.URL + " matches digest"
		}
		return "page " + e.Page.URL + " differs from digest"
	case KindReach:
		if !e.Reach.OK {
			return "reach " + e.Reach.URL + " fails"
		}
		if e.Reach.ServedBy != "" {
			return "reach " + e.Reach.URL + " served by " + e.Reach.ServedBy
		}
		return "reach " + e.Reach.URL
	case KindShare:
		return fmt.Sprintf("share %s in [%g, %g]", e.Share.Server, e.Share.Min, e.Share.Max)
	case KindMaxOutage:
		return "longest outage <= " + e.MaxOutage.String()
	case KindMaxErrors:
		return fmt.Sprintf("errors <= %d", *e.MaxErrors)
	case KindMinRequests:
		return fmt.Sprintf("requests >= %d", *e.MinRequests)
	}
	return "expectation"
}

// String describes the owners for reports.
func (o *Owners) String() string {
	switch {
	case o.Any:
		return "any (exactly one)"
	case len(o.Hosts) == 0:
		return "none"
	}
	return strings.Join(o.Hosts, "+")
}

// UnmarshalYAML accepts a host, a list of hosts, "none" or "any".
func (o *Owners) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "none":
			*o = Owners{}
		case "any":
			*o = Owners{Any: true}
		default:
			*o = Owners{Hosts: []string{n.Value}}
		}
		return nil
	case yaml.SequenceNode:
		var hosts []string
		if err := n.Decode(&hosts); err != nil {
			return err
		}
		sort.Strings(hosts)
		*o = Owners{Hosts: hosts}
		return nil
	}
	return fmt.Errorf("line %d: vip_owner: give a host, a list of hosts, none or any", n.Line)
}

// Duration is a time.Duration written as "2s", "150ms" or a number of seconds.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses "2s", "1m30s", "0.5" (seconds).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 2s or 150ms", n.Line)
	}
	if v, err := time.ParseDuration(n.Value); err == nil {
		*d = Duration(v)
		return nil
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f >= 0 && f < 1e6 {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	return fmt.Errorf("line %d: %q is not a duration (write 2s, 150ms, 1m)", n.Line, n.Value)
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML records the line of each balancer.
func (b *Balancer) UnmarshalYAML(n *yaml.Node) error {
	type plain Balancer
	if err := decodeStrict(n, (*plain)(b)); err != nil {
		return err
	}
	b.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of the traffic block.
func (t *Traffic) UnmarshalYAML(n *yaml.Node) error {
	type plain Traffic
	if err := decodeStrict(n, (*plain)(t)); err != nil {
		return err
	}
	t.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of each step.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	if err := decodeStrict(n, (*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of each expectation.
func (e *Expectation) UnmarshalYAML(n *yaml.Node) error {
	type plain Expectation
	if err := decodeStrict(n, (*plain)(e)); err != nil {
		return err
	}
	e.Line = n.Line
	return nil
}

// decodeStrict decodes a mapping node refusing unknown keys (Node.Decode
// does not inherit the decoder's KnownFields).
func decodeStrict(n *yaml.Node, out any) error {
	if n.Kind == yaml.MappingNode {
		known := knownKeys(out)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, ok := known[k.Value]; !ok && known != nil {
				return fmt.Errorf("line %d: unknown field %q%s", k.Line, k.Value, didYouMean(k.Value, sortedKeys(known)))
			}
		}
	}
	return n.Decode(out)
}

// ErrInvalid marks scenario files that fail to parse or validate.
var ErrInvalid = errors.New("invalid scenario")

// Error is a scenario file's problems, each "FILE:LINE: message".
type Error struct {
	Problems []string
}

// Error lists the problems, one per line.
func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Parse reads a scenario file and validates it. Problems carry file:line.
func Parse(file string, data []byte) (*Scenario, error) {
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		if l := leadingLine(msg); l > 0 {
			return nil, &Error{Problems: []string{fmt.Sprintf("%s:%d: %s", file, l, stripLine(msg))}}
		}
		return nil, &Error{Problems: []string{fmt.Sprintf("%s: %s", file, msg)}}
	}
	sc.File = file
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// leadingLine finds "line N" in a yaml error message.
func leadingLine(msg string) int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	j := i + 5
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(msg[i+5 : j])
	if err != nil {
		return 0
	}
	return n
}

// stripLine removes the "line N: " part leadingLine found.
func stripLine(msg string) string {
	i := strings.Index(msg, "line ")
	j := i + 5
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	rest := strings.TrimPrefix(msg[j:], ":")
	return strings.TrimSpace(msg[:i] + strings.TrimSpace(rest))
}

// Validate checks the scenario's meaning (hosts, actions, bounds) and
// reports every problem with its line.
func (sc *Scenario) Validate() error {
	var probs []string
	at := func(line int, format string, a ...any) {
		probs = append(probs, fmt.Sprintf("%s:%d: %s", sc.File, line, fmt.Sprintf(format, a...)))
	}
	if sc.Name == "" {
		at(1, "scenario needs a name")
	} else if !validName(sc.Name) {
		at(1, "name %q: use lower-case letters, digits and '-'", sc.Name)
	}
	if strings.TrimSpace(sc.Description) == "" {
		at(1, "scenario needs a description (for the trainee)")
	}
	for _, l := range sc.Labels {
		if !validName(l) {
			at(1, "label %q: use lower-case letters, digits and '-'", l)
		}
	}
	switch sc.Family {
	case "", FamilyIPv4, FamilyIPv6:
	default:
		at(1, "family %q: use ipv4 or ipv6", sc.Family)
	}
	balancers := map[string]bool{}
	for _, b := range sc.Balancers {
		if b.Host == "" {
			at(b.Line, "balancer needs a host")
		}
		if balancers[b.Host] {
			at(b.Line, "balancer %s listed twice", b.Host)
		}
		balancers[b.Host] = true
		switch b.Daemon {
		case "", DaemonDrlb, DaemonKeepalived:
		default:
			at(b.Line, "daemon %q: use drlb or keepalived", b.Daemon)
		}
		if b.Config == "" {
			at(b.Line, "balancer %s needs a config", b.Host)
		} else if !sc.HasConfig(b.Config) {
			at(b.Line, "config %q is neither in this file's configs nor in the library%s", b.Config, didYouMean(b.Config, sc.ConfigNames()))
		}
		switch b.Dataplane {
		case "", "auto", "ipvs", "nft":
		default:
			at(b.Line, "dataplane %q: use auto, ipvs or nft", b.Dataplane)
		}
	}
	for i := range sc.Ready {
		sc.validateExpectation(&sc.Ready[i], true, at)
	}
	if t := sc.Traffic; t != nil {
		if t.URL == "" && len(t.URLs) == 0 {
			at(t.Line, "traffic needs a url (or urls)")
		}
		if t.Rate <= 0 || t.Rate > MaxRate {
			at(t.Line, "traffic rate %g: give 0 < rate <= %d requests per second", t.Rate, MaxRate)
		}
		if t.Duration.D() <= 0 || t.Duration.D() > MaxDuration {
			at(t.Line, "traffic duration %v: give 0 < duration <= %v", t.Duration, MaxDuration)
		}
		if t.Timeout.D() < 0 || t.Timeout.D() > 30*time.Second {
			at(t.Line, "traffic timeout %v: at most 30s", t.Timeout)
		}
	}
	if len(sc.Steps) == 0 {
		at(1, "scenario needs at least one step")
	}
	names := map[string]bool{}
	var lastAt time.Duration
	for i := range sc.Steps {
		st := &sc.Steps[i]
		if st.Name != "" {
			if names[st.Name] {
				at(st.Line, "step name %q used twice", st.Name)
			}
			names[st.Name] = true
		}
		if st.At != nil {
			if st.At.D() < lastAt {
				at(st.Line, "at %v is before an earlier step's at %v: steps run in order", st.At, Duration(lastAt))
			}
			lastAt = st.At.D()
		}
		if st.Do != "" {
			need, ok := actions[st.Do]
			if !ok {
				at(st.Line, "unknown action %q%s", st.Do, didYouMean(st.Do, Actions()))
			} else {
				for _, f := range strings.Fields(need) {
					switch {
					case f == "host" && st.Host == "":
						at(st.Line, "%s needs a host", st.Do)
					case f == "peer" && st.Peer == "":
						at(st.Line, "%s needs a peer", st.Do)
					case f == "for" && st.For <= 0:
						at(st.Line, "%s needs a duration in for", st.Do)
					}
				}
				switch st.Do {
				case "kill", "terminate", "freeze", "thaw", "start", "reload":
					if st.Host != "" && !balancers[st.Host] {
						at(st.Line, "%s: %s runs no daemon in this scenario (balancers: %s)", st.Do, st.Host, strings.Join(sortedKeys(balancers), ", "))
					}
				}
				if st.Config != "" && !sc.HasConfig(st.Config) {
					at(st.Line, "config %q is neither in this file's configs nor in the library", st.Config)
				}
			}
		} else if st.Host != "" || st.Peer != "" {
			at(st.Line, "host/peer given but no action (do)")
		}
		if st.At == nil && st.Delay == nil && len(st.After) == 0 && st.Do == "" && len(st.Expect) == 0 {
			at(st.Line, "step does nothing: give at, delay, after, do or expect")
		}
		for j := range st.After {
			sc.validateExpectation(&st.After[j], true, at)
		}
		for j := range st.Expect {
			sc.validateExpectation(&st.Expect[j], false, at)
		}
	}
	for i := range sc.Expect {
		sc.validateExpectation(&sc.Expect[i], false, at)
	}
	if len(probs) > 0 {
		return &Error{Problems: probs}
	}
	return nil
}

func (sc *Scenario) validateExpectation(e *Expectation, condition bool, at func(int, string, ...any)) {
	kinds := e.Kinds()
	switch {
	case len(kinds) == 0:
		at(e.Line, "expectation sets no check (one of vip_owner, vip_on, vrrp, table, page, reach, routes, share, max_outage, max_errors, min_requests)")
		return
	case len(kinds) > 1:
		at(e.Line, "expectation sets %s: give one check per list item", strings.Join(kinds, " and "))
		return
	}
	if condition && e.IsTraffic() {
		at(e.Line, "%s cannot be a condition (ready/after): it is judged from the traffic afterwards", e.Kind())
	}
	if e.IsTraffic() && (e.Within > 0 || e.For > 0) {
		at(e.Line, "within/for apply to state checks, not to %s", e.Kind())
	}
	if e.IsTraffic() && sc.Traffic == nil {
		at(e.Line, "%s needs a traffic block", e.Kind())
	}
	switch e.Kind() {
	case KindVRRP:
		for k, v := range e.VRRP {
			switch v {
			case "MASTER", "BACKUP", "FAULT", "STOP", "INIT", "DOWN":
			default:
				at(e.Line, "vrrp %s: state %q: use MASTER, BACKUP, FAULT, STOP, INIT or DOWN (no daemon)", k, v)
			}
		}
	case KindTable:
		if e.Table.On == "" {
			at(e.Line, "table needs on: BALANCER")
		}
		if len(e.Table.In) == 0 && len(e.Table.Out) == 0 {
			at(e.Line, "table needs in or out")
		}
	case KindPage:
		if e.Page.URL == "" || e.Page.Digest == "" {
			at(e.Line, "page needs url and digest")
		}
	case KindReach:
		if e.Reach.URL == "" {
			at(e.Line, "reach needs url")
		}
	case KindShare:
		s := e.Share
		if s.Server == "" || s.Min < 0 || s.Max > 1 || s.Min > s.Max {
			at(e.Line, "share needs server and 0 <= min <= max <= 1")
		}
	case KindMaxErrors:
		if *e.MaxErrors < 0 {
			at(e.Line, "max_errors must be >= 0")
		}
	}
}

// HasConfig reports whether a config template of that name exists.
func (sc *Scenario) HasConfig(name string) bool {
	_, err := sc.ConfigTemplate(name)
	return err == nil
}

// ConfigTemplate returns a config template: the scenario's own, else the library's.
func (sc *Scenario) ConfigTemplate(name string) (string, error) {
	if t, ok := sc.Configs[name]; ok {
		return t, nil
	}
	if !validName(name) {
		return "", fmt.Errorf("config %q: no such template", name)
	}
	b, err := library.ReadFile("library/configs/" + name + ".conf")
	if err != nil {
		return "", fmt.Errorf("config %q: no such template in %s or the library", name, sc.File)
	}
	return string(b), nil
}

// ConfigNames lists the configs the scenario can use.
func (sc *Scenario) ConfigNames() []string {
	seen := map[string]bool{}
	for k := range sc.Configs {
		seen[k] = true
	}
	entries, _ := fs.ReadDir(library, "library/configs")
	for _, e := range entries {
		seen[strings.TrimSuffix(e.Name(), ".conf")] = true
	}
	return sortedKeys(seen)
}

// Balancer returns the scenario's balancer on host, or nil.
func (sc *Scenario) Balancer(host string) *Balancer {
	for i := range sc.Balancers {
		if sc.Balancers[i].Host == host {
			return &sc.Balancers[i]
		}
	}
	return nil
}

// NeedsDrlb reports whether any balancer runs drlb.
func (sc *Scenario) NeedsDrlb() bool {
	for _, b := range sc.Balancers {
		if b.Daemon == "" || b.Daemon == DaemonDrlb {
			return true
		}
	}
	return false
}

// NeedsKeepalived reports whether any balancer runs keepalived.
func (sc *Scenario) NeedsKeepalived() bool {
	for _, b := range sc.Balancers {
		if b.Daemon == DaemonKeepalived {
			return true
		}
	}
	return false
}

// List returns the names of the library's scenarios, sorted.
func List() []string {
	entries, _ := fs.ReadDir(library, "library")
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	return out
}

// Load returns a library scenario by name, or parses the file at name when
// it ends in .yaml.
func Load(name string, readFile func(string) ([]byte, error)) (*Scenario, error) {
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		if readFile == nil {
			return nil, fmt.Errorf("scenario file %s: no reader", name)
		}
		data, err := readFile(name)
		if err != nil {
			return nil, fmt.Errorf("read scenario: %w", err)
		}
		return Parse(name, data)
	}
	data, err := library.ReadFile(path.Join("library", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no scenario %q%s (see `drlab scenario list`)", name, didYouMean(name, List()))
	}
	sc, err := Parse("library/"+name+".yaml", data)
	if err != nil {
		return nil, err
	}
	if sc.Name != name {
		return nil, fmt.Errorf("library/%s.yaml names itself %q", name, sc.Name)
	}
	return sc, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// knownKeys returns the yaml keys of the struct out points to (nil if out
// is not a pointer to a struct).
func knownKeys(out any) map[string]bool {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	t := v.Elem().Type()
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// suggest returns ` (did you mean "x"?)` for a close candidate.
func didYouMean(name string, candidates []string) string { return suggest.DidYouMean(name, candidates) }

// CheckHosts reports every host the scenario names that the topology lacks
// (balancers, step hosts and peers, hosts in expectations), with lines.
func (sc *Scenario) CheckHosts(spec *topology.Spec) error {
	var probs []string
	check := func(line int, what, host string) {
		if host != "" && spec.Host(host) == nil {
			probs = append(probs, fmt.Sprintf("%s:%d: %s %q is not a host of topology %s%s", sc.File, line, what, host, spec.Name, didYouMean(host, spec.HostNames())))
		}
	}
	checkExp := func(e *Expectation) {
		for key := range e.VRRP {
			host, _, _ := strings.Cut(key, "/")
			check(e.Line, "vrrp host", host)
		}
		if e.VIPOwner != nil {
			for _, h := range e.VIPOwner.Hosts {
				check(e.Line, "vip_owner", h)
			}
		}
		check(e.Line, "vip_on", e.VIPOn)
		for _, h := range e.Routes {
			check(e.Line, "routes", h)
		}
		if e.Table != nil {
			check(e.Line, "table on", e.Table.On)
		}
		if e.Page != nil {
			check(e.Line, "page from", e.Page.From)
		}
		if e.Reach != nil {
			check(e.Line, "reach from", e.Reach.From)
		}
	}
	for _, b := range sc.Balancers {
		check(b.Line, "balancer", b.Host)
	}
	if sc.Traffic != nil {
		check(sc.Traffic.Line, "traffic from", sc.Traffic.From)
	}
	for i := range sc.Ready {
		checkExp(&sc.Ready[i])
	}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		check(st.Line, "host", st.Host)
		check(st.Line, "peer", st.Peer)
		for j := range st.After {
			checkExp(&st.After[j])
		}
		for j := range st.Expect {
			checkExp(&st.Expect[j])
		}
	}
	for i := range sc.Expect {
		checkExp(&sc.Expect[i])
	}
	if len(probs) > 0 {
		sort.Strings(probs)
		return &Error{Problems: probs}
	}
	return nil
}
