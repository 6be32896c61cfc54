package vrrp

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNamespace runs fn on a locked OS thread that has entered the network
// namespace target, and returns fn's error. Sockets fn creates stay in
// target. The thread is returned to the Go scheduler only if it could be
// moved back to its original namespace; otherwise it dies locked with its
// goroutine. Goroutines started by fn do not inherit the namespace.
func InNamespace(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("vrrp: get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("vrrp: enter netns %v: %w", target, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it is in the wrong namespace and
			// must die with this goroutine.
			errc <- fmt.Errorf("vrrp: return from netns %v: %w", target, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
