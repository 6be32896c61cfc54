package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios/report"
)

// newScenarioReportCmd is drlab scenario report TIMELINE.jsonl -o FILE.html:
// the training view (one self-contained HTML page) of a recorded timeline.
func newScenarioReportCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "report TIMELINE.jsonl -o FILE.html",
		Short: "write the training view (one HTML page) of a recorded timeline",
		Long: `Turns a recorded timeline (drlab scenario run --timeline, or the file a run
prints) into one self-contained HTML page: lanes per balancer and real server,
the client's requests, steps, expectations and narration, replayable in a browser.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 || out == "" {
				fmt.Fprintln(c.ErrOrStderr(), "usage: drlab scenario report TIMELINE.jsonl -o FILE.html")
				return cli.Exit(2)
			}
			if err := report.WriteFile(args[0], out); err != nil {
				fmt.Fprintf(c.ErrOrStderr(), "drlab scenario report: %v\n", err)
				return cli.Exit(1)
			}
			fmt.Fprintf(c.OutOrStdout(), "report: %s\n", out)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the HTML page to `FILE.html` (required)")
	_ = c.MarkFlagFilename("output", "html")
	return c
}
