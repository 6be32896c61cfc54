package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/internal/cli"
)

// checkOptions are drlb check's flags.
type checkOptions struct {
	file, configID   string
	hostChecks, dump bool
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	c := &cobra.Command{
		Use:   "check [-f FILE] [--config-id ID] [--host-checks] [--dump]",
		Short: "validate a configuration file",
		Long: `Validate a keepalived.conf and report every problem as FILE:LINE:COL: error|warning: message.
With --dump the effective configuration, keepalived's defaults filled in, goes to stdout as JSON.
Exit status: 0 usable (warnings allowed), 1 errors found, 2 bad arguments.`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "drlb check: unexpected argument %q (use -f FILE)\n", args[0])
				return cli.BadUsage(c)
			}
			return cli.Exit(o.run(c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	f := c.Flags()
	f.StringVarP(&o.file, "use-file", "f", "", "configuration `FILE` (default /etc/keepalived/keepalived.conf,\nor /etc/drlb/keepalived.conf when the first does not exist)")
	f.StringVarP(&o.configID, "config-id", "i", "", "configuration `ID` selecting @ID / @^ID lines (default: the short host name, as keepalived)")
	f.BoolVar(&o.hostChecks, "host-checks", false, "also check this host (interfaces named in the file exist; without IPVS,\nservices the nftables data plane cannot program are errors)")
	f.BoolVar(&o.dump, "dump", false, "print the effective configuration, defaults filled in, as JSON on stdout")
	_ = c.MarkFlagFilename("use-file", "conf")
	return c
}

// cmdCheck runs `drlb check args...` and returns its exit status.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, newRootCmd(), append([]string{"check"}, args...), stdout, stderr) //nolint:contextcheck // ctx reaches the command through ExecuteContext
}

// run validates the file: diagnostics go to stderr, one per line; with
// --dump the effective configuration goes to stdout as JSON. It returns
// the exit status: 0 usable (warnings allowed), 1 errors.
func (o checkOptions) run(stdout, stderr io.Writer) int {
	path := o.file
	if path == "" {
		path = config.DefaultPath()
	}
	id := o.configID
	if id == "" {
		id = config.DefaultConfigID()
	}
	opts := config.Options{ConfigID: id, HostChecks: o.hostChecks}
	if o.hostChecks {
		// net_namespace: check the interfaces there, as drlb run would see
		// them (does not return then; a missing namespace is reported below).
		_ = daemon.EnterNetNamespace(path, id)
	}
	if o.hostChecks {
		opts.IPVSAvailable = func() bool { return ipvs.Available(dataplane.Options{}) == nil }
	}
	cfg, diags, err := config.Load(path, opts)
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
	if o.dump && cfg != nil {
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
	if !o.dump {
		fmt.Fprintf(stdout, "%s: usable, %d warning(s)\n", path, len(diags.Warnings()))
	}
	return 0
}
