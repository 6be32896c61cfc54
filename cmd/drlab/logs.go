package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newLogsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "logs [--name LAB] HOST [PROCESS]",
		Short: "print the logs of a host's processes",
		Args:  cobra.ArbitraryArgs,
	}
	lf := addLabFlags(c)
	c.ValidArgsFunction = hostArg(lf)
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return cli.BadUsage(c)
		}
		lf.resolve(c)
		return cli.Exit(logs(lf, args, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// logs prints the logs of host args[0] (only process args[1] when given)
// and returns the exit status.
func logs(lf *labFlags, args []string, stdout, stderr io.Writer) int {
	lab, err := topology.Open(lf.name, lf.stateRoot)
	if err != nil {
		fmt.Fprintf(stderr, "drlab logs: %v\n", err)
		return 1
	}
	host := args[0]
	if lab.Spec().Host(host) == nil {
		fmt.Fprintf(stderr, "drlab logs: lab %s has no host %q (hosts: %s)\n", lf.name, host, strings.Join(lab.Spec().HostNames(), ", "))
		return 1
	}
	files, _ := filepath.Glob(filepath.Join(lab.Dir(), "logs", host, "*.log"))
	sort.Strings(files)
	if len(args) == 2 {
		files = []string{filepath.Join(lab.Dir(), "logs", host, args[1]+".log")}
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "drlab logs: no processes have run in %s yet\n", host)
		return 1
	}
	for _, f := range files {
		if len(files) > 1 {
			fmt.Fprintf(stdout, "==> %s <==\n", f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "drlab logs: %v\n", err)
			return 1
		}
		_, _ = stdout.Write(data)
	}
	return 0
}
