package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// vmacMAC is the virtual router MAC of the how-to's VRID 51.
const vmacMAC = "00:00:5e:00:01:33"

// withInstanceLines adds lines to the how-to's vrrp_instance, after its interface.
func withInstanceLines(conf string, lines ...string) string {
	const at = "interface eth1 # Interface onde o multicast do vrrp vai acontecer, e em qual interface o virtual server vai atender"
	Expect(conf).To(ContainSubstring(at))
	return strings.Replace(conf, at, at+"\n   "+strings.Join(lines, "\n   "), 1)
}

// clientNeighbour is the client kernel's neighbour entry for the VIP (its
// MAC, or why there is none).
func clientNeighbour(lab *topology.Lab) string {
	h, err := lab.Handle("client")
	if err != nil {
		return err.Error()
	}
	link, err := h.LinkByName("eth1")
	if err != nil {
		return err.Error()
	}
	neighs, err := h.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return err.Error()
	}
	for _, n := range neighs {
		if n.IP.Equal(vip.AsSlice()) && n.HardwareAddr != nil {
			return n.HardwareAddr.String()
		}
	}
	return "no entry"
}

// vipOn lists the interfaces of host that carry the VIP.
func vipOn(lab *topology.Lab, host string) []string { return addressOn(lab, host, vip) }

// addressOn lists the interfaces of host that carry addr (or why it
// cannot tell).
func addressOn(lab *topology.Lab, host string, addr netip.Addr) []string {
	h, err := lab.Handle(host)
	if err != nil {
		return []string{err.Error()}
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, a := range addrs {
		if a.IP.Equal(addr.AsSlice()) {
			link, err := h.LinkByIndex(a.LinkIndex)
			if err != nil {
				out = append(out, err.Error())
				continue
			}
			out = append(out, link.Attrs().Name)
		}
	}
	return out
}

var _ = Describe("drlb with use_vmac", Ordered, Label("daemon", "vrrp"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("vm"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", withInstanceLines(howtoConfig("MASTER", 100), "use_vmac"))
		lb2 = startDrlb(lab, "lb2", withInstanceLines(howtoConfig("BACKUP", 90), "use_vmac"))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
	})

	It("puts the VIP on a macvlan with the virtual MAC, which the client's neighbour entry shows", func() {
		Eventually(func() []string { return vipOn(lab, "lb1") }).WithTimeout(5 * time.Second).Should(Equal([]string{"vrrp.51"}))
		Expect(lab.MAC("lb1", "vrrp.51")).To(WithTransform(net.HardwareAddr.String, Equal(vmacMAC)))
		Expect(vipOn(lab, "lb2")).To(BeEmpty())
		// The wire answers ARP for the VIP with the virtual MAC ...
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		Expect(lab.ResolveARP(ctx, "client", "eth1", vip)).To(WithTransform(net.HardwareAddr.String, Equal(vmacMAC)))
		// ... and a balancer's own address with its own (the control).
		own, err := lab.MAC("lb1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(lab.ResolveARP(ctx, "client", "eth1", lab.Addr("lb1"))).To(Equal(own))

		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		got := servers(lab, 10)
		Expect(got).To(HaveKeyWithValue("rs1", 5), "forwarded through the VMAC: %v", got)
		Expect(got).To(HaveKeyWithValue("rs2", 5), "forwarded through the VMAC: %v", got)
		Expect(clientNeighbour(lab)).To(Equal(vmacMAC))
	})

	It("keeps the client's neighbour entry on the virtual MAC across a failover", func() {
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		Eventually(lb2.state).WithTimeout(5 * time.Second).Should(Equal("MASTER"))
		Eventually(func() []string { return vipOn(lab, "lb2") }).WithTimeout(2 * time.Second).Should(Equal([]string{"vrrp.51"}))
		Expect(vipOn(lab, "lb1")).To(BeEmpty(), "lb1 removed its VIP and its VMAC on stop")
		_, err := lab.MAC("lb1", "vrrp.51")
		Expect(err).To(HaveOccurred(), "lb1's VMAC is gone")

		Eventually(func() []string { return lb2.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Eventually(func() error {
			got := servers(lab, 4)
			if got["error"] > 0 {
				return fmt.Errorf("requests failed: %v", got)
			}
			return nil
		}).WithTimeout(5 * time.Second).Should(Succeed())
		got := servers(lab, 10)
		Expect(got).NotTo(HaveKey("error"), "served by lb2 through its VMAC: %v", got)
		Expect(clientNeighbour(lab)).To(Equal(vmacMAC), "the client never had to learn a new MAC")
	})
})

// ping sends one ICMP (ICMPv6) echo request from the client to dst and
// reports whether a reply from dst came within timeout.
func ping(lab *topology.Lab, dst netip.Addr, timeout time.Duration) (bool, error) {
	network, src, proto := "ip4:icmp", lab.Addr("client"), 1
	var echo, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, src, proto = "ip6:ipv6-icmp", lab.Addr6("client"), 58
		echo, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var conn *icmp.PacketConn
	err := lab.Do("client", func() error {
		var err error
		conn, err = icmp.ListenPacket(network, src.String())
		return err
	})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	msg := icmp.Message{Type: echo, Body: &icmp.Echo{ID: 0x7e, Seq: 1, Data: []byte("drlb")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false, err
	}
	if _, err := conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return false, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return false, err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, nil
			}
			return false, err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err == nil && m.Type == reply && from.String() == dst.String() {
			return true, nil
		}
	}
}

// dialOther connects from the client to a VIP port that is no virtual
// service: "refused" (the kernel answered with a reset), "timeout"
// (nothing answered) or another error.
func dialOther(lab *topology.Lab) string {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	c, err := lab.DialContext(ctx, "client", "tcp", vip.String()+":81")
	switch {
	case err == nil:
		_ = c.Close()
		return "connected"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	return err.Error()
}

var _ = Describe("drlb with vrrp_strict", Ordered, Label("daemon", "vrrp"), func() {
	var lab *topology.Lab
	var lb1 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("vs"), topology.Seed(), binDir)
	})

	strict := func(lines ...string) string {
		conf := strings.Replace(howtoConfig("MASTER", 100), "lvs_id LVS_Teste", "lvs_id LVS_Teste\n   vrrp_strict", 1)
		return withInstanceLines(conf, lines...)
	}

	It("without accept: the master drops traffic to the VIP itself, virtual services still work", func() {
		lb1 = startDrlb(lab, "lb1", strict())
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		out, err := lab.Output(context.Background(), "lb1", "nft", "list", "table", "inet", "drlb_vrrp")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("172.16.1.1"))

		Expect(ping(lab, vip, 500*time.Millisecond)).To(BeFalse(), "the VIP must not answer ping without accept")
		Expect(dialOther(lab)).To(Equal("timeout"), "a port that is no virtual service is dropped, not refused")
		got := servers(lab, 10)
		Expect(got).NotTo(HaveKey("error"), "the virtual service is forwarded before the input hook: %v", got)

		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		_, err = lab.Output(context.Background(), "lb1", "nft", "list", "table", "inet", "drlb_vrrp")
		Expect(err).To(HaveOccurred(), "the table goes with the daemon")
	})

	It("with accept (VRRPv3): the VIP answers ping and refuses closed ports", func() {
		lb1 = startDrlb(lab, "lb1", strict("version 3", "accept"))
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(func() (bool, error) { return ping(lab, vip, 500*time.Millisecond) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(dialOther(lab)).To(Equal("refused"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(servers(lab, 10)).NotTo(HaveKey("error"))
	})
})

var _ = Describe("drlb with net_namespace", Ordered, Label("daemon", "vrrp"), func() {
	It("started in another namespace, runs in the named one", func() {
		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("nn"), topology.Seed(), binDir)
		conf := "net_namespace " + lab.NSName("lb1") + "\n" + howtoConfig("MASTER", 100)
		file := lab.Dir() + "/lb1-netns.conf"
		Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
		// Started in the client's namespace: drlb must move itself to lb1's.
		p, err := lab.Start("client", topology.ProcSpec{Name: "drlb", Argv: []string{binDir + "/drlb", "run", "-f", file, "--run-dir", lab.RunDir("lb1")}})
		Expect(err).NotTo(HaveOccurred())
		lb1 := &balancer{lab: lab, host: "lb1", conf: file, proc: p}
		DeferCleanup(func() { _ = p.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(func() []string { return vipOn(lab, "lb1") }).WithTimeout(3 * time.Second).Should(Equal([]string{"eth1"}))
		Expect(vipOn(lab, "client")).To(BeEmpty(), "nothing happened in the namespace it was started in")
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(servers(lab, 6)).NotTo(HaveKey("error"))
	})
})
