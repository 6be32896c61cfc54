package scenarios

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteSummary prints the run's summary table: result, traffic
// distribution, outage windows, and every expectation with its measured
// value and bound.
func (r *Result) WriteSummary(out io.Writer) error {
	var w strings.Builder
	result := "PASSED"
	if !r.Passed() {
		result = "FAILED"
	}
	fmt.Fprintf(&w, "\n== scenario %s: %s in %.1fs\n", r.Scenario, result, r.Wall.Seconds())
	if r.Err != nil {
		fmt.Fprintf(&w, "run stopped early: %v\n", r.Err)
	}
	if r.Distribution.Total > 0 {
		fmt.Fprintf(&w, "traffic:  %s\n", r.Distribution)
		if r.Skipped > 0 {
			fmt.Fprintf(&w, "          the client fell behind and skipped %d requests (machine busy)\n", r.Skipped)
		}
		if len(r.Outages) == 0 {
			fmt.Fprintln(&w, "outages:  none")
		} else {
			longest := append([]Window(nil), r.Outages...)
			sort.SliceStable(longest, func(i, j int) bool { return longest[i].Len() > longest[j].Len() })
			var parts []string
			for _, o := range longest[:min(len(longest), 3)] {
				parts = append(parts, o.String())
			}
			fmt.Fprintf(&w, "outages:  %d windows without an answer; longest: %s\n", len(r.Outages), strings.Join(parts, ", "))
		}
	}
	var rows strings.Builder
	rows.WriteString("\tEXPECTATION\tWHERE\tMEASURED\tBOUND\n")
	for _, v := range r.Verdicts {
		mark := "ok"
		if !v.Met {
			mark = "FAIL"
		}
		fmt.Fprintf(&rows, "%s\t%s\t%s (line %d)\t%s\t%s\n", mark, v.Expectation, v.Scope, v.Line, v.Measured, v.Bound)
	}
	tw := tabwriter.NewWriter(&w, 0, 4, 2, ' ', 0)
	if _, err := io.WriteString(tw, rows.String()); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if r.TimelinePath != "" {
		fmt.Fprintf(&w, "timeline: %s (drlab scenario replay %s)\n", r.TimelinePath, r.TimelinePath)
	}
	if _, err := io.WriteString(out, w.String()); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
}

// Report explains a failed run in a few lines: each unmet expectation with
// where it is written, what was measured and the bound, and the timeline.
// It is "" for a run that passed.
func (r *Result) Report() string {
	if r.Passed() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s failed", r.Scenario)
	if r.Err != nil {
		fmt.Fprintf(&b, ": %v", r.Err)
	}
	b.WriteString("\n")
	for _, v := range r.Failed() {
		fmt.Fprintf(&b, "  expectation %q (%s:%d, %s): measured %s, bound %s\n", v.Expectation, r.File, v.Line, v.Scope, v.Measured, v.Bound)
	}
	if len(r.Verdicts) == 0 && r.Err == nil {
		b.WriteString("  no expectation was judged\n")
	}
	if r.TimelinePath != "" {
		fmt.Fprintf(&b, "  timeline: %s\n", r.TimelinePath)
	}
	return b.String()
}
