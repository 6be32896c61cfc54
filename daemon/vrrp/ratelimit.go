package vrrp

import "time"

// WarnInterval is how often one kind of warning (a drop reason or a
// Suspect reason) is logged per instance; the ones in between go to the
// debug level and are counted in the next warning. A flood of forged
// adverts costs a few log lines, yet every burst names its source.
const WarnInterval = 10 * time.Second

// warnLimiter rate-limits one kind of warning.
type warnLimiter struct {
	last       time.Time
	suppressed uint64
}

// allow reports whether a warning may be logged at now and, if so, how many
// were suppressed since the last one.
func (w *warnLimiter) allow(now time.Time) (bool, uint64) {
	if !w.last.IsZero() && now.Sub(w.last) < WarnInterval {
		w.suppressed++
		return false, 0
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	return true, n
}
