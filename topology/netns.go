package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named namespaces are bind-mounted, as `ip netns` expects.
const NetnsDir = "/run/netns"

// NSPath is the bind-mount path of a named namespace.
func NSPath(nsName string) string { return filepath.Join(NetnsDir, nsName) }

// Do runs fn on a thread inside the namespace at nsPath, with
// containernetworking's ns.Do: a fresh goroutine locked to its OS thread
// enters the namespace, runs fn and goes back; the thread is unlocked only
// if going back worked, otherwise the runtime retires it. Sockets and
// processes fn creates stay in the namespace; goroutines it starts do not.
// fn's error is returned unchanged.
func Do(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fmt.Errorf("enter namespace: empty path")
	}
	var fnErr error
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		fnErr = fn()
		return nil
	})
	if err != nil {
		return fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	return fnErr
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
	// containernetworking's TempNetNS unshares on a thread of its own that
	// is retired if it cannot go back; the bind mount keeps the namespace
	// after that handle is closed.
	tmp, err := ns.TempNetNS()
	if err != nil {
		_ = os.Remove(path) // best effort: the error that matters is err
		return fmt.Errorf("create network namespace %s: %w", name, err)
	}
	defer func() { _ = tmp.Close() }()
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", tmp.Fd()), path, "none", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path) // best effort: the error that matters is err
		return fmt.Errorf("bind-mount namespace %s: %w", name, err)
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

// writeSysctl sets a net.* sysctl (dotted key) inside the namespace at nsPath.
func writeSysctl(nsPath, key, value string) error {
	return Do(nsPath, func() error {
		if _, err := sysctl.Sysctl(key, value); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}

// readSysctl reads a net.* sysctl (dotted key) inside the namespace at nsPath.
func readSysctl(nsPath, key string) (string, error) {
	var out string
	err := Do(nsPath, func() error {
		v, err := sysctl.Sysctl(key)
		if err != nil {
			return fmt.Errorf("read sysctl %s: %w", key, err)
		}
		out = strings.TrimRight(v, " \n")
		return nil
	})
	return out, err
}
