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
	host, dir, listen string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	c := &cobra.Command{
		Use:               "serve --host HOST --root DIR [--listen ADDR]",
		Short:             "run the lab web server (started by `up` in real servers)",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	addLabFlags(c) // accepted, as every lab command's; the server needs no lab
	c.Flags().StringVar(&o.host, "host", "", "host name sent in X-Real-Server and /data")
	c.Flags().StringVar(&o.dir, "root", "", "document root")
	c.Flags().StringVar(&o.listen, "listen", ":80", "listen address")
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
	fmt.Fprintf(stderr, "drlab serve: %s serving %s on %s\n", o.host, o.dir, o.listen)
	if err := topology.Serve(ctx, o.host, o.dir, o.listen); err != nil {
		fmt.Fprintf(stderr, "drlab serve: %v\n", err)
		return 1
	}
	return 0
}
