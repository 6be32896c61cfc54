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
//	drlab scenario list|run|replay      failure scenarios
//	drlab daemon start|stop|kill|reload drlb on a lab balancer
//	drlab demo                          the how-to, live
//	drlab completion bash|zsh|fish|powershell   shell completion script
//
// Every lab subcommand takes --name N (default $DRLAB_NAME or drlab) to
// pick the lab. Each subcommand is a cobra command in its own file
// (newXxxCmd); internal/cli holds the plumbing shared with drlb.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

// newRootCmd is drlab with every subcommand. A new subcommand is a file
// with its newXxxCmd and one line here.
func newRootCmd() *cobra.Command {
	root := cli.NewRoot("drlab", "build and drive drlb's network-namespace lab",
		`drlab rebuilds the classic two-balancers/two-real-servers setup in network
namespaces on one machine, plays failure scenarios in it and runs drlb (or
keepalived) on its balancers.

Run 'drlab COMMAND --help' for a command's flags.`)
	root.AddGroup(
		&cobra.Group{ID: "lab", Title: "The lab:"},
		&cobra.Group{ID: "play", Title: "Balancers and scenarios in it:"},
	)
	for _, c := range []*cobra.Command{
		newUpCmd(),
		newDownCmd(),
		newStatusCmd(),
		newExecCmd(),
		newLogsCmd(),
		newPageCmd(),
		newTopologyCmd(),
		newServeCmd(),
	} {
		c.GroupID = "lab"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		newDemoCmd(),
		newScenarioCmd(),
		newDaemonCmd(),
	} {
		c.GroupID = "play"
		root.AddCommand(c)
	}
	return root
}

func main() {
	os.Exit(cli.Main(newRootCmd(), os.Args[1:], os.Stdout, os.Stderr))
}

// labFlags are the flags of every command that works on one lab.
type labFlags struct {
	name      string // lab name: namespaces are NAME-HOST
	stateRoot string // directory holding each lab's state
}

// addLabFlags defines --name and --state-root on c.
func addLabFlags(c *cobra.Command) *labFlags {
	l := &labFlags{}
	c.Flags().StringVar(&l.name, "name", "drlab", "lab `NAME` (namespaces are NAME-HOST; $DRLAB_NAME when not given)")
	c.Flags().StringVar(&l.stateRoot, "state-root", "/run/drlab", "`DIR`ectory holding each lab's state")
	_ = c.MarkFlagDirname("state-root")
	_ = c.RegisterFlagCompletionFunc("name", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		names, _ := topology.List(l.stateRoot)
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	return l
}

// resolve applies $DRLAB_NAME when --name was not given.
func (l *labFlags) resolve(c *cobra.Command) {
	if v := os.Getenv("DRLAB_NAME"); v != "" && !cli.FlagChanged(c, "name") {
		l.name = v
	}
}

// hostArg completes the first argument with the lab's host names (the
// seed topology's when the lab is not up).
func hostArg(l *labFlags) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		l.resolve(c)
		if lab, err := topology.Open(l.name, l.stateRoot); err == nil {
			return lab.Spec().HostNames(), cobra.ShellCompDirectiveNoFileComp
		}
		return topology.Seed().HostNames(), cobra.ShellCompDirectiveNoFileComp
	}
}
