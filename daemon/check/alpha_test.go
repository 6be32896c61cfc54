package check

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSchedulerAlphaNotifies follows keepalived's update_svr_checker_state:
// a checker's first verdict that leaves the server where it started runs
// no script, except in alpha mode, where a first failure runs notify_down
// (the server starts down, the failure confirms it, and keepalived says so).
// A first success in alpha mode brings the server up and runs notify_up.
func TestSchedulerAlphaNotifies(t *testing.T) {
	tests := []struct {
		name    string
		alpha   bool
		healthy bool
		want    string // script run after the first probes, "" for none
	}{
		{"alpha, first check fails: notify_down", true, false, "/bin/down"},
		{"alpha, first check succeeds: notify_up", true, true, "/bin/up"},
		{"no alpha, first check succeeds: nothing", false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProbes()
			f.set(addr(1), tt.healthy)
			var mu sync.Mutex
			var ran []string
			spec := fastSpec(addr(1))
			spec.Alpha = tt.alpha
			cfg := Config{
				Servers: []Server{{Target: Target{"vs", "rs1"}, Weight: 1, NotifyUp: "/bin/up", NotifyDown: "/bin/down", Checkers: []Spec{spec}}},
				Probe:   f.probe,
				RunScript: func(_ context.Context, argv []string, _ time.Duration) ScriptResult {
					mu.Lock()
					ran = append(ran, strings.Join(argv, " "))
					mu.Unlock()
					return ScriptResult{}
				},
			}
			s, _, _ := startScheduler(t, cfg)
			go func() {
				for range s.Events() {
				}
			}()
			// Several probe rounds (delay_loop 10 ms): the verdict is settled
			// and a script, if any, has run exactly once.
			deadline := time.Now().Add(2 * time.Second)
			for {
				f.mu.Lock()
				calls := f.calls[addr(1)]
				f.mu.Unlock()
				mu.Lock()
				n := len(ran)
				mu.Unlock()
				if calls >= 5 && (tt.want == "" || n > 0) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d probes scripts run: %d, want %q", calls, n, tt.want)
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if strings.Join(ran, ",") != strings.Join(want, ",") {
				t.Errorf("scripts run = %q, want %q", ran, want)
			}
		})
	}
}
