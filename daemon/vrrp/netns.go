package vrrp

import (
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netns"
)

// InNamespace runs fn on a locked OS thread that has entered the network
// namespace target, with containernetworking's ns.Do (opened through
// /proc/self/fd, so target stays open and owned by the caller). The thread
// goes back to its namespace afterwards and is unlocked only if that
// worked; otherwise the Go runtime retires it, so no goroutine runs on a
// thread left in target. Sockets fn creates stay in target; goroutines
// started by fn do not inherit the namespace. fn's error is returned
// unchanged.
func InNamespace(target netns.NsHandle, fn func() error) error {
	path := fmt.Sprintf("/proc/self/fd/%d", int(target))
	var fnErr error
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		fnErr = fn()
		return nil
	})
	if err != nil {
		return fmt.Errorf("enter network namespace %v: %w", target, err)
	}
	return fnErr
}
