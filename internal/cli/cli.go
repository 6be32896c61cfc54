// Package cli is the command-line plumbing drlb and drlab share on top of
// cobra: exit codes carried as errors, the root command's habits (usage on
// no command, "unknown command", exit status 2 for bad usage), flags written
// Go-style with one dash (-dump) still accepted, and man pages.
//
// Exit status, for every command of both programs: 0 done, 1 failed (the
// command printed why), 2 bad usage (unknown command or flag, wrong
// arguments); a command may return another code with Exit (drlab exec
// passes its child's through).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// ExitError ends a command with exit status Code. The command has already
// printed what went wrong, so Execute prints nothing more.
type ExitError struct {
	// Code is the process exit status (1–255).
	Code int
}

// Error says which exit status the command ended with.
func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Exit turns an exit status into a RunE result: nil for 0, an *ExitError
// otherwise.
func Exit(code int) error {
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code}
}

// usageError is a flag the command does not know or cannot parse.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// NewRoot returns the root command of a program: name COMMAND [flags]. Run
// without a command it prints its usage on stdout and exits 2; with an
// unknown one it says so on stderr, prints the usage and exits 2. It has
// cobra's help and completion (bash, zsh, fish, powershell) commands.
func NewRoot(name, short, long string) *cobra.Command {
	root := &cobra.Command{
		Use:           name,
		Short:         short,
		Long:          long,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Arbitrary args, so an unknown command reaches RunE and is
		// reported the way the programs always did.
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				_ = c.Usage() // on stdout, as it always was
				return Exit(2)
			}
			fmt.Fprintf(c.ErrOrStderr(), "%s: unknown command %q\n\n", name, args[0])
			c.SetOut(c.ErrOrStderr())
			_ = c.Usage()
			return Exit(2)
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{cmd: c, err: err} })
	return root
}

// Main runs root with args (without the program name) until it ends or
// SIGINT/SIGTERM cancels its context, and returns the process exit status.
func Main(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, root, args, stdout, stderr)
}

// Execute runs root with args (without the program name) and returns the
// process exit status (see the package comment). Help goes to stdout,
// diagnostics to stderr.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(GoStyleLongFlags(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	var exit *ExitError
	var usage *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\n", usage.cmd.CommandPath(), usage.err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", usage.cmd.CommandPath())
		return 2
	default:
		// cobra's own errors (argument validators, an unknown subcommand):
		// commands print their failures and return Exit(1) themselves.
		fmt.Fprintf(stderr, "%s: %v\n", c.CommandPath(), err)
		return 2
	}
}

// GoStyleLongFlags rewrites -name and -name=value to --name... when name
// (two letters or more) is a long flag of the command args select, so
// command lines written for Go's flag package, which the programs used
// before cobra, keep working. Arguments after "--" are left alone.
func GoStyleLongFlags(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return args
	}
	known := func(name string) bool {
		if name == "help" {
			return true
		}
		return c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && known(name) {
			out[i] = "-" + a
		}
	}
	return out
}

// BadUsage prints c's usage on stderr and returns exit status 2, for
// commands given the wrong arguments.
func BadUsage(c *cobra.Command) error {
	c.SetOut(c.ErrOrStderr())
	_ = c.Usage()
	return Exit(2)
}

// NoFileCompletion is a ValidArgsFunction for commands whose arguments are
// not file names.
func NoFileCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// FlagChanged reports whether the user set flag name on c's command line.
func FlagChanged(c *cobra.Command, name string) bool {
	f := c.Flags().Lookup(name)
	return f != nil && f.Changed
}
