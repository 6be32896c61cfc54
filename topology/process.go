package topology

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// ProcSpec describes a process to run inside a lab host.
type ProcSpec struct {
	// Name identifies the process within its host (log file logs/<host>/<name>.log).
	Name string
	// Argv is the program and its arguments.
	Argv []string
	// Env is added to the lab environment (see Env).
	Env []string
	// Dir is the working directory (default: the host's run directory).
	Dir string
}

// Process is a process the lab started inside a host. Its output goes to
// LogPath; it runs in its own session so terminal signals do not reach it.
type Process struct {
	Host, Name string
	PID        int
	LogPath    string

	rec  ProcRecord
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Env is the environment of processes run in host: the caller's, plus
// DRLAB_NAME, DRLAB_HOST, DRLB_RUN_DIR (so `drlb status` finds the host's
// daemon) and PATH with the drlab binary's directory first.
func (l *Lab) Env(host string, extra ...string) []string {
	env := os.Environ()
	path := os.Getenv("PATH")
	if l.drlab != "" {
		path = filepath.Dir(l.drlab) + ":" + path
	}
	env = append(env,
		"DRLAB_NAME="+l.name,
		"DRLAB_HOST="+host,
		"DRLB_RUN_DIR="+l.RunDir(host),
		"PATH="+path,
	)
	return append(env, extra...)
}

// Start runs a process inside host, records it in the lab state (so
// `drlab down` ends it even if this program crashes), and returns at once.
func (l *Lab) Start(host string, spec ProcSpec) (*Process, error) {
	if err := l.checkHost(host); err != nil {
		return nil, err
	}
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/ ") || len(spec.Argv) == 0 {
		return nil, fmt.Errorf("start in %s: process needs a name without '/' or spaces and a command", host)
	}
	key := host + "/" + spec.Name
	if rec, ok := l.record(host, spec.Name); ok && rec.alive() {
		return nil, fmt.Errorf("start %s: already running as pid %d", key, rec.PID)
	}
	logDir := filepath.Join(l.dir, "logs", host)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", key, err)
	}
	if err := os.MkdirAll(l.RunDir(host), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", key, err)
	}
	logPath := filepath.Join(logDir, spec.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", key, err)
	}
	// The child gets its own descriptor of the log; ours only wrote the header.
	defer func() { _ = logFile.Close() }()
	fmt.Fprintf(logFile, "=== %s drlab: start %s in %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), spec.Name, host, strings.Join(spec.Argv, " "))

	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = l.Env(host, spec.Env...)
	cmd.Dir = spec.Dir
	if cmd.Dir == "" {
		cmd.Dir = l.RunDir(host)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := l.Do(host, cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", key, spec.Argv[0], err)
	}
	_, startTime, err := procStat(cmd.Process.Pid)
	if err != nil {
		// The process exited already; record it anyway so Wait reports why.
		startTime = 0
	}
	p := &Process{
		Host: host, Name: spec.Name, PID: cmd.Process.Pid, LogPath: logPath,
		rec: ProcRecord{Host: host, Name: spec.Name, PID: cmd.Process.Pid, StartTime: startTime,
			Argv: spec.Argv, Log: logPath, Started: time.Now().UTC()},
		cmd:  cmd,
		done: make(chan struct{}),
	}
	// Ends when the process exits; Down and Stop make sure it does.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := l.store.update(func(st *State) error {
		kept := st.Processes[:0]
		for _, r := range st.Processes {
			if r.Host != host || r.Name != spec.Name {
				kept = append(kept, r)
			}
		}
		kept = append(kept, p.rec)
		st.Processes = kept
		return nil
	}); err != nil {
		_ = p.rec.killGroup()
		return nil, fmt.Errorf("start %s: %w", key, err)
	}
	l.mu.Lock()
	l.procs[key] = p
	l.mu.Unlock()
	return p, nil
}

// record finds the recorded process host/name in the lab state.
func (l *Lab) record(host, name string) (ProcRecord, bool) {
	st, err := l.store.read()
	if err != nil {
		return ProcRecord{}, false
	}
	for _, r := range st.Processes {
		if r.Host == host && r.Name == name {
			return r, true
		}
	}
	return ProcRecord{}, false
}

// Signal sends sig to the recorded process host/name, also one started by
// another drlab invocation. It refuses if the PID now belongs to another process.
func (l *Lab) Signal(host, name string, sig syscall.Signal) error {
	rec, ok := l.record(host, name)
	if !ok {
		return fmt.Errorf("no process %q in host %s of lab %s", name, host, l.name)
	}
	return rec.signal(sig)
}

// Running reports whether the recorded process host/name is alive.
func (l *Lab) Running(host, name string) bool {
	rec, ok := l.record(host, name)
	return ok && rec.alive()
}

// Processes lists the recorded processes (running or not).
func (l *Lab) Processes() ([]ProcRecord, error) {
	st, err := l.store.read()
	if err != nil {
		return nil, err
	}
	return st.Processes, nil
}

// Signal sends sig to the process, not its children, but SIGKILL, SIGSTOP
// and SIGCONT, which reach its process group (see signalTarget).
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return fmt.Errorf("signal %v to %s/%s: process %d already exited", sig, p.Host, p.Name, p.PID)
	default:
	}
	if err := syscall.Kill(signalTarget(p.PID, sig), sig); err != nil {
		return fmt.Errorf("signal %v to %s/%s (pid %d): %w", sig, p.Host, p.Name, p.PID, err)
	}
	return nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit error (nil for status 0).
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("wait for %s/%s (pid %d): %w", p.Host, p.Name, p.PID, ctx.Err())
	}
}

// Stop sends SIGTERM and waits up to grace, then kills the process group.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s/%s: %w", p.Host, p.Name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := p.rec.killGroup(); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Process) Kill() error {
	if p.Exited() {
		return nil
	}
	if err := p.rec.killGroup(); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Log returns the process's log so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// WaitLog polls the process's log until a line matches re, the process
// exits, or ctx ends. It returns the matching line.
func (p *Process) WaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	backoff := 2 * time.Millisecond
	for {
		if line, ok := matchLine(p.LogPath, re); ok {
			return line, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for %q in %s: %w", re, p.LogPath, ctx.Err())
		case <-p.done:
			if line, ok := matchLine(p.LogPath, re); ok {
				return line, nil
			}
			if p.err == nil {
				return "", fmt.Errorf("wait for %q: %s/%s exited (<nil>); see %s", re, p.Host, p.Name, p.LogPath)
			}
			return "", fmt.Errorf("wait for %q: %s/%s exited (%w); see %s", re, p.Host, p.Name, p.err, p.LogPath)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}

func matchLine(path string, re *regexp.Regexp) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer func() { _ = f.Close() }() // read-only
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if re.MatchString(sc.Text()) {
			return sc.Text(), true
		}
	}
	return "", false
}

// StartCmd starts an arbitrary command inside host without recording it:
// for short-lived commands the caller waits for (drlab exec, tests).
// cmd.Env gets the lab environment added.
func (l *Lab) StartCmd(host string, cmd *exec.Cmd) error {
	cmd.Env = l.Env(host, cmd.Env...)
	if err := l.Do(host, cmd.Start); err != nil {
		return fmt.Errorf("run %s in %s: %w", cmd.Path, host, err)
	}
	return nil
}

// Output runs argv inside host to completion and returns its combined output.
func (l *Lab) Output(ctx context.Context, host string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("output: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := l.StartCmd(host, cmd); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return []byte(out.String()), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), host, err, strings.TrimSpace(out.String()))
	}
	return []byte(out.String()), nil
}

func (l *Lab) startServices(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	type ready struct{ host, addr string }
	var waits []ready
	for _, host := range l.spec.Hosts {
		for _, svc := range host.Services {
			if svc.FRR != nil {
				if err := l.startFRR(ctx, host.Name, svc); err != nil {
					return err
				}
				continue
			}
			spec := ProcSpec{Name: svc.Name, Argv: svc.Command}
			ready := svc.ReadyTCP
			if svc.Web != nil {
				spec.Argv = []string{l.drlab, "serve", "--host", host.Name, "--root", l.WebRoot(host.Name),
					"--listen", fmt.Sprintf(":%d", svc.Web.Port)}
				ready = fmt.Sprintf("127.0.0.1:%d", svc.Web.Port)
			}
			if _, err := l.Start(host.Name, spec); err != nil {
				return err
			}
			if ready != "" {
				waits = append(waits, struct{ host, addr string }{host.Name, ready})
			}
		}
	}
	for _, w := range waits {
		if err := l.WaitTCP(ctx, w.host, w.addr); err != nil {
			return fmt.Errorf("service in %s not ready: %w", w.host, err)
		}
	}
	return nil
}

// ServiceSpec returns the ProcSpec Up used for a host's service, so a
// scenario can restart a stopped web server the same way.
func (l *Lab) ServiceSpec(host, name string) (ProcSpec, error) {
	h := l.spec.Host(host)
	if h == nil {
		return ProcSpec{}, l.checkHost(host)
	}
	for _, svc := range h.Services {
		if svc.Name != name {
			continue
		}
		if svc.Web != nil {
			return ProcSpec{Name: svc.Name, Argv: []string{l.drlab, "serve", "--host", host, "--root", l.WebRoot(host),
				"--listen", fmt.Sprintf(":%d", svc.Web.Port)}}, nil
		}
		return ProcSpec{Name: svc.Name, Argv: svc.Command}, nil
	}
	return ProcSpec{}, fmt.Errorf("host %s has no service %q", host, name)
}
