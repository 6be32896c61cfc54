// Command drlb is the drlb load-balancer daemon and its tools.
//
//	drlb run      run the daemon (VRRP, health checks, data plane)
//	drlb check    validate a keepalived.conf and optionally dump the effective config
//	drlb status   show a running daemon's instances and forwarding table
//	drlb reload   ask a running daemon to reload its configuration
//	drlb genhash  print the MD5 digest of a page, as keepalived's genhash does
//	drlb version  print the version
//	drlb completion bash|zsh|fish|powershell   shell completion script
//
// The main stays thin: each subcommand is a cobra command in its own file
// (newXxxCmd) that parses its flags and calls a package; internal/cli holds
// the plumbing shared with drlab (exit codes, Go-style -long flags, man
// pages).
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon/vrrpproc"
	"github.com/drlb/drlb/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// newRootCmd is drlb with every subcommand. A new subcommand is a file
// with its newXxxCmd, added here.
func newRootCmd() *cobra.Command {
	root := cli.NewRoot("drlb", "a keepalived-compatible direct-routing load balancer",
		`drlb reads keepalived.conf, speaks VRRP v2/v3 with keepalived peers, health-checks
real servers and programs direct routing through IPVS or nftables.

Run 'drlb COMMAND --help' for a command's flags.`)
	root.AddCommand(newRunCmd(), newCheckCmd(), newStatusCmd(), newReloadCmd(), newGenhashCmd(), newVersionCmd())
	return root
}

func main() {
	// drlb run re-executes this binary as its VRRP child (package vrrpproc).
	vrrpproc.MaybeChild()
	os.Exit(cli.Main(newRootCmd(), os.Args[1:], os.Stdout, os.Stderr))
}
