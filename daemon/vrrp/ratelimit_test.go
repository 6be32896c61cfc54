package vrrp

import (
	"testing"
	"time"
)

func TestWarnLimiter(t *testing.T) {
	var w warnLimiter
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed uint64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{WarnInterval - time.Nanosecond, false, 0},
		{WarnInterval, true, 2},
		{WarnInterval + time.Second, false, 0},
		{3 * WarnInterval, true, 1},
		{5 * WarnInterval, true, 0},
	}
	for i, s := range steps {
		ok, n := w.allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d at %v: allow = %v, %d; want %v, %d", i, s.at, ok, n, s.ok, s.suppressed)
		}
	}
}
