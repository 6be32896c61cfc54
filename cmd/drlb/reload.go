package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/cli"
)

func newReloadCmd() *cobra.Command {
	var (
		runDir     string
		allowEmpty bool
	)
	c := &cobra.Command{
		Use:   "reload [--run-dir DIR] [--allow-empty]",
		Short: "reload a running daemon's configuration",
		Long: `Asks a running daemon to reload its configuration file and prints how long each
phase took and what changed; a file with errors is refused and the running
configuration stays (exit status 1). A file with no directives, or one that
would remove every VRRP instance and every virtual server, is refused too
unless --allow-empty says that is meant.`,
		Args:              cobra.ArbitraryArgs, // ignored, as always
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, _ []string) error {
			return cli.Exit(reload(c.Context(), runDir, allowEmpty, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	c.Flags().StringVar(&runDir, "run-dir", "", "the daemon's run `DIR`ectory (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	c.Flags().BoolVar(&allowEmpty, "allow-empty", false, "go ahead even if the file has no directives or would remove every VRRP instance and virtual server")
	_ = c.MarkFlagDirname("run-dir")
	return c
}

// reload asks the daemon to reload, prints the outcome and returns the exit status.
func reload(ctx context.Context, runDir string, allowEmpty bool, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := api.NewClient(api.RunDir(runDir)).ReloadWith(ctx, api.ReloadOptions{AllowEmpty: allowEmpty})
	if err != nil {
		fmt.Fprintf(stderr, "drlb reload: %v\n", err)
		return 1
	}
	for _, d := range res.Diagnostics {
		fmt.Fprintln(stderr, d)
	}
	if !res.OK {
		fmt.Fprintln(stderr, "drlb reload: refused; the running configuration stays")
		return 1
	}
	phases := make([]string, len(res.Phases))
	for i, p := range res.Phases {
		phases[i] = fmt.Sprintf("%s %v", p.Name, p.Duration.Round(time.Microsecond))
	}
	fmt.Fprintf(stdout, "reloaded in %v (%s)\n", res.Duration.Round(time.Microsecond), strings.Join(phases, ", "))
	for _, c := range res.Changes {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return 0
}
