package vrrp

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestMatchProcess(t *testing.T) {
	argv := []string{"/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg"}
	tests := []struct {
		name string
		tp   TrackProcess
		comm string
		want bool
	}{
		{"name", TrackProcess{Process: "haproxy"}, "haproxy", true},
		{"name is exact, as pgrep ^name$", TrackProcess{Process: "ssh"}, "sshd", false},
		{"long name against the 15-byte comm", TrackProcess{Process: "a-very-long-daemon-name"}, "a-very-long-dae", true},
		{"params exact", TrackProcess{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/haproxy/haproxy.cfg"}}, "haproxy", true},
		{"params exact, fewer given", TrackProcess{Process: "/usr/sbin/haproxy", Params: []string{"-f"}}, "haproxy", false},
		{"params partial", TrackProcess{Process: "/usr/sbin/haproxy", Params: []string{"-f"}, ParamMatch: "partial"}, "haproxy", true},
		{"params initial", TrackProcess{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/hap"}, ParamMatch: "initial"}, "haproxy", true},
		{"params partial is not initial", TrackProcess{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/hap"}, ParamMatch: "partial"}, "haproxy", false},
		{"full_command needs the path", TrackProcess{Process: "haproxy", FullCommand: true}, "haproxy", false},
		{"param_match without params: no arguments", TrackProcess{Process: "/usr/sbin/haproxy", ParamMatch: "partial"}, "haproxy", true},
	}
	for _, tt := range tests {
		if got := MatchProcess(tt.tp, tt.comm, argv); got != tt.want {
			t.Errorf("%s: MatchProcess = %v, want %v", tt.name, got, tt.want)
		}
	}
	q := TrackProcess{Quorum: 2, QuorumMax: 3}
	for n, want := range map[int]bool{1: false, 2: true, 3: true, 4: false} {
		if QuorumOK(q, n) != want {
			t.Errorf("QuorumOK(2..3, %d) != %v", n, want)
		}
	}
	if !QuorumOK(TrackProcess{Quorum: 1, QuorumMax: -1}, 99) {
		t.Error("no quorum_max: any number above quorum is OK")
	}
}

func TestProcessTrackerDelays(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pt := ProcessTracker{ForkDelay: 2 * time.Second, TerminateDelay: time.Second, OK: false}
	if pt.Observe(true, t0) || pt.Observe(true, t0.Add(time.Second)) {
		t.Fatal("up before fork_delay")
	}
	if !pt.Observe(true, t0.Add(2*time.Second)) || !pt.OK {
		t.Fatal("not up after fork_delay")
	}
	if pt.Observe(false, t0.Add(3*time.Second)) {
		t.Fatal("down at once despite terminate_delay")
	}
	if pt.Observe(true, t0.Add(3500*time.Millisecond)) || pt.Observe(false, t0.Add(4*time.Second)) {
		t.Fatal("a bounce restarts terminate_delay")
	}
	if !pt.Observe(false, t0.Add(5*time.Second)) || pt.OK {
		t.Fatal("not down after terminate_delay")
	}
}

func TestCountProcesses(t *testing.T) {
	arg := "1" + strconv.Itoa(int(time.Now().UnixNano()%1e6)) // unique sleep length
	tp := TrackProcess{Process: "sleep", Params: []string{arg}, Quorum: 1, QuorumMax: -1}
	if n := CountProcesses("/proc", tp); n != 0 {
		t.Fatalf("%d processes before start", n)
	}
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command("sleep", arg)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	if n := CountProcesses("/proc", tp); n != 2 {
		t.Fatalf("counted %d, want 2", n)
	}
	_ = cmds[0].Process.Kill()
	_ = cmds[0].Wait()
	if n := CountProcesses("/proc", tp); n != 1 {
		t.Fatalf("after one exit counted %d, want 1", n)
	}
}

// TestNodeTrackProcess: a tracked process with weight 0 puts the instance
// in FAULT while it is not running.
func TestNodeTrackProcess(t *testing.T) {
	arg := "2" + strconv.Itoa(int(time.Now().UnixNano()%1e6))
	h := &hub{}
	c := v3Instance("VI_1", "172.16.1.2", 100)
	c.WantMaster = true
	c.TrackProcesses = []TrackProcess{{Name: "p", Process: "sleep", Params: []string{arg}, Quorum: 1, QuorumMax: -1}}
	a := startNode(t, h, Config{Instances: []InstanceConfig{c}})
	eventually(t, 2*time.Second, "FAULT without the process", func() bool { return a.node.Status()[0].State == StateFault })
	cmd := exec.Command("sleep", arg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	eventually(t, 5*time.Second, "MASTER once it runs", func() bool { return a.node.Status()[0].State == StateMaster })
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	eventually(t, 3*time.Second, "FAULT after it exits", func() bool { return a.node.Status()[0].State == StateFault })
}
