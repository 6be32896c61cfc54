package config

import (
	"strings"
	"testing"
	"time"
)

// TestChildWaitTime: child_wait_time is a top-level count of seconds
// (1-1000); a bad value is a located error.
func TestChildWaitTime(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		diag       string
	}{
		{name: "unset", line: "", want: 0},
		{name: "seconds", line: "child_wait_time 3\n", want: 3 * time.Second},
		{name: "zero", line: "child_wait_time 0\n", diag: "1:17: error"},
		{name: "not a number", line: "child_wait_time soon\n", diag: "1:17: error"},
		{name: "too large", line: "child_wait_time 1001\n", diag: "1:17: error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ds, err := Parse("t.conf", []byte(tc.line+inst()), Options{})
			if tc.diag != "" {
				if err == nil || len(ds) != 1 || !strings.Contains(ds[0].String(), tc.diag) {
					t.Fatalf("want %q, got %v %v", tc.diag, err, ds)
				}
				return
			}
			if err != nil || len(ds) != 0 || cfg.ChildWaitTime != tc.want {
				t.Fatalf("got %v %v %v, want %v", err, ds, cfg.ChildWaitTime, tc.want)
			}
		})
	}
}
