package vrrp

import (
	"context"
	"fmt"
	"time"
)

// initialLinkState reads the tracked interfaces once before startup, so
// that an instance whose interface is down starts in FAULT.
func (n *Node) initialLinkState(i int) {
	in := n.insts[i]
	for k := range 1 + len(in.cfg.TrackInterfaces) {
		up, err := n.opts.LinkUp(in.trackers[k].name)
		if err != nil {
			n.log.Warn(fmt.Sprintf("(%s) cannot read interface %s", in.cfg.Name, in.trackers[k].name), "instance", in.cfg.Name, "err", err)
		}
		in.trackers[k].ok = up && err == nil
	}
}

// pollLinks reports tracked interface changes of instance i. Polling keeps
// it namespace-agnostic (one netlink handle); a change is seen within
// DefaultLinkPollInterval.
func (n *Node) pollLinks(ctx context.Context, i int, out chan<- trackIn) {
	in := n.insts[i]
	names := make([]string, 1+len(in.cfg.TrackInterfaces))
	last := make([]bool, len(names))
	for k := range names {
		names[k] = in.trackers[k].name
		last[k] = in.trackers[k].ok
	}
	tick := time.NewTicker(DefaultLinkPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for k, name := range names {
			up, err := n.opts.LinkUp(name)
			up = up && err == nil
			if up == last[k] {
				continue
			}
			last[k] = up
			select {
			case out <- trackIn{inst: i, tracker: k, ok: up}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// runTrackScript runs a vrrp_script every Interval and reports status
// changes after Rise successes or Fall failures in a row. The script starts
// as succeeding unless InitFail, as keepalived does.
func (n *Node) runTrackScript(ctx context.Context, i, k int, ts TrackScript, out chan<- trackIn) {
	argv, err := SplitCommand(ts.Script)
	if err != nil {
		return // rejected by NewNode already
	}
	tr := ScriptTracker{Rise: ts.Rise, Fall: ts.Fall, OK: !ts.InitFail}
	tick := time.NewTicker(ts.Interval)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, ts.Timeout)
		rerr := n.opts.RunScript(rctx, argv)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if changed := tr.Observe(rerr == nil); changed {
			select {
			case out <- trackIn{inst: i, tracker: k, ok: tr.OK}:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ScriptTracker applies keepalived's rise/fall counting to script results.
type ScriptTracker struct {
	// Rise successes in a row make a failing script OK; Fall failures in a
	// row make an OK script fail.
	Rise, Fall int
	// OK is the current status.
	OK  bool
	run int
}

// Observe records one result and reports whether OK changed.
func (t *ScriptTracker) Observe(success bool) bool {
	if success == t.OK {
		t.run = 0
		return false
	}
	t.run++
	need := t.Fall
	if success {
		need = t.Rise
	}
	if t.run < max(need, 1) {
		return false
	}
	t.OK, t.run = success, 0
	return true
}

// TrackEffect is what one tracked interface or script does to its
// instance, as keepalived.conf(5) tabulates it: a positive weight is added
// while the tracked object is up, a negative one while it is down; with
// reverse the sign of the adjustment is inverted (a positive weight is
// subtracted while up, a negative one added while down). Weight 0 puts the
// instance in FAULT while the object is down, or with reverse while it is up.
func TrackEffect(weight int, reverse, up bool) (delta int, fault bool) {
	switch {
	case weight == 0:
		return 0, up == reverse
	case weight > 0 && up, weight < 0 && !up:
		if reverse {
			return -weight, false
		}
		return weight, false
	}
	return 0, false
}
