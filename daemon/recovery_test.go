package daemon

import (
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/check"
)

func TestCheckedSince(t *testing.T) {
	since := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	probe := func(end, latency time.Duration) check.CheckerStatus {
		return check.CheckerStatus{LastCheck: since.Add(end), LastLatency: latency}
	}
	cases := []struct {
		name string
		snap []check.ServerStatus
		want bool
	}{
		{"no servers", nil, true},
		{"server without checkers", []check.ServerStatus{{}}, true},
		{"never probed", []check.ServerStatus{{Checkers: []check.CheckerStatus{{}}}}, false},
		{"probed before", []check.ServerStatus{{Checkers: []check.CheckerStatus{probe(-time.Second, 0)}}}, false},
		{"started before, ended after", []check.ServerStatus{{Checkers: []check.CheckerStatus{probe(time.Second, 2*time.Second)}}}, false},
		{"all probed after", []check.ServerStatus{{Checkers: []check.CheckerStatus{probe(time.Second, time.Millisecond)}},
			{Checkers: []check.CheckerStatus{probe(2*time.Second, time.Millisecond)}}}, true},
		{"one of two", []check.ServerStatus{{Checkers: []check.CheckerStatus{probe(time.Second, time.Millisecond)}},
			{Checkers: []check.CheckerStatus{probe(-time.Second, time.Millisecond)}}}, false},
	}
	for _, tc := range cases {
		if got := checkedSince(tc.snap, since); got != tc.want {
			t.Errorf("%s: checkedSince = %v, want %v", tc.name, got, tc.want)
		}
	}
}
