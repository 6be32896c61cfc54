// Command benchtable reads the output of `go test -bench` on standard input
// and prints one table of every benchmark's numbers: a row per benchmark and
// metric (package, benchmark, value, unit). `make bench` pipes its run
// through it, so the lab benchmarks' own metrics (packets per second,
// ratios, outages) end up side by side. A zero ns/op (what lab benchmarks
// report, since one op is many timed runs) is left out.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// row is one metric of one benchmark.
type row struct {
	pkg, bench, unit string
	value            float64
}

// parse reads `go test -bench` output: "pkg: P" lines name the package of
// the benchmark lines that follow ("BenchmarkX-2  N  v unit  v unit …").
// Other lines are skipped.
func parse(r io.Reader) ([]row, error) {
	var rows []row
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // a benchmark's log line, not its result
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // drop GOMAXPROCS
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: %s: value %q of %s: %w", name, f[i], f[i+1], err)
			}
			if f[i+1] == "ns/op" && v == 0 {
				continue
			}
			rows = append(rows, row{pkg: pkg, bench: name, unit: f[i+1], value: v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchtable: read: %w", err)
	}
	return rows, nil
}

// format writes rows as one aligned Markdown table (so the README can
// show it as it is).
func format(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "| package\t| benchmark\t| value\t| unit\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t|\n", strings.TrimPrefix(r.pkg, "github.com/drlb/drlb/"), r.bench,
			number(r.value), r.unit)
	}
	return tw.Flush()
}

// number writes a value with four significant digits, large ones whole.
func number(v float64) string {
	if v >= 100 || v <= -100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func main() {
	rows, err := parse(os.Stdin)
	if err == nil {
		err = format(os.Stdout, rows)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
