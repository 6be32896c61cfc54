// Command drlb is the drlb load-balancer daemon and its tools.
//
//	drlb run      run the daemon (VRRP, health checks, data plane)
//	drlb check    validate a keepalived.conf and optionally dump the effective config
//	drlb status   show a running daemon's instances and forwarding table
//	drlb reload   ask a running daemon to reload its configuration
//	drlb genhash  print the MD5 digest of a page, as keepalived's genhash does
//	drlb version  print the version
//
// The main stays thin: each subcommand parses its flags and calls a package.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: it parses args and returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":     {"run the daemon", cmdRun},
		"check":   {"validate a configuration file", cmdCheck},
		"status":  {"show a running daemon's state", cmdStatus},
		"reload":  {"reload a running daemon's configuration", cmdReload},
		"genhash": {"print a page's MD5 digest like keepalived's genhash", cmdGenhash},
		"version": {"print the version", func(context.Context, []string, io.Writer, io.Writer) int {
			fmt.Println("drlb", version)
			return 0
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: drlb COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'drlb COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "drlb: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}
