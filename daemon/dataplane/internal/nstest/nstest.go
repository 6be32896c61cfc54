// Package nstest creates named network namespaces for the data plane's
// privileged tests (containernetworking's testutils.NewNS: bind-mounted
// under /run/netns with a random cnitest-… name, made on a thread that is
// never reused) and removes them in t.Cleanup.
package nstest

import (
	"path/filepath"
	"testing"

	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a named network namespace made for one test.
type NS struct {
	// Name is the namespace name (visible to `ip netns`).
	Name string
	// Path is its bind mount (/run/netns/Name).
	Path string
	// Handle is an open handle on the namespace.
	Handle netns.NsHandle
	// Link is a netlink handle opened for the namespace.
	Link *netlink.Handle
}

// New creates a namespace with lo up for the test's host role (suffix, used
// in failure messages) and registers its removal in t.Cleanup. The caller's
// thread never changes namespace.
func New(t testing.TB, suffix string) *NS {
	t.Helper()
	made, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("create netns for %s: %v", suffix, err)
	}
	name := filepath.Base(made.Path())
	ns := &NS{Name: name, Path: made.Path(), Handle: netns.NsHandle(-1)}
	t.Cleanup(func() {
		if ns.Link != nil {
			ns.Link.Close()
		}
		if ns.Handle >= 0 {
			_ = ns.Handle.Close()
		}
		// Every file opened through the mount must be closed first, or
		// unmounting it fails with EBUSY.
		_ = made.Close()
		if err := testutils.UnmountNS(made); err != nil {
			t.Errorf("delete netns %s (%s): %v", name, suffix, err)
		}
	})
	h, err := netns.GetFromPath(ns.Path)
	if err != nil {
		t.Fatalf("open netns %s (%s): %v", name, suffix, err)
	}
	ns.Handle = h
	link, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle for %s: %v", name, err)
	}
	ns.Link = link
	lo, err := link.LinkByName("lo")
	if err != nil {
		t.Fatalf("%s: find lo: %v", name, err)
	}
	if err := link.LinkSetUp(lo); err != nil {
		t.Fatalf("%s: lo up: %v", name, err)
	}
	return ns
}

// AddVeth creates a veth pair inside ns (both ends, up), for a device the
// nft back end can attach to.
func (ns *NS) AddVeth(t testing.TB, name, peer string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if err := ns.Link.LinkAdd(veth); err != nil {
		t.Fatalf("%s: add veth %s: %v", ns.Name, name, err)
	}
	for _, n := range []string{name, peer} {
		l, err := ns.Link.LinkByName(n)
		if err != nil {
			t.Fatalf("%s: find %s: %v", ns.Name, n, err)
		}
		if err := ns.Link.LinkSetUp(l); err != nil {
			t.Fatalf("%s: set %s up: %v", ns.Name, n, err)
		}
	}
}
