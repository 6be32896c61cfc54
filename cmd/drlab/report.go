package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/drlb/drlb/scenarios/report"
)

// scenarioReport writes the training view of a recorded timeline:
// drlab scenario report TIMELINE.jsonl -o FILE.html.
func scenarioReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drlab scenario report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the HTML page here (required)")
	p, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(p.args) != 1 || *out == "" {
		fmt.Fprintln(stderr, "usage: drlab scenario report TIMELINE.jsonl -o FILE.html")
		return 2
	}
	if err := report.WriteFile(p.args[0], *out); err != nil {
		fmt.Fprintf(stderr, "drlab scenario report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s\n", *out)
	return 0
}
