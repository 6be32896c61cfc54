package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/drlb/drlb/daemon"
	"github.com/drlb/drlb/daemon/api"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlb status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runDir := fs.String("run-dir", "", "the daemon's run directory (default $"+api.RunDirEnv+" or "+api.DefaultRunDir+")")
	asJSON := fs.Bool("json", false, "print the status document as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := api.NewClient(api.RunDir(*runDir)).Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "drlb status: %v\n", err)
		return 1
	}
	if *asJSON {
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
