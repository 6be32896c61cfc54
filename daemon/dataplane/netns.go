package dataplane

import (
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
)

// InNetNS runs fn inside the network namespace at path (Options.NetNSPath: a
// /run/netns/NAME bind mount or /proc/PID/ns/net), or directly when path is
// "" (the caller's namespace). It is containernetworking's ns.Do: fn runs on
// a fresh goroutine locked to its OS thread, which enters the namespace and
// goes back; the thread is unlocked only if going back worked, otherwise the
// Go runtime retires it with its goroutine, so no goroutine ever runs on a
// thread left in the namespace. Sockets fn creates stay in the namespace;
// goroutines fn starts do not run there. fn's error is returned unchanged;
// failing to open or enter the namespace is an error naming path.
func InNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	var fnErr error
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		fnErr = fn()
		return nil
	})
	if err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	return fnErr
}
