package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/nsdo"
)

// NetnsDir is where named namespaces are bind-mounted, as `ip netns` expects.
const NetnsDir = "/run/netns"

// NSPath is the bind-mount path of a named namespace.
func NSPath(nsName string) string { return filepath.Join(NetnsDir, nsName) }

// Do runs fn on a thread inside the namespace at nsPath (see internal/nsdo:
// sockets and processes fn creates stay there; goroutines it starts do not).
func Do(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fmt.Errorf("enter namespace: empty path")
	}
	return nsdo.Do(nsPath, fn)
}

// ensureNetnsDir makes /run/netns a shared bind mount, as `ip netns add`
// does, so namespace mounts made here and by ip(8) propagate alike.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	// Not a mount point yet: bind it onto itself, then make it shared.
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", NetnsDir, err)
	}
	if err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	return nil
}

// createNamedNS creates a network namespace bind-mounted at /run/netns/name
// without moving the calling goroutine's thread into it.
func createNamedNS(name string) error {
	path := NSPath(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("namespace %s already exists", name)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	_ = f.Close() // an empty mount point: nothing written
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("remember current namespace: %w", err)
			return
		}
		defer func() { _ = orig.Close() }()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		mountErr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(mountErr, fmt.Errorf("restore namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if mountErr != nil {
			mountErr = fmt.Errorf("bind-mount namespace %s: %w", name, mountErr)
		}
		errc <- mountErr
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path) // best effort: the error that matters is err
		return err
	}
	return nil
}

// deleteNamedNS unmounts and removes /run/netns/name. A missing namespace is not an error.
func deleteNamedNS(name string) error {
	path := NSPath(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// nsExists reports whether /run/netns/name is a mounted namespace.
func nsExists(name string) bool {
	h, err := netns.GetFromPath(NSPath(name))
	if err != nil {
		return false
	}
	_ = h.Close()
	return true
}

// openHandle opens a route-netlink handle for the namespace; only
// NETLINK_ROUTE, since opening XFRM too fails on some kernels.
func openHandle(nsName string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(NSPath(nsName))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", nsName, err)
	}
	defer func() { _ = ns.Close() }()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink handle for %s: %w", nsName, err)
	}
	return h, nil
}

// writeSysctl sets a net.* sysctl inside the namespace at nsPath.
func writeSysctl(nsPath, key, value string) error {
	file := filepath.Join("/proc/sys", filepath.FromSlash(dotsToSlashes(key)))
	return Do(nsPath, func() error {
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}

// readSysctl reads a net.* sysctl inside the namespace at nsPath.
func readSysctl(nsPath, key string) (string, error) {
	file := filepath.Join("/proc/sys", dotsToSlashes(key))
	var out string
	err := Do(nsPath, func() error {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read sysctl %s: %w", key, err)
		}
		out = string(b)
		return nil
	})
	return trimNL(out), err
}

func dotsToSlashes(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
