package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
)

// newScenarioCmd is drlab scenario: list, run, replay or report failure scenarios,
// one subcommand per file (scenario_*.go).
func newScenarioCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "scenario list | run NAME|FILE.yaml | replay FILE | report TIMELINE",
		Short: "list, run or replay failure scenarios",
		Long: `Scenarios break the lab on a timeline (kill -9, SIGSTOP, link down, partition,
page change, reload...) and check bounded expectations; see scenarios/README.md.`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "drlab scenario: unknown subcommand %q\n", args[0])
			}
			return cli.BadUsage(c)
		},
	}
	c.AddCommand(
		newScenarioListCmd(),
		newScenarioRunCmd(),
		newScenarioReplayCmd(),
		newScenarioReportCmd(),
	)
	return c
}

// binDir is the directory of this drlab binary, where drlb sits too.
func binDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

func orSeed(s string) string {
	if s == "" {
		return "seed"
	}
	return s
}
