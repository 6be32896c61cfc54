package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/internal/cli"
	"github.com/drlb/drlb/topology"
)

func newExecCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "exec [--name LAB] HOST -- COMMAND [ARGS...]",
		Short: "run a command inside a lab host",
		Long: `Runs COMMAND inside HOST's namespace with the lab's environment; drlab's own
directory comes first in PATH, so drlb built beside drlab is found. The exit
status is COMMAND's (127 when it is not found).`,
		Args: cobra.ArbitraryArgs,
	}
	lf := addLabFlags(c)
	c.ValidArgsFunction = hostArg(lf)
	c.RunE = func(c *cobra.Command, args []string) error {
		host, command := args, []string(nil)
		if dash := c.ArgsLenAtDash(); dash >= 0 {
			host, command = args[:dash], args[dash:]
		}
		if len(host) != 1 || len(command) == 0 {
			return cli.BadUsage(c)
		}
		lf.resolve(c)
		return cli.Exit(execIn(lf, host[0], command, c.OutOrStdout(), c.ErrOrStderr()))
	}
	return c
}

// execIn runs command in host and returns its exit status.
func execIn(lf *labFlags, host string, command []string, stdout, stderr io.Writer) int {
	lab, err := topology.Open(lf.name, lf.stateRoot)
	if err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	path, err := lookPath(lab, command[0])
	if err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 127
	}
	cmd := exec.Command(path, command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := lab.StartCmd(host, cmd); err != nil {
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()) // as a shell reports it
			}
			return exit.ExitCode()
		}
		fmt.Fprintf(stderr, "drlab exec: %v\n", err)
		return 1
	}
	return 0
}

// lookPath resolves a command with the lab's PATH (drlab's own directory first,
// so `drlab exec lb1 -- drlb status` finds the drlb built beside drlab).
func lookPath(lab *topology.Lab, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, kv := range lab.Env("") {
		if dirs, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(dirs) {
				candidate := filepath.Join(dir, name)
				if fi, err := os.Stat(candidate); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return candidate, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}
