package nstest

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/daemon/dataplane"
)

// DRPair is a DRLab with a second balancer: client (172.16.1.100), lb1
// (172.16.1.2, holding the VIP on eth1), lb2 (172.16.1.3, without it), rs1
// and rs2 as in NewDRLab. Failover moves the VIP to lb2 the way a VRRP
// failover does for the client: the address moves and the client's
// neighbour entry for the VIP points at lb2.
type DRPair struct {
	DRLab
	// LB2 is the second balancer.
	LB2 *NS
}

// NewDRPair builds the lab; everything is removed in t.Cleanup.
func NewDRPair(t *testing.T) *DRPair {
	t.Helper()
	sw := NewSwitch(t, "sw")
	p := &DRPair{DRLab: DRLab{Client: New(t, "cl"), LB: New(t, "lb1")}, LB2: New(t, "lb2")}
	sw.Plug(t, p.Client, "p-cl", "172.16.1.100/24")
	sw.Plug(t, p.LB, "p-lb1", "172.16.1.2/24")
	sw.Plug(t, p.LB2, "p-lb2", "172.16.1.3/24")
	p.LB.AddrAdd(t, "eth1", VIP+"/32")
	for i, name := range []string{"rs1", "rs2"} {
		rs := New(t, name)
		sw.Plug(t, rs, "p-"+name, fmt.Sprintf("172.16.1.%d/24", 10+i))
		for _, dev := range []string{"all", "eth1"} {
			rs.Sysctl(t, "net/ipv4/conf/"+dev+"/arp_ignore", "1")
			rs.Sysctl(t, "net/ipv4/conf/"+dev+"/arp_announce", "2")
		}
		rs.AddrAdd(t, "lo", VIP+"/32")
		serveName(t, rs.Listen(t, ":80"), name)
		p.Reals = append(p.Reals, rs)
	}
	return p
}

// Failover moves the VIP from lb1 to lb2 and points the client's
// neighbour entry for the VIP at lb2's eth1.
func (p *DRPair) Failover(t testing.TB) {
	t.Helper()
	p.LB.AddrDel(t, "eth1", VIP+"/32")
	p.LB2.AddrAdd(t, "eth1", VIP+"/32")
	lb2, err := p.LB2.Link.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := p.Client.Link.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	n := &netlink.Neigh{LinkIndex: cl.Attrs().Index, State: netlink.NUD_PERMANENT, IP: net.ParseIP(VIP), HardwareAddr: lb2.Attrs().HardwareAddr}
	if err := p.Client.Link.NeighSet(n); err != nil {
		t.Fatalf("client: neighbour %s → lb2: %v", VIP, err)
	}
}

// AddrDel removes cidr from the device named dev inside ns.
func (ns *NS) AddrDel(t testing.TB, dev, cidr string) {
	t.Helper()
	l, addr := ns.linkAddr(t, dev, cidr)
	if err := ns.Link.AddrDel(l, addr); err != nil {
		t.Fatalf("%s: delete %s from %s: %v", ns.Name, cidr, dev, err)
	}
}

// ReadProc reads /proc/net/<name> as seen from inside ns.
func (ns *NS) ReadProc(name string) (string, error) {
	var b []byte
	err := dataplane.InNetNS(ns.Path, func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/" + name)
		return err
	})
	return string(b), err
}
