package script

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestRunExitStatusAndOutput(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		ok     bool
		code   int
		output string
		errSub string
	}{
		{"exit 0", sh("echo fine"), true, 0, "fine", ""},
		{"exit 3 with stderr", sh("echo broken >&2; exit 3"), false, 3, "broken", "exit status 3"},
		{"signal", sh("kill -9 $$"), false, -1, "", "killed by signal killed"},
		{"bare name from DefaultPath", []string{"true"}, true, 0, "", ""},
		{"missing", []string{"/nonexistent/drlb-script"}, false, -1, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Run(context.Background(), Command{Argv: tt.argv, Timeout: 5 * time.Second})
			err := r.Error()
			if r.OK() != tt.ok || r.ExitCode != tt.code || r.Output != tt.output || (tt.errSub == "") != (err == nil) ||
				(err != nil && !strings.Contains(err.Error(), tt.errSub)) {
				t.Fatalf("Run = %+v, error %v; want ok %v exit %d output %q error ~%q", r, err, tt.ok, tt.code, tt.output, tt.errSub)
			}
		})
	}
}

func TestRunCleanEnvironmentAndDirectory(t *testing.T) {
	t.Setenv("DRLB_TEST_SECRET", "leaked")
	r := Run(context.Background(), Command{Argv: sh(`echo "PATH=$PATH"; echo "SECRET=${DRLB_TEST_SECRET-unset}"; pwd`), Timeout: 5 * time.Second})
	want := "PATH=" + DefaultPath + "\nSECRET=unset\n/"
	if !r.OK() || r.Output != want {
		t.Fatalf("Run = %+v; want output %q", r, want)
	}
}

func TestRunKeepsOnlyTheTailOfTheOutput(t *testing.T) {
	const size = 10_000_000
	r := Run(context.Background(), Command{Argv: sh(fmt.Sprintf("head -c %d /dev/zero | tr '\\0' A; echo; echo THE-END; exit 1", size)), Timeout: 30 * time.Second})
	total := int64(size + len("\nTHE-END\n"))
	if r.OutputBytes != total || r.Dropped != total-DefaultOutputLimit || !strings.HasSuffix(r.Output, "AAA\nTHE-END") || len(r.Output) > DefaultOutputLimit {
		t.Fatalf("output %d bytes, dropped %d, kept %d bytes ending %q", r.OutputBytes, r.Dropped, len(r.Output), r.Output[max(len(r.Output)-20, 0):])
	}
	if msg := r.Error().Error(); !strings.Contains(msg, fmt.Sprintf("last %d of %d bytes", DefaultOutputLimit, total)) || len(msg) > 2*DefaultOutputLimit {
		t.Fatalf("error message of %d bytes: %.200s…", len(msg), msg)
	}
}

// groupMembers lists the processes whose process group is pgid (from /proc).
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …: comm may hold blanks; split after ')'.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits up to 5 s for pid to exit, through a pidfd.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000)
	if err != nil || n != 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d still runs 5 s after its script ended (poll %d, %v)", pid, n, err)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("child pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestRunTimeoutKillsTheProcessGroup: a script that forks a child and
// hangs leaves no process behind after its timeout, also when it ignores
// SIGTERM (SIGKILL follows after KillGrace).
func TestRunTimeoutKillsTheProcessGroup(t *testing.T) {
	for _, tt := range []struct {
		name  string
		trap  string
		limit time.Duration
	}{
		{"obeys SIGTERM", "", KillGrace},
		{"ignores SIGTERM", `trap "" TERM; `, KillGrace + 2*time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			start := time.Now()
			r := Run(context.Background(), Command{Argv: sh(tt.trap + "sleep 300 & echo $! > " + pidFile + "; echo started; sleep 300"), Timeout: 300 * time.Millisecond})
			if !r.TimedOut || r.OK() || !strings.Contains(r.Error().Error(), "timed out after") || r.Output != "started" {
				t.Fatalf("Run = %+v; want a timeout", r)
			}
			if el := time.Since(start); el > tt.limit+time.Second {
				t.Fatalf("took %s", el)
			}
			child := readPid(t, pidFile)
			waitGone(t, child)
			waitGroupEmpty(t, r.PGID)
		})
	}
}

// TestRunKillsWhatAFinishedScriptLeft: a script that exits leaving a
// background child does not wait for it, and the child is killed.
func TestRunKillsWhatAFinishedScriptLeft(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	start := time.Now()
	r := Run(context.Background(), Command{Argv: sh("sleep 300 & echo $! > " + pidFile + "; echo $$"), Timeout: 10 * time.Second})
	if !r.OK() {
		t.Fatalf("Run = %+v", r)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %s: waited for the background child", el)
	}
	waitGone(t, readPid(t, pidFile))
	pgid, err := strconv.Atoi(r.Output)
	if err != nil {
		t.Fatal(err)
	}
	waitGroupEmpty(t, pgid)
}

// waitGroupEmpty waits up to 5 s for process group pgid to have no member
// (a killed orphan lingers until init reaps it).
func waitGroupEmpty(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := groupMembers(t, pgid)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var desc []string
			for _, pid := range m {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				desc = append(desc, string(b))
			}
			t.Fatalf("processes of group %d left after 5 s: %q", pgid, desc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCancelledContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := Run(ctx, Command{Argv: sh("sleep 300")})
	if !r.TimedOut || r.OK() {
		t.Fatalf("Run = %+v; want killed", r)
	}
}

// TestRunAsUser: the script runs as the identity's uid and gid, with no
// supplementary groups unless the identity has some.
func TestRunAsUser(t *testing.T) {
	testenv.Privileged(t)
	// Readable and writable by nobody (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "drlb-script-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "id.txt")
	for _, tt := range []struct {
		name string
		id   Identity
		want string
	}{
		{"nobody", Identity{Name: "nobody", UID: 65534, GID: 65534}, "65534 65534 65534"},
		{"nobody with groups", Identity{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 100}}, "65534 65534 65534 100"},
		{"root clears groups", Identity{Name: "root"}, "0 0 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(out)
			r := Run(context.Background(), Command{Argv: sh(`echo "$(id -u) $(id -g) $(id -G)" > ` + out), Identity: &tt.id, Timeout: 5 * time.Second})
			if !r.OK() {
				t.Fatalf("Run = %+v", r)
			}
			got, err := os.ReadFile(out)
			if err != nil || strings.TrimSpace(string(got)) != tt.want {
				t.Fatalf("id = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestRunMemoryStaysBounded runs a script printing 200 MB in a child
// process (this test binary again) and reads the child's peak RSS.
func TestRunMemoryStaysBounded(t *testing.T) {
	if os.Getenv("DRLB_SCRIPT_LOUD_HELPER") == "1" {
		r := Run(context.Background(), Command{Argv: sh("head -c 200000000 /dev/zero | tr '\\0' A; exit 1"), Timeout: time.Minute})
		fmt.Printf("bytes=%d dropped=%d kept=%d msg=%d\n", r.OutputBytes, r.Dropped, len(r.Output), len(r.Error().Error()))
		fmt.Printf("hwm_kb=%d\n", peakRSSKiB(t))
		return
	}
	if testing.Short() {
		t.Skip("prints 200 MB")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunMemoryStaysBounded$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DRLB_SCRIPT_LOUD_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var bytesOut, dropped, kept, msg, hwm int64
	for line := range strings.Lines(string(out)) {
		_, _ = fmt.Sscanf(line, "bytes=%d dropped=%d kept=%d msg=%d", &bytesOut, &dropped, &kept, &msg)
		_, _ = fmt.Sscanf(line, "hwm_kb=%d", &hwm)
	}
	t.Logf("200 MB of output: peak RSS %d KiB, kept %d bytes, dropped %d, error message %d bytes", hwm, kept, dropped, msg)
	if bytesOut != 200_000_000 || kept != DefaultOutputLimit || msg > 2*DefaultOutputLimit {
		t.Fatalf("output %d bytes, kept %d, message %d bytes\n%s", bytesOut, kept, msg, out)
	}
	if hwm == 0 || hwm > 64<<10 {
		t.Fatalf("peak RSS %d KiB, want (0, 64 MiB]\n%s", hwm, out)
	}
}

// peakRSSKiB is VmHWM of this process.
func peakRSSKiB(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
