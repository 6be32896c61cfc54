package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/scenarios/report"
	"github.com/drlb/drlb/topology"
)

// scenarioRunOptions are drlab scenario run's flags.
type scenarioRunOptions struct {
	narrate, step, keep bool
	timelinePath, name  string
	reportPath          string
	root                string
}

func newScenarioRunCmd() *cobra.Command {
	var o scenarioRunOptions
	c := &cobra.Command{
		Use:   "run NAME|FILE.yaml [--narrate] [--step] [--timeline FILE] [--report FILE.html] [--name LAB] [--keep]",
		Short: "play a scenario in a fresh lab and check its expectations",
		Long: `Plays a scenario in a fresh lab (removed afterwards unless --keep), prints its
events and a summary, and writes its timeline (JSON lines). Exit status 0 only
if every expectation held.`,
		Args: cobra.ArbitraryArgs,
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return scenarios.List(), cobra.ShellCompDirectiveDefault // names, or a FILE.yaml
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				fmt.Fprintln(c.ErrOrStderr(), "usage: drlab scenario run NAME|FILE.yaml [--narrate] [--step] [--timeline FILE] [--report FILE.html] [--name LAB] [--keep]")
				return cli.Exit(2)
			}
			return cli.Exit(o.run(c.Context(), args[0], os.Stdin, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	f := c.Flags()
	f.BoolVar(&o.narrate, "narrate", false, "explain each event for a trainee as it happens")
	f.BoolVar(&o.step, "step", false, "pause before each step until Enter (look around with drlab exec meanwhile)")
	f.StringVar(&o.timelinePath, "timeline", "", "write the timeline (JSON lines) to `FILE` (default: a file in $TMPDIR)")
	f.StringVar(&o.reportPath, "report", "", "also write the run's training view (one HTML page) to `FILE.html`")
	f.StringVar(&o.name, "name", "", "lab `NAME` (default: sc<pid>, a fresh lab)")
	f.StringVar(&o.root, "state-root", "/run/drlab", "`DIR`ectory holding each lab's state")
	f.BoolVar(&o.keep, "keep", false, "leave the lab up afterwards (remove it with drlab down --name LAB)")
	_ = c.MarkFlagFilename("timeline", "jsonl")
	_ = c.MarkFlagFilename("report", "html")
	_ = c.MarkFlagDirname("state-root")
	return c
}

// run plays the scenario arg (a name or a file) and returns the exit status.
func (o scenarioRunOptions) run(ctx context.Context, arg string, stdin io.Reader, stdout, stderr io.Writer) int {
	sc, err := scenarios.Load(arg, os.ReadFile)
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	drlb := filepath.Join(binDir(), "drlb")
	if sc.NeedsDrlb() {
		if err := scenarios.CheckDrlbRun(ctx, drlb); err != nil {
			fmt.Fprintf(stderr, "drlab scenario run: %s needs drlb on its balancers: %v\n", sc.Name, err)
			return 1
		}
	}
	if o.name == "" {
		o.name = fmt.Sprintf("sc%d", os.Getpid())
	}
	if o.timelinePath == "" {
		o.timelinePath = filepath.Join(os.TempDir(), fmt.Sprintf("drlab-%s-%s.timeline.jsonl", sc.Name, o.name))
	}
	spec, err := topology.LoadSpec(orSeed(sc.Topology))
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	tf, err := os.Create(o.timelinePath)
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	rc := 0
	defer func() {
		if err := tf.Close(); err != nil {
			fmt.Fprintf(stderr, "drlab scenario run: timeline: %v\n", err)
			return
		}
		if o.reportPath != "" {
			if err := report.WriteFile(o.timelinePath, o.reportPath); err != nil {
				fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
				return
			}
			fmt.Fprintf(stdout, "report: %s\n", o.reportPath)
		}
	}()

	fmt.Fprintf(stdout, "scenario %s: building lab %s\n", sc.Name, o.name)
	lab, err := topology.Up(ctx, topology.Options{Name: o.name, Spec: spec, StateRoot: o.root})
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	if o.keep {
		defer fmt.Fprintf(stdout, "lab %s left up: drlab status --name %s; drlab down --name %s\n", o.name, o.name, o.name)
	} else {
		defer func() {
			if err := lab.Down(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(stderr, "drlab scenario run: %v (run `drlab down --name %s`)\n", err, o.name)
			}
		}()
	}
	var mu sync.Mutex
	printer := scenarios.NewPrinter(stdout, o.narrate)
	opts := scenarios.Options{
		Lab: lab, DrlbBinary: drlb, Timeline: tf, TimelinePath: o.timelinePath,
		OnEvent: func(ev scenarios.Event) {
			mu.Lock()
			defer mu.Unlock()
			printer.Print(ev)
		},
	}
	if o.step {
		in := bufio.NewReader(stdin)
		opts.BeforeStep = func(ctx context.Context, i int, st *scenarios.Step) error {
			mu.Lock()
			printer.Flush()
			fmt.Fprintf(stdout, "\n-- next: step %d %s %s %s\n", i+1, st.Name, st.Do, st.Host)
			if st.Explain != "" {
				fmt.Fprintf(stdout, "   %s\n", strings.ReplaceAll(strings.TrimSpace(st.Explain), "\n", "\n   "))
			}
			fmt.Fprintf(stdout, "   look around (drlab exec --name %s lb1 -- drlb status), then press Enter: ", o.name)
			mu.Unlock()
			_, err := in.ReadString('\n')
			fmt.Fprintln(stdout)
			if err != nil && err != io.EOF {
				return fmt.Errorf("read Enter: %w", err)
			}
			return ctx.Err()
		}
	}
	res := scenarios.Run(ctx, sc, opts)
	mu.Lock()
	printer.Flush()
	err = errors.Join(printer.Err(), res.WriteSummary(stdout))
	mu.Unlock()
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		rc = 1
	}
	if !res.Passed() {
		fmt.Fprint(stderr, res.Report())
		rc = 1
	}
	return rc
}
