// Package nstest creates named network namespaces for the data plane's
// privileged tests and removes them in t.Cleanup. Names carry the dpt
// prefix and the process id, so parallel runs do not collide.
package nstest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace these tests create.
const Prefix = "dpt"

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

// New creates namespace dpt<pid>-<suffix> with lo up and registers its
// removal in t.Cleanup. The caller's thread never changes namespace.
func New(t testing.TB, suffix string) *NS {
	t.Helper()
	name := fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), suffix)
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer func() { _ = orig.Close() }()
		h, err := netns.NewNamed(name) // switches this thread into the new namespace
		if rerr := netns.Set(orig); rerr != nil {
			ch <- result{err: fmt.Errorf("restore netns: %w", rerr)} // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		ch <- result{h: h, err: err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("create netns %s: %v", name, r.err)
	}
	ns := &NS{Name: name, Path: "/run/netns/" + name, Handle: r.h}
	t.Cleanup(func() {
		if ns.Link != nil {
			ns.Link.Close()
		}
		_ = ns.Handle.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	link, err := netlink.NewHandleAt(r.h, unix.NETLINK_ROUTE)
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
