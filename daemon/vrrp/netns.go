package vrrp

import (
	"github.com/vishvananda/netns"

	"github.com/drlb/drlb/internal/nsdo"
)

// InNamespace runs fn on a locked OS thread that has entered the network
// namespace target (see internal/nsdo). Sockets fn creates stay in target;
// goroutines started by fn do not inherit the namespace.
func InNamespace(target netns.NsHandle, fn func() error) error {
	return nsdo.DoHandle(target, fn)
}
