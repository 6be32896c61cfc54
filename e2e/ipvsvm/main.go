// Command ipvsvm runs Go test binaries inside a qemu VM that boots Debian's
// cloud kernel, where IPVS exists as modules (the host kernel has no IPVS).
//
// Usage:
//
//	go run ./e2e/ipvsvm [flags] BINARY|PKGDIR ['BINARY -test.run X' ...]
//
// Each argument is a static test binary (CGO_ENABLED=0 go test -c) or a
// package directory such as ./e2e/ipvsvm/ipvstest, which is built that way
// first, optionally followed by flags for that binary in the same argument. The
// command prints the guest console and exits 0 only when the guest reported
// "DRLB-VM-RESULT: PASS"; 1 on a failed test, 2 on a harness error (no
// marker, timeout, download failure).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/drlb/drlb/e2e/ipvsvm/vm"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("ipvsvm", flag.ContinueOnError)
	cfg := vm.Config{InstallQEMU: true}
	var env, modules, programs listFlag
	var testFlags string
	fs.StringVar(&cfg.CacheDir, "cache", vm.DefaultCacheDir(), "cache `dir` for downloaded packages")
	fs.DurationVar(&cfg.Timeout, "timeout", 6*time.Minute, "kill qemu after this long")
	fs.IntVar(&cfg.MemoryMB, "mem", 1024, "guest memory in MiB")
	fs.IntVar(&cfg.CPUs, "smp", 1, "guest CPUs")
	fs.StringVar(&testFlags, "testflags", "", "flags for every test binary, space separated (e.g. \"-test.run IPVS\")")
	fs.Var(&env, "env", "extra guest `KEY=VALUE` (repeatable)")
	fs.Var(&modules, "module", "extra kernel `module` to load (repeatable)")
	fs.Var(&programs, "host-program", "host `program` to copy into the guest with its shared libraries, e.g. nft (repeatable)")
	fs.BoolVar(&cfg.KVM, "kvm", false, "try KVM before TCG (nested KVM aborts qemu on this project's machines)")
	noInstall := fs.Bool("no-install", false, "do not apt-get install qemu when it is missing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ipvsvm [flags] TEST_BINARY|PKG_DIR ['TEST_BINARY -test.run X' ...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.InstallQEMU = !*noInstall
	cfg.Env, cfg.Modules, cfg.HostPrograms, cfg.TestArgs = env, modules, programs, strings.Fields(testFlags)
	for _, spec := range fs.Args() {
		b, err := vm.ParseTestBinary(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ipvsvm:", err)
			return 2
		}
		cfg.Binaries = append(cfg.Binaries, b)
	}
	if len(cfg.Binaries) == 0 {
		fs.Usage()
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A directory argument is a package: build its static test binary first.
	var buildDir string
	for i, b := range cfg.Binaries {
		if st, err := os.Stat(b.Path); err != nil || !st.IsDir() {
			continue
		}
		if buildDir == "" {
			dir, err := os.MkdirTemp("", "ipvsvm-build-")
			if err != nil {
				fmt.Fprintln(os.Stderr, "ipvsvm: error:", err)
				return 2
			}
			defer func() { _ = os.RemoveAll(dir) }() // best effort: a temp dir
			buildDir = dir
		}
		fmt.Fprintf(os.Stderr, "ipvsvm: building test binary for %s\n", b.Path)
		bin, err := vm.BuildTestBinary(ctx, b.Path, buildDir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ipvsvm: error:", err)
			return 2
		}
		cfg.Binaries[i].Path = bin
	}
	res, err := vm.Run(ctx, cfg)
	for _, t := range res.Tests {
		fmt.Fprintf(os.Stderr, "ipvsvm: %s rc=%d\n", t.Name, t.RC)
	}
	switch {
	case errors.Is(err, vm.ErrNoResult):
		fmt.Fprintln(os.Stderr, "ipvsvm: FAIL:", err)
		return 2
	case err != nil:
		fmt.Fprintln(os.Stderr, "ipvsvm: error:", err)
		return 2
	case !res.Passed:
		fmt.Fprintf(os.Stderr, "ipvsvm: FAIL rc=%d (kernel %s, prepare %s, qemu %s)\n", res.RC, res.Kernel, res.Prepare.Round(time.Millisecond), res.Boot.Round(time.Millisecond))
		return 1
	}
	fmt.Fprintf(os.Stderr, "ipvsvm: PASS (kernel %s, prepare %s, qemu %s)\n", res.Kernel, res.Prepare.Round(time.Millisecond), res.Boot.Round(time.Millisecond))
	return 0
}
