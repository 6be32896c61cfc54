package check

import (
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	spec := Spec{Kind: KindHTTP, DelayLoop: 10 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 2}
	tests := []struct {
		name  string
		st    CheckerState
		ok    bool
		want  CheckerState
		delay time.Duration
	}{
		{"up stays up", CheckerState{Up: true}, true, CheckerState{Up: true}, 10 * time.Second},
		{"first failure retries", CheckerState{Up: true}, false, CheckerState{Up: true, Failures: 1}, 3 * time.Second},
		{"second failure retries", CheckerState{Up: true, Failures: 1}, false, CheckerState{Up: true, Failures: 2}, 3 * time.Second},
		{"retry+1 failures: down", CheckerState{Up: true, Failures: 2}, false, CheckerState{Up: false}, 10 * time.Second},
		{"success resets retries", CheckerState{Up: true, Failures: 2}, true, CheckerState{Up: true}, 10 * time.Second},
		{"down stays down", CheckerState{Up: false}, false, CheckerState{Up: false}, 10 * time.Second},
		{"down comes up on one success", CheckerState{Up: false}, true, CheckerState{Up: true}, 10 * time.Second},
	}
	for _, tt := range tests {
		got, d := Step(tt.st, tt.ok, spec)
		if got != tt.want || d != tt.delay {
			t.Errorf("%s: Step = %+v, %s; want %+v, %s", tt.name, got, d, tt.want, tt.delay)
		}
	}
	// delay_before_retry longer than delay_loop: a down checker waits the longer one.
	long := Spec{DelayLoop: time.Second, DelayBeforeRetry: 5 * time.Second}
	if _, d := Step(CheckerState{}, false, long); d != 5*time.Second {
		t.Errorf("down delay = %s, want 5s", d)
	}
	// retry 0: the first failure takes it down.
	if st, _ := Step(CheckerState{Up: true}, false, Spec{DelayLoop: time.Second}); st.Up {
		t.Errorf("retry 0: still up after one failure")
	}
}

func TestAggregateVirtualServer(t *testing.T) {
	up := func(w int) RealServerHealth { return RealServerHealth{Up: true, Weight: w} }
	down := func(w int) RealServerHealth { return RealServerHealth{Up: false, Weight: w} }
	tests := []struct {
		name    string
		prev    bool
		servers []RealServerHealth
		p       VirtualServerPolicy
		want    VirtualServerState
	}{
		{"default quorum, one alive", true, []RealServerHealth{up(1), down(1)}, VirtualServerPolicy{}, VirtualServerState{1, 1, true, false}},
		{"all down, sorry active", true, []RealServerHealth{down(1), down(1)}, VirtualServerPolicy{HasSorryServer: true}, VirtualServerState{0, 0, false, true}},
		{"all down, no sorry server", true, []RealServerHealth{down(1)}, VirtualServerPolicy{}, VirtualServerState{0, 0, false, false}},
		{"quorum 3 lost", true, []RealServerHealth{up(1), up(1), down(1)}, VirtualServerPolicy{Quorum: 3}, VirtualServerState{2, 2, false, false}},
		{"hysteresis keeps up inside band", true, []RealServerHealth{up(1), up(1), down(1)}, VirtualServerPolicy{Quorum: 3, Hysteresis: 1}, VirtualServerState{2, 2, true, false}},
		{"hysteresis drops below band", true, []RealServerHealth{up(1), down(1), down(1)}, VirtualServerPolicy{Quorum: 3, Hysteresis: 1}, VirtualServerState{1, 1, false, false}},
		{"hysteresis keeps down inside band", false, []RealServerHealth{up(1), up(1), up(1)}, VirtualServerPolicy{Quorum: 3, Hysteresis: 1, HasSorryServer: true}, VirtualServerState{3, 3, false, true}},
		{"hysteresis regains at quorum+h", false, []RealServerHealth{up(2), up(2)}, VirtualServerPolicy{Quorum: 3, Hysteresis: 1, HasSorryServer: true}, VirtualServerState{2, 4, true, false}},
		{"weight 0 alive server does not count", false, []RealServerHealth{up(0)}, VirtualServerPolicy{}, VirtualServerState{1, 0, false, false}},
	}
	for _, tt := range tests {
		if got := AggregateVirtualServer(tt.prev, tt.servers, tt.p); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if !InitialQuorumUp([]RealServerHealth{up(1)}, VirtualServerPolicy{}) || InitialQuorumUp([]RealServerHealth{down(1)}, VirtualServerPolicy{}) {
		t.Error("InitialQuorumUp wrong")
	}
}
