package check

import "time"

// CheckerState is the health state of one checker between probes.
type CheckerState struct {
	// Up is the checker's verdict.
	Up bool
	// Failures counts consecutive failed attempts while Up (retries used).
	Failures int
}

// InitialState is where a checker starts: down with alpha, else up.
func InitialState(spec Spec) CheckerState { return CheckerState{Up: !spec.Alpha} }

// Step applies one probe outcome to st and returns the new state and the
// delay until the next probe, with keepalived's rules:
//
//   - success: up, retries reset, next probe after delay_loop;
//   - failure while up: retry after delay_before_retry until retry+1
//     consecutive failures, then down;
//   - failure while down (and on the failure that takes it down): next
//     probe after max(delay_loop, delay_before_retry).
//
// spec must have its defaults applied (Spec.WithDefaults).
func Step(st CheckerState, ok bool, spec Spec) (CheckerState, time.Duration) {
	if ok {
		return CheckerState{Up: true}, spec.DelayLoop
	}
	if st.Up {
		st.Failures++
		if st.Failures <= spec.Retry {
			return st, spec.DelayBeforeRetry
		}
	}
	return CheckerState{Up: false}, max(spec.DelayLoop, spec.DelayBeforeRetry)
}
