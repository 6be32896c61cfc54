package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/topology"
)

// StatusInterval is how often a running drlb's status is sampled for the
// timeline's table, advert and priority events. Adverts are therefore placed
// on the timeline to within this interval.
const StatusInterval = 100 * time.Millisecond

// StatusEvents compares two samples of one drlb's status and returns the
// timeline events that say what changed: the forwarding table (EvTable, all
// real servers), the adverts sent and received in between (EvAdvert) and
// effective priorities (EvPriority). prev nil is the first sample: it
// yields the table and the priorities but no adverts (the counters started
// before). addrs maps host names to addresses, to name real servers.
func StatusEvents(host string, prev, cur *api.Status, addrs map[string]string) []Event {
	var out []Event
	reals := TableOf(cur, addrs)
	if prev == nil || !slices.EqualFunc(TableOf(prev, addrs), reals, sameState) {
		parts := make([]string, 0, len(reals))
		for _, r := range reals {
			parts = append(parts, r.Server+" "+r.State())
		}
		text := "table: " + strings.Join(parts, ", ")
		if len(reals) == 0 {
			text = "table: empty"
		}
		out = append(out, Event{Kind: EvTable, Host: host, Reals: reals, Text: text})
	}
	before := map[string]api.Instance{}
	if prev != nil {
		for _, in := range prev.Instances {
			before[in.Name] = in
		}
	}
	for _, in := range cur.Instances {
		old, seen := before[in.Name]
		if seen && in.AdvertsSent >= old.AdvertsSent && in.AdvertsReceived >= old.AdvertsReceived {
			sent, recv := int(in.AdvertsSent-old.AdvertsSent), int(in.AdvertsReceived-old.AdvertsReceived)
			if sent > 0 || recv > 0 {
				out = append(out, Event{Kind: EvAdvert, Host: host, Instance: in.Name, Sent: sent, Received: recv,
					Text: fmt.Sprintf("(%s) adverts: %d sent, %d received", in.Name, sent, recv)})
			}
		}
		if !seen || old.EffectivePriority != in.EffectivePriority {
			out = append(out, Event{Kind: EvPriority, Host: host, Instance: in.Name, Priority: in.EffectivePriority,
				Text: fmt.Sprintf("(%s) effective priority %d", in.Name, in.EffectivePriority)})
		}
	}
	return out
}

// sameState compares two table entries without their check result text,
// which changes with every check (a latency, a count) but moves nothing.
func sameState(a, b TableReal) bool {
	a.Reason, b.Reason = "", ""
	return a == b
}

// TableOf lists the real servers of a status, in status order.
func TableOf(st *api.Status, addrs map[string]string) []TableReal {
	var out []TableReal
	for _, svc := range st.Services {
		for _, r := range svc.Reals {
			out = append(out, TableReal{Server: HostOfAddr(r.Address, addrs), Address: r.Address, Service: svc.Address,
				Weight: r.Weight, InTable: r.InTable, Healthy: r.Healthy, Reason: r.LastReason})
		}
	}
	return out
}

// State is the real server's place in the table: "in", "weight 0"
// (in the table, but no new connections) or "out".
func (t TableReal) State() string {
	switch {
	case !t.InTable:
		return "out"
	case t.Weight == 0:
		return "weight 0"
	}
	return "in"
}

// sampleStatus records host's table, adverts and priorities every
// StatusInterval while its drlb runs. A frozen daemon does not answer: the
// samples stop until it is thawed.
func (r *run) sampleStatus(ctx context.Context, host string, proc *topology.Process) {
	var prev *api.Status
	for !proc.Exited() {
		st, err := r.status(ctx, host)
		if err == nil {
			at := time.Now()
			for _, ev := range StatusEvents(host, prev, st, r.vals.Addrs) {
				r.add(at, ev)
			}
			prev = st
		}
		if waitUntil(ctx, time.Now().Add(StatusInterval)) != nil {
			return
		}
	}
}
