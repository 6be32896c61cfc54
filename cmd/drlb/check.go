package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/config"
)

// cmdCheck validates a keepalived.conf: diagnostics go to stderr, one per
// line; with --dump the effective configuration goes to stdout as JSON.
// Exit codes: 0 usable (warnings allowed), 1 errors, 2 bad arguments.
func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlb check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "configuration `FILE` (default /etc/keepalived/keepalived.conf,\nor /etc/drlb/keepalived.conf when the first does not exist)")
	configID := fs.String("config-id", "", "configuration `ID` selecting @ID / @^ID lines (default: the short host name, as keepalived)")
	hostChecks := fs.Bool("host-checks", false, "also check this host (interfaces named in the file exist)")
	dump := fs.Bool("dump", false, "print the effective configuration, defaults filled in, as JSON on stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: drlb check [-f FILE] [--config-id ID] [--host-checks] [--dump]")
		fmt.Fprintln(stderr, "\nValidate a keepalived.conf and report every problem as FILE:LINE:COL: error|warning: message.")
		fmt.Fprintln(stderr, "Exit status: 0 usable (warnings allowed), 1 errors found, 2 bad arguments.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drlb check: unexpected argument %q (use -f FILE)\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	path := *file
	if path == "" {
		path = config.DefaultPath()
	}
	id := *configID
	if id == "" {
		id = config.DefaultConfigID()
	}
	cfg, diags, err := config.Load(path, config.Options{ConfigID: id, HostChecks: *hostChecks})
	if cfg != nil {
		// The scripts are checked on this host as drlb run checks them.
		sdiags := daemon.CheckScripts(cfg)
		diags = append(diags, sdiags...)
		if sdiags.HasErrors() && err == nil {
			err = fmt.Errorf("%s: scripts: %w", path, config.ErrInvalid)
		}
	}
	for _, d := range diags {
		fmt.Fprintln(stderr, d.String())
	}
	if *dump && cfg != nil {
		data, derr := cfg.DumpJSON()
		if derr != nil {
			fmt.Fprintf(stderr, "drlb check: %v\n", derr)
			return 1
		}
		if _, werr := stdout.Write(data); werr != nil {
			fmt.Fprintf(stderr, "drlb check: write dump: %v\n", werr)
			return 1
		}
	}
	switch {
	case err != nil && !errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "drlb check: %v\n", err)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "%s: not usable: %d error(s), %d warning(s)\n", path, len(diags.Errors()), len(diags.Warnings()))
		return 1
	}
	if !*dump {
		fmt.Fprintf(stdout, "%s: usable, %d warning(s)\n", path, len(diags.Warnings()))
	}
	return 0
}
