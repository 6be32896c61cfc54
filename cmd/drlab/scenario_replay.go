package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios"
)

func newScenarioReplayCmd() *cobra.Command {
	var speed float64
	c := &cobra.Command{
		Use:   "replay FILE [--speed N]",
		Short: "play a recorded timeline back",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 || speed < 0 {
				fmt.Fprintln(c.ErrOrStderr(), "usage: drlab scenario replay FILE [--speed N]")
				return cli.Exit(2)
			}
			return cli.Exit(scenarioReplay(args[0], speed, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	c.Flags().Float64Var(&speed, "speed", 1, "playback speed (2 = twice as fast, 0 = no pauses)")
	return c
}

// scenarioReplay plays the timeline in file and returns the exit status.
func scenarioReplay(file string, speed float64, stdout, stderr io.Writer) int {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %v\n", err)
		return 1
	}
	events, err := scenarios.ReadTimeline(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %s: %v\n", file, err)
		return 1
	}
	// Pacing a replay for a person to watch (not waiting for readiness).
	if err := scenarios.Replay(events, stdout, speed, func(d time.Duration) { time.Sleep(d) }); err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %v\n", err)
		return 1
	}
	return 0
}
