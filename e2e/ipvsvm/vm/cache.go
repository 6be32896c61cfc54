package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Debian package names the harness needs.
const (
	// KernelMetaPackage is resolved with apt-cache depends to the current
	// versioned kernel image package.
	KernelMetaPackage = "linux-image-cloud-amd64"
	// BusyboxPackage provides the guest's only userland binary.
	BusyboxPackage = "busybox-static"
	// QEMUPackage provides qemu-system-x86_64; its dependency
	// qemu-system-data provides QBootROM.
	QEMUPackage = "qemu-system-x86"
	// QEMUBinary is the emulator the harness runs.
	QEMUBinary = "qemu-system-x86_64"
	// QBootROM is the minimal firmware that boots a -kernel image fast.
	QBootROM = "/usr/share/qemu/qboot.rom"
)

// Kernel is an unpacked Debian kernel with a generated modules.dep, and the
// busybox binary that becomes the guest's userland.
type Kernel struct {
	// Version is the kernel release, such as "6.1.0-56-cloud-amd64".
	Version string
	// Image is the path of the vmlinuz file.
	Image string
	// ModulesDir is the path of lib/modules/<Version>.
	ModulesDir string
	// Busybox is the path of the static busybox binary.
	Busybox string
}

// DefaultCacheDir returns $XDG_CACHE_HOME/drlb/ipvsvm when XDG_CACHE_HOME is
// set, otherwise /var/cache/drlb/ipvsvm. The cache is never inside the repository.
func DefaultCacheDir() string {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "drlb", "ipvsvm")
	}
	return "/var/cache/drlb/ipvsvm"
}

// ParseAptDepends returns the first "Depends:" package in the output of
// `apt-cache depends PACKAGE`, skipping alternatives written as "<virtual>".
func ParseAptDepends(output string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "|"))
		dep, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		dep = strings.TrimSpace(dep)
		if dep == "" || strings.HasPrefix(dep, "<") || strings.ContainsAny(dep, " \t") {
			continue
		}
		return dep, nil
	}
	return "", errors.New("vm: apt-cache depends listed no Depends: package")
}

// runner runs host commands and logs what it does.
type runner struct {
	log io.Writer
}

func (r runner) output(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("vm: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (r runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "ipvsvm: "+format+"\n", args...)
}

// EnsureHostTools checks for qemu-system-x86_64 and qboot.rom and, when
// install is true, installs the Debian package that provides them.
func EnsureHostTools(ctx context.Context, log io.Writer, install bool) error {
	r := runner{log: log}
	if _, err := exec.LookPath(QEMUBinary); err == nil {
		if _, err := os.Stat(QBootROM); err == nil {
			return nil
		}
	}
	if !install {
		return fmt.Errorf("vm: %s or %s missing; install Debian package %s", QEMUBinary, QBootROM, QEMUPackage)
	}
	r.logf("installing %s (apt-get)", QEMUPackage)
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	args := []string{"install", "-y", "--no-install-recommends", QEMUPackage}
	if _, err := r.output(ctx, "", env, "apt-get", args...); err != nil {
		r.logf("apt-get install failed, running apt-get update first: %v", err)
		if _, err := r.output(ctx, "", env, "apt-get", "update"); err != nil {
			return err
		}
		if _, err := r.output(ctx, "", env, "apt-get", args...); err != nil {
			return err
		}
	}
	if _, err := os.Stat(QBootROM); err != nil {
		return fmt.Errorf("vm: %s still missing after installing %s: %w", QBootROM, QEMUPackage, err)
	}
	return nil
}

// lockCache takes an exclusive lock on the cache directory so that parallel
// runs do not download or unpack the same package twice. The returned
// function releases it.
func lockCache(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm: create cache dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vm: open cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("vm: lock cache %s: %w", dir, err)
	}
	// Closing the file releases the lock; nothing was written to it.
	return func() { _ = f.Close() }, nil
}

// PrepareKernel makes sure the cache holds the current Debian cloud kernel
// and busybox-static, unpacked, with modules.dep generated. Packages are
// downloaded only when the cache has no .deb for the resolved package name,
// so a second run downloads nothing.
func PrepareKernel(ctx context.Context, cacheDir string, log io.Writer) (Kernel, error) {
	r := runner{log: log}
	unlock, err := lockCache(cacheDir)
	if err != nil {
		return Kernel{}, err
	}
	defer unlock()

	kernelPkg, err := r.resolveKernelPackage(ctx)
	if err != nil {
		// Offline with a warm cache: use the newest kernel already unpacked.
		cached, _ := filepath.Glob(filepath.Join(cacheDir, "root", "linux-image-*"))
		if len(cached) == 0 {
			return Kernel{}, err
		}
		sort.Strings(cached)
		kernelPkg = filepath.Base(cached[len(cached)-1])
		r.logf("cannot resolve %s (%v); using cached %s", KernelMetaPackage, err, kernelPkg)
	}
	kernelRoot, err := r.unpacked(ctx, cacheDir, kernelPkg)
	if err != nil {
		return Kernel{}, err
	}
	busyboxRoot, err := r.unpacked(ctx, cacheDir, BusyboxPackage)
	if err != nil {
		return Kernel{}, err
	}
	k := Kernel{Busybox: filepath.Join(busyboxRoot, "bin", "busybox")}
	if _, err := os.Stat(k.Busybox); err != nil {
		return Kernel{}, fmt.Errorf("vm: busybox binary missing from %s: %w", BusyboxPackage, err)
	}

	// Debian 12 installs modules under lib/modules, later releases under usr/lib/modules.
	var modulesBase string
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		entries, err := os.ReadDir(filepath.Join(kernelRoot, base))
		if err == nil && len(entries) == 1 && entries[0].IsDir() {
			k.Version = entries[0].Name()
			modulesBase = base
			break
		}
	}
	if k.Version == "" {
		return Kernel{}, fmt.Errorf("vm: no single lib/modules/<version> directory in %s", kernelRoot)
	}
	k.ModulesDir = filepath.Join(kernelRoot, modulesBase, k.Version)
	k.Image = filepath.Join(kernelRoot, "boot", "vmlinuz-"+k.Version)
	if _, err := os.Stat(k.Image); err != nil {
		return Kernel{}, fmt.Errorf("vm: kernel image missing: %w", err)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err != nil {
		// The .deb ships no modules.dep (Debian runs depmod in postinst).
		// busybox depmod -b BASE reads BASE/lib/modules/VERSION.
		base := kernelRoot
		if modulesBase == "usr/lib/modules" {
			base = filepath.Join(kernelRoot, "usr")
		}
		r.logf("depmod %s", k.Version)
		if _, err := r.output(ctx, "", nil, k.Busybox, "depmod", "-b", base, k.Version); err != nil {
			return Kernel{}, err
		}
	}
	return k, nil
}

// resolveKernelPackage maps the cloud kernel metapackage to its versioned
// image package, running apt-get update once when apt has no package lists.
func (r runner) resolveKernelPackage(ctx context.Context) (string, error) {
	out, err := r.output(ctx, "", nil, "apt-cache", "depends", KernelMetaPackage)
	if err == nil {
		if pkg, perr := ParseAptDepends(string(out)); perr == nil {
			return pkg, nil
		}
	}
	r.logf("apt-cache cannot resolve %s, running apt-get update", KernelMetaPackage)
	if _, err := r.output(ctx, "", []string{"DEBIAN_FRONTEND=noninteractive"}, "apt-get", "update"); err != nil {
		return "", err
	}
	out, err = r.output(ctx, "", nil, "apt-cache", "depends", KernelMetaPackage)
	if err != nil {
		return "", err
	}
	return ParseAptDepends(string(out))
}

// unpacked returns the directory holding pkg's files, downloading the .deb
// and unpacking it only when the cache lacks them. Both steps go through a
// temporary name and a rename, so an interrupted run leaves no half state.
func (r runner) unpacked(ctx context.Context, cacheDir, pkg string) (string, error) {
	root := filepath.Join(cacheDir, "root", pkg)
	if _, err := os.Stat(root); err == nil {
		return root, nil
	}
	debDir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return "", fmt.Errorf("vm: create %s: %w", debDir, err)
	}
	debs, _ := filepath.Glob(filepath.Join(debDir, pkg+"_*.deb"))
	if len(debs) == 0 {
		tmp, err := os.MkdirTemp(debDir, "download-")
		if err != nil {
			return "", fmt.Errorf("vm: create download dir: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }() // best effort: empty once the .deb moved out
		r.logf("downloading %s (apt-get download)", pkg)
		if _, err := r.output(ctx, tmp, nil, "apt-get", "download", pkg); err != nil {
			return "", err
		}
		got, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
		if len(got) != 1 {
			return "", fmt.Errorf("vm: apt-get download %s produced %d .deb files", pkg, len(got))
		}
		dest := filepath.Join(debDir, filepath.Base(got[0]))
		if err := os.Rename(got[0], dest); err != nil {
			return "", fmt.Errorf("vm: move %s into cache: %w", pkg, err)
		}
		debs = []string{dest}
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", fmt.Errorf("vm: create %s: %w", filepath.Dir(root), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), pkg+".unpack-")
	if err != nil {
		return "", fmt.Errorf("vm: create unpack dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // best effort: gone once renamed into place
	r.logf("unpacking %s", filepath.Base(debs[len(debs)-1]))
	if _, err := r.output(ctx, "", nil, "dpkg", "-x", debs[len(debs)-1], tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, root); err != nil {
		return "", fmt.Errorf("vm: move unpacked %s into cache: %w", pkg, err)
	}
	return root, nil
}
