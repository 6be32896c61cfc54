// Package yield lets long CPU-bound loops give up their processor when a
// timer elsewhere in the process falls due.
//
// The Go runtime keeps timers per processor (P) and preempts a running
// goroutine only after about 10 ms. When every P is busy, a timer queued on
// the P that runs a long loop (a reload parsing 10,000 real servers, say)
// fires up to 10 ms late; for the timer that sends the next VRRP advert
// that is lateness the backups can see. Yielding often (runtime.Gosched)
// bounds it but costs the loop its place in the run queue each time: a
// reload under load took twice as long. A loop that calls the function from
// Before on each iteration yields only while the watched timer is due and
// its goroutine has not yet run: a few yields a second at most.
package yield

import (
	"runtime"
	"time"
)

// Retry is how often a loop yields again while the watched timer stays
// due: the runtime may not have seen it expire at the first yield, or the
// goroutine it woke may not have run yet.
const Retry = 500 * time.Microsecond

// Before returns a function for one loop (not for concurrent use) that
// calls runtime.Gosched when the time returned by next has passed, and
// again every Retry while it stays passed; next returns zero when no timer
// is set. Once the timer's goroutine runs, next moves on (the following
// advert) and the loop runs undisturbed. A nil next never yields.
func Before(next func() time.Time) func() {
	if next == nil {
		return func() {}
	}
	var last time.Time
	return func() {
		due := next()
		if due.IsZero() {
			return
		}
		t := now()
		if t.Before(due) || t.Sub(last) < Retry {
			return
		}
		last = t
		gosched()
	}
}

// gosched and now are runtime.Gosched and time.Now; tests replace them.
var (
	gosched = runtime.Gosched
	now     = time.Now
)
