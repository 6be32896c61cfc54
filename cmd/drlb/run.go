package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlb run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", config.DefaultPath(), "configuration file (keepalived.conf syntax)")
	configID := fs.String("config-id", "", "select @ID conditional lines (default: the host name)")
	runDir := fs.String("run-dir", "", "directory for the pid file and control socket (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	plane := fs.String("dataplane", "", "auto, ipvs or nft (overrides global_defs drlb_dataplane)")
	vrrpOnly := fs.Bool("vrrp", false, "run only VRRP (keepalived -P)")
	checkOnly := fs.Bool("check", false, "run only health checks and the data plane (keepalived -C)")
	test := fs.Bool("config-test", false, "check the configuration and exit (keepalived -t); see also drlb check")
	metrics := fs.String("metrics-address", "127.0.0.1:9650", "Prometheus metrics listen address (\"\" disables)")
	keep := fs.Bool("keep-dataplane", false, "leave the forwarding table in the kernel on stop")
	debug := fs.Bool("debug", false, "log debug lines")
	fs.BoolVar(vrrpOnly, "P", false, "short for --vrrp")
	fs.BoolVar(checkOnly, "C", false, "short for --check")
	fs.BoolVar(test, "t", false, "short for --config-test")
	fs.Bool("n", true, "stay in the foreground (always; accepted for keepalived habits)")
	fs.Bool("D", false, "detailed log (accepted for keepalived habits; see --debug)")
	fs.Bool("l", false, "log to the console (always; accepted for keepalived habits)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: drlb run [-f FILE] [--config-id ID] [--run-dir DIR] [--dataplane auto|ipvs|nft] [flags]

Runs the daemon in the foreground: VRRP, health checks and the data plane.
The default configuration is %s; when it does not exist,
%s is used. SIGHUP reloads the file, SIGTERM stops cleanly
(priority-0 adverts, VIPs removed, forwarding table flushed unless
--keep-dataplane).

flags:
`, "/etc/keepalived/keepalived.conf", "/etc/drlb/keepalived.conf")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drlb run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *vrrpOnly && *checkOnly {
		fmt.Fprintln(stderr, "drlb run: --vrrp and --check exclude each other")
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(daemon.NewLineHandler(stderr, level))
	if *test {
		if _, _, err := daemon.Load(*file, *configID, log); err != nil {
			fmt.Fprintf(stderr, "drlb run: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: configuration OK\n", *file)
		return 0
	}
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
		ConfigFile: *file, ConfigID: *configID, RunDir: api.RunDir(*runDir), Dataplane: *plane,
		VRRPOnly: *vrrpOnly, CheckOnly: *checkOnly, MetricsAddr: *metrics, KeepDataplane: *keep,
		Version: version, Logger: log, Reload: reload,
		Ready: func() { sdNotify("READY=1") },
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
