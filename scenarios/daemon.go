package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/topology"
)

// Process names of the daemons in a lab host (logs/<host>/<name>.log).
const (
	DrlbProcess       = "drlb"
	KeepalivedProcess = "keepalived"
)

// DefaultKeepalived is the Debian package's keepalived.
const DefaultKeepalived = "/usr/sbin/keepalived"

// DaemonOptions say how to run a balancer daemon in a lab host.
type DaemonOptions struct {
	// Kind is drlb (default) or keepalived.
	Kind string
	// Binary is the drlb (or keepalived) executable.
	Binary string
	// ConfigFile is the keepalived.conf to run.
	ConfigFile string
	// ConfigID is passed as --config-id (drlb).
	ConfigID string
	// Dataplane is passed as --dataplane (drlb): auto, ipvs or nft.
	Dataplane string
}

// ProcessName is the lab process name of a daemon kind.
func ProcessName(kind string) string {
	if kind == DaemonKeepalived {
		return KeepalivedProcess
	}
	return DrlbProcess
}

// DaemonSpec returns the lab process spec of a daemon on host: drlb runs
// with the host's run directory (its control socket is RunDir/drlb.sock);
// keepalived runs VRRP-only in the foreground with pid files there.
func DaemonSpec(lab *topology.Lab, host string, o DaemonOptions) (topology.ProcSpec, error) {
	if o.ConfigFile == "" {
		return topology.ProcSpec{}, errors.New("daemon: no config file")
	}
	runDir := lab.RunDir(host)
	if o.Kind == DaemonKeepalived {
		bin := o.Binary
		if bin == "" {
			bin = DefaultKeepalived
		}
		return topology.ProcSpec{Name: KeepalivedProcess, Argv: []string{bin, "-n", "-l", "-D", "-P",
			"-f", o.ConfigFile, "-p", filepath.Join(runDir, "keepalived.pid"), "-r", filepath.Join(runDir, "keepalived-vrrp.pid")}}, nil
	}
	if o.Binary == "" {
		return topology.ProcSpec{}, errors.New("daemon: no drlb binary")
	}
	argv := []string{o.Binary, "run", "-f", o.ConfigFile, "--run-dir", runDir}
	if o.ConfigID != "" {
		argv = append(argv, "--config-id", o.ConfigID)
	}
	if o.Dataplane != "" {
		argv = append(argv, "--dataplane", o.Dataplane)
	}
	return topology.ProcSpec{Name: DrlbProcess, Argv: argv}, nil
}

// keepalivedReady matches keepalived's first VRRP state line.
var keepalivedReady = regexp.MustCompile(`Entering \w+ STATE`)

// StartDaemon starts a daemon on host and waits until it is ready: drlb
// answers on its control socket; keepalived logged its first VRRP state.
// On failure it stops the process and returns an error with its log's tail.
func StartDaemon(ctx context.Context, lab *topology.Lab, host string, o DaemonOptions) (*topology.Process, error) {
	spec, err := DaemonSpec(lab, host, o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(lab.RunDir(host), 0o755); err != nil {
		return nil, fmt.Errorf("start %s on %s: %w", spec.Name, host, err)
	}
	if o.Kind != DaemonKeepalived {
		// A socket left by a killed daemon would answer nothing; the new one replaces it.
		_ = os.Remove(filepath.Join(lab.RunDir(host), api.SocketName))
	}
	proc, err := lab.Start(host, spec)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if o.Kind == DaemonKeepalived {
		_, err = proc.WaitLog(ctx, keepalivedReady)
	} else {
		err = WaitControl(ctx, lab, host, proc)
	}
	if err != nil {
		_ = proc.Kill()
		return nil, fmt.Errorf("start %s on %s: %w\n%s", spec.Name, host, err, LogTail(proc.LogPath, 20))
	}
	return proc, nil
}

// WaitControl polls the daemon's control socket until it answers, the
// process exits, or ctx ends.
func WaitControl(ctx context.Context, lab *topology.Lab, host string, proc *topology.Process) error {
	client := api.NewClient(lab.RunDir(host))
	backoff := 5 * time.Millisecond
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.Status(attempt)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("drlb on %s: control socket did not answer: %w (last: %w)", host, ctx.Err(), last)
		case <-proc.Done():
			return fmt.Errorf("drlb on %s exited before its control socket answered: %w", host, proc.Wait(context.WithoutCancel(ctx)))
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// SignalDaemon sends sig to host's daemon (found by name in the lab state).
func SignalDaemon(lab *topology.Lab, host, kind string, sig syscall.Signal) error {
	return lab.Signal(host, ProcessName(kind), sig)
}

// WaitExit polls until host's daemon is no longer running, or ctx ends.
func WaitExit(ctx context.Context, lab *topology.Lab, host, name string) error {
	for lab.Running(host, name) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s on %s still running: %w", name, host, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// LogTail returns the last n lines of a log file, indented.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + path + ":\n    " + strings.Join(lines, "\n    ")
}

// CheckDrlbRun runs `drlb run -h` and says whether the daemon exists in this
// build; scenarios with drlb balancers cannot run without it.
func CheckDrlbRun(ctx context.Context, binary string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := commandOutput(ctx, binary, "run", "-h")
	if err != nil {
		return fmt.Errorf("`%s run -h` failed (%w): the daemon is not available in this build: %s", binary, err, strings.TrimSpace(out))
	}
	return nil
}
