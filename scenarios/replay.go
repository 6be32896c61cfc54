package scenarios

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Printer renders timeline events for people: one line per event, the
// narration under it, each host's state when it changes, and one traffic
// line per second instead of every request. The same events always give
// the same output.
type Printer struct {
	w        io.Writer
	err      error // the first write error
	narrate  bool
	narrator *Narrator
	hosts    map[string]*hostState
	lastLine string

	bucket    int
	inBucket  bool
	bucketOK  map[string]int
	bucketErr int
}

type hostState struct {
	daemon string // running, killed, stopped, frozen
	vrrp   string
	vip    bool
	web    string          // "", down, slow
	page   string          // "", altered
	link   string          // "", down
	cut    bool            // partitioned
	downAt map[string]bool // balancers whose checker says this real server is down
}

// NewPrinter prints to w, with narration if narrate.
func NewPrinter(w io.Writer, narrate bool) *Printer {
	return &Printer{w: w, narrate: narrate, narrator: NewNarrator(), hosts: map[string]*hostState{}, bucketOK: map[string]int{}}
}

// Print renders one event.
func (p *Printer) Print(ev Event) {
	if ev.Kind == EvAdvert || ev.Kind == EvTable {
		return // samples for the training report; dataplane events say the same
	}
	if ev.Kind == EvRequest {
		b := int(math.Floor(ev.T))
		if p.inBucket && b > p.bucket {
			p.flushBucket()
		}
		if !p.inBucket {
			p.bucket, p.inBucket = b, true
		}
		if ev.OK != nil && *ev.OK {
			p.bucketOK[ev.ServedBy]++
		} else {
			p.bucketErr++
		}
		return
	}
	if p.inBucket && (int(math.Floor(ev.T)) > p.bucket || ev.Kind == EvEnd) {
		p.flushBucket()
	}
	switch ev.Kind {
	case EvScenario:
		p.printf("scenario %s\n", ev.Scenario)
	case EvExpectation:
		mark := "FAIL"
		if ev.Met != nil && *ev.Met {
			mark = "ok  "
		}
		p.printf("%9.3fs %-6s %-11s %s %s: measured %s, bound %s\n", ev.T, orDash(ev.Host), ev.Kind, mark, ev.Text, ev.Measured, ev.Bound)
	default:
		p.printf("%9.3fs %-6s %-11s %s\n", ev.T, orDash(ev.Host), ev.Kind, ev.Text)
	}
	if p.narrate {
		if n := p.narrator.Narrate(ev); n != "" {
			for _, line := range wrap(n, 88) {
				p.printf("           ↳ %s\n", line)
			}
		}
	}
	if p.apply(ev) {
		if line := p.stateLine(); line != p.lastLine {
			p.printf("           state: %s\n", line)
			p.lastLine = line
		}
	}
}

// printf writes to the output, keeping the first error for Err.
func (p *Printer) printf(format string, a ...any) {
	if p.err != nil {
		return
	}
	if _, err := fmt.Fprintf(p.w, format, a...); err != nil {
		p.err = fmt.Errorf("print timeline: %w", err)
	}
}

// Err returns the first error writing the output.
func (p *Printer) Err() error { return p.err }

// Flush prints the pending traffic line.
func (p *Printer) Flush() {
	if p.inBucket {
		p.flushBucket()
	}
}

func (p *Printer) flushBucket() {
	var parts []string
	total := 0
	for _, s := range sortedKeys(p.bucketOK) {
		parts = append(parts, fmt.Sprintf("%s %d", s, p.bucketOK[s]))
		total += p.bucketOK[s]
	}
	served := ""
	if len(parts) > 0 {
		served = " (" + strings.Join(parts, ", ") + ")"
	}
	bar := strings.Repeat("#", total) + strings.Repeat("x", p.bucketErr)
	p.printf("%8ds+ %-6s %-11s %d answered%s, %d failed  %s\n", p.bucket, "client", "traffic", total, served, p.bucketErr, bar)
	p.inBucket = false
	p.bucketOK = map[string]int{}
	p.bucketErr = 0
}

func (p *Printer) host(name string) *hostState {
	h, ok := p.hosts[name]
	if !ok {
		h = &hostState{}
		p.hosts[name] = h
	}
	return h
}

// apply updates host states; it reports whether the event can change them.
func (p *Printer) apply(ev Event) bool {
	switch ev.Kind {
	case EvDaemon:
		h := p.host(ev.Host)
		switch ev.Action {
		case "start":
			h.daemon = "running"
		case "exit":
			if h.daemon == "running" || h.daemon == "frozen" {
				h.daemon = "exited"
			}
			h.vrrp = ""
		}
		return true
	case EvVRRP:
		p.host(ev.Host).vrrp = ev.To
		return true
	case EvHealth:
		if ev.Server == "" || ev.Up == nil {
			return false
		}
		h := p.host(ev.Server)
		if h.downAt == nil {
			h.downAt = map[string]bool{}
		}
		if *ev.Up {
			delete(h.downAt, ev.Host)
		} else {
			h.downAt[ev.Host] = true
		}
		return true
	case EvVIP:
		owners := map[string]bool{}
		for _, o := range ev.Owners {
			owners[o] = true
			p.host(o)
		}
		for name, h := range p.hosts {
			h.vip = owners[name]
		}
		return true
	case EvStep:
		h := p.host(ev.Host)
		switch ev.Action {
		case "kill":
			h.daemon, h.vrrp = "killed", ""
		case "terminate":
			h.daemon, h.vrrp = "stopped", ""
		case "freeze":
			h.daemon = "frozen"
		case "thaw", "start":
			h.daemon = "running"
		case "web-stop":
			h.web = "down"
		case "web-start":
			h.web = ""
		case "slow":
			h.web = "slow"
			if ev.Text != "" && strings.HasSuffix(ev.Text, " 0s") {
				h.web = ""
			}
		case "page-set":
			h.page = "altered"
		case "page-reset":
			h.page = ""
		case "link-down":
			h.link = "down"
		case "link-up":
			h.link = ""
		case "partition":
			h.cut = true
			p.host(ev.Peer).cut = true
		case "heal":
			h.cut = false
			p.host(ev.Peer).cut = false
		default:
			return false
		}
		if ev.Host == "" {
			delete(p.hosts, "")
		}
		return true
	}
	return false
}

func (p *Printer) stateLine() string {
	names := make([]string, 0, len(p.hosts))
	for n := range p.hosts {
		if n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		h := p.hosts[n]
		var attrs []string
		if h.daemon != "" && h.daemon != "running" {
			attrs = append(attrs, "daemon "+h.daemon)
		}
		if h.vrrp != "" {
			attrs = append(attrs, h.vrrp)
		}
		if h.vip {
			attrs = append(attrs, "VIP")
		}
		if h.link != "" {
			attrs = append(attrs, "link "+h.link)
		}
		if h.cut {
			attrs = append(attrs, "partitioned")
		}
		if h.web != "" {
			attrs = append(attrs, "web "+h.web)
		}
		if h.page != "" {
			attrs = append(attrs, "page "+h.page)
		}
		if len(h.downAt) > 0 {
			attrs = append(attrs, "down for "+strings.Join(sortedKeys(h.downAt), ","))
		}
		if len(attrs) == 0 {
			attrs = append(attrs, "ok")
		}
		parts = append(parts, n+" "+strings.Join(attrs, " "))
	}
	return strings.Join(parts, " | ")
}

// Replay prints a recorded timeline: events, narration and host states.
// With speed > 0 it waits between events (speed 2 plays twice as fast)
// using sleep; speed 0 prints at once. The output depends only on events.
// It returns the first write error.
func Replay(events []Event, w io.Writer, speed float64, sleep func(time.Duration)) error {
	p := NewPrinter(w, true)
	var prev float64
	for i, ev := range events {
		if speed > 0 && i > 0 && ev.T > prev && sleep != nil {
			sleep(time.Duration((ev.T - prev) / speed * float64(time.Second)))
		}
		if ev.T > prev || i == 0 {
			prev = ev.T
		}
		p.Print(ev)
	}
	p.Flush()
	return p.Err()
}

// wrap splits s into lines of at most width runes, on spaces.
func wrap(s string, width int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		line := ""
		for _, w := range words {
			if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
				out = append(out, line)
				line = w
				continue
			}
			if line == "" {
				line = w
			} else {
				line += " " + w
			}
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}
