package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drlb/drlb/internal/cli"
)

func runDrlb(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Execute(context.Background(), newRootCmd(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandLine pins the dispatcher's exit codes and streams, and the
// flag spellings that must keep working: keepalived's short options
// (combined too) and Go-flag style single-dash long flags.
func TestCommandLine(t *testing.T) {
	conf := checkTestdata + "seed-fixed.conf"
	// run -t checks this host's interfaces (as keepalived -t): the seed's
	// eth1 may be missing here, which dynamic_interfaces makes a warning.
	seed, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	dynConf := filepath.Join(t.TempDir(), "seed-dynamic.conf")
	if err := os.WriteFile(dynConf, append(seed, "\nglobal_defs {\n dynamic_interfaces\n}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	missingConf := filepath.Join(t.TempDir(), "seed-missing-if.conf")
	if err := os.WriteFile(missingConf, bytes.ReplaceAll(seed, []byte("eth1"), []byte("drlbnosuch0")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
		noOut    bool
	}{
		{name: "no command", args: nil, code: 2, out: "Available Commands:"},
		{name: "unknown command", args: []string{"bogus"}, code: 2, err: `drlb: unknown command "bogus"`, noOut: true},
		{name: "help", args: []string{"help"}, code: 0, out: "genhash"},
		{name: "--help", args: []string{"--help"}, code: 0, out: "completion"},
		{name: "version", args: []string{"version"}, code: 0, out: "drlb dev\n"},
		{name: "run -h", args: []string{"run", "-h"}, code: 0, out: "--config-test"},
		{name: "keepalived -t", args: []string{"run", "-t", "-f", dynConf, "--config-id", "lb1"}, code: 0, out: "configuration OK"},
		{name: "keepalived combined -nlDt", args: []string{"run", "-nlDt", "-f", dynConf, "-i", "lb1"}, code: 0, out: "configuration OK"},
		{name: "keepalived long --use-file", args: []string{"run", "--config-test", "--use-file=" + dynConf}, code: 0, out: "configuration OK"},
		{name: "keepalived -t, missing interface", args: []string{"run", "-t", "-f", missingConf, "-i", "lb1"}, code: 1, err: "interface drlbnosuch0 (vrrp_instance LVS_Teste) does not exist on this host"},
		{name: "-P with -C", args: []string{"run", "-P", "-C", "-f", conf}, code: 2, err: "exclude each other"},
		{name: "run extra argument", args: []string{"run", "x.conf"}, code: 2, err: `unexpected argument "x.conf"`},
		{name: "Go-style -dump", args: []string{"check", "-dump", "-f", conf}, code: 0, out: `"virtual_servers"`},
		{name: "Go-style -config-id=ID", args: []string{"check", "-config-id=lb1", "-f", conf}, code: 0, out: "usable"},
		{name: "unknown shorthand", args: []string{"check", "-x"}, code: 2, err: "unknown shorthand flag: 'x' in -x"},
		{name: "genhash missing flags", args: []string{"genhash", "-s", "127.0.0.1"}, code: 2, err: "-s, -p and -u are required"},
		{name: "genhash keepalived long names", args: []string{"genhash", "--server", "127.0.0.1", "--port", "0", "--url", "/"}, code: 2, err: "required"},
		{name: "completion bash", args: []string{"completion", "bash"}, code: 0, out: "__start_drlb"},
		{name: "completion zsh", args: []string{"completion", "zsh"}, code: 0, out: "#compdef drlb"},
		{name: "completion fish", args: []string{"completion", "fish"}, code: 0, out: "complete -c drlb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runDrlb(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) || (tc.noOut && out != "") {
				t.Errorf("drlb %v: exit %d (want %d)\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out, errOut)
			}
		})
	}
}

// TestManPages fails when docs/man does not match the commands; make docs
// rewrites the pages.
func TestManPages(t *testing.T) { cli.TestManPages(t, newRootCmd(), "../..") }
