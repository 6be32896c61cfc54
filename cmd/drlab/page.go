package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newPageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "page [--name LAB] set HOST PATH CONTENT | reset HOST PATH",
		Short: "change (set) or restore (reset) a real server's page",
		Args:  cobra.ArbitraryArgs,
	}
	lf := addLabFlags(c)
	c.ValidArgsFunction = func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return []string{"set", "reset"}, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return hostArg(lf)(c, nil, "")
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) < 3 || (args[0] == "set") != (len(args) == 4) || (args[0] != "set" && args[0] != "reset") {
			return cli.BadUsage(c)
		}
		lf.resolve(c)
		return cli.Exit(page(lf, args, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// page sets or resets a page (args: set HOST PATH CONTENT | reset HOST
// PATH) and returns the exit status.
func page(lf *labFlags, args []string, stdout, stderr io.Writer) int {
	lab, err := topology.Open(lf.name, lf.stateRoot)
	if err != nil {
		fmt.Fprintf(stderr, "drlab page: %v\n", err)
		return 1
	}
	host, path := args[1], args[2]
	if args[0] == "set" {
		err = lab.SetPage(host, path, args[3])
	} else {
		err = lab.ResetPage(host, path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "drlab page: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s %s\n", host, path, map[string]string{"set": "changed", "reset": "restored"}[args[0]])
	return 0
}
