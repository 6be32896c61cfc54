package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newDownCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:               "down [--name LAB | --all]",
		Short:             "remove a lab, also the leftovers of a crashed run",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	lf := addLabFlags(c)
	c.Flags().BoolVar(&all, "all", false, "remove every lab (all state under --state-root and all LAB-HOST namespaces)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "drlab down: unexpected argument %q\n", args[0])
			return cli.Exit(2)
		}
		lf.resolve(c)
		return cli.Exit(down(c.Context(), lf, all, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// down removes the lab (every lab with all) and returns the exit status.
func down(ctx context.Context, lf *labFlags, all bool, stdout, stderr io.Writer) int {
	names := []string{lf.name}
	if all {
		var err error
		if names, err = topology.List(lf.stateRoot); err != nil {
			fmt.Fprintf(stderr, "drlab down: %v\n", err)
			return 1
		}
		if len(names) == 0 {
			fmt.Fprintln(stdout, "no labs")
			return 0
		}
	}
	rc := 0
	for _, n := range names {
		start := time.Now()
		rep, err := topology.Down(ctx, n, lf.stateRoot)
		for _, s := range rep.Strays {
			fmt.Fprintf(stderr, "drlab down: warning: %s was not started by the lab and was left running\n", s)
		}
		switch {
		case errors.Is(err, topology.ErrNoLab) && !all:
			fmt.Fprintf(stderr, "drlab down: %v\n", err)
			rc = 1
		case err != nil:
			fmt.Fprintf(stderr, "drlab down: lab %s: %v\n", n, err)
			rc = 1
		default:
			fmt.Fprintf(stdout, "lab %s down in %v: %d processes ended, %d namespaces removed\n",
				n, time.Since(start).Round(time.Millisecond), rep.Processes, rep.Namespaces)
		}
	}
	return rc
}
