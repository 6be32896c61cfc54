package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// KillGrace is how long a timed-out script's process group has between
// SIGTERM and SIGKILL (keepalived waits 2 s too).
const KillGrace = 2 * time.Second

// Command is one run of a script.
type Command struct {
	// Argv is the command and its arguments; Argv[0] is what the script sees
	// as its name.
	Argv []string
	// Path is the file to execute; empty means Argv[0], looked up in
	// DefaultPath when it has no '/'.
	Path string
	// Identity, if set, is the user the script runs as. Nil runs it as the
	// daemon's own user.
	Identity *Identity
	// Timeout bounds the run; 0 means only ctx does.
	Timeout time.Duration
	// OutputLimit is how many bytes of output are kept (default
	// DefaultOutputLimit).
	OutputLimit int
}

// Result is the outcome of Run.
type Result struct {
	// ExitCode is the exit status, or -1 when the script was killed by a
	// signal or did not start.
	ExitCode int
	// Signal is the signal that ended the script, if any.
	Signal syscall.Signal
	// TimedOut is set when the script ran out of time (or its context ended)
	// and its process group was killed.
	TimedOut bool
	// Output is the end of stdout and stderr combined, at most OutputLimit
	// bytes, white space trimmed.
	Output string
	// OutputBytes is the size of the whole output; Dropped how much of it was
	// not kept.
	OutputBytes, Dropped int64
	// Duration is the run time.
	Duration time.Duration
	// Err is set when the script could not start (not found, permission,
	// credentials).
	Err error
	// Disabled, when not empty, says why the script was not run at all
	// (Table.Run); the result then counts as success.
	Disabled string
	// PGID is the script's process group (its process id), 0 if it did not start.
	PGID int
}

// OK reports a script that exited 0 (or was disabled, see Result.Disabled).
func (r Result) OK() bool {
	return r.Disabled != "" || (r.Err == nil && !r.TimedOut && r.Signal == 0 && r.ExitCode == 0)
}

// Error describes a failed run — start failure, timeout, signal or exit
// status, with the kept output and how much was dropped — or returns nil
// for OK.
func (r Result) Error() error {
	if r.OK() {
		return nil
	}
	var msg string
	switch {
	case r.Err != nil:
		return r.Err
	case r.TimedOut:
		msg = fmt.Sprintf("timed out after %s, process group killed", r.Duration.Round(time.Millisecond))
	case r.Signal != 0:
		msg = fmt.Sprintf("killed by signal %v", r.Signal)
	default:
		msg = fmt.Sprintf("exit status %d", r.ExitCode)
	}
	return errors.New(msg + r.OutputSummary())
}

// OutputSummary is "" without output, else ": output …" with the kept
// output and, when some was dropped, how much.
func (r Result) OutputSummary() string {
	if r.OutputBytes == 0 {
		return ""
	}
	if r.Dropped > 0 {
		return fmt.Sprintf(": output (last %d of %d bytes, %d dropped) %q", r.OutputBytes-r.Dropped, r.OutputBytes, r.Dropped, r.Output)
	}
	return fmt.Sprintf(": output %q", r.Output)
}

// Env is the whole environment scripts get.
func Env() []string { return []string{"PATH=" + DefaultPath} }

// Run runs c and waits for it: in its own process group, as c.Identity,
// with Env() and "/" as working directory, stdin /dev/null and output kept
// through a Tail. When c.Timeout passes or ctx ends, the group gets SIGTERM,
// then SIGKILL after KillGrace; once the script has exited, whatever is left
// of its group is killed, so no child outlives it.
func Run(ctx context.Context, c Command) Result {
	start := time.Now()
	res := Result{ExitCode: -1}
	if len(c.Argv) == 0 {
		res.Err = ErrEmptyCommand
		return res
	}
	path := c.Path
	if path == "" {
		path = c.Argv[0]
		if !strings.Contains(path, "/") {
			p, err := lookPath(path)
			if err != nil {
				res.Err = err
				return res
			}
			path = p
		}
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if c.Identity != nil {
		cred, err := credential(*c.Identity)
		if err != nil {
			res.Err = fmt.Errorf("script: run %s: %w", c.Argv[0], err)
			return res
		}
		attr.Credential = cred
	}
	limit := c.OutputLimit
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		res.Err = fmt.Errorf("script: run %s: output pipe: %w", c.Argv[0], err)
		return res
	}
	cmd := &exec.Cmd{Path: path, Args: c.Argv, Env: Env(), Dir: "/", Stdout: pw, Stderr: pw, SysProcAttr: attr}
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		res.Err = fmt.Errorf("script: start %s: %w", c.Argv[0], err)
		return res
	}
	_ = pw.Close() // the script's copies are the only writers now
	pgid := cmd.Process.Pid
	res.PGID = pgid
	tail := NewTail(limit)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(tail, pr) // ends at EOF: every writer exited, or pr closed
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var timer <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		timer = t.C
	}
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-timer:
		res.TimedOut = true
		waitErr = killGroup(pgid, exited)
	case <-ctx.Done():
		res.TimedOut = true
		waitErr = killGroup(pgid, exited)
	}
	// The leader is reaped; its group stays allocated while members live, so
	// this reaches exactly what the script left behind.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(KillGrace):
		// A child that left the group (setsid) still holds the pipe: stop reading.
	}
	_ = pr.Close()
	<-copied

	res.Duration = time.Since(start)
	out := tail.Bytes()
	res.Output = strings.TrimSpace(string(out))
	res.OutputBytes, res.Dropped = tail.Total(), tail.Dropped()
	if ps := cmd.ProcessState; ps != nil {
		res.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		res.Err = fmt.Errorf("script: wait %s: %w", c.Argv[0], waitErr)
	}
	return res
}

// killGroup sends SIGTERM to the group, then SIGKILL after KillGrace, and
// returns Wait's error.
func killGroup(pgid int, exited <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(KillGrace)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
	}
}

// lookPath finds a bare command name in DefaultPath (not the daemon's PATH).
func lookPath(name string) (string, error) {
	for _, dir := range strings.Split(DefaultPath, ":") {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("script: %s not found in %s: %w", name, DefaultPath, exec.ErrNotFound)
}

// credential is the SysProcAttr.Credential for id: always as root (which
// also sets the supplementary groups, none unless id has some), none when
// the daemon already is id and cannot change groups.
func credential(id Identity) (*syscall.Credential, error) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if uid != 0 {
		if id.UID == uid && id.GID == gid {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot run as %s: drlb runs as uid %d, not root", id, uid)
	}
	groups := id.Groups
	if groups == nil {
		groups = []uint32{}
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: groups}, nil
}
