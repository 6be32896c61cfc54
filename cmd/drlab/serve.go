package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

// serveOptions are drlab serve's flags.
type serveOptions struct {
	host, dir, listen, mode string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	c := &cobra.Command{
		Use:   "serve --host HOST --root DIR [--listen ADDR] [--mode web|dns|smtp|udp-echo]",
		Short: "run the lab web server (started by `up` in real servers), or its DNS, SMTP or UDP echo sibling",
		Long: "Runs the lab web server, or with --mode one of the services the health checkers probe: " +
			"a DNS responder (UDP; zone lab., SOA and NS of . and lab.), an SMTP greeter (220, 250 to HELO) or a UDP echo. " +
			"Files in ROOT/.drlab/ (dns, smtp, udp-echo) make them misbehave: refused, silent, busy or garbage.",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	addLabFlags(c) // accepted, as every lab command's; the server needs no lab
	c.Flags().StringVar(&o.host, "host", "", "host name sent in X-Real-Server and /data")
	c.Flags().StringVar(&o.dir, "root", "", "document root")
	c.Flags().StringVar(&o.listen, "listen", ":80", "listen address")
	c.Flags().StringVar(&o.mode, "mode", topology.ModeWeb, "what to serve: web, dns, smtp or udp-echo")
	_ = c.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions(
		[]string{topology.ModeWeb, topology.ModeDNS, topology.ModeSMTP, topology.ModeUDPEcho}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.MarkFlagDirname("root")
	c.RunE = func(c *cobra.Command, args []string) error {
		if o.host == "" || o.dir == "" || len(args) > 0 {
			return cli.BadUsage(c)
		}
		return cli.Exit(o.serve(c.Context(), c.ErrOrStderr()))
	}
	return c
}

// serve runs the web server until ctx ends; it returns the exit status.
func (o serveOptions) serve(ctx context.Context, stderr io.Writer) int {
	fmt.Fprintf(stderr, "drlab serve: %s serving %s (%s) on %s\n", o.host, o.dir, o.mode, o.listen)
	if err := topology.ServeMode(ctx, o.mode, o.host, o.dir, o.listen); err != nil {
		fmt.Fprintf(stderr, "drlab serve: %v\n", err)
		return 1
	}
	return 0
}
