package nstest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// VIP is the virtual address of the DR lab.
const VIP = "172.16.1.1"

// VIP6 is the IPv6 virtual address of the DR lab (dual stack: every host
// also has fd00:172:16:1::N/64, N as in its IPv4 address).
const VIP6 = "fd00:172:16:1::1"

// DRLab is client (172.16.1.100), lb (172.16.1.2, VIP on eth1), rs1
// (172.16.1.10) and rs2 (172.16.1.11) on one bridge, the VIP on the real
// servers' lo with arp_ignore=1 and arp_announce=2, each real server
// answering on port 80 with its name (then echoing lines prefixed with it).
type DRLab struct {
	Client, LB *NS
	Reals      []*NS
}

// NewDRLab builds the lab; everything is removed in t.Cleanup.
func NewDRLab(t testing.TB) *DRLab {
	t.Helper()
	sw := NewSwitch(t, "sw")
	lab := &DRLab{Client: New(t, "cl"), LB: New(t, "lb")}
	// Link-local addresses usable at once: the balancer solicits a real
	// server's address from its link-local address.
	lab.Client.Sysctl(t, "net/ipv6/conf/default/accept_dad", "0")
	lab.LB.Sysctl(t, "net/ipv6/conf/default/accept_dad", "0")
	sw.Plug(t, lab.Client, "p-cl", "172.16.1.100/24")
	lab.Client.AddrAdd(t, "eth1", "fd00:172:16:1::100/64")
	sw.Plug(t, lab.LB, "p-lb", "172.16.1.2/24")
	lab.LB.AddrAdd(t, "eth1", "fd00:172:16:1::2/64")
	lab.LB.AddrAdd(t, "eth1", VIP+"/32")
	lab.LB.AddrAdd(t, "eth1", VIP6+"/128")
	for i, name := range []string{"rs1", "rs2"} {
		rs := New(t, name)
		rs.Sysctl(t, "net/ipv6/conf/default/accept_dad", "0")
		sw.Plug(t, rs, "p-"+name, fmt.Sprintf("172.16.1.%d/24", 10+i))
		rs.AddrAdd(t, "eth1", fmt.Sprintf("fd00:172:16:1::%d/64", 10+i))
		rs.AddrAdd(t, "lo", VIP6+"/128")
		for _, dev := range []string{"all", "eth1"} {
			rs.Sysctl(t, "net/ipv4/conf/"+dev+"/arp_ignore", "1")
			rs.Sysctl(t, "net/ipv4/conf/"+dev+"/arp_announce", "2")
		}
		rs.AddrAdd(t, "lo", VIP+"/32")
		serveName(t, rs.Listen(t, ":80"), name)
		lab.Reals = append(lab.Reals, rs)
	}
	return lab
}

// Connect opens a connection from the client to VIP:80 and returns it with
// its reader and the name of the real server that answered.
func (lab *DRLab) Connect(t *testing.T) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	return lab.ConnectTo(t, VIP)
}

// ConnectTo is Connect to vip:80 (VIP or VIP6).
func (lab *DRLab) ConnectTo(t *testing.T, vip string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := lab.Client.Dial(&net.Dialer{Timeout: 3 * time.Second}, net.JoinHostPort(vip, "80"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		_ = c.Close()
		t.Fatalf("set deadline: %v", err)
	}
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		_ = c.Close()
		t.Fatalf("read greeting: %v", err)
	}
	return c, r, strings.TrimSpace(name)
}

// ConnectToServer dials vip:80 up to 10 times until a connection lands on
// the real server called name, closing the others, and returns it with its
// reader; it fails t if none does.
func (lab *DRLab) ConnectToServer(t *testing.T, vip, name string) (net.Conn, *bufio.Reader) {
	t.Helper()
	for range 10 {
		c, r, got := lab.ConnectTo(t, vip)
		if got == name {
			return c, r
		}
		_ = c.Close()
	}
	t.Fatalf("no connection landed on %s", name)
	return nil, nil
}

// serveName answers every connection with name, then echoes each line
// back prefixed with name, until the test ends.
func serveName(t testing.TB, l net.Listener, name string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close() // the handler may have closed it already
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				// Without a deadline the scanner below just waits for the close.
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "%s\n", name)
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "%s %s\n", name, sc.Text())
				}
			}()
		}
	}()
}
