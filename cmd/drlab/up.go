package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newUpCmd() *cobra.Command {
	var topo string
	c := &cobra.Command{
		Use:               "up [--name LAB] [--topology seed|FILE]",
		Short:             "build a lab and start its services",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	lf := addLabFlags(c)
	c.Flags().StringVar(&topo, "topology", "seed", "built-in topology name or a spec `FILE` (see `drlab topology`)")
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "drlab up: unexpected argument %q\n", args[0])
			return cli.Exit(2)
		}
		lf.resolve(c)
		return cli.Exit(up(c.Context(), lf, topo, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// up builds the lab from the topology and prints its status; it returns
// the exit status.
func up(ctx context.Context, lf *labFlags, topo string, stdout, stderr io.Writer) int {
	spec, err := topology.LoadSpec(topo)
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "building lab %s from topology %s\n", lf.name, spec.Name)
	lab, err := topology.Up(ctx, topology.Options{
		Name: lf.name, Spec: spec, StateRoot: lf.stateRoot,
		Progress: func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	st, err := lab.Status()
	if err != nil {
		fmt.Fprintf(stderr, "drlab up: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	st.WriteText(stdout)
	fmt.Fprintf(stdout, "\ntry: drlab exec --name %s client -- curl -s http://%s%s\n", lf.name, lab.Addr("rs1"), "/data")
	fmt.Fprintf(stdout, "     ip netns exec %s ip addr\n", lab.NSName("lb1"))
	fmt.Fprintf(stdout, "done: drlab down --name %s\n", lf.name)
	return 0
}
