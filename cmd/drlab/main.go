// Command drlab builds and drives drlb's network-namespace lab.
//
//	drlab up [--topology seed|FILE]     build the lab and start its services
//	drlab down [--all]                  remove a lab (also after a crash)
//	drlab status [--json]               hosts, addresses, VIP owner, processes
//	drlab exec HOST -- CMD...           run a command inside a host
//	drlab logs HOST [PROCESS]           print a host's process logs
//	drlab page set HOST PATH CONTENT    change a real server's page
//	drlab page reset HOST PATH          restore its original content
//	drlab topology [seed]               print the built-in topology spec
//
// Every subcommand takes --name N (default drlab) to pick the lab.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"up":       {"build a lab and start its services", cmdUp},
		"down":     {"remove a lab, also the leftovers of a crashed run", cmdDown},
		"status":   {"show hosts, addresses, the VIP owner and processes", cmdStatus},
		"exec":     {"run a command inside a lab host", cmdExec},
		"logs":     {"print the logs of a host's processes", cmdLogs},
		"page":     {"change (set) or restore (reset) a real server's page", cmdPage},
		"topology": {"print the built-in topology spec (to copy and edit)", cmdTopology},
		"demo":     {"the how-to, live and narrated, in a fresh lab", cmdDemo},
		"scenario": {"list, run or replay failure scenarios", cmdScenario},
		"daemon":   {"start, stop or kill drlb on a lab balancer", cmdDaemon},
		"serve":    {"run the lab web server (started by `up` in real servers)", cmdServe},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: drlab COMMAND [--name LAB] [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'drlab COMMAND -h' for a command's flags.")
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
		fmt.Fprintf(stderr, "drlab: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// newFlags returns a flag set with the common --name and --state-root flags.
func newFlags(name, usageLine string, stderr io.Writer) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet("drlab "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: drlab %s %s\n\nflags:\n", name, usageLine)
		fs.PrintDefaults()
	}
	lab := fs.String("name", envOr("DRLAB_NAME", "drlab"), "lab name (namespaces are NAME-HOST)")
	root := fs.String("state-root", "/run/drlab", "directory holding each lab's state")
	return fs, lab, root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parsed is a command line split into positional arguments and, after "--",
// a command to run.
type parsed struct {
	args    []string
	command []string
}

// parse parses flags anywhere before "--" (so `drlab logs lb1 --name x`
// works); it returns an exit code and false when the caller must stop.
func parse(fs *flag.FlagSet, args []string) (parsed, int, bool) {
	var p parsed
	for i, a := range args {
		if a == "--" {
			p.command = args[i+1:]
			args = args[:i]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return p, 0, false
			}
			return p, 2, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return p, 0, true
		}
		p.args = append(p.args, args[0])
		args = args[1:]
	}
}
