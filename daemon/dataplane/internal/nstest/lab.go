package nstest

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
)

// Sysctl writes value to /proc/sys/<key> (key with slashes) inside ns.
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	err := dataplane.InNetNS(ns.Path, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("%s: sysctl %s=%s: %v", ns.Name, key, value, err)
	}
}

// linkAddr returns the device named dev inside ns and cidr parsed.
func (ns *NS) linkAddr(t testing.TB, dev, cidr string) (netlink.Link, *netlink.Addr) {
	t.Helper()
	l, err := ns.Link.LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: find %s: %v", ns.Name, dev, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return l, addr
}

// AddrAdd adds cidr to the device named dev inside ns.
func (ns *NS) AddrAdd(t testing.TB, dev, cidr string) {
	t.Helper()
	l, addr := ns.linkAddr(t, dev, cidr)
	if addr.IP.To4() == nil {
		addr.Flags |= unix.IFA_F_NODAD // test addresses are unique: usable at once
	}
	if err := ns.Link.AddrAdd(l, addr); err != nil {
		t.Fatalf("%s: add %s to %s: %v", ns.Name, cidr, dev, err)
	}
}

// NewSwitch creates a namespace holding bridge br0 (up, no netfilter on
// bridged frames).
func NewSwitch(t testing.TB, suffix string) *NS {
	t.Helper()
	sw := New(t, suffix)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := sw.Link.LinkAdd(br); err != nil {
		t.Fatalf("%s: add bridge: %v", sw.Name, err)
	}
	if err := sw.Link.LinkSetUp(br); err != nil {
		t.Fatalf("%s: bridge up: %v", sw.Name, err)
	}
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil {
		sw.Sysctl(t, "net/bridge/bridge-nf-call-iptables", "0")
	}
	return sw
}

// Plug connects host to the switch: host gets "eth1" with cidr, the switch
// gets port <port> enslaved to br0.
func (sw *NS) Plug(t testing.TB, host *NS, port, cidr string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: "eth1", PeerNamespace: netlink.NsFd(int(host.Handle))}
	if err := sw.Link.LinkAdd(veth); err != nil {
		t.Fatalf("plug %s into %s: %v", host.Name, sw.Name, err)
	}
	p, err := sw.Link.LinkByName(port)
	if err != nil {
		t.Fatal(err)
	}
	br, err := sw.Link.LinkByName("br0")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Link.LinkSetMaster(p, br); err != nil {
		t.Fatalf("%s: enslave %s: %v", sw.Name, port, err)
	}
	if err := sw.Link.LinkSetUp(p); err != nil {
		t.Fatal(err)
	}
	e, err := host.Link.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Link.LinkSetUp(e); err != nil {
		t.Fatal(err)
	}
	host.AddrAdd(t, "eth1", cidr)
}

// Listen opens a TCP listener inside ns.
func (ns *NS) Listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := dataplane.InNetNS(ns.Path, func() error {
		var err error
		l, err = net.Listen("tcp", addr) // both families for ":port"
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen %s: %v", ns.Name, addr, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Dial opens a TCP connection from inside ns (the socket stays there).
func (ns *NS) Dial(d *net.Dialer, addr string) (net.Conn, error) {
	var c net.Conn
	err := dataplane.InNetNS(ns.Path, func() error {
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", ns.Name, addr, err)
	}
	return c, nil
}
