package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drlb/drlb/internal/cli"
)

// TestCommandLine pins the dispatcher's exit codes and streams for what
// needs no lab: usage errors exit 2 with the usage on stderr, help exits 0
// on stdout.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{name: "no command", args: nil, code: 2, out: "The lab:"},
		{name: "unknown command", args: []string{"bogus"}, code: 2, err: `drlab: unknown command "bogus"`},
		{name: "help", args: []string{"--help"}, code: 0, out: "scenario"},
		{name: "topology", args: []string{"topology"}, code: 0, out: "rs1"},
		{name: "topology bad arg", args: []string{"topology", "other"}, code: 2, err: "usage: drlab topology [seed|scaleout]"},
		{name: "exec without --", args: []string{"exec", "lb1"}, code: 2, err: "drlab exec [--name LAB] HOST -- COMMAND"},
		{name: "exec unknown flag", args: []string{"exec", "--bogus", "lb1", "--", "true"}, code: 2, err: "unknown flag: --bogus"},
		{name: "logs no host", args: []string{"logs"}, code: 2, err: "Usage:"},
		{name: "page bad verb", args: []string{"page", "get", "rs1", "/x"}, code: 2, err: "Usage:"},
		{name: "daemon one arg", args: []string{"daemon", "start"}, code: 2, err: "Usage:"},
		{name: "scenario alone", args: []string{"scenario"}, code: 2, err: "Available Commands:"},
		{name: "scenario unknown", args: []string{"scenario", "bogus"}, code: 2, err: `drlab scenario: unknown subcommand "bogus"`},
		{name: "scenario list", args: []string{"scenario", "list"}, code: 0, out: "master-crash"},
		{name: "scenario run no name", args: []string{"scenario", "run"}, code: 2, err: "usage: drlab scenario run"},
		{name: "scenario replay negative", args: []string{"scenario", "replay", "x", "--speed", "-1"}, code: 2, err: "usage: drlab scenario replay"},
		{name: "scenario replay missing", args: []string{"scenario", "replay", filepath.Join(t.TempDir(), "none.jsonl")}, code: 1, err: "no such file"},
		{name: "Go-style -speed", args: []string{"scenario", "replay", "-speed", "-1", "x"}, code: 2, err: "usage: drlab scenario replay"},
		{name: "status of no lab", args: []string{"status", "--name", "hcnosuchlab", "--state-root", t.TempDir()}, code: 1, err: "drlab status:"},
		{name: "serve without flags", args: []string{"serve"}, code: 2, err: "--listen"},
		{name: "completion bash", args: []string{"completion", "bash"}, code: 0, out: "__start_drlab"},
		{name: "completion fish", args: []string{"completion", "fish"}, code: 0, out: "complete -c drlab"},
		{name: "complete scenario names", args: []string{"__complete", "scenario", "run", "master"}, code: 0, out: "master-crash"},
		{name: "complete hosts", args: []string{"__complete", "exec", "--state-root", t.TempDir(), ""}, code: 0, out: "lb1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli.Execute(context.Background(), newRootCmd(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("drlab %v: exit %d (want %d)\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errOut.String())
			}
		})
	}
}

// TestManPages fails when docs/man does not match the commands; make docs
// rewrites the pages.
func TestManPages(t *testing.T) { cli.TestManPages(t, newRootCmd(), "../..") }
