package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/internal/cli"
)

// runOptions are drlb run's flags.
type runOptions struct {
	file, configID, runDir, plane, metrics string
	vrrpOnly, checkOnly, test, keep, debug bool
	vrrpInProcess                          bool // hidden: VRRP on a thread of this process
	dontFork, logDetail, logConsole        bool // keepalived's -n, -D, -l: accepted, no effect
}

func newRunCmd() *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run [-f FILE] [--config-id ID] [--run-dir DIR] [--dataplane auto|ipvs|nft] [flags]",
		Short: "run the daemon",
		Long: `Runs the daemon in the foreground: VRRP, health checks and the data plane.
The default configuration is /etc/keepalived/keepalived.conf; when it does not exist,
/etc/drlb/keepalived.conf is used. SIGHUP reloads the file, SIGTERM stops cleanly
(priority-0 adverts, VIPs removed, forwarding table flushed unless
--keep-dataplane). As keepalived, SIGUSR1 writes the state to /tmp/keepalived.data,
SIGUSR2 the VRRP counters to /tmp/keepalived.stats and SIGRTMIN+2 the VRRP
instances to /tmp/keepalived.json (global_defs state_file_location,
stats_file_location, json_file_location, data_use_instance, json_version).

keepalived's short options work as in keepalived: -f, -P, -C, -t, -i, and -n, -l, -D
(accepted; drlb always stays in the foreground and logs to stderr).`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "drlb run: unexpected argument %q\n", args[0])
				return cli.Exit(2)
			}
			return cli.Exit(o.run(c.Context(), c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	f := c.Flags()
	f.StringVarP(&o.file, "use-file", "f", "", "configuration `FILE` (keepalived.conf syntax; default as above)")
	f.StringVarP(&o.configID, "config-id", "i", "", "select @`ID` conditional lines (default: the host name)")
	f.StringVar(&o.runDir, "run-dir", "", "`DIR`ectory for the pid file and control socket (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	f.StringVar(&o.plane, "dataplane", "", "auto, ipvs or nft (overrides global_defs drlb_dataplane)")
	f.BoolVarP(&o.vrrpOnly, "vrrp", "P", false, "run only VRRP (keepalived -P)")
	f.BoolVarP(&o.checkOnly, "check", "C", false, "run only health checks and the data plane (keepalived -C)")
	f.BoolVarP(&o.test, "config-test", "t", false, "check the configuration and exit (keepalived -t); see also drlb check")
	f.StringVar(&o.metrics, "metrics-address", "127.0.0.1:9650", "Prometheus metrics listen `ADDRESS` (\"\" disables)")
	f.BoolVar(&o.keep, "keep-dataplane", false, "leave the forwarding table in the kernel on stop")
	f.BoolVar(&o.debug, "debug", false, "log debug lines")
	f.BoolVarP(&o.dontFork, "dont-fork", "n", true, "stay in the foreground (always; accepted for keepalived habits)")
	f.BoolVarP(&o.logDetail, "log-detail", "D", false, "detailed log (accepted for keepalived habits; see --debug)")
	f.BoolVarP(&o.logConsole, "log-console", "l", false, "log to the console (always; accepted for keepalived habits)")
	f.BoolVar(&o.vrrpInProcess, "vrrp-in-process", false, "run VRRP on a thread of this process instead of its own child process (debugging)")
	_ = f.MarkHidden("vrrp-in-process")
	_ = c.MarkFlagFilename("use-file", "conf")
	_ = c.MarkFlagDirname("run-dir")
	_ = c.RegisterFlagCompletionFunc("dataplane", cobra.FixedCompletions([]string{"auto", "ipvs", "nft"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// run runs the daemon until ctx ends (or checks the file with -t) and
// returns the exit status: 0 clean stop, 1 failure, 2 bad flags.
func (o runOptions) run(ctx context.Context, stdout, stderr io.Writer) int {
	if o.file == "" {
		o.file = config.DefaultPath()
	}
	if o.vrrpOnly && o.checkOnly {
		fmt.Fprintln(stderr, "drlb run: --vrrp and --check exclude each other")
		return 2
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	log := slog.New(daemon.NewLineHandler(stderr, level))
	if o.test {
		// net_namespace: check the interfaces there, as drlb run would
		// see them (does not return then; the load reports a missing one).
		_ = daemon.EnterNetNamespace(o.file, o.configID)
		if _, _, err := daemon.Load(o.file, o.configID, daemon.Options{Dataplane: o.plane, VRRPOnly: o.vrrpOnly}.HostIPVS(), log); err != nil {
			fmt.Fprintf(stderr, "drlb run: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: configuration OK\n", o.file)
		return 0
	}
	// net_namespace: continue inside that namespace (does not return then).
	if err := daemon.EnterNetNamespace(o.file, o.configID); err != nil {
		fmt.Fprintf(stderr, "drlb run: %v\n", err)
		return 1
	}
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dump := dumpSignals(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	err := daemon.Run(ctx, daemon.Options{
		ConfigFile: o.file, ConfigID: o.configID, RunDir: api.RunDir(o.runDir), Dataplane: o.plane,
		VRRPOnly: o.vrrpOnly, CheckOnly: o.checkOnly, MetricsAddr: o.metrics, KeepDataplane: o.keep,
		Version: version, Logger: log, Reload: reload, Dump: dump,
		Ready:     func() { sdNotify("READY=1") },
		VRRPChild: !o.vrrpInProcess,
	})
	if err != nil {
		fmt.Fprintf(stderr, "drlb run: %v\n", err)
		return 1
	}
	return 0
}

// sdNotify tells systemd (Type=notify) about our state; a no-op elsewhere.
func sdNotify(state string) {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	_, _ = conn.Write([]byte(state))
}

// sigRTMin2 is glibc's SIGRTMIN+2 (glibc keeps the kernel's first two
// real-time signals for itself: SIGRTMIN is 34), keepalived's JSON signal.
const sigRTMin2 = syscall.Signal(36)

// dumpSignals turns keepalived's dump signals into daemon.DumpKind
// requests until ctx ends: SIGUSR1 data, SIGUSR2 stats, SIGRTMIN+2 JSON.
func dumpSignals(ctx context.Context) <-chan daemon.DumpKind {
	sig := make(chan os.Signal, 3)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, sigRTMin2)
	out := make(chan daemon.DumpKind, 3)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sig:
				kind := map[os.Signal]daemon.DumpKind{syscall.SIGUSR1: daemon.DumpData, syscall.SIGUSR2: daemon.DumpStats, sigRTMin2: daemon.DumpJSON}[s]
				select {
				case out <- kind:
				default: // a dump of each kind is already waiting
				}
			}
		}
	}()
	return out
}
