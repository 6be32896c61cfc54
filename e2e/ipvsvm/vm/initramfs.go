package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// TestBinary is one static test binary to run in the guest.
type TestBinary struct {
	// Path is the binary on the host (built with CGO_ENABLED=0 go test -c).
	Path string
	// Args are extra flags for this binary, after -test.v and the global flags.
	Args []string
}

// ParseTestBinary parses a command-line spec: a path, optionally followed by
// flags for that binary separated by spaces ("dp.test -test.run IPVS").
func ParseTestBinary(spec string) (TestBinary, error) {
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return TestBinary{}, fmt.Errorf("vm: empty test binary spec")
	}
	return TestBinary{Path: fields[0], Args: fields[1:]}, nil
}

// guestNames gives each binary a unique, shell-safe name for /tests/<name>/<name>.
func guestNames(bins []TestBinary) []string {
	unsafe := regexp.MustCompile(`[^A-Za-z0-9._-]`)
	used := map[string]bool{}
	names := make([]string, len(bins))
	for i, b := range bins {
		base := unsafe.ReplaceAllString(filepath.Base(b.Path), "_")
		if base == "" || base == "." || base == ".." {
			base = "test"
		}
		name := base
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		used[name] = true
		names[i] = name
	}
	return names
}

// shellQuote quotes s for busybox sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// InitScript returns the guest's /init: mount the pseudo file systems, load
// the modules (paths relative to /lib/modules/<version>, in load order), run
// every test binary with -test.v, print one marker line per binary and one
// for the whole run, and power off. There is no exit-code channel out of
// qemu, so the markers are the result.
func InitScript(kernelVersion string, modules []string, names []string, bins []TestBinary, globalArgs []string) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /usr/bin /usr/sbin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox mount -t tmpfs tmpfs /run
/bin/busybox --install -s
exec </dev/null >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm /run/netns
ln -sf /run /var/run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname drlb-vm
ip link set lo up
echo "DRLB-VM: kernel $(uname -r), loading modules"
`)
	fmt.Fprintf(&b, "cd /lib/modules/%s\n", kernelVersion)
	for _, m := range modules {
		fmt.Fprintf(&b, "insmod %s || echo \"DRLB-VM-WARN: insmod %s failed\"\n", shellQuote(m), ModuleName(m))
	}
	b.WriteString(`cd /
. /etc/drlb/env
rc=0
`)
	for i, bin := range bins {
		args := []string{"-test.v"}
		args = append(args, globalArgs...)
		args = append(args, bin.Args...)
		quoted := make([]string, len(args))
		for j, a := range args {
			quoted[j] = shellQuote(a)
		}
		name := names[i]
		fmt.Fprintf(&b, "echo \"DRLB-VM: running %s\"\n", name)
		fmt.Fprintf(&b, "(cd /tests/%s && exec ./%s %s)\n", name, name, strings.Join(quoted, " "))
		fmt.Fprintf(&b, "r=$?\necho \"%s %s rc=$r\"\nif [ $r -ne 0 ]; then rc=$r; fi\n", TestPrefix, name)
	}
	fmt.Fprintf(&b, `if [ $rc -eq 0 ]; then echo "%s PASS"; else echo "%s FAIL rc=$rc"; fi
sync
poweroff -f
`, ResultPrefix, ResultPrefix)
	return b.String()
}

// EnvFile renders KEY=VALUE pairs as a script of export lines, sorted by key;
// later duplicates win.
func EnvFile(env []string) (string, error) {
	vals := map[string]string{}
	valid := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !valid.MatchString(k) {
			return "", fmt.Errorf("vm: bad guest environment entry %q (want KEY=VALUE)", kv)
		}
		vals[k] = v
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(vals[k]))
	}
	return b.String(), nil
}

// addHostFile copies a host file into the archive.
func addHostFile(c *CPIOWriter, name, hostPath string, perm uint32) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("vm: open %s: %w", hostPath, err)
	}
	defer func() { _ = f.Close() }() // read-only
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("vm: stat %s: %w", hostPath, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("vm: %s is not a regular file", hostPath)
	}
	return c.File(name, perm, st.Size(), f)
}

// initramfsSpec is everything that goes into the guest's initramfs.
type initramfsSpec struct {
	kernel  Kernel
	modules []string // load order, paths relative to ModulesDir
	bins    []TestBinary
	args    []string
	env     []string
	// hostFiles are absolute host paths copied to the same guest paths.
	hostFiles []string
}

// writeInitramfs writes the archive to path.
func writeInitramfs(file string, spec initramfsSpec) (err error) {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("vm: create initramfs: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("vm: close initramfs: %w", cerr)
		}
	}()
	c := NewCPIOWriter(f)
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc/drlb", "proc", "sys", "dev", "tmp", "run", "var", "root", "tests"} {
		if err := c.Dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.CharDevice("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := addHostFile(c, "bin/busybox", spec.kernel.Busybox, 0o755); err != nil {
		return err
	}
	etc := map[string]string{
		"etc/passwd":        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":         "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":         "127.0.0.1 localhost drlb-vm\n::1 localhost\n",
		"etc/nsswitch.conf": "hosts: files\n",
	}
	for _, name := range []string{"etc/group", "etc/hosts", "etc/nsswitch.conf", "etc/passwd"} {
		if err := c.Bytes(name, 0o644, []byte(etc[name])); err != nil {
			return err
		}
	}
	envText, err := EnvFile(spec.env)
	if err != nil {
		return err
	}
	if err := c.Bytes("etc/drlb/env", 0o644, []byte(envText)); err != nil {
		return err
	}

	modRoot := path.Join("lib/modules", spec.kernel.Version)
	for _, meta := range []string{"modules.dep", "modules.alias", "modules.symbols", "modules.builtin", "modules.order", "modules.softdep"} {
		host := filepath.Join(spec.kernel.ModulesDir, meta)
		if _, err := os.Stat(host); err != nil {
			continue
		}
		if err := addHostFile(c, path.Join(modRoot, meta), host, 0o644); err != nil {
			return err
		}
	}
	for _, m := range spec.modules {
		if err := addHostFile(c, path.Join(modRoot, m), filepath.Join(spec.kernel.ModulesDir, filepath.FromSlash(m)), 0o644); err != nil {
			return err
		}
	}

	for _, h := range spec.hostFiles {
		if err := c.Dir(path.Dir(strings.TrimPrefix(filepath.ToSlash(h), "/")), 0o755); err != nil {
			return err
		}
		if err := addHostFile(c, strings.TrimPrefix(filepath.ToSlash(h), "/"), h, 0o755); err != nil {
			return err
		}
	}

	names := guestNames(spec.bins)
	for i, b := range spec.bins {
		if err := addHostFile(c, path.Join("tests", names[i], names[i]), b.Path, 0o755); err != nil {
			return err
		}
	}
	script := InitScript(spec.kernel.Version, spec.modules, names, spec.bins, spec.args)
	if err := c.Bytes("init", 0o755, []byte(script)); err != nil {
		return err
	}
	return c.Close()
}

// BuildTestBinary compiles the Go package in dir (a directory or a "./..."
// package path relative to the working directory) into a static test binary
// in outDir, named <package dir name>.test, and returns its path.
func BuildTestBinary(ctx context.Context, dir, outDir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("vm: resolve package %s: %w", dir, err)
	}
	out := filepath.Join(outDir, filepath.Base(abs)+".test")
	if _, err := os.Stat(out); err == nil {
		out = filepath.Join(outDir, fmt.Sprintf("%s-%d.test", filepath.Base(abs), time.Now().UnixNano()))
	}
	cmd := exec.CommandContext(ctx, goTool(), "test", "-c", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("vm: go test -c %s: %w\n%s", dir, err, msg)
	}
	if _, err := os.Stat(out); err != nil {
		return "", fmt.Errorf("vm: package %s has no tests to build: %w", dir, err)
	}
	return out, nil
}

// goTool returns the go command: the one on PATH (go run, go test and go
// tool put their own toolchain's bin first on PATH, so this finds it even
// under sudo), else the one under $GOROOT, else plain "go" for exec to
// report as missing.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}
