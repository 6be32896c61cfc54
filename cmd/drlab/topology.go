package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newTopologyCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "topology [seed]",
		Short:     "print the built-in topology spec (to copy and edit)",
		Long:      "Prints the built-in topology spec; save it, edit it, use `drlab up --topology FILE`.",
		Args:      cobra.ArbitraryArgs,
		ValidArgs: []string{"seed"},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "seed") {
				fmt.Fprintln(c.ErrOrStderr(), "usage: drlab topology [seed]   (prints the built-in spec; save it, edit it, use `drlab up --topology FILE`)")
				return cli.Exit(2)
			}
			_, _ = c.OutOrStdout().Write(topology.SeedYAML())
			return nil
		},
	}
}
