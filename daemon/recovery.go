package daemon

import (
	"context"
	"time"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
)

// recoveryHoldSlack is added to the longest first check round in
// recoveryHold: the health event still has to reach the data plane.
const recoveryHoldSlack = time.Second

// recoveryHold bounds how long a VRRP instance that regained its interface
// waits for the first health-check round before it may preempt: the
// longest max(delay_loop, delay_before_retry) + connect_timeout of any
// checker, plus slack. Zero
// (no hold) without checkers.
func recoveryHold(c *config.Config) time.Duration {
	var longest time.Duration
	for vi := range c.VirtualServers {
		vs := &c.VirtualServers[vi]
		for ri := range vs.RealServers {
			for _, ck := range vs.RealServers[ri].Checkers {
				delay, timeout := ck.DelayLoop, ck.ConnectTimeout
				if delay <= 0 {
					delay = vs.DelayLoop
				}
				// A checker in the middle of its retries probes next after
				// delay_before_retry.
				delay = max(delay, ck.DelayBeforeRetry)
				if timeout <= 0 {
					timeout = check.DefaultConnectTimeout
				}
				longest = max(longest, delay+timeout)
			}
		}
	}
	if longest == 0 {
		return 0
	}
	return longest + recoveryHoldSlack
}

// servicesChecked implements vrrp.Options.ServicesChecked: the channel is
// closed once every checker of every real server has finished a probe
// that started at or after since. It watches the scheduler's snapshot
// every 20 ms until then or until ctx ends.
func (d *Daemon) servicesChecked(ctx context.Context, since time.Time) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			// The scheduler is the supervisor's: ask the loop for it.
			v, ok := d.view(ctx, false)
			if !ok {
				return
			}
			if v.sched == nil || checkedSince(v.sched.Snapshot(), since) {
				close(done)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return done
}

// checkedSince reports whether every checker in snap finished a probe that
// started at or after since (its end minus its latency).
func checkedSince(snap []check.ServerStatus, since time.Time) bool {
	for _, s := range snap {
		for _, c := range s.Checkers {
			if c.LastCheck.IsZero() || c.LastCheck.Add(-c.LastLatency).Before(since) {
				return false
			}
		}
	}
	return true
}
