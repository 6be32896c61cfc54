package vrrp

import (
	"fmt"
	"time"
)

// LatenessBuckets are the upper bounds of the timing histograms' buckets
// (Timing.SendLateness, Timing.TimerLateness, Timing.ReceiveGap): from
// 100 µs to 10 s, roughly ×2.5 per bucket. A value above the last bound
// is counted only in the total (the +Inf bucket).
var LatenessBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram counts durations in LatenessBuckets. Counts[k] is the number
// of observations ≤ LatenessBuckets[k] and > LatenessBuckets[k-1] (not
// cumulative); Count and Sum cover every observation. Observe does not
// allocate: the advert path records into it.
type Histogram struct {
	Counts [len(LatenessBuckets)]uint64
	Count  uint64
	Sum    time.Duration
	// Max is the largest observation.
	Max time.Duration
}

// Observe records d (negative values count as zero).
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	h.Count++
	h.Sum += d
	h.Max = max(h.Max, d)
	for k, b := range LatenessBuckets {
		if d <= b {
			h.Counts[k]++
			return
		}
	}
}

// Cumulative returns the Prometheus view of h: for every bound in
// LatenessBuckets (as seconds), the number of observations ≤ it.
func (h Histogram) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(LatenessBuckets))
	var acc uint64
	for k, b := range LatenessBuckets {
		acc += h.Counts[k]
		out[b.Seconds()] = acc
	}
	return out
}

// Timing is what an instance measured about its own punctuality and its
// master's, since Run started.
type Timing struct {
	// SendLateness is, for every advert sent as MASTER on its timer, how
	// long after the advert was due it left (this process's scheduling
	// delay: the Go runtime, the kernel, a busy machine).
	SendLateness Histogram
	// TimerLateness is, for every master-down timer that fired in BACKUP,
	// how long after it was due the loop saw it.
	TimerLateness Histogram
	// ReceiveGap is the time between consecutive adverts accepted from the
	// current master, by their arrival (kernel receive time when the socket
	// reports it). A healthy master's gaps are its advert interval.
	ReceiveGap Histogram
	// LateAdverts counts adverts that left later than LateThreshold; the
	// warning about them is rate-limited, the count is not.
	LateAdverts uint64
	// FalseMasterDowns counts master-down timers after which the old
	// master's adverts came again within its Master_Down_Interval: its
	// adverts had been merely late.
	FalseMasterDowns uint64
}

// LateThreshold is the lateness above which an advert sent, or a
// master-down timer seen, counts as late and is worth a warning: a quarter
// of the advert interval (a backup waits three intervals and some skew
// before it takes over), at least 1 ms.
func LateThreshold(advertInterval time.Duration) time.Duration {
	return max(advertInterval/4, time.Millisecond)
}

// TimingWarnInterval is how often each kind of timing warning (late advert,
// late timer, false master-down) is logged per instance; the ones in
// between are counted and reported with the next. It is WarnInterval: the
// timing warnings use the same warnLimiter as the drop warnings.
const TimingWarnInterval = WarnInterval

// timingState is an instance's timing bookkeeping (loop only).
type timingState struct {
	t Timing
	// lastRecv is when the last advert from the master arrived, and from whom.
	lastRecv     time.Time
	lastRecvFrom [16]byte
	// downAt is when the master-down timer last fired, downFrom the master
	// it gave up on, downGap how long it had been silent then.
	downAt   time.Time
	downFrom [16]byte
	downGap  time.Duration
	// warnings, one limiter per kind.
	lateSend, lateTimer, falseDown warnLimiter
}

// sent records an advert sent due at due, at now; it returns a warning
// to log, or "" (no allocation when there is nothing to say).
func (ts *timingState) sent(due, now time.Time, interval time.Duration) (string, uint64) {
	late := now.Sub(due)
	ts.t.SendLateness.Observe(late)
	if late <= LateThreshold(interval) {
		return "", 0
	}
	ts.t.LateAdverts++
	ok, held := ts.lateSend.allow(now)
	if !ok {
		return "", 0
	}
	return fmt.Sprintf("advert sent %v late (interval %v): this process was not scheduled in time, the machine is busy", late.Round(time.Microsecond), interval), held
}

// masterDown records a master-down timer due at due, seen at now, for
// master (the one whose adverts stopped); it returns a warning or "".
func (ts *timingState) masterDown(due, now time.Time, master [16]byte, interval time.Duration) (string, uint64) {
	late := now.Sub(due)
	ts.t.TimerLateness.Observe(late)
	ts.downAt, ts.downFrom = now, master
	ts.downGap = 0
	if !ts.lastRecv.IsZero() {
		ts.downGap = now.Sub(ts.lastRecv)
	}
	if late <= LateThreshold(interval) {
		return "", 0
	}
	ok, held := ts.lateTimer.allow(now)
	if !ok {
		return "", 0
	}
	return fmt.Sprintf("master-down timer seen %v late: this process was not scheduled in time, the machine is busy", late.Round(time.Microsecond)), held
}

// received records an accepted advert from src (a master) that arrived
// at at, the master's Master_Down_Interval being down; it returns a
// warning when src is the master given up on shortly before.
func (ts *timingState) received(src [16]byte, at time.Time, down time.Duration) (string, uint64) {
	if !ts.lastRecv.IsZero() && src == ts.lastRecvFrom && at.After(ts.lastRecv) {
		ts.t.ReceiveGap.Observe(at.Sub(ts.lastRecv))
	}
	ts.lastRecv, ts.lastRecvFrom = at, src
	if ts.downAt.IsZero() || src != ts.downFrom {
		return "", 0
	}
	since := at.Sub(ts.downAt)
	ts.downAt = time.Time{}
	if since > down {
		return "", 0 // a master that came back, not one that was late
	}
	ts.t.FalseMasterDowns++
	ok, held := ts.falseDown.allow(at)
	if !ok {
		return "", 0
	}
	return fmt.Sprintf("master-down timer fired although the master was alive: its advert came %v after the timer (silent %v before it); "+
		"its adverts were late (a busy master or network), not lost", since.Round(time.Microsecond), ts.downGap.Round(time.Microsecond)), held
}
