package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// testRoot is prog with sub (flags --dump, --config-id/-i, -v) and sub's
// nested command leaf (flag --speed).
func testRoot() *cobra.Command {
	root := NewRoot("prog", "a test program", "")
	sub := &cobra.Command{Use: "sub", Short: "a subcommand", RunE: func(c *cobra.Command, args []string) error {
		if len(args) > 0 && args[0] == "fail" {
			return Exit(7)
		}
		return nil
	}}
	sub.Flags().Bool("dump", false, "")
	sub.Flags().StringP("config-id", "i", "", "")
	sub.Flags().BoolP("verbose", "v", false, "")
	leaf := &cobra.Command{Use: "leaf", Short: "a nested command", RunE: func(*cobra.Command, []string) error { return nil }}
	leaf.Flags().Float64("speed", 1, "")
	sub.AddCommand(leaf)
	root.AddCommand(sub)
	return root
}

func TestGoStyleLongFlags(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"sub", "-dump"}, []string{"sub", "--dump"}},
		{[]string{"sub", "-config-id=x", "-i", "y"}, []string{"sub", "--config-id=x", "-i", "y"}},
		{[]string{"sub", "-v", "-help"}, []string{"sub", "-v", "--help"}},
		// Not a long flag of sub: left for pflag to judge.
		{[]string{"sub", "-speed", "2"}, []string{"sub", "-speed", "2"}},
		{[]string{"sub", "leaf", "-speed", "2"}, []string{"sub", "leaf", "--speed", "2"}},
		// After "--" nothing is a flag of ours.
		{[]string{"sub", "--", "-dump"}, []string{"sub", "--", "-dump"}},
		{[]string{"sub", "--dump", "-", "-x"}, []string{"sub", "--dump", "-", "-x"}},
		{nil, nil},
	} {
		got := GoStyleLongFlags(testRoot(), tc.in)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("GoStyleLongFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExecuteExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "Available Commands:", ""},
		{[]string{"nope"}, 2, "", `prog: unknown command "nope"`},
		{[]string{"sub"}, 0, "", ""},
		{[]string{"sub", "fail"}, 7, "", ""},
		{[]string{"sub", "--bogus"}, 2, "", "prog sub: unknown flag: --bogus\nRun 'prog sub --help' for usage."},
		{[]string{"sub", "-dump", "-iID"}, 0, "", ""},
		{[]string{"sub", "--help"}, 0, "prog sub [flags]", ""},
		{[]string{"sub", "leaf", "--speed", "x"}, 2, "", `invalid argument "x" for "--speed"`},
	} {
		var out, errOut bytes.Buffer
		code := Execute(context.Background(), testRoot(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.err) {
			t.Errorf("prog %q: exit %d (want %d)\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errOut.String())
		}
	}
}

func TestStaleManPages(t *testing.T) {
	dir := t.TempDir()
	stale, err := StaleManPages(testRoot(), dir, false)
	if err != nil || len(stale) != 3 { // prog.1, prog-sub.1, prog-sub-leaf.1 missing
		t.Fatalf("empty dir: %v %q", err, stale)
	}
	if _, err := StaleManPages(testRoot(), dir, true); err != nil {
		t.Fatal(err)
	}
	// Another program's page whose name starts alike is not ours.
	if err := os.WriteFile(filepath.Join(dir, "progx-other.1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stale, err := StaleManPages(testRoot(), dir, false); err != nil || len(stale) != 0 {
		t.Fatalf("after update: %v %q", err, stale)
	}
	// A changed help text, and a page of a command that is gone.
	root := testRoot()
	root.Commands()[0].Short = "changed"
	if err := os.WriteFile(filepath.Join(dir, "prog-gone.1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale, err = StaleManPages(root, dir, false)
	if err != nil || len(stale) != 2 || !strings.Contains(stale[0], "prog-sub.1: differs") || !strings.Contains(stale[1], "prog-gone.1: no such command") {
		t.Fatalf("changed: %v %q", err, stale)
	}
}
