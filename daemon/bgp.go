package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/bgp"
	"github.com/drlb/drlb/daemon/config"
)

// Reasons a virtual server's route is or is not announced (api.BGPRoute.Reason).
const (
	RouteQuorum   = "quorum"
	RouteNoQuorum = "no quorum"
	RouteDraining = "draining"
	RouteNotReady = "data plane not ready"
)

// bgpState is the supervisor's BGP speaker and what it announces (part of
// the loop's state).
type bgpState struct {
	speaker bgp.Speaker
	// cfg is the configuration the speaker runs with (positions cleared,
	// for comparison on reload).
	cfg *config.BGP
	// announced are the prefixes handed to the speaker, sorted.
	announced []netip.Prefix
	// routes is the last decision, for status.
	routes []api.BGPRoute
	// draining is set on stop: everything is withdrawn and stays so.
	draining bool
}

// newSpeakerFunc starts a speaker (Daemon.newSpeaker: nil means GoBGP;
// unit tests replace it to record calls).
type newSpeakerFunc func(ctx context.Context, cfg bgp.Config, d *Daemon) (bgp.Speaker, error)

func newGoBGP(ctx context.Context, cfg bgp.Config, d *Daemon) (bgp.Speaker, error) {
	return bgp.New(ctx, cfg, d.log)
}

// SpeakerConfig translates drlb_bgp into the speaker's configuration.
func SpeakerConfig(c *config.BGP) bgp.Config {
	out := bgp.Config{RouterID: c.RouterID, LocalAS: c.LocalAS, ListenPort: c.ListenPort}
	for _, n := range c.Neighbors {
		out.Neighbors = append(out.Neighbors, bgp.Neighbor{Address: n.Address, RemoteAS: n.RemoteAS,
			HoldTime: n.HoldTime, Password: n.Password, Port: n.Port, Passive: n.Passive})
	}
	return out
}

// comparableBGP is c without source positions: a reload that only moves
// the block keeps the speaker and its sessions.
func comparableBGP(c *config.BGP) *config.BGP {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Pos = config.Position{}
	cp.Neighbors = slices.Clone(c.Neighbors)
	for i := range cp.Neighbors {
		cp.Neighbors[i].Pos = config.Position{}
	}
	return &cp
}

// startBGP starts, keeps or restarts the speaker for cfg (in Run before
// the loop, or in the loop on reload; starting GoBGP does not wait on the
// network: sessions come up in the background). A changed drlb_bgp block
// restarts it: the old one withdraws its routes and ends its sessions, the
// next apply announces again.
func (d *Daemon) startBGP(ctx context.Context, cfg *config.Config) error {
	want := comparableBGP(cfg.BGP)
	if reflect.DeepEqual(want, d.st.bgp.cfg) {
		return nil
	}
	d.stopBGP()
	if want == nil || d.opts.VRRPOnly {
		return nil
	}
	newSpeaker := d.newSpeaker
	if newSpeaker == nil {
		newSpeaker = newGoBGP
	}
	sp, err := newSpeaker(ctx, SpeakerConfig(cfg.BGP), d)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d.st.bgp = bgpState{speaker: sp, cfg: want}
	d.log.Info("BGP speaker started", "router_id", cfg.BGP.RouterID, "local_as", cfg.BGP.LocalAS, "neighbors", len(cfg.BGP.Neighbors))
	return nil
}

// stopBGP closes the speaker: its routes are withdrawn and its
// sessions end with a CEASE.
func (d *Daemon) stopBGP() {
	if d.st.bgp.speaker == nil {
		d.st.bgp = bgpState{}
		return
	}
	if err := d.st.bgp.speaker.Close(); err != nil {
		d.log.Error("BGP speaker close", "error", err)
	}
	for _, p := range d.st.bgp.announced {
		d.publish(api.Event{Kind: api.EventBGP, Detail: "BGP withdrawn " + p.String(), Reason: "speaker stopped"})
	}
	d.st.bgp = bgpState{}
}

// BGPRoutes decides, for each virtual server with drlb_bgp_announce, in
// configuration order, whether its host route is announced: while the
// daemon is ready (the data plane holds a table), not draining, and every
// announced service on that address has quorum. A director that cannot
// serve one port of an address does not attract the address; the other
// directors do.
func BGPRoutes(c *config.Config, services map[string]ServiceState, ready, draining bool) []api.BGPRoute {
	var out []api.BGPRoute
	quorum := map[netip.Addr]bool{}
	for vi := range c.VirtualServers {
		vs := &c.VirtualServers[vi]
		if !vs.BGPAnnounce {
			continue
		}
		ss, ok := services[ServiceID(vs)]
		up, seen := quorum[vs.Address]
		quorum[vs.Address] = (up || !seen) && ok && ss.QuorumUp
	}
	for vi := range c.VirtualServers {
		vs := &c.VirtualServers[vi]
		if !vs.BGPAnnounce {
			continue
		}
		r := api.BGPRoute{Prefix: bgp.HostPrefix(vs.Address).String(), Service: ServiceID(vs)}
		switch {
		case draining:
			r.Reason = RouteDraining
		case !ready:
			r.Reason = RouteNotReady
		case !quorum[vs.Address]:
			r.Reason = RouteNoQuorum
		default:
			r.Announced, r.Reason = true, RouteQuorum
		}
		out = append(out, r)
	}
	return out
}

// RouteWaiting is the reason of a route that will be announced when the
// data-plane apply in flight ends.
const RouteWaiting = "waiting for the data plane"

// routeStatus is routes as status shows them: announced is what the
// speaker announces now (a route decided but not yet announced waits for
// the apply in flight).
func routeStatus(routes []api.BGPRoute, announced []netip.Prefix) []api.BGPRoute {
	out := slices.Clone(routes)
	for i := range out {
		now := slices.Contains(announced, netip.MustParsePrefix(out[i].Prefix))
		if out[i].Announced && !now {
			out[i].Reason = RouteWaiting
		}
		out[i].Announced = now
	}
	return out
}

// announcedPrefixes is the set of prefixes routes want announced, sorted.
func announcedPrefixes(routes []api.BGPRoute) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range routes {
		if !r.Announced {
			continue
		}
		p := netip.MustParsePrefix(r.Prefix)
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// syncBGP brings the speaker's announcements in line with the services'
// state: withdrawals first, then announcements. The loop calls it when an
// apply ended. A service is announced only if it had quorum when the
// applied table was decided (the table serves it) and still has it by the
// health now (a health change during the apply may have taken it away).
func (d *Daemon) syncBGP(ctx context.Context) {
	services := d.st.services
	if d.st.bgp.speaker != nil && d.st.cfg != nil {
		services = quorumBoth(services, evaluateServices(d.st.cfg, d.st.health, d.st.services, nil))
	}
	d.syncRoutes(ctx, services, false)
}

// quorumBoth is decided with QuorumUp only where both a and b have it.
func quorumBoth(a, b map[string]ServiceState) map[string]ServiceState {
	out := make(map[string]ServiceState, len(a))
	for id, s := range a {
		s.QuorumUp = s.QuorumUp && b[id].QuorumUp
		out[id] = s
	}
	return out
}

// withdrawBGP withdraws what should no longer be announced given services
// and announces nothing: the loop calls it before a data-plane change, and
// on every health change while an apply runs, so a director that lost a
// service stops attracting it at once, not after a slow apply (a
// scale-out table has 65,537 slots).
func (d *Daemon) withdrawBGP(ctx context.Context, services map[string]ServiceState) {
	d.syncRoutes(ctx, services, true)
}

func (d *Daemon) syncRoutes(ctx context.Context, services map[string]ServiceState, withdrawOnly bool) {
	if d.st.bgp.speaker == nil {
		return
	}
	ready := d.st.applied != nil
	routes := BGPRoutes(d.st.cfg, services, ready, d.st.bgp.draining)
	defer func() { d.st.bgp.routes = routeStatus(routes, d.st.bgp.announced) }()
	reasons := map[string]string{}
	for _, r := range routes {
		if _, ok := reasons[r.Prefix]; !ok || !r.Announced {
			reasons[r.Prefix] = r.Reason
		}
	}
	announce, withdraw := bgp.Plan(d.st.bgp.announced, announcedPrefixes(routes))
	for _, p := range withdraw {
		if err := d.st.bgp.speaker.Withdraw(ctx, p); err != nil {
			d.log.Error("BGP withdraw failed", "prefix", p, "error", err)
			continue
		}
		d.st.bgp.announced = slices.DeleteFunc(d.st.bgp.announced, func(q netip.Prefix) bool { return q == p })
		reason := reasons[p.String()]
		if reason == "" {
			reason = "not announced any more"
		}
		d.log.Info("BGP route withdrawn", "prefix", p, "reason", reason)
		d.publish(api.Event{Kind: api.EventBGP, Detail: "BGP withdrawn " + p.String(), Reason: reason})
	}
	if withdrawOnly {
		return
	}
	for _, p := range announce {
		if err := d.st.bgp.speaker.Announce(ctx, p); err != nil {
			d.log.Error("BGP announce failed", "prefix", p, "error", err)
			continue
		}
		d.st.bgp.announced = append(d.st.bgp.announced, p)
		d.log.Info("BGP route announced", "prefix", p)
		d.publish(api.Event{Kind: api.EventBGP, Detail: "BGP announced " + p.String(), Reason: RouteQuorum})
	}
	slices.SortFunc(d.st.bgp.announced, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
}

// drainRequest asks the loop to withdraw every route for a stop (SIGTERM)
// and to keep them withdrawn; the reply is how long to keep forwarding
// (drain_delay, 0 when nothing was announced).
type drainRequest struct{ reply chan time.Duration }

func (drainRequest) isEvent() {}

// onDrain is drainRequest's handler: routes are withdrawn at once (the
// loop and the data plane keep running meanwhile).
func (d *Daemon) onDrain(ctx context.Context, req drainRequest) {
	var delay time.Duration
	if d.st.bgp.speaker != nil {
		had := len(d.st.bgp.announced) > 0
		d.st.bgp.draining = true
		d.syncBGP(ctx)
		if had && d.st.cfg.BGP != nil {
			delay = d.st.cfg.BGP.DrainDelay
		}
	}
	req.reply <- delay
}

// drainBGP runs when the daemon is told to stop, before anything stops:
// it has the loop withdraw every route first and, when any was announced,
// waits drain_delay while the data plane keeps forwarding, so that the
// routers move flows to the other directors before this one's data plane
// goes (Katran's and GLB's drain). ctx bounds the wait for the loop.
func (d *Daemon) drainBGP(ctx context.Context) {
	req := drainRequest{reply: make(chan time.Duration, 1)}
	select {
	case d.events <- req:
	case <-ctx.Done():
		return
	case <-d.stopped:
		return
	}
	var delay time.Duration
	select {
	case delay = <-req.reply:
	case <-ctx.Done():
		return
	case <-d.stopped:
		return
	}
	if delay <= 0 {
		return
	}
	d.log.Info("BGP routes withdrawn: draining before the data plane stops", "drain_delay", delay)
	d.publish(api.Event{Kind: api.EventBGP, Detail: fmt.Sprintf("BGP routes withdrawn: draining for %s", delay), Reason: RouteDraining})
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// bgpStatus is the BGP part of status (nil without a speaker), from a
// view of the loop's state; the speaker is asked outside the loop.
func bgpStatus(ctx context.Context, v view, log interface{ Warn(string, ...any) }) *api.BGP {
	sp, routes := v.bgpSpeaker, slices.Clone(v.bgpRoutes)
	if sp == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := sp.Status(sctx)
	out := &api.BGP{RouterID: st.RouterID.String(), LocalAS: st.LocalAS, Sessions: []api.BGPSession{}, Routes: routes}
	if out.Routes == nil {
		out.Routes = []api.BGPRoute{}
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("BGP status", "error", err)
	}
	for _, s := range st.Sessions {
		out.Sessions = append(out.Sessions, api.BGPSession{Neighbor: s.Neighbor.String(), RemoteAS: s.RemoteAS, State: string(s.State),
			Since: s.Since, HoldTime: s.HoldTime, UpdatesSent: s.UpdatesSent, UpdatesReceived: s.UpdatesReceived, LastError: s.LastError})
	}
	return out
}

var (
	descBGPSession = prometheus.NewDesc("drlb_bgp_session_established", "Whether a BGP session is Established (1) or not (0).", []string{"neighbor"}, nil)
	descBGPUpdates = prometheus.NewDesc("drlb_bgp_updates_sent_total", "BGP UPDATE messages sent to a neighbor.", []string{"neighbor"}, nil)
	descBGPRoute   = prometheus.NewDesc("drlb_bgp_route_announced", "Whether a virtual server's host route is announced (1) or withdrawn (0).", []string{"prefix", "service"}, nil)
)

// bgpCollector exports the speaker's state at scrape time.
type bgpCollector struct{ d *Daemon }

// Describe implements prometheus.Collector.
func (c bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBGPSession
	ch <- descBGPUpdates
	ch <- descBGPRoute
}

// Collect implements prometheus.Collector.
func (c bgpCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ok := c.d.view(ctx, false)
	if !ok {
		return
	}
	st := bgpStatus(ctx, v, c.d.log)
	if st == nil {
		return
	}
	for _, s := range st.Sessions {
		up := 0.0
		if s.State == string(bgp.StateEstablished) {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descBGPSession, prometheus.GaugeValue, up, s.Neighbor)
		ch <- prometheus.MustNewConstMetric(descBGPUpdates, prometheus.CounterValue, float64(s.UpdatesSent), s.Neighbor)
	}
	for _, r := range st.Routes {
		v := 0.0
		if r.Announced {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descBGPRoute, prometheus.GaugeValue, v, r.Prefix, r.Service)
	}
}
