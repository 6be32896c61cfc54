package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios"
)

func newScenarioListCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "list",
		Short:             "list the built-in scenarios: name, labels, what they need, what they show",
		Args:              cobra.ArbitraryArgs, // ignored, as always
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, _ []string) error {
			return cli.Exit(scenarioList(c.OutOrStdout()))
		},
	}
}

func scenarioList(stdout io.Writer) int {
	for _, name := range scenarios.List() {
		sc, err := scenarios.Load(name, nil)
		if err != nil {
			fmt.Fprintf(stdout, "%-26s (invalid: %v)\n", name, err)
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(sc.Description)+" ", ". ")
		first = strings.Join(strings.Fields(first), " ")
		needs := "lab only"
		switch {
		case sc.NeedsKeepalived():
			needs = "drlb+keepalived"
		case sc.NeedsDrlb():
			needs = "drlb"
		}
		fmt.Fprintf(stdout, "%-26s %-22s %-16s %s.\n", name, "["+strings.Join(sc.Labels, ",")+"]", needs, first)
	}
	return 0
}
