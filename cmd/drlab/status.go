package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newStatusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:               "status [--name LAB] [--json]",
		Short:             "show hosts, addresses, the VIP owner and processes",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
	}
	lf := addLabFlags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			fmt.Fprintf(c.ErrOrStderr(), "drlab status: unexpected argument %q\n", args[0])
			return cli.Exit(2)
		}
		lf.resolve(c)
		return cli.Exit(status(lf, asJSON, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// status prints the lab's status and returns the exit status.
func status(lf *labFlags, asJSON bool, stdout, stderr io.Writer) int {
	lab, err := topology.Open(lf.name, lf.stateRoot)
	if err != nil {
		fmt.Fprintf(stderr, "drlab status: %v\n", err)
		return 1
	}
	st, err := lab.Status()
	if err != nil {
		fmt.Fprintf(stderr, "drlab status: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "drlab status: %v\n", err)
			return 1
		}
		return 0
	}
	st.WriteText(stdout)
	return 0
}
