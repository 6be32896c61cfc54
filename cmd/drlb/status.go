package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/cli"
)

func newStatusCmd() *cobra.Command {
	var runDir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--run-dir DIR] [--json]",
		Short: "show a running daemon's state",
		Long: `Shows a running daemon's VRRP instances, then its forwarding table in ipvsadm -ln
layout with each real server's health; --json prints the status document instead.`,
		Args:              cobra.ArbitraryArgs, // ignored, as always
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, _ []string) error {
			return cli.Exit(status(c.Context(), runDir, asJSON, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	c.Flags().StringVar(&runDir, "run-dir", "", "the daemon's run `DIR`ectory (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status document as JSON")
	_ = c.MarkFlagDirname("run-dir")
	return c
}

// status prints the daemon's status and returns the exit status.
func status(ctx context.Context, runDir string, asJSON bool, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := api.NewClient(api.RunDir(runDir)).Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "drlb status: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "drlb status: %v\n", err)
			return 1
		}
		return 0
	}
	daemon.WriteStatus(stdout, st, time.Now())
	return 0
}
