package nft

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/internal/testenv"
)

// udpPort is the UDP service of the flow tests.
const udpPort = 5300

// serveUDPName answers every datagram to VIP:udpPort inside ns with name.
// The socket is bound to the VIP, so the answer leaves from the VIP, as a
// DR real server's must.
func serveUDPName(t *testing.T, ns *nstest.NS, name string) {
	t.Helper()
	var pc net.PacketConn
	err := dataplane.InNetNS(ns.Path, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(netip.MustParseAddr(nstest.VIP), udpPort).String())
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen udp: %v", name, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), from) // a lost answer shows as the client's timeout
		}
	})
	t.Cleanup(func() {
		_ = pc.Close() // ends the server
		wg.Wait()
	})
}

// udpFlow is one client flow (one source port) to VIP:udpPort.
type udpFlow struct{ conn net.Conn }

func newUDPFlow(t *testing.T, client *nstest.NS) *udpFlow {
	t.Helper()
	var c net.Conn
	err := dataplane.InNetNS(client.Path, func() error {
		var err error
		c, err = net.Dial("udp4", netip.AddrPortFrom(netip.MustParseAddr(nstest.VIP), udpPort).String())
		return err
	})
	if err != nil {
		t.Fatalf("client: dial udp: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &udpFlow{conn: c}
}

// ask sends one datagram and returns the name of the server that answered.
func (f *udpFlow) ask(wait time.Duration) (string, error) {
	if _, err := f.conn.Write([]byte("who?")); err != nil {
		return "", err
	}
	_ = f.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	n, err := f.conn.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func udpTable(port uint16, w1, w2 int) dataplane.Table {
	s := svc("wrr")
	s.Protocol, s.Port = dataplane.UDP, port
	for i, w := range []int{w1, w2} {
		if w >= 0 {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.AddrFrom4([4]byte{172, 16, 1, byte(10 + i)}), Port: port, Weight: uint32(w)})
		}
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// newUDPLab is the DR lab with UDP name servers on rs1 and rs2 and an nft
// back end on lb with the given connection timeout (0: the default).
func newUDPLab(t *testing.T, connTimeout time.Duration) (*nstest.DRLab, *Backend) {
	testenv.Privileged(t, "nft")
	lab := nstest.NewDRLab(t)
	b, err := New(dataplane.Options{NetNSPath: lab.LB.Path, ConnTimeout: connTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Flush(context.Background()); err != nil {
			t.Errorf("flush: %v", err)
		}
	})
	serveUDPName(t, lab.Reals[0], "rs1")
	serveUDPName(t, lab.Reals[1], "rs2")
	return lab, b
}

// serviceCounter is the packet count of the service's own counter.
var serviceCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "svc UDP`)

// TestUDPFlow checks what the shortcut of established flows must keep:
// every packet of a flow goes to one server and is counted, a flow whose
// server is gone is scheduled again and keeps its new server, and a new flow that finds no server
// is dropped, not delivered to the director.
func TestUDPFlow(t *testing.T) {
	ctx := context.Background()
	lab, b := newUDPLab(t, 0)
	if err := b.Apply(ctx, udpTable(udpPort, 1, 1)); err != nil {
		t.Fatal(err)
	}
	flow := newUDPFlow(t, lab.Client)
	first, err := flow.ask(2 * time.Second)
	if err != nil {
		t.Fatalf("first datagram: %v", err)
	}
	const n = 20
	for i := range n - 1 {
		if got, err := flow.ask(2 * time.Second); err != nil || got != first {
			t.Fatalf("datagram %d answered by %q, %v; want %s", i+2, got, err, first)
		}
	}
	m := serviceCounter.FindStringSubmatch(listTable(t, lab.LB))
	if m == nil {
		t.Fatalf("no service counter in:\n%s", listTable(t, lab.LB))
	}
	if got, _ := strconv.Atoi(m[1]); got != n {
		t.Errorf("the service counted %d packets, want %d", got, n)
	}

	// Take the flow's server away: the flow moves to the other one.
	other, w1, w2 := "rs2", -1, 1
	if first == "rs2" {
		other, w1, w2 = "rs1", 1, -1
	}
	if err := b.Apply(ctx, udpTable(udpPort, w1, w2)); err != nil {
		t.Fatal(err)
	}
	if got, err := flow.ask(2 * time.Second); err != nil || got != other {
		t.Fatalf("after removing %s the flow was answered by %q, %v; want %s", first, got, err, other)
	}
	if got, err := flow.ask(2 * time.Second); err != nil || got != other {
		t.Fatalf("the next datagram was answered by %q, %v; want %s", got, err, other)
	}
	// The flow keeps its new server when the old one comes back: removing
	// a server forgets its flows' entries, so the flow's next packet
	// recorded the new one (the stale entry used to stay and pull the flow
	// back, breaking it a second time).
	if err := b.Apply(ctx, udpTable(udpPort, 1, 1)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := flow.ask(2 * time.Second); err != nil || got != other {
			t.Fatalf("after %s came back the flow was answered by %q, %v; want %s (its new server)", first, got, err, other)
		}
	}
	now := other

	// No server takes new flows: a new flow is dropped (the director has
	// the VIP but no socket on the port, so a datagram it accepted would
	// come back as a port unreachable), the established flow goes on.
	if err := b.Apply(ctx, udpTable(udpPort, 0, 0)); err != nil {
		t.Fatal(err)
	}
	fresh := newUDPFlow(t, lab.Client)
	for range 3 {
		_, err := fresh.ask(300 * time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			if errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatal("a new flow without a server reached the director's own stack (port unreachable)")
			}
			t.Fatalf("a new flow without a server got %v; want no answer", err)
		}
	}
	if got, err := flow.ask(2 * time.Second); err != nil || got != now {
		t.Errorf("with every server inhibited the established flow was answered by %q, %v; want %s", got, err, now)
	}
}

// TestUDPFlowRefresh checks that an established flow refreshes its entry
// in the connection table: with a 1 s timeout, a flow that sends every
// 300 ms for 3 s keeps its server, while round robin would give it the
// other server if its entry expired; and an idle flow is forgotten.
func TestUDPFlowRefresh(t *testing.T) {
	ctx := context.Background()
	lab, b := newUDPLab(t, time.Second)
	if err := b.Apply(ctx, udpTable(udpPort, 1, 1)); err != nil {
		t.Fatal(err)
	}
	flow := newUDPFlow(t, lab.Client)
	first, err := flow.ask(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		time.Sleep(300 * time.Millisecond)
		if got, err := flow.ask(2 * time.Second); err != nil || got != first {
			t.Fatalf("an active flow moved from %s to %q (%v): its entry was not refreshed", first, got, err)
		}
	}
	// The control: idle past the timeout, the flow is scheduled again
	// (round robin: to the other server).
	time.Sleep(2500 * time.Millisecond)
	if got, err := flow.ask(2 * time.Second); err != nil || got == first {
		t.Errorf("a flow idle past the timeout was answered by %q, %v; want the other server", got, err)
	}
}

// TestUDPPersistenceForgetsRemovedServer checks that a persistent client
// whose server is removed gets a new affinity: its new flows go to the new
// server, and stay there when the old one returns (the affinity entry
// used to keep the removed server, since nft's update keeps an element's
// value, and pulled the client back).
func TestUDPPersistenceForgetsRemovedServer(t *testing.T) {
	ctx := context.Background()
	lab, b := newUDPLab(t, 0)
	persistent := func(w1, w2 int) dataplane.Table {
		table := udpTable(udpPort, w1, w2)
		table.Services[0].PersistenceTimeout = time.Minute
		return table
	}
	if err := b.Apply(ctx, persistent(1, 1)); err != nil {
		t.Fatal(err)
	}
	first, err := newUDPFlow(t, lab.Client).ask(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other, w1, w2 := "rs2", -1, 1
	if first == "rs2" {
		other, w1, w2 = "rs1", 1, -1
	}
	if err := b.Apply(ctx, persistent(w1, w2)); err != nil {
		t.Fatal(err)
	}
	if got, err := newUDPFlow(t, lab.Client).ask(2 * time.Second); err != nil || got != other {
		t.Fatalf("with %s removed a new flow was answered by %q, %v; want %s", first, got, err, other)
	}
	if err := b.Apply(ctx, persistent(1, 1)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if got, err := newUDPFlow(t, lab.Client).ask(2 * time.Second); err != nil || got != other {
			t.Fatalf("after %s came back, new flow %d was answered by %q, %v; want %s (the client's new affinity)", first, i+1, got, err, other)
		}
	}
}
