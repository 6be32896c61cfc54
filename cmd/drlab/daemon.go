package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/topology"
)

// cmdDaemon starts, stops, kills or reloads the balancer daemon in a lab host.
func cmdDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usageLine = "start HOST -f FILE [--config-id ID] [--dataplane auto|ipvs|nft] [--keepalived] | stop|kill|reload HOST"
	fs, name, root := newFlags("daemon", usageLine, stderr)
	file := fs.String("f", "", "keepalived.conf to run (start)")
	configID := fs.String("config-id", "", "drlb --config-id (start)")
	dataplane := fs.String("dataplane", "", "drlb --dataplane: auto, ipvs or nft (start)")
	keepalived := fs.Bool("keepalived", false, "run keepalived (VRRP only) instead of drlb")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) != 2 {
		fs.Usage()
		return 2
	}
	verb, host := p.args[0], p.args[1]
	lab, err := topology.Open(*name, *root)
	if err != nil {
		fmt.Fprintf(stderr, "drlab daemon: %v\n", err)
		return 1
	}
	kind := scenarios.DaemonDrlb
	if *keepalived {
		kind = scenarios.DaemonKeepalived
	}
	proc := scenarios.ProcessName(kind)
	switch verb {
	case "start":
		if *file == "" {
			fmt.Fprintln(stderr, "drlab daemon start: give the config with -f FILE")
			return 2
		}
		abs, err := filepath.Abs(*file)
		if err != nil {
			fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
			return 1
		}
		o := scenarios.DaemonOptions{Kind: kind, Binary: filepath.Join(binDir(), "drlb"), ConfigFile: abs, ConfigID: *configID, Dataplane: *dataplane}
		if *keepalived {
			o.Binary = scenarios.DefaultKeepalived
		}
		if !*keepalived {
			if err := scenarios.CheckDrlbRun(ctx, o.Binary); err != nil {
				fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
				return 1
			}
		}
		start := time.Now()
		p, err := scenarios.StartDaemon(ctx, lab, host, o)
		if err != nil {
			fmt.Fprintf(stderr, "drlab daemon start: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s on %s ready in %v (pid %d, log %s)\n", proc, host, time.Since(start).Round(time.Millisecond), p.PID, p.LogPath)
		if !*keepalived {
			fmt.Fprintf(stdout, "try: drlab exec --name %s %s -- drlb status\n", *name, host)
		}
		return 0
	case "stop", "kill", "reload":
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
	fs.Usage()
	return 2
}
