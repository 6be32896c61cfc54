package vrrp

import (
	"context"
	"time"
)

// runTrackScript runs a vrrp_script every Interval and reports status
// changes after Rise successes or Fall failures in a row. The script starts
// as succeeding unless InitFail, as keepalived does.
// ok is the status it starts from (kept across a reload).
func (n *Node) runTrackScript(ctx context.Context, in *instance, gen, k int, ts TrackScript, ok bool) {
	argv, err := SplitCommand(ts.Script)
	if err != nil {
		return // rejected by NewNode already
	}
	out := n.tracks
	tr := ScriptTracker{Rise: ts.Rise, Fall: ts.Fall, OK: ok}
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
			case out <- trackIn{in: in, gen: gen, tracker: k, ok: tr.OK}:
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
