package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newTopologyCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "topology [seed|scaleout]",
		Short:     "print a built-in topology spec (to copy and edit)",
		Long:      "Prints a built-in topology spec (default seed); save it, edit it, use `drlab up --topology FILE`.",
		Args:      cobra.ArbitraryArgs,
		ValidArgs: []string{"seed", "scaleout"},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && args[0] != "seed" && args[0] != "scaleout") {
				fmt.Fprintln(c.ErrOrStderr(), "usage: drlab topology [seed|scaleout]   (prints a built-in spec; save it, edit it, use `drlab up --topology FILE`)")
				return cli.Exit(2)
			}
			if len(args) == 1 && args[0] == "scaleout" {
				_, _ = c.OutOrStdout().Write(topology.ScaleoutYAML())
				return nil
			}
			_, _ = c.OutOrStdout().Write(topology.SeedYAML())
			return nil
		},
	}
}
