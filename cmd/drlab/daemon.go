package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/topology"
)

// daemonOptions are drlab daemon's flags.
type daemonOptions struct {
	file, configID, dataplane string
	keepalived                bool
}

func newDaemonCmd() *cobra.Command {
	var o daemonOptions
	c := &cobra.Command{
		Use:   "daemon start HOST -f FILE [--config-id ID] [--dataplane auto|ipvs|nft] [--keepalived] | stop|kill|reload HOST",
		Short: "start, stop or kill drlb on a lab balancer",
		Long: `Starts drlb (or keepalived, VRRP only, with --keepalived) on a lab host and
waits until it is ready; stop sends SIGTERM, kill SIGKILL (both wait for the
exit). reload runs drlb reload against the host's daemon: it prints what changed,
or why the reload was refused (exit status 1; the running configuration stays);
with --keepalived it sends SIGHUP.`,
		Args: cobra.ArbitraryArgs,
	}
	lf := addLabFlags(c)
	f := c.Flags()
	f.StringVarP(&o.file, "use-file", "f", "", "keepalived.conf `FILE` to run (start)")
	f.StringVar(&o.configID, "config-id", "", "drlb --config-id `ID` (start)")
	f.StringVar(&o.dataplane, "dataplane", "", "drlb --dataplane: auto, ipvs or nft (start)")
	f.BoolVar(&o.keepalived, "keepalived", false, "run keepalived (VRRP only) instead of drlb")
	_ = c.MarkFlagFilename("use-file", "conf")
	_ = c.RegisterFlagCompletionFunc("dataplane", cobra.FixedCompletions([]string{"auto", "ipvs", "nft"}, cobra.ShellCompDirectiveNoFileComp))
	c.ValidArgsFunction = func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return []string{"start", "stop", "kill", "reload"}, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return hostArg(lf)(c, nil, "")
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) != 2 {
			return cli.BadUsage(c)
		}
		lf.resolve(c)
		return cli.Exit(o.run(c, lf, args[0], args[1]))
	}
	return c
}

// run does verb (start, stop, kill, reload) to the daemon on host and
// returns the exit status.
func (o daemonOptions) run(c *cobra.Command, lf *labFlags, verb, host string) int {
	ctx, stdout, stderr := c.Context(), c.OutOrStdout(), c.ErrOrStderr()
	name, root := lf.name, lf.stateRoot
	lab, err := topology.Open(name, root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab daemon: %v\n", err)
		return 1
	}
	kind := scenarios.DaemonDrlb
	if o.keepalived {
		kind = scenarios.DaemonKeepalived
	}
	proc := scenarios.ProcessName(kind)
	switch verb {
	case "start":
		if o.file == "" {
			fmt.Fprintln(stderr, "drlab daemon start: give the config with -f FILE")
			return 2
		}
		abs, err := filepath.Abs(o.file)
		if err != nil {
			fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
			return 1
		}
		do := scenarios.DaemonOptions{Kind: kind, Binary: filepath.Join(binDir(), "drlb"), ConfigFile: abs, ConfigID: o.configID, Dataplane: o.dataplane}
		if o.keepalived {
			do.Binary = scenarios.DefaultKeepalived
		}
		if !o.keepalived {
			if err := scenarios.CheckDrlbRun(ctx, do.Binary); err != nil {
				fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
				return 1
			}
		}
		start := time.Now()
		p, err := scenarios.StartDaemon(ctx, lab, host, do)
		if err != nil {
			fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s on %s ready in %v (pid %d, log %s)\n", proc, host, time.Since(start).Round(time.Millisecond), p.PID, p.LogPath)
		if !o.keepalived {
			fmt.Fprintf(stdout, "try: drlab exec --name %s %s -- drlb status\n", name, host)
		}
		return 0
	case "reload":
		if !o.keepalived {
			return reloadDrlb(ctx, lab, host, stdout, stderr)
		}
		fallthrough
	case "stop", "kill":
		sig := map[string]syscall.Signal{"stop": syscall.SIGTERM, "kill": syscall.SIGKILL, "reload": syscall.SIGHUP}[verb]
		if err := lab.Signal(host, proc, sig); err != nil {
			fmt.Fprintf(stderr, "drlab daemon %s: %v\n", verb, err)
			return 1
		}
		if verb != "reload" {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := scenarios.WaitExit(wctx, lab, host, proc); err != nil {
				fmt.Fprintf(stderr, "drlab daemon %s: %v\n", verb, err)
				return 1
			}
		}
		fmt.Fprintf(stdout, "%s on %s: %s done\n", proc, host, verb)
		return 0
	}
	fmt.Fprintf(stderr, "drlab daemon: unknown action %q\n", verb)
	_ = cli.BadUsage(c)
	return 2
}

// reloadDrlb asks host's drlb to reload through its control socket (`drlb
// reload --run-dir`), so the answer is the daemon's: what changed, or why
// the reload was refused and the running configuration stays. It returns
// drlb reload's exit status (1 when refused), where a bare SIGHUP could only
// say that the signal was sent.
func reloadDrlb(ctx context.Context, lab *topology.Lab, host string, stdout, stderr io.Writer) int {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir(), "drlb"), "reload", "--run-dir", lab.RunDir(host))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	}
	fmt.Fprintf(stderr, "drlab daemon reload: %v\n", err)
	return 1
}
