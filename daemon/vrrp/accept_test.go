package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/internal/testenv"
)

// TestLabNFTFilter: a blocked VIP answers nothing (a TCP connect times
// out instead of being refused) and receives nothing, except on a listed
// virtual service (a UDP datagram reaches a socket there: the director
// itself never answers a DR service); after Unblock it refuses again (the
// control); Close removes the table.
func TestLabNFTFilter(t *testing.T) {
	testenv.Privileged(t, "nft")
	l := newLab(t)
	lb := l.addHost("lb", "172.16.1.2")
	client := l.addHost("cl", "172.16.1.100")
	vip := netip.MustParseAddr("172.16.1.1")
	if err := (NetlinkAddresses{Handle: lb.h}).Add(VIP{Prefix: netip.PrefixFrom(vip, 32), Interface: "eth1"}); err != nil {
		t.Fatal(err)
	}
	f, err := NewNFTFilter(context.Background(), func(fn func() error) error { return InNamespace(lb.ns, fn) })
	if err != nil {
		t.Fatal(err)
	}
	dial := func(port string) string {
		var err error
		_ = InNamespace(client.ns, func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", net.JoinHostPort(vip.String(), port), 500*time.Millisecond)
			if err == nil {
				_ = c.Close()
			}
			return nil
		})
		var ne net.Error
		switch {
		case err == nil:
			return "connected"
		case errors.Is(err, syscall.ECONNREFUSED):
			return "refused"
		case errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		}
		return err.Error()
	}
	if got := dial("81"); got != "refused" {
		t.Fatalf("before Block: port 81 %s, want refused", got)
	}
	// UDP sockets on the VIP, ports 80 (a service) and 81 (none).
	recv := map[string]net.PacketConn{}
	for _, port := range []string{"80", "81"} {
		err := InNamespace(lb.ns, func() (err error) {
			recv[port], err = net.ListenPacket("udp4", net.JoinHostPort(vip.String(), port))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer recv[port].Close()
	}
	received := func(port string) bool {
		var c net.Conn
		if err := InNamespace(client.ns, func() (err error) {
			c, err = net.Dial("udp4", net.JoinHostPort(vip.String(), port))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("drlb")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		_ = recv[port].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err := recv[port].ReadFrom(buf)
		return err == nil
	}
	if err := f.SetServices([]ServicePort{{Addr: vip, Protocol: "udp", Port: 80}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Block(vip); err != nil {
		t.Fatal(err)
	}
	if got := dial("81"); got != "timeout" {
		t.Errorf("blocked: port 81 %s, want timeout (dropped)", got)
	}
	if !received("80") {
		t.Error("blocked: the virtual service's datagram did not reach the VIP")
	}
	if received("81") {
		t.Error("blocked: a datagram to a port that is no service reached the VIP")
	}
	if err := f.Unblock(vip); err != nil {
		t.Fatal(err)
	}
	if err := f.Unblock(vip); err != nil {
		t.Errorf("second Unblock: %v", err)
	}
	if got := dial("81"); got != "refused" {
		t.Errorf("unblocked: port 81 %s, want refused", got)
	}
	if !received("81") {
		t.Error("unblocked: the datagram to port 81 did not arrive")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", lb.name, "nft", "list", "table", "ip", AcceptTable).CombinedOutput(); err == nil {
		t.Errorf("table still there after Close:\n%s", out)
	}
}

// TestLabRemoveStaleAcceptTable: a table left by a killed daemon is
// removed at start; without one nothing happens.
func TestLabRemoveStaleAcceptTable(t *testing.T) {
	testenv.Privileged(t, "nft")
	l := newLab(t)
	lb := l.addHost("st", "172.16.1.2")
	run := func(fn func() error) error { return InNamespace(lb.ns, fn) }
	f, err := NewNFTFilter(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Block(netip.MustParseAddr("172.16.1.1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := removeStaleAcceptTable(context.Background(), run, ""); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("ip", "netns", "exec", lb.name, "nft", "list", "table", "inet", AcceptTable).CombinedOutput(); err == nil {
		t.Errorf("stale table still there:\n%s", out)
	}
}

// TestLabRemoveStaleVMACTables: the VMAC chains a killed daemon left (both
// families) are removed at start; without them nothing happens.
func TestLabRemoveStaleVMACTables(t *testing.T) {
	testenv.Privileged(t, "nft")
	l := newLab(t)
	lb := l.addHost("sv", "172.16.1.2")
	run := func(fn func() error) error { return InNamespace(lb.ns, fn) }
	for _, v6 := range []bool{false, true} {
		if _, err := filterVMACMLD(run, "vrrp.51", "eth1", v6); err != nil {
			t.Fatal(err)
		}
	}
	for _, family := range []string{"ip", "ip6"} {
		if out, err := exec.Command("ip", "netns", "exec", lb.name, "nft", "list", "table", family, VMACTable).CombinedOutput(); err != nil {
			t.Fatalf("the %s table was not made (the control): %v\n%s", family, err, out)
		}
	}
	for range 2 {
		if err := removeStaleVMACTables(context.Background(), run); err != nil {
			t.Fatal(err)
		}
	}
	for _, family := range []string{"ip", "ip6"} {
		if out, err := exec.Command("ip", "netns", "exec", lb.name, "nft", "list", "table", family, VMACTable).CombinedOutput(); err == nil {
			t.Errorf("stale %s table still there:\n%s", family, out)
		}
	}
}

// TestLabVMACKeepsForeignInterface: when use_vmac names an interface that
// exists and is not a VMAC, ensureVMAC refuses it and the cleanup of the
// failed instance leaves that interface alone.
func TestLabVMACKeepsForeignInterface(t *testing.T) {
	testenv.Privileged(t, "nft")
	l := newLab(t)
	lb := l.addHost("fi", "172.16.1.2")
	run := func(fn func() error) error { return InNamespace(lb.ns, fn) }
	if err := lb.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "vrrp.51"}}); err != nil {
		t.Fatal(err)
	}
	st, err := ensureVMAC(lb.h, run, vmacSpec{Name: "vrrp.51", Base: "eth1", VRID: 51})
	if err == nil {
		t.Fatal("ensureVMAC took a bridge for its VMAC")
	}
	if err := removeVMAC(lb.h, run, st); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.h.LinkByName("vrrp.51"); err != nil {
		t.Errorf("the foreign interface was deleted: %v", err)
	}
}
