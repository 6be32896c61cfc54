package scenarios

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Observation is what the engine saw of the lab at one moment (state
// checks) or over a phase (Requests, for traffic checks).
type Observation struct {
	VIPOwners []string
	// VRRP maps a balancer to its instances' states.
	VRRP map[string]HostVRRP
	// Tables maps a balancer to its forwarding table.
	Tables map[string]TableObs
	// Pages maps "from url" to the fetched body's digest.
	Pages map[string]Fetch
	// Reach maps "from url" to the fetch result.
	Reach map[string]Fetch
	// Routes are the hosts the router's route to the VIP leads to.
	Routes []string
	// Requests are the traffic of the phase judged.
	Requests []Request
	// Addrs maps host names to addresses (for table references).
	Addrs map[string]string
}

// HostVRRP is a balancer's VRRP state as seen from outside.
type HostVRRP struct {
	// Down is true when no daemon runs on the host.
	Down bool
	// Err says why the state could not be read (a frozen daemon).
	Err string
	// Instances maps instance name to state.
	Instances map[string]string
}

// TableObs is a balancer's forwarding table.
type TableObs struct {
	Err   string
	Reals []RealObs
}

// RealObs is one real server of a table.
type RealObs struct {
	Address string // IP:PORT
	InTable bool
	Healthy bool
}

// Fetch is the outcome of one probe request.
type Fetch struct {
	OK       bool
	Err      string
	ServedBy string
	Digest   string
}

// FetchKey indexes Observation.Pages and Reach.
func FetchKey(from, url string) string {
	if from == "" {
		from = "client"
	}
	return from + " " + url
}

// Verdict is the judgement of one expectation.
type Verdict struct {
	// Expectation is its label; Scope says where it was checked (ready,
	// a step, end) and Line where it is written.
	Expectation string `json:"expectation"`
	Kind        string `json:"kind"`
	Scope       string `json:"scope"`
	Line        int    `json:"line"`
	Met         bool   `json:"met"`
	Measured    string `json:"measured"`
	Bound       string `json:"bound"`
}

// Evaluate judges e against obs. It is pure: the engine gathers obs.
func Evaluate(e *Expectation, obs Observation) Verdict {
	v := Verdict{Expectation: e.Label(), Kind: e.Kind(), Line: e.Line}
	switch e.Kind() {
	case KindVIPOwner:
		owners := append([]string(nil), obs.VIPOwners...)
		sort.Strings(owners)
		v.Measured = ownersText(owners)
		v.Bound = e.VIPOwner.String()
		if e.VIPOwner.Any {
			v.Met = len(owners) == 1
		} else {
			v.Met = strings.Join(owners, ",") == strings.Join(e.VIPOwner.Hosts, ",")
		}
	case KindRoutes:
		got := slices.Sorted(slices.Values(obs.Routes))
		want := slices.Sorted(slices.Values(e.Routes))
		v.Measured, v.Bound = routesText(got), routesText(want)
		v.Met = slices.Equal(got, want)
	case KindVIPOn:
		v.Measured = ownersText(obs.VIPOwners)
		v.Bound = "includes " + e.VIPOn
		for _, o := range obs.VIPOwners {
			if o == e.VIPOn {
				v.Met = true
			}
		}
	case KindVRRP:
		v.Met = true
		var measured, bound []string
		for _, key := range sortedKeys(e.VRRP) {
			want := e.VRRP[key]
			host, inst, _ := strings.Cut(key, "/")
			got := vrrpState(obs.VRRP[host], inst)
			measured = append(measured, key+" "+got)
			bound = append(bound, key+" "+want)
			if got != want {
				v.Met = false
			}
		}
		v.Measured, v.Bound = strings.Join(measured, ", "), strings.Join(bound, ", ")
	case KindTable:
		t, ok := obs.Tables[e.Table.On]
		switch {
		case !ok:
			v.Measured = "no table read from " + e.Table.On
		case t.Err != "":
			v.Measured = t.Err
		default:
			v.Met = true
			var in []string
			for _, r := range t.Reals {
				if r.InTable {
					in = append(in, HostOfAddr(r.Address, obs.Addrs))
				}
			}
			sort.Strings(in)
			v.Measured = "in table: " + orNone(in)
			for _, ref := range e.Table.In {
				if !tableHas(t, ResolveServer(ref, obs.Addrs)) {
					v.Met = false
				}
			}
			for _, ref := range e.Table.Out {
				if tableHas(t, ResolveServer(ref, obs.Addrs)) {
					v.Met = false
				}
			}
		}
		var b []string
		if len(e.Table.In) > 0 {
			b = append(b, "in: "+strings.Join(e.Table.In, ","))
		}
		if len(e.Table.Out) > 0 {
			b = append(b, "out: "+strings.Join(e.Table.Out, ","))
		}
		v.Bound = strings.Join(b, "; ")
	case KindPage:
		f, ok := obs.Pages[FetchKey(e.Page.From, e.Page.URL)]
		v.Bound = "digest " + e.Page.Digest
		if !e.Page.Matches {
			v.Bound = "digest differs from " + e.Page.Digest
		}
		switch {
		case !ok:
			v.Measured = "not fetched"
		case !f.OK:
			v.Measured = "fetch failed: " + f.Err
			v.Met = !e.Page.Matches // a page that cannot be fetched does not match
		default:
			v.Measured = "digest " + f.Digest
			v.Met = (f.Digest == e.Page.Digest) == e.Page.Matches
		}
	case KindReach:
		f, ok := obs.Reach[FetchKey(e.Reach.From, e.Reach.URL)]
		switch {
		case !ok:
			v.Measured = "not fetched"
		case !f.OK:
			v.Measured = "failed: " + f.Err
		default:
			v.Measured = "answered by " + f.ServedBy
		}
		switch {
		case !e.Reach.OK:
			v.Bound = "fails"
			v.Met = ok && !f.OK
		case e.Reach.ServedBy != "":
			v.Bound = "answered by " + e.Reach.ServedBy
			v.Met = ok && f.OK && f.ServedBy == e.Reach.ServedBy
		default:
			v.Bound = "answers"
			v.Met = ok && f.OK
		}
	case KindShare:
		d := Distribute(obs.Requests)
		share := d.Share(e.Share.Server)
		v.Measured = fmt.Sprintf("%.2f (%d of %d answered)", share, d.ByServer[e.Share.Server], d.OK)
		v.Bound = fmt.Sprintf("[%.2f, %.2f]", e.Share.Min, e.Share.Max)
		v.Met = d.OK > 0 && share >= e.Share.Min-1e-9 && share <= e.Share.Max+1e-9
		if d.OK == 0 {
			v.Measured = "no successful request in this phase"
		}
	case KindMaxOutage:
		longest := LongestOutage(obs.Requests)
		v.Measured = secs(longest)
		v.Bound = "<= " + secs(e.MaxOutage.D())
		v.Met = len(obs.Requests) > 0 && longest <= e.MaxOutage.D()
		if len(obs.Requests) == 0 {
			v.Measured = "no requests in this phase"
		}
	case KindMaxErrors:
		d := Distribute(obs.Requests)
		v.Measured = fmt.Sprintf("%d of %d", d.Errors, d.Total)
		v.Bound = fmt.Sprintf("<= %d", *e.MaxErrors)
		v.Met = d.Errors <= *e.MaxErrors
	case KindMinRequests:
		v.Measured = fmt.Sprintf("%d", len(obs.Requests))
		v.Bound = fmt.Sprintf(">= %d", *e.MinRequests)
		v.Met = len(obs.Requests) >= *e.MinRequests
	default:
		v.Measured = "invalid expectation"
	}
	return v
}

// vrrpState is a host's state for inst ("" = every instance, which must agree).
func vrrpState(h HostVRRP, inst string) string {
	switch {
	case h.Down:
		return "DOWN"
	case h.Err != "":
		return "UNREACHABLE"
	case inst != "":
		if s, ok := h.Instances[inst]; ok {
			return s
		}
		return "NO-INSTANCE"
	case len(h.Instances) == 0:
		return "NO-INSTANCE"
	}
	states := map[string]bool{}
	for _, s := range h.Instances {
		states[s] = true
	}
	if len(states) == 1 {
		for s := range states {
			return s
		}
	}
	var parts []string
	for _, name := range sortedKeys(h.Instances) {
		parts = append(parts, name+"="+h.Instances[name])
	}
	return "MIXED(" + strings.Join(parts, ",") + ")"
}

func tableHas(t TableObs, prefix string) bool {
	for _, r := range t.Reals {
		if r.InTable && (r.Address == prefix || strings.HasPrefix(r.Address, prefix)) {
			return true
		}
	}
	return false
}

func ownersText(owners []string) string {
	if len(owners) == 0 {
		return "none"
	}
	return strings.Join(owners, "+")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

func routesText(hosts []string) string {
	if len(hosts) == 0 {
		return "no route"
	}
	return "via " + strings.Join(hosts, ",")
}
