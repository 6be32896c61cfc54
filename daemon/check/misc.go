package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// killGrace is how long a timed-out script has between SIGTERM and SIGKILL
// (keepalived waits 2 s).
const killGrace = 2 * time.Second

// SplitCommand splits a keepalived script line into arguments: white space
// separates words, single and double quotes group them (quotes removed), and
// a backslash escapes the next character outside single quotes.
func SplitCommand(s string) []string {
	var args []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && quote == '"' && i+1 < len(s):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// ScriptResult is the outcome of RunScript.
type ScriptResult struct {
	// ExitCode is the exit status, or -1 when killed by a signal or not started.
	ExitCode int
	// TimedOut is true when the script was killed for exceeding its timeout.
	TimedOut bool
	// Signal is the terminating signal, if any.
	Signal syscall.Signal
	// Output is the first bytes of combined stdout and stderr.
	Output string
	// Err is a start failure (not found, permission).
	Err error
	// Duration is the run time.
	Duration time.Duration
}

// maxScriptOutput bounds the output kept for reasons.
const maxScriptOutput = 512

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

// Write keeps what fits and reports everything as written.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// RunScript runs argv (no shell) in its own process group. On timeout or
// cancellation the whole group gets SIGTERM, then SIGKILL after a grace
// period, so children of the script die too.
func RunScript(ctx context.Context, argv []string, timeout time.Duration) ScriptResult {
	start := time.Now()
	if len(argv) == 0 {
		return ScriptResult{ExitCode: -1, Err: errors.New("check: empty command")}
	}
	out := &cappedBuffer{max: maxScriptOutput}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A background child holding the output pipe must not block Wait forever.
	cmd.WaitDelay = killGrace
	if err := cmd.Start(); err != nil {
		return ScriptResult{ExitCode: -1, Err: fmt.Errorf("check: start %q: %w", argv[0], err), Duration: time.Since(start)}
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	res := ScriptResult{}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-timer:
		res.TimedOut = true
		waitErr = killGroup(pgid, done)
	case <-ctx.Done():
		res.TimedOut = true
		waitErr = killGroup(pgid, done)
	}
	// Reap any children the script left behind in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.Duration = time.Since(start)
	res.Output = strings.TrimSpace(out.buf.String())
	res.ExitCode = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal()
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		res.Err = waitErr
	}
	return res
}

// killGroup sends SIGTERM to the group, then SIGKILL after killGrace, and
// returns Wait's error.
func killGroup(pgid int, done <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-done
	}
}

// ProbeMisc runs MISC_CHECK. Exit 0 is up; with misc_dynamic, exit 2..255
// is up with weight exit-2 and exit 1 is down; without it any non-zero exit
// is down. A timeout or a signal is a failure.
func ProbeMisc(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	argv := SplitCommand(spec.Misc.Path)
	sr := RunScript(ctx, argv, spec.Misc.Timeout)
	r := Result{Latency: sr.Duration}
	name := spec.Misc.Path
	if len(argv) > 0 {
		name = argv[0]
	}
	switch {
	case sr.Err != nil:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: %v", name, sr.Err)
	case sr.TimedOut:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: timed out after %s, process group killed", name, spec.Misc.Timeout)
		r.Failure = FailTimeout
	case sr.Signal != 0:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: killed by signal %v", name, sr.Signal)
	case sr.ExitCode == 0:
		r.OK = true
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit 0", name)
	case spec.Misc.Dynamic && sr.ExitCode >= 2 && sr.ExitCode <= 255:
		r.OK = true
		r.Weight, r.WeightSet = sr.ExitCode-2, true
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit %d, weight %d", name, sr.ExitCode, r.Weight)
	default:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit %d", name, sr.ExitCode)
	}
	if !r.OK && sr.Output != "" {
		r.Reason += ": " + firstLine(sr.Output)
	}
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
