package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// InstanceParams are the VRRP settings of one vrrp_instance that matter to a
// trainee's understanding of the timing.
type InstanceParams struct {
	Name      string
	State     string
	Priority  int
	AdvertInt float64 // seconds
	Version   int
	Nopreempt bool
}

// MasterDownInterval is how long a backup waits without adverts before it
// takes over: 3 × advert_int + skew, where skew is (256−priority)/256 s in
// VRRPv2 and (256−priority) × advert_int / 256 in VRRPv3.
func (p InstanceParams) MasterDownInterval() float64 {
	return 3*p.AdvertInt + p.Skew()
}

// Skew is the part of MasterDownInterval that lets the highest priority win.
func (p InstanceParams) Skew() float64 {
	if p.Version == 3 {
		return float64(256-p.Priority) * p.AdvertInt / 256
	}
	return float64(256-p.Priority) / 256
}

// Formula spells MasterDownInterval out for a trainee.
func (p InstanceParams) Formula() string {
	if p.Version == 3 {
		return fmt.Sprintf("3 × %g s + (256 − %d) × %g s / 256 = %.3f s", p.AdvertInt, p.Priority, p.AdvertInt, p.MasterDownInterval())
	}
	return fmt.Sprintf("3 × %g s + (256 − %d)/256 s = %.2f s", p.AdvertInt, p.Priority, p.MasterDownInterval())
}

var (
	instanceRE = regexp.MustCompile(`^\s*vrrp_instance\s+(\S+?)\s*\{?\s*$`)
	keyRE      = regexp.MustCompile(`^\s*(state|priority|advert_int|version|vrrp_version|nopreempt)\b\s*(\S*)`)
)

// ScanInstances reads the VRRP settings of each vrrp_instance from a
// keepalived.conf text, with keepalived's defaults (priority 100,
// advert_int 1, version 2). It is a light scan for narration, not a parser:
// the daemon's parser judges the file.
func ScanInstances(conf string) []InstanceParams {
	var out []InstanceParams
	globalVersion := 2
	depth := 0
	cur := -1
	for _, raw := range strings.Split(conf, "\n") {
		line, _, _ := strings.Cut(raw, "#")
		line, _, _ = strings.Cut(line, "!")
		if m := instanceRE.FindStringSubmatch(line); m != nil && depth == 0 {
			out = append(out, InstanceParams{Name: strings.TrimSuffix(m[1], "{"), Priority: 100, AdvertInt: 1, Version: 0})
			cur = len(out) - 1
		} else if m := keyRE.FindStringSubmatch(line); m != nil {
			key, val := m[1], m[2]
			if key == "vrrp_version" {
				if v, err := strconv.Atoi(val); err == nil {
					globalVersion = v
				}
			} else if cur >= 0 && depth == 1 {
				p := &out[cur]
				switch key {
				case "state":
					p.State = val
				case "priority":
					if v, err := strconv.Atoi(val); err == nil {
						p.Priority = v
					}
				case "advert_int":
					if v, err := strconv.ParseFloat(val, 64); err == nil && v > 0 {
						p.AdvertInt = v
					}
				case "version":
					if v, err := strconv.Atoi(val); err == nil {
						p.Version = v
					}
				case "nopreempt":
					p.Nopreempt = true
				}
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth <= 0 {
			depth = 0
			cur = -1
		}
	}
	for i := range out {
		if out[i].Version == 0 {
			out[i].Version = globalVersion
		}
	}
	return out
}

// Narrator explains timeline events for a trainee. It keeps what it has
// seen (daemon settings, the last failure) to explain what comes next, so
// the same events always give the same narration.
type Narrator struct {
	params map[string]InstanceParams // by host
	// lastLoss is the latest event that silenced a master: host, action, time.
	lossHost, lossAction string
	lossT                float64
	owners               []string
	// silent are hosts whose daemon is dead or frozen (their kernel may
	// still hold what the daemon configured).
	silent map[string]string
	// over is set at teardown: what follows is cleanup, not the lesson.
	over bool
}

// NewNarrator returns a narrator with no history.
func NewNarrator() *Narrator {
	return &Narrator{params: map[string]InstanceParams{}, silent: map[string]string{}}
}

// Narrate returns the explanation of ev ("" when there is nothing to add).
func (n *Narrator) Narrate(ev Event) string {
	if ev.Kind == EvTeardown {
		n.over = true
		return "The scenario is over; the daemons are stopped and what follows is cleanup."
	}
	if n.over && ev.Kind != EvOutage {
		return ""
	}
	switch ev.Kind {
	case EvScenario:
		return strings.TrimSpace(ev.Description)
	case EvDaemon:
		if ev.Priority > 0 {
			p := InstanceParams{Priority: ev.Priority, AdvertInt: ev.AdvertInt, Version: ev.Version}
			n.params[ev.Host] = p
			s := fmt.Sprintf("%s runs %s: VRRPv%d, priority %d, an advert every %g s. As a backup it would wait Master_Down_Interval = %s without adverts before taking over.",
				ev.Host, ev.Daemon, p.Version, p.Priority, p.AdvertInt, p.Formula())
			if ev.Preempt != nil && !*ev.Preempt {
				s += " nopreempt: once backup, it does not take the VIP back from a lower-priority master."
			}
			return s
		}
		if ev.Action == "exit" {
			if _, known := n.silent[ev.Host]; !known {
				n.silent[ev.Host] = "exited"
			}
			return fmt.Sprintf("%s's daemon is gone: no more adverts. What it put in the kernel (a VIP, forwarding rules) stays until something removes it.", ev.Host)
		}
		if ev.Action == "start" {
			delete(n.silent, ev.Host)
		}
		return ""
	case EvReady:
		return "Everything is in place; the client starts its requests now (time 0)."
	case EvStep:
		return n.narrateStep(ev)
	case EvVRRP:
		return n.narrateVRRP(ev)
	case EvVIP:
		return n.narrateVIP(ev)
	case EvHealth:
		if ev.Up != nil && *ev.Up {
			return fmt.Sprintf("%s's checker sees %s healthy again: it goes back into the table and gets new connections.", ev.Host, ev.Server)
		}
		return fmt.Sprintf("%s's checker declares %s down (%s): it leaves the table, so new connections go to the others. Established ones are not moved.", ev.Host, ev.Server, orDash(ev.Reason))
	case EvReload:
		return fmt.Sprintf("%s re-read its configuration: only the difference is applied; unchanged servers keep their health state and the VIP does not move.", ev.Host)
	case EvOutage:
		return "During this window no client request got an answer."
	case EvExpectation:
		return ""
	}
	return ""
}

func (n *Narrator) narrateStep(ev Event) string {
	if ev.Explain != "" {
		s := strings.TrimSpace(ev.Explain)
		n.noteLoss(ev)
		return s
	}
	n.noteLoss(ev)
	switch ev.Action {
	case "kill":
		return fmt.Sprintf("SIGKILL: %s's daemon dies at once and says no goodbye. The backup only notices the silence.", ev.Host)
	case "terminate":
		return fmt.Sprintf("SIGTERM: %s's daemon shuts down cleanly; it sends a priority-0 advert so the backup takes over at once (after its skew).", ev.Host)
	case "freeze":
		return fmt.Sprintf("SIGSTOP: %s's daemon is frozen, alive but silent, like a hung process. Its VIP stays configured.", ev.Host)
	case "thaw":
		return fmt.Sprintf("SIGCONT: %s's daemon resumes where it stopped; it may still believe it is master.", ev.Host)
	case "start":
		return fmt.Sprintf("%s's daemon starts again.", ev.Host)
	case "link-down":
		return fmt.Sprintf("%s's network link goes down: it can neither send adverts nor forward.", ev.Host)
	case "link-up":
		return fmt.Sprintf("%s's link is back.", ev.Host)
	case "partition":
		return fmt.Sprintf("VRRP between %s and %s is dropped both ways: each thinks the other died.", ev.Host, ev.Peer)
	case "heal":
		return fmt.Sprintf("VRRP flows again between %s and %s: the higher priority keeps the VIP, the other steps back.", ev.Host, ev.Peer)
	case "page-set":
		return fmt.Sprintf("%s's test page changes: its MD5 no longer matches the digest in the config.", ev.Host)
	case "page-reset":
		return fmt.Sprintf("%s's test page is restored: the digest matches again.", ev.Host)
	case "web-stop":
		return fmt.Sprintf("%s's web server stops: connections to port 80 are refused.", ev.Host)
	case "web-start":
		return fmt.Sprintf("%s's web server is back.", ev.Host)
	case "reload":
		return fmt.Sprintf("%s gets a new configuration file and SIGHUP.", ev.Host)
	}
	return ""
}

// noteLoss remembers the last event that silences a master, to explain the takeover.
func (n *Narrator) noteLoss(ev Event) {
	switch ev.Action {
	case "kill", "terminate", "freeze":
		n.silent[ev.Host] = actionNoun(ev.Action)
	case "thaw", "start":
		delete(n.silent, ev.Host)
	}
	switch ev.Action {
	case "kill", "terminate", "freeze", "link-down", "partition":
		n.lossHost, n.lossAction, n.lossT = ev.Host, ev.Action, ev.T
	}
}

func (n *Narrator) narrateVRRP(ev Event) string {
	switch ev.To {
	case "MASTER":
		p, ok := n.params[ev.Host]
		if n.lossHost == "" || n.lossHost == ev.Host || !ok {
			if ok {
				return fmt.Sprintf("%s is MASTER: it holds the VIP, answers ARP for it (gratuitous ARPs tell the LAN) and sends an advert every %g s.", ev.Host, p.AdvertInt)
			}
			return fmt.Sprintf("%s is MASTER: it holds the VIP and sends adverts.", ev.Host)
		}
		waited := ev.T - n.lossT
		host, action := n.lossHost, n.lossAction
		n.lossHost = ""
		switch action {
		case "terminate":
			return fmt.Sprintf("%s became MASTER %.2f s after %s was stopped: %s's goodbye advert (priority 0) let it skip the Master_Down_Interval and wait only its skew, (256 − %d)/256 × %g s = %.2f s.",
				ev.Host, waited, host, host, p.Priority, skewUnit(p), p.Skew())
		case "partition":
			return fmt.Sprintf("%s became MASTER %.2f s after the partition: it no longer hears %s, waited Master_Down_Interval = %s, and now both may hold the VIP (split brain).",
				ev.Host, waited, host, p.Formula())
		}
		return fmt.Sprintf("%s became MASTER %.2f s after %s's %s. A backup waits Master_Down_Interval = %s after the last advert it heard; %s's last advert came up to %g s before the %s, hence %.2f s.",
			ev.Host, waited, host, actionNoun(action), p.Formula(), host, p.AdvertInt, actionNoun(action), waited)
	case "BACKUP":
		if ev.From == "MASTER" {
			return fmt.Sprintf("%s steps down to BACKUP: it heard a master with higher priority (or a higher address at equal priority) and releases the VIP.", ev.Host)
		}
		return fmt.Sprintf("%s is BACKUP: it listens for the master's adverts and holds no VIP.", ev.Host)
	case "FAULT":
		return fmt.Sprintf("%s enters FAULT: its interface is down, so it cannot be master and drops the VIP.", ev.Host)
	case "STOP", "INIT":
		return fmt.Sprintf("%s's instance leaves service (%s).", ev.Host, ev.To)
	}
	return ""
}

func skewUnit(p InstanceParams) float64 {
	if p.Version == 3 {
		return p.AdvertInt
	}
	return 1
}

func actionNoun(action string) string {
	switch action {
	case "kill":
		return "kill -9"
	case "freeze":
		return "SIGSTOP"
	case "link-down":
		return "link loss"
	}
	return action
}

func (n *Narrator) narrateVIP(ev Event) string {
	prev := n.owners
	n.owners = ev.Owners
	switch len(ev.Owners) {
	case 0:
		if len(prev) > 0 {
			return "Nobody holds the VIP now: the client's packets to it go nowhere until a backup takes over."
		}
		return "Nobody holds the VIP yet."
	case 1:
		return fmt.Sprintf("%s now holds the VIP on eth1 and answers ARP for it; the client's traffic reaches the real servers through it.", ev.Owners[0])
	}
	var stale, live []string
	for _, o := range ev.Owners {
		if _, ok := n.silent[o]; ok {
			stale = append(stale, o)
		} else {
			live = append(live, o)
		}
	}
	if len(stale) > 0 && len(live) == 1 {
		return fmt.Sprintf("%s holds the VIP only because its dead daemon left it configured (nobody removed it); %s is the real master and its gratuitous ARPs point the LAN at it.", strings.Join(stale, " and "), live[0])
	}
	return fmt.Sprintf("SPLIT BRAIN: %s all hold the VIP. The LAN's ARP caches point at whichever announced last.", strings.Join(ev.Owners, " and "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
