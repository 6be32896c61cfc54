package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "version",
		Short:             "print the version",
		Args:              cobra.ArbitraryArgs, // ignored, as always
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), "drlb", version)
			return nil
		},
	}
}
