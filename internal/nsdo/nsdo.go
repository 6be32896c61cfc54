// Package nsdo is drlb's one way of running code inside another network
// namespace: on a fresh goroutine locked to its OS thread, which enters the
// namespace, runs the function, and goes back. The thread is unlocked only
// if it could go back; otherwise it stays locked and the Go runtime retires
// it with its goroutine, so no goroutine ever runs on a thread left in a
// foreign namespace.
//
// Sockets created by the function, and processes it starts (forked from
// this thread), belong to the namespace. Goroutines it starts do not.
// Prefer netlink handles opened for a namespace; use this for what has no
// such handle (sysctls under /proc/sys/net, sockets, exec).
package nsdo

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn inside the network namespace at path (a /run/netns/NAME bind
// mount or /proc/PID/ns/net); "" runs fn directly in the caller's namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer func() { _ = target.Close() }()
	return DoHandle(target, fn)
}

// DoHandle runs fn inside the namespace target (an open namespace handle).
func DoHandle(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("remember current network namespace: %w", err)
			return
		}
		defer func() { _ = orig.Close() }()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %v: %w", target, err)
			return
		}
		fnErr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread is in the wrong namespace and dies
			// with this goroutine.
			if fnErr == nil {
				errc <- fmt.Errorf("return from network namespace %v: %w (after: <nil>)", target, err)
				return
			}
			errc <- fmt.Errorf("return from network namespace %v: %w (after: %w)", target, err, fnErr)
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
