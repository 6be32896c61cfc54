package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/api"
)

func cmdReload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlb reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runDir := fs.String("run-dir", "", "the daemon's run directory (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	allowEmpty := fs.Bool("allow-empty", false, "go ahead even if the file has no directives or would remove every VRRP instance and virtual server")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := api.NewClient(api.RunDir(*runDir)).ReloadWith(ctx, api.ReloadOptions{AllowEmpty: *allowEmpty})
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
