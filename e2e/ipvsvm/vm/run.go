// Package vm boots a stock Debian cloud kernel under qemu with a busybox
// initramfs and runs static Go test binaries inside it, so that tests which
// need kernel features the host lacks (IPVS) run against a real kernel.
//
// The guest has no network card and no exit-code channel: its /init prints
// marker lines on the serial console (see ResultPrefix) and powers off, and
// the host reads the verdict from them. Downloads (the kernel and busybox
// .debs) are cached under Config.CacheDir; a warm run downloads nothing.
package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config describes one harness run.
type Config struct {
	// CacheDir holds downloaded packages and unpacked trees (DefaultCacheDir when empty).
	CacheDir string
	// Binaries are the test binaries to run, in order.
	Binaries []TestBinary
	// TestArgs are flags passed to every binary after -test.v.
	TestArgs []string
	// Env holds extra KEY=VALUE pairs for the guest; they override the defaults
	// (DRLB_IPVS_VM=1, DRLB_REQUIRE_PRIVILEGED=1, PATH, HOME, TMPDIR).
	Env []string
	// Modules are extra kernel modules to load after DefaultModules.
	Modules []string
	// HostPrograms are host executables (names looked up on PATH, or
	// paths) copied into the guest at their host paths with the shared
	// libraries ldd names for them, so that a dynamically linked tool such
	// as nft runs in the guest.
	HostPrograms []string
	// Timeout bounds the boot and test run (not the package downloads before
	// it); qemu is killed after it (6 minutes when zero).
	Timeout time.Duration
	// MemoryMB is the guest's memory (1024 when zero).
	MemoryMB int
	// CPUs is the guest's processor count (1 when zero).
	CPUs int
	// KVM asks qemu to try KVM before TCG. Off by default: this project's
	// machines expose /dev/kvm but nested KVM aborts qemu ("failed to set MSR").
	KVM bool
	// InstallQEMU lets the harness apt-get install qemu when it is missing.
	InstallQEMU bool
	// Console receives the guest's serial console (os.Stdout when nil).
	Console io.Writer
	// Log receives the harness's progress lines (os.Stderr when nil).
	Log io.Writer
}

// Result is the outcome the guest reported.
type Result struct {
	// Passed is true only when the guest printed "DRLB-VM-RESULT: PASS".
	Passed bool
	// RC is the failing exit status the guest reported (0 when passed).
	RC int
	// Tests holds one verdict per binary, in the order they ran.
	Tests []Verdict
	// Kernel is the guest kernel's version.
	Kernel string
	// Prepare is the time spent on packages and the initramfs; Boot is the time qemu ran.
	Prepare, Boot time.Duration
}

// ErrNoResult reports a guest that ended (or was killed) without a result marker.
var ErrNoResult = errors.New("vm: guest printed no result marker")

// GuestEnv returns the guest environment: the defaults, then extra.
func GuestEnv(extra []string) []string {
	env := []string{
		"DRLB_IPVS_VM=1",
		"DRLB_REQUIRE_PRIVILEGED=1",
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"HOME=/root",
		"TMPDIR=/tmp",
		"GOTRACEBACK=all",
	}
	return append(env, extra...)
}

// Run prepares the kernel and initramfs, boots qemu, streams the console and
// returns the guest's verdict. A run with no result marker (kernel panic,
// timeout) returns ErrNoResult.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultCacheDir()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 6 * time.Minute
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.Console == nil {
		cfg.Console = os.Stdout
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if len(cfg.Binaries) == 0 {
		return Result{}, errors.New("vm: no test binaries given")
	}
	if _, err := EnvFile(GuestEnv(cfg.Env)); err != nil {
		return Result{}, err
	}
	for _, b := range cfg.Binaries {
		if _, err := os.Stat(b.Path); err != nil {
			return Result{}, fmt.Errorf("vm: test binary: %w", err)
		}
	}
	r := runner{log: cfg.Log}
	start := time.Now()
	if err := EnsureHostTools(ctx, cfg.Log, cfg.InstallQEMU); err != nil {
		return Result{}, err
	}
	k, err := PrepareKernel(ctx, cfg.CacheDir, cfg.Log)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kernel: k.Version}

	depFile, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return res, fmt.Errorf("vm: open modules.dep: %w", err)
	}
	deps, err := ParseModulesDep(depFile)
	_ = depFile.Close() // read-only: everything needed was read
	if err != nil {
		return res, err
	}
	order, missing, err := deps.LoadOrder(append(DefaultModules(), cfg.Modules...))
	if err != nil {
		return res, err
	}
	if absent := absentModules(k.ModulesDir, missing); len(absent) > 0 {
		r.logf("modules neither loadable nor built in, skipped: %s", strings.Join(absent, " "))
	}
	modPaths := make([]string, len(order))
	for i, m := range order {
		modPaths[i] = deps.Path[m]
	}

	runDir := filepath.Join(cfg.CacheDir, "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return res, fmt.Errorf("vm: create %s: %w", runDir, err)
	}
	removeStaleBootDirs(runDir, 2*cfg.Timeout)
	tmp, err := os.MkdirTemp(runDir, "boot-")
	if err != nil {
		return res, fmt.Errorf("vm: create boot dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // best effort: removeStaleBootDirs catches leftovers
	initrd := filepath.Join(tmp, "initramfs.cpio")
	guestArgs := append([]string{"-test.timeout=" + guestTestTimeout(cfg.Timeout).String()}, cfg.TestArgs...)
	hostFiles, err := hostProgramFiles(ctx, cfg.HostPrograms)
	if err != nil {
		return res, err
	}
	if err := writeInitramfs(initrd, initramfsSpec{
		kernel: k, modules: modPaths, bins: cfg.Binaries, args: guestArgs, env: GuestEnv(cfg.Env), hostFiles: hostFiles,
	}); err != nil {
		return res, err
	}
	res.Prepare = time.Since(start)
	r.logf("kernel %s, %d modules, initramfs ready in %s; booting (timeout %s)", k.Version, len(order), res.Prepare.Round(time.Millisecond), cfg.Timeout)

	bootStart := time.Now()
	err = boot(ctx, cfg, k.Image, initrd, &res)
	res.Boot = time.Since(bootStart)
	r.logf("qemu ran %s", res.Boot.Round(time.Millisecond))
	return res, err
}

// guestTestTimeout leaves the guest's go test timeout some room before the
// host kills qemu, so a hung test prints its goroutine dump.
func guestTestTimeout(total time.Duration) time.Duration {
	if total > 2*time.Minute {
		return total - 45*time.Second
	}
	return total * 3 / 4
}

// QEMUArgs returns qemu's arguments for a kernel image and an initramfs.
func QEMUArgs(image, initrd string, memoryMB, cpus int, kvm bool) []string {
	args := []string{
		"-nographic", "-no-reboot", "-nic", "none",
		"-bios", QBootROM,
		"-m", strconv.Itoa(memoryMB), "-smp", strconv.Itoa(cpus),
		"-kernel", image, "-initrd", initrd,
		// panic=-1 reboots on a panic, and -no-reboot turns that into qemu exiting.
		"-append", "console=ttyS0 rdinit=/init panic=-1 oops=panic quiet loglevel=4 mitigations=off",
	}
	if kvm {
		args = append(args, "-machine", "accel=kvm:tcg", "-cpu", "host")
	}
	return args
}

// kvmUsable reports whether /dev/kvm can be opened.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	_ = f.Close() // only opened to test access
	return true
}

// boot runs qemu until it exits or the timeout kills it, copying the console
// to cfg.Console and recording marker lines in res.
func boot(ctx context.Context, cfg Config, image, initrd string, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, QEMUBinary, QEMUArgs(image, initrd, cfg.MemoryMB, cfg.CPUs, cfg.KVM && kvmUsable())...)
	// CommandContext kills exactly this process (by its PID) when ctx ends.
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.Stdin = nil // /dev/null: nothing to type, and no terminal to put in raw mode
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vm: start %s: %w", QEMUBinary, err)
	}
	scanDone := make(chan bool, 1)
	go func() {
		scanDone <- scanConsole(pr, cfg.Console, res)
	}()
	waitErr := cmd.Wait()
	_ = pw.Close() // io.PipeWriter.Close always returns nil; it ends the scan
	gotResult := <-scanDone
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: qemu killed after the %s timeout", ErrNoResult, cfg.Timeout)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("vm: run canceled: %w", ctx.Err())
	}
	if !gotResult {
		if waitErr == nil {
			return fmt.Errorf("%w (qemu exit: <nil>); see the console output above", ErrNoResult)
		}
		return fmt.Errorf("%w (qemu exit: %w); see the console output above", ErrNoResult, waitErr)
	}
	return nil
}

// scanConsole copies console lines to out without the serial "\r" and fills
// res from marker lines. It reports whether an overall result was seen.
func scanConsole(in io.Reader, out io.Writer, res *Result) bool {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	seen := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(out, line)
		if v, ok := ParseTestLine(line); ok {
			res.Tests = append(res.Tests, v)
		}
		// The last marker wins, so test output that happens to contain one
		// cannot override the verdict /init prints at the end.
		if v, ok := ParseResultLine(line); ok {
			seen = true
			res.Passed, res.RC = v.Passed, v.RC
		}
	}
	// Drain whatever a too-long line left, so qemu never blocks on a full pipe.
	_, _ = io.Copy(out, in)
	return seen
}

// absentModules returns the names in missing that modules.builtin does not
// list either (modules.builtin is optional; without it all are reported).
func absentModules(modulesDir string, missing []string) []string {
	builtin := map[string]bool{}
	if data, err := os.ReadFile(filepath.Join(modulesDir, "modules.builtin")); err == nil {
		for _, line := range strings.Fields(string(data)) {
			builtin[ModuleName(line)] = true
		}
	}
	var absent []string
	for _, m := range missing {
		if !builtin[m] {
			absent = append(absent, m)
		}
	}
	return absent
}

// removeStaleBootDirs deletes boot directories left by runs that were killed
// before their own cleanup; anything older than maxAge cannot belong to a
// live run, whose qemu is killed after its timeout.
func removeStaleBootDirs(runDir string, maxAge time.Duration) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && strings.HasPrefix(e.Name(), "boot-") && time.Since(info.ModTime()) > maxAge {
			_ = os.RemoveAll(filepath.Join(runDir, e.Name()))
		}
	}
}
