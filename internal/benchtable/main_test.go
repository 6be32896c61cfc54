package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const out = `goos: linux
pkg: github.com/drlb/drlb/daemon/dataplane
BenchmarkDataplanePPS-2   	       1	      4144 tcp-cps-vip	         0.9018 tcp-ratio	         0 ns/op
    pps_bench_test.go:120: removed leftovers of an earlier lab dppps1
PASS
pkg: github.com/drlb/drlb/daemon/dataplane/maglev
BenchmarkBuild/n=10-2     	    1000	    123456 ns/op	    2048 B/op	       3 allocs/op
ok  	github.com/drlb/drlb/daemon/dataplane	36.580s
`
	rows, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{"github.com/drlb/drlb/daemon/dataplane", "BenchmarkDataplanePPS", "tcp-cps-vip", 4144},
		{"github.com/drlb/drlb/daemon/dataplane", "BenchmarkDataplanePPS", "tcp-ratio", 0.9018},
		{"github.com/drlb/drlb/daemon/dataplane/maglev", "BenchmarkBuild/n=10", "ns/op", 123456},
		{"github.com/drlb/drlb/daemon/dataplane/maglev", "BenchmarkBuild/n=10", "B/op", 2048},
		{"github.com/drlb/drlb/daemon/dataplane/maglev", "BenchmarkBuild/n=10", "allocs/op", 3},
	}
	if len(rows) != len(want) {
		t.Fatalf("parse = %+v; want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v; want %+v", i, rows[i], want[i])
		}
	}
	var b strings.Builder
	if err := format(&b, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| daemon/dataplane        | BenchmarkDataplanePPS | 0.9018 | tcp-ratio   |") || strings.Count(b.String(), "\n") != 7 {
		t.Errorf("format:\n%s", b.String())
	}
}

func TestParseRejectsBadValue(t *testing.T) {
	if _, err := parse(strings.NewReader("BenchmarkX-2 1 abc pps\n")); err == nil {
		t.Error("a non-numeric value was accepted")
	}
}
