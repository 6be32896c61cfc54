package ipvstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// requireVM skips unless the harness started this binary inside its VM
// (it sets DRLB_IPVS_VM=1). These tests change the root network namespace
// and need IPVS, which only the disposable VM may and can offer. They skip
// even when DRLB_REQUIRE_PRIVILEGED=1: outside the VM they are not merely
// unprivileged but out of place, and CI runs them through the harness
// (e2e/ipvsvm's TestHarnessSelfTest), which is where a skip would fail.
func requireVM(t *testing.T) {
	t.Helper()
	if os.Getenv("DRLB_IPVS_VM") != "1" {
		t.Skip("runs only inside the ipvsvm VM (DRLB_IPVS_VM=1); use `go run ./e2e/ipvsvm` or `make e2e-ipvs`")
	}
}

// Addresses of the in-VM lab (TEST-NET-1; the VM has no network card).
var (
	vip       = netip.MustParseAddr("192.0.2.1")
	director  = netip.MustParseAddr("192.0.2.2")
	realAddrs = []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	clientIP  = netip.MustParseAddr("192.0.2.100")
)

func newClient(t *testing.T) ipvs.Client {
	t.Helper()
	c, err := ipvs.New()
	if err != nil {
		t.Fatalf("ipvs.New: %v", err)
	}
	return c
}

func tcpService(addr netip.Addr, port uint16, sched string) ipvs.Service {
	return ipvs.Service{
		Address: addr, Netmask: netmask.MaskFrom(32, 32), Port: port,
		Protocol: ipvs.TCP, Family: ipvs.INET, Scheduler: sched,
	}
}

func drDest(addr netip.Addr, port uint16, weight uint32) ipvs.Destination {
	return ipvs.Destination{Address: addr, Port: port, Family: ipvs.INET, FwdMethod: ipvs.DirectRoute, Weight: weight}
}

// removeService deletes svc at cleanup, reporting (not ignoring) a failure.
func removeService(t *testing.T, c ipvs.Client, svc ipvs.Service) {
	t.Cleanup(func() {
		if err := c.RemoveService(svc); err != nil {
			t.Errorf("remove service %s:%d: %v", svc.Address, svc.Port, err)
		}
	})
}

func TestServiceWithTwoDRDestinationsReadsBack(t *testing.T) {
	requireVM(t)
	c := newClient(t)
	info, err := c.Info()
	if err != nil {
		t.Fatalf("ipvs info: %v", err)
	}
	t.Logf("IPVS version %v, connection table size %d", info.Version, info.ConnectionTableSize)

	svc := tcpService(vip, 8080, "wrr")
	if err := c.CreateService(svc); err != nil {
		t.Fatalf("create service: %v", err)
	}
	removeService(t, c, svc)
	want := []ipvs.Destination{drDest(realAddrs[0], 8080, 3), drDest(realAddrs[1], 8080, 1)}
	for _, d := range want {
		if err := c.CreateDestination(svc, d); err != nil {
			t.Fatalf("create destination %s: %v", d.Address, err)
		}
	}

	got, err := c.Service(svc)
	if err != nil {
		t.Fatalf("read service back: %v", err)
	}
	if got.Address != vip || got.Port != 8080 || got.Protocol != ipvs.TCP || got.Scheduler != "wrr" {
		t.Errorf("service read back as %s:%d %s %q, want %s:8080 TCP \"wrr\"", got.Address, got.Port, got.Protocol, got.Scheduler, vip)
	}
	dests, err := c.Destinations(svc)
	if err != nil {
		t.Fatalf("read destinations: %v", err)
	}
	if len(dests) != len(want) {
		t.Fatalf("got %d destinations, want %d: %+v", len(dests), len(want), dests)
	}
	slices.SortFunc(dests, func(a, b ipvs.DestinationExtended) int { return a.Address.Compare(b.Address) })
	for i, d := range dests {
		w := want[i]
		if d.Address != w.Address || d.Port != w.Port || d.Weight != w.Weight || d.FwdMethod != ipvs.DirectRoute {
			t.Errorf("destination %d = %s:%d weight %d %s, want %s:%d weight %d DirectRoute",
				i, d.Address, d.Port, d.Weight, d.FwdMethod, w.Address, w.Port, w.Weight)
		}
	}

	// Weight 0 is how keepalived inhibits a failed server: it must stay listed.
	inhibited := want[1]
	inhibited.Weight = 0
	if err := c.UpdateDestination(svc, inhibited); err != nil {
		t.Fatalf("set weight 0: %v", err)
	}
	dests, err = c.Destinations(svc)
	if err != nil {
		t.Fatalf("read destinations after update: %v", err)
	}
	idx := slices.IndexFunc(dests, func(d ipvs.DestinationExtended) bool { return d.Address == inhibited.Address })
	if idx < 0 || dests[idx].Weight != 0 {
		t.Errorf("inhibited destination not at weight 0: %+v", dests)
	}
}

func TestEverySchedulerIsAvailable(t *testing.T) {
	requireVM(t)
	c := newClient(t)
	for i, sched := range []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"} {
		svc := tcpService(vip, uint16(9000+i), sched)
		if err := c.CreateService(svc); err != nil {
			t.Errorf("scheduler %s: create service: %v", sched, err)
			continue
		}
		got, err := c.Service(svc)
		if err != nil || got.Scheduler != sched {
			t.Errorf("scheduler %s: read back %q, %v", sched, got.Scheduler, err)
		}
		if err := c.RemoveService(svc); err != nil {
			t.Errorf("scheduler %s: remove: %v", sched, err)
		}
	}
}

// newNetns creates an anonymous network namespace without leaving the
// calling goroutine's thread in it.
func newNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	err := inFreshThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return fmt.Errorf("get current netns: %w", err)
		}
		defer orig.Close()
		ns, err = netns.New()
		if err != nil {
			return fmt.Errorf("create netns: %w", err)
		}
		if err := netns.Set(orig); err != nil {
			return errStuck{fmt.Errorf("restore netns: %w", err)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// errStuck marks a failure to return the thread to its original namespace:
// the thread must then stay locked so that it dies with its goroutine.
type errStuck struct{ error }

// inFreshThread runs fn on a new goroutine locked to its thread, unlocking
// the thread only if fn left it in a usable state.
func inFreshThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if !errors.As(err, new(errStuck)) {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// inNetns runs fn with the thread in ns. Sockets fn creates stay in ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	return inFreshThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return fmt.Errorf("get current netns: %w", err)
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			return errStuck{fmt.Errorf("restore netns: %w", err)}
		}
		return ferr
	})
}

// sysctl writes a value under /proc/sys in the netns of the calling thread.
func sysctl(name, value string) error {
	file := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

func mustAddr(t *testing.T, h *netlink.Handle, link netlink.Link, prefix string) {
	t.Helper()
	addr, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatalf("parse %s: %v", prefix, err)
	}
	if err := h.AddrAdd(link, addr); err != nil {
		t.Fatalf("add %s to %s: %v", prefix, link.Attrs().Name, err)
	}
}

func mustUp(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("find link %s: %v", name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
	return link
}

// labHost is a namespace plugged into the VM's bridge through a veth pair.
type labHost struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

// plugHost creates a namespace whose eth0 (with ip/24) is a port of bridge br.
func plugHost(t *testing.T, root *netlink.Handle, br netlink.Link, name string, ip netip.Addr) labHost {
	t.Helper()
	ns := newNetns(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v" + name, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := root.LinkAdd(veth); err != nil {
		t.Fatalf("add veth for %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := root.LinkDel(veth); err != nil {
			t.Errorf("delete veth %s: %v", veth.Name, err)
		}
	})
	mustUp(t, root, veth.Name)
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle for %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	mustUp(t, h, "lo")
	mustAddr(t, h, mustUp(t, h, "eth0"), ip.String()+"/24")
	return labHost{ns: ns, h: h}
}

// serveName answers every line a client sends with name, until the client
// closes; it returns when ln is closed. Handlers end with their connections
// (bounded by a deadline), so nothing outlives the test for long.
func serveName(ln net.Listener, name string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				if _, err := fmt.Fprintf(conn, "%s\n", name); err != nil {
					return
				}
			}
		}()
	}
}

// ask sends one line on conn and returns the server's name.
func ask(conn net.Conn, r *bufio.Reader) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(conn, "who"); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// TestDirectRoutingCountsConnections builds a DR lab inside the VM: the root
// namespace is the director (bridge br0 with the director's address and the
// VIP), two real servers hold the VIP on lo with arp_ignore/arp_announce set,
// and a client namespace connects to the VIP. IPVS must split the
// connections round robin and count them per destination, and a
// long-lived connection must survive removal of the other real server.
func TestDirectRoutingCountsConnections(t *testing.T) {
	requireVM(t)
	root, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("root netlink handle: %v", err)
	}
	t.Cleanup(root.Close)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "drlbbr0"}}
	if err := root.LinkAdd(br); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	t.Cleanup(func() {
		if err := root.LinkDel(br); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	brLink := mustUp(t, root, br.Name)
	mustAddr(t, root, brLink, director.String()+"/24")
	mustAddr(t, root, brLink, vip.String()+"/32")

	client := plugHost(t, root, brLink, "client", clientIP)
	names := []string{"rs1", "rs2"}
	for i, name := range names {
		rs := plugHost(t, root, brLink, name, realAddrs[i])
		lo, err := rs.h.LinkByName("lo")
		if err != nil {
			t.Fatalf("%s lo: %v", name, err)
		}
		mustAddr(t, rs.h, lo, vip.String()+"/32")
		var ln net.Listener
		err = inNetns(rs.ns, func() error {
			for _, kv := range [][2]string{
				{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_ignore", "1"},
				{"net.ipv4.conf.all.arp_announce", "2"}, {"net.ipv4.conf.eth0.arp_announce", "2"},
			} {
				if err := sysctl(kv[0], kv[1]); err != nil {
					return err
				}
			}
			var err error
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(vip, 80).String())
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { serveName(ln, name) })
		t.Cleanup(func() {
			ln.Close()
			wg.Wait()
		})
	}

	c := newClient(t)
	svc := tcpService(vip, 80, "rr")
	if err := c.CreateService(svc); err != nil {
		t.Fatalf("create service: %v", err)
	}
	removeService(t, c, svc)
	for _, a := range realAddrs {
		if err := c.CreateDestination(svc, drDest(a, 80, 1)); err != nil {
			t.Fatalf("create destination %s: %v", a, err)
		}
	}

	const conns = 10
	served := map[string]int{}
	err = inNetns(client.ns, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for i := range conns {
			conn, err := d.Dial("tcp4", netip.AddrPortFrom(vip, 80).String())
			if err != nil {
				return fmt.Errorf("connection %d to the VIP: %w", i, err)
			}
			name, err := ask(conn, bufio.NewReader(conn))
			conn.Close()
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			served[name]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replies per real server: %v", served)
	if served["rs1"] != conns/2 || served["rs2"] != conns/2 {
		t.Errorf("round robin split %v, want %d each", served, conns/2)
	}

	dests, err := c.Destinations(svc)
	if err != nil {
		t.Fatalf("read destinations: %v", err)
	}
	total := 0
	for _, d := range dests {
		n := int(d.ActiveConnections + d.InactiveConnections)
		t.Logf("%s:%d active %d inactive %d", d.Address, d.Port, d.ActiveConnections, d.InactiveConnections)
		total += n
		name := names[slices.Index(realAddrs, d.Address)]
		if n != served[name] {
			t.Errorf("IPVS counts %d connections for %s (%s), the server answered %d", n, d.Address, name, served[name])
		}
	}
	if total != conns {
		t.Errorf("IPVS counts %d connections in all, want %d", total, conns)
	}

	// An established connection keeps its real server when the other one
	// is removed from the service.
	var kept net.Conn
	err = inNetns(client.ns, func() error {
		var err error
		kept, err = (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp4", netip.AddrPortFrom(vip, 80).String())
		return err
	})
	if err != nil {
		t.Fatalf("keep-alive connection: %v", err)
	}
	defer kept.Close()
	keptReader := bufio.NewReader(kept)
	first, err := ask(kept, keptReader)
	if err != nil {
		t.Fatalf("keep-alive connection, first request: %v", err)
	}
	other := realAddrs[1-slices.Index(names, first)]
	if err := c.RemoveDestination(svc, drDest(other, 80, 1)); err != nil {
		t.Fatalf("remove destination %s: %v", other, err)
	}
	for i := range 3 {
		again, err := ask(kept, keptReader)
		if err != nil || again != first {
			t.Fatalf("keep-alive request %d after removing %s: got %q, %v; want %q", i+2, other, again, err, first)
		}
	}
	dests, err = c.Destinations(svc)
	if err != nil || len(dests) != 1 || dests[0].ActiveConnections != 1 {
		t.Errorf("after removal: destinations %+v, %v; want one with 1 active connection", dests, err)
	}
}
