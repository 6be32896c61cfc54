package check

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"/bin/check", []string{"/bin/check"}},
		{"/bin/check  -a\tb", []string{"/bin/check", "-a", "b"}},
		{`/bin/sh -c "exit 3"`, []string{"/bin/sh", "-c", "exit 3"}},
		{`a 'b c' "d \"e\""`, []string{"a", "b c", `d "e"`}},
		{`a b\ c ''`, []string{"a", "b c", ""}},
		{`x'y'z`, []string{"xyz"}},
	}
	for _, tt := range tests {
		if got := SplitCommand(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	// Seeds: quoting, escapes, unterminated quote.
	f.Add(`a "b c" 'd'`)
	f.Add(`a\ b`)
	f.Add(`"unterminated`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range SplitCommand(s) {
			if len(a) > len(s) {
				t.Fatalf("argument %q longer than input %q", a, s)
			}
		}
	})
}

func miscSpec(cmd string, dynamic bool, timeout time.Duration) Spec {
	return Spec{Kind: KindMisc, DelayLoop: time.Second, Misc: MiscSpec{Path: cmd, Dynamic: dynamic, Timeout: timeout}}
}

func TestProbeMisc(t *testing.T) {
	tests := []struct {
		name      string
		cmd       string
		dynamic   bool
		ok        bool
		weight    int
		weightSet bool
		reason    string
	}{
		{"exit 0", `/bin/sh -c "exit 0"`, false, true, 0, false, "exit 0"},
		{"exit 1", `/bin/sh -c "echo broken; exit 1"`, false, false, 0, false, "exit 1: broken"},
		{"exit 5 static is down", `/bin/sh -c "exit 5"`, false, false, 0, false, "exit 5"},
		{"dynamic exit 0 keeps weight", `/bin/sh -c "exit 0"`, true, true, 0, false, "exit 0"},
		{"dynamic exit 1 is down", `/bin/sh -c "exit 1"`, true, false, 0, false, "exit 1"},
		{"dynamic exit 2 is weight 0", `/bin/sh -c "exit 2"`, true, true, 0, true, "weight 0"},
		{"dynamic exit 7 is weight 5", `/bin/sh -c "exit 7"`, true, true, 5, true, "weight 5"},
		{"dynamic exit 255 is weight 253", `/bin/sh -c "exit 255"`, true, true, 253, true, "weight 253"},
		{"missing command", `/nonexistent/drlb-check`, false, false, 0, false, "no such file"},
		{"signal", `/bin/sh -c "kill -9 $$"`, false, false, 0, false, "signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Probe(context.Background(), miscSpec(tt.cmd, tt.dynamic, 5*time.Second))
			if r.OK != tt.ok || r.Weight != tt.weight || r.WeightSet != tt.weightSet || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("got %+v; want ok=%v weight=%d set=%v reason~%q", r, tt.ok, tt.weight, tt.weightSet, tt.reason)
			}
		})
	}
}

func TestProbeMiscTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The script starts a background child that ignores nothing and would
	// outlive the script; the timeout must kill the whole process group.
	cmd := `/bin/sh -c "sleep 30 & echo $! > ` + pidFile + `; wait"`
	start := time.Now()
	r := Probe(context.Background(), miscSpec(cmd, false, 200*time.Millisecond))
	if r.OK || r.Failure != FailTimeout || !strings.Contains(r.Reason, "timed out after 200ms") {
		t.Fatalf("probe = %+v, want timeout", r)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %s", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The orphan dies asynchronously after SIGKILL: wait for its exit
	// through a pidfd (readable once the process has exited).
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // already gone and reaped
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 5000)
	if err != nil || n != 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("child %d of the timed-out script still runs after 5s (poll %d, %v)", pid, n, err)
	}
}
