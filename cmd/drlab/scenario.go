package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/scenarios/report"
	"github.com/drlb/drlb/topology"
)

// cmdScenario lists, runs and replays failure scenarios.
func cmdScenario(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, `usage: drlab scenario list
       drlab scenario run NAME|FILE.yaml [--narrate] [--step] [--timeline FILE] [--report FILE.html] [--name LAB] [--keep]
       drlab scenario replay FILE [--speed N]
       drlab scenario report TIMELINE.jsonl -o FILE.html`)
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "list":
		return scenarioList(stdout)
	case "run":
		return scenarioRun(ctx, args[1:], os.Stdin, stdout, stderr)
	case "replay":
		return scenarioReplay(args[1:], stdout, stderr)
	case "report":
		return scenarioReport(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "drlab scenario: unknown subcommand %q\n", args[0])
	usage()
	return 2
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

// binDir is the directory of this drlab binary, where drlb sits too.
func binDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

func scenarioRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlab scenario run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	narrate := fs.Bool("narrate", false, "explain each event for a trainee as it happens")
	step := fs.Bool("step", false, "pause before each step until Enter (look around with drlab exec meanwhile)")
	timelinePath := fs.String("timeline", "", "write the timeline (JSON lines) here (default: a file in $TMPDIR)")
	name := fs.String("name", "", "lab name (default: sc<pid>, a fresh lab)")
	root := fs.String("state-root", "/run/drlab", "directory holding each lab's state")
	keep := fs.Bool("keep", false, "leave the lab up afterwards (remove it with drlab down --name LAB)")
	reportPath := fs.String("report", "", "also write the run's training view (one HTML page) here")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) != 1 {
		fmt.Fprintln(stderr, "usage: drlab scenario run NAME|FILE.yaml [--narrate] [--step] [--timeline FILE] [--report FILE.html] [--name LAB] [--keep]")
		return 2
	}
	sc, err := scenarios.Load(p.args[0], os.ReadFile)
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
	if *name == "" {
		*name = fmt.Sprintf("sc%d", os.Getpid())
	}
	if *timelinePath == "" {
		*timelinePath = filepath.Join(os.TempDir(), fmt.Sprintf("drlab-%s-%s.timeline.jsonl", sc.Name, *name))
	}
	spec, err := topology.LoadSpec(orSeed(sc.Topology))
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	tf, err := os.Create(*timelinePath)
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	rc := 0
	defer func() {
		if err := tf.Close(); err != nil {
			fmt.Fprintf(stderr, "drlab scenario run: timeline: %v\n", err)
		}
		if *reportPath != "" {
			if err := report.WriteFile(*timelinePath, *reportPath); err != nil {
				fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
				return
			}
			fmt.Fprintf(stdout, "report: %s\n", *reportPath)
		}
	}()

	fmt.Fprintf(stdout, "scenario %s: building lab %s\n", sc.Name, *name)
	lab, err := topology.Up(ctx, topology.Options{Name: *name, Spec: spec, StateRoot: *root})
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario run: %v\n", err)
		return 1
	}
	if *keep {
		defer fmt.Fprintf(stdout, "lab %s left up: drlab status --name %s; drlab down --name %s\n", *name, *name, *name)
	} else {
		defer func() {
			if err := lab.Down(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(stderr, "drlab scenario run: %v (run `drlab down --name %s`)\n", err, *name)
			}
		}()
	}
	var mu sync.Mutex
	printer := scenarios.NewPrinter(stdout, *narrate)
	opts := scenarios.Options{
		Lab: lab, DrlbBinary: drlb, Timeline: tf, TimelinePath: *timelinePath,
		OnEvent: func(ev scenarios.Event) {
			mu.Lock()
			defer mu.Unlock()
			printer.Print(ev)
		},
	}
	if *step {
		in := bufio.NewReader(stdin)
		opts.BeforeStep = func(ctx context.Context, i int, st *scenarios.Step) error {
			mu.Lock()
			printer.Flush()
			fmt.Fprintf(stdout, "\n-- next: step %d %s %s %s\n", i+1, st.Name, st.Do, st.Host)
			if st.Explain != "" {
				fmt.Fprintf(stdout, "   %s\n", strings.ReplaceAll(strings.TrimSpace(st.Explain), "\n", "\n   "))
			}
			fmt.Fprintf(stdout, "   look around (drlab exec --name %s lb1 -- drlb status), then press Enter: ", *name)
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

func orSeed(s string) string {
	if s == "" {
		return "seed"
	}
	return s
}

func scenarioReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlab scenario replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	speed := fs.Float64("speed", 1, "playback speed (2 = twice as fast, 0 = no pauses)")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) != 1 || *speed < 0 {
		fmt.Fprintln(stderr, "usage: drlab scenario replay FILE [--speed N]")
		return 2
	}
	f, err := os.Open(p.args[0])
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %v\n", err)
		return 1
	}
	events, err := scenarios.ReadTimeline(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %s: %v\n", p.args[0], err)
		return 1
	}
	// Pacing a replay for a person to watch (not waiting for readiness).
	if err := scenarios.Replay(events, stdout, *speed, func(d time.Duration) { time.Sleep(d) }); err != nil {
		fmt.Fprintf(stderr, "drlab scenario replay: %v\n", err)
		return 1
	}
	return 0
}
