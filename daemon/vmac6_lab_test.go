package daemon_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// vmac6MAC is the IPv6 virtual router MAC of VRID 51 (RFC 5798 7.3).
const vmac6MAC = "00:00:5e:00:02:33"

// withV6Lines adds lines to ipv6Config's IPv6 instance.
func withV6Lines(conf string, lines ...string) string {
	const at = "vrrp_instance V6 {\n"
	Expect(conf).To(ContainSubstring(at))
	return strings.Replace(conf, at, at+"  "+strings.Join(lines, "\n  ")+"\n", 1)
}

// linkLocals lists the IPv6 link-local addresses of host's ifname.
func linkLocals(lab *topology.Lab, host, ifname string) []string {
	h, err := lab.Handle(host)
	if err != nil {
		return []string{err.Error()}
	}
	link, err := h.LinkByName(ifname)
	if err != nil {
		return []string{err.Error()}
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			out = append(out, a.IPNet.String())
		}
	}
	return out
}

// vip6On lists the interfaces of host that carry the IPv6 VIP.
func vip6On(lab *topology.Lab, host string) []string { return addressOn(lab, host, vip6) }

// lb1 and lb2 run the dual-stack pair with use_vmac on the IPv6 instance:
// its VIP lives on a macvlan with the IPv6 virtual MAC, which the client's
// neighbour entry must show before and after a failover (the entry never
// has to change).
var _ = Describe("drlb with use_vmac on an IPv6 instance", Ordered, Label("daemon", "ipv6", "vrrp"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("v6"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", withV6Lines(ipv6Config("MASTER", 100), "use_vmac"))
		lb2 = startDrlb(lab, "lb2", withV6Lines(ipv6Config("BACKUP", 90), "use_vmac"))
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		Eventually(lb2.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "BACKUP", "V6": "BACKUP"}))
	})

	It("puts the IPv6 VIP on a macvlan with 00:00:5e:00:02:VRID and the base's link-local address", func() {
		Eventually(func() []string { return vip6On(lab, "lb1") }).WithTimeout(5 * time.Second).Should(Equal([]string{"vrrp.51"}))
		Expect(vip6On(lab, "lb2")).To(BeEmpty())
		for _, h := range []string{"lb1", "lb2"} {
			Expect(lab.MAC(h, "vrrp.51")).To(WithTransform(net.HardwareAddr.String, Equal(vmac6MAC)), "%s's VMAC", h)
			// RFC 5798 7.4: no link-local address from the virtual MAC
			// (fe80::200:5eff:fe00:233 would be the same on every router);
			// the base's own one, as keepalived does.
			Expect(linkLocals(lab, h, "vrrp.51")).To(Equal(linkLocals(lab, h, "eth1")), "%s's VMAC link-local address", h)
			Expect(linkLocals(lab, h, "eth1")).To(HaveLen(1))
		}

		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		Eventually(func() map[string]int { return servers6(lab, 4) }).WithTimeout(5 * time.Second).ShouldNot(HaveKey("error"))
		got := servers6(lab, 10)
		Expect(got).NotTo(HaveKey("error"), "forwarded through the IPv6 VMAC: %v", got)
		Expect(neighEntry(lab, vip6)).To(ContainSubstring(vmac6MAC), "the client resolved the VIP to the virtual MAC")
		// Control: a balancer's own address resolves to its own MAC.
		own, err := lab.MAC("lb1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(ndpOwner(lab, lab.Addr6("lb1"))).To(Equal("lb1"), "lb1's own address is at %v", own)
	})

	It("keeps the client's neighbour entry on the virtual MAC across a failover", func() {
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		Eventually(lb2.states).WithTimeout(5 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		Eventually(func() []string { return vip6On(lab, "lb2") }).WithTimeout(2 * time.Second).Should(Equal([]string{"vrrp.51"}))
		Expect(vip6On(lab, "lb1")).To(BeEmpty(), "lb1 removed its VIP and its VMAC on stop")
		_, err := lab.MAC("lb1", "vrrp.51")
		Expect(err).To(HaveOccurred(), "lb1's VMAC is gone")

		Eventually(func() []string { return lb2.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		Eventually(func() map[string]int { return servers6(lab, 4) }).WithTimeout(5 * time.Second).ShouldNot(HaveKey("error"))
		got := servers6(lab, 10)
		Expect(got).NotTo(HaveKey("error"), "served by lb2 through its VMAC: %v", got)
		Expect(neighEntry(lab, vip6)).To(ContainSubstring(vmac6MAC), "the client never had to learn a new MAC")
	})
})

// use_vmac_addr on the how-to's IPv4 instance with an IPv6 excluded VIP:
// the IPv6 address gets a VMAC of its own (00:00:5e:00:02:VRID, named
// vrrp.51 since the instance has none), which the client's neighbour entry
// shows before and after a failover.
var _ = Describe("drlb with use_vmac_addr", Ordered, Label("daemon", "ipv6", "vrrp"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	conf := func(state string, prio int) string {
		return withInstanceLines(howtoConfig(state, prio), "use_vmac_addr", "virtual_ipaddress_excluded {", "  fd00:172:16:1::1/128", "}")
	}
	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("va"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", conf("MASTER", 100))
		lb2 = startDrlb(lab, "lb2", conf("BACKUP", 90))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
	})

	It("puts the IPv6 excluded VIP on an address VMAC with the IPv6 virtual MAC", func() {
		Eventually(func() []string { return vip6On(lab, "lb1") }).WithTimeout(5 * time.Second).Should(Equal([]string{"vrrp.51"}))
		Expect(vipOn(lab, "lb1")).To(Equal([]string{"eth1"}), "the IPv4 VIP stays on eth1 (no use_vmac)")
		Expect(vip6On(lab, "lb2")).To(BeEmpty())
		Expect(lab.MAC("lb1", "vrrp.51")).To(WithTransform(net.HardwareAddr.String, Equal(vmac6MAC)))
		Expect(linkLocals(lab, "lb1", "vrrp.51")).To(Equal(linkLocals(lab, "lb1", "eth1")))
		Eventually(func() (bool, error) { return ping(lab, vip6, 500*time.Millisecond) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(neighEntry(lab, vip6)).To(ContainSubstring(vmac6MAC))
		Expect(servers(lab, 4)).NotTo(HaveKey("error"), "the IPv4 service still works")
	})

	It("keeps the client's neighbour entry on the virtual MAC across a failover", func() {
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		Eventually(lb2.state).WithTimeout(5 * time.Second).Should(Equal("MASTER"))
		Eventually(func() []string { return vip6On(lab, "lb2") }).WithTimeout(2 * time.Second).Should(Equal([]string{"vrrp.51"}))
		_, err := lab.MAC("lb1", "vrrp.51")
		Expect(err).To(HaveOccurred(), "lb1's address VMAC is gone")
		Eventually(func() (bool, error) { return ping(lab, vip6, 500*time.Millisecond) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(neighEntry(lab, vip6)).To(ContainSubstring(vmac6MAC), "the client never had to learn a new MAC")
	})
})

// garpsFrom counts the ARP frames from mac the client sees on eth1 during d.
func garpsFrom(lab *topology.Lab, mac string, d time.Duration) int {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, "client", "sh", "-c",
		fmt.Sprintf("timeout %.1f tcpdump -l -n -e -i eth1 'arp and ether src %s' 2>/dev/null; true", d.Seconds(), mac))
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("ARP from %s:\n%s\n", mac, out)
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "ARP") {
			n++
		}
	}
	return n
}

// With vmac_xmit_base the adverts leave from the base's MAC, so switches
// would forget the virtual MAC: garp_extra_if sends a gratuitous ARP from
// the VMAC every interval while MASTER (control: none without it).
var _ = Describe("drlb with use_vmac, vmac_xmit_base and garp_extra_if", Ordered, Label("daemon", "vrrp"), func() {
	var lab *topology.Lab

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft", "tcpdump")
		lab = labtest.Up(labtest.Name("ge"), topology.Seed(), binDir)
	})

	run := func(lines ...string) int {
		lb1 := startDrlb(lab, "lb1", withInstanceLines(howtoConfig("MASTER", 100), append([]string{"use_vmac", "vmac_xmit_base", "garp_master_repeat 1"}, lines...)...))
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		// The bursts (one ARP now, one after garp_master_delay 5 s) are over
		// after 5 s; count in the 4 s after them (at least 2 at one a second, allowing for tcpdump starting late).
		time.Sleep(6 * time.Second) // a schedule to wait out, not readiness
		n := garpsFrom(lab, vmacMAC, 4*time.Second)
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		return n
	}

	It("sends a gratuitous ARP from the VMAC every second with garp_extra_if 1", func() {
		n := run("garp_extra_if 1")
		GinkgoWriter.Printf("ARPs from %s in 4 s with garp_extra_if 1: %d\n", vmacMAC, n)
		Expect(n).To(BeNumerically(">=", 2))
	})

	It("sends none after the bursts without it (the control)", func() {
		Expect(run()).To(BeZero())
	})
})

// reportsWhileStarting starts lb2 with conf while the client captures
// (pcap filter) and counts the frames whose tcpdump line contains one of
// words: from the virtual MAC vmac, and from lb2's eth1.
func reportsWhileStarting(lab *topology.Lab, conf, filter, vmac string, started func(*balancer), words ...string) (fromVMAC, fromBase int) {
	GinkgoHelper()
	pcap := lab.Dir() + "/reports.pcap"
	_ = os.Remove(pcap)
	capture, err := lab.Start("client", topology.ProcSpec{Name: "tcpdump", Argv: []string{"timeout", "10", "tcpdump", "-n", "-i", "eth1", "-w", pcap, filter}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = capture.Stop(time.Second) })
	Eventually(func() error { _, err := os.Stat(pcap); return err }).WithTimeout(5*time.Second).Should(Succeed(), "tcpdump listens")
	lb2 := startDrlb(lab, "lb2", conf)
	started(lb2)
	time.Sleep(2 * time.Second) // unsolicited reports repeat within a second: a schedule to wait out
	_ = capture.Stop(time.Second)
	out, err := lab.Output(context.Background(), "client", "tcpdump", "-n", "-e", "-v", "-r", pcap)
	Expect(err).NotTo(HaveOccurred())
	lb2MAC, err := lab.MAC("lb2", "eth1")
	Expect(err).NotTo(HaveOccurred())
	// tcpdump -v continues a packet on indented lines: one line per packet.
	packets := strings.Split(strings.ReplaceAll(string(out), "\n ", " "), "\n")
	for _, line := range packets {
		if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(line, w) }) {
			continue
		}
		switch {
		case strings.Contains(line, " "+vmac+" >"):
			fromVMAC++
		case strings.Contains(line, " "+lb2MAC.String()+" >"):
			fromBase++
		}
	}
	GinkgoWriter.Printf("reports while lb2 started: %d from %s, %d from lb2's eth1\n%s\n", fromVMAC, vmac, fromBase, out)
	Expect(lb2.proc.Stop(5 * time.Second)).To(Succeed())
	return fromVMAC, fromBase
}

// A BACKUP's VMAC must not show the virtual MAC to the switch: its MLD
// (IGMP) reports (joining the VRRP group and, for IPv6, its link-local's
// solicited-node group) and router solicitations would teach the bridge
// that the master's MAC is on the backup's port. drlb moves them to the
// base, as keepalived's firewall does: while lb2 starts as BACKUP, the
// client sees reports from lb2's own MAC and none from the virtual MAC.
var _ = Describe("drlb with use_vmac on a BACKUP", Ordered, Label("daemon", "vrrp"), func() {
	var lab *topology.Lab
	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft", "tcpdump")
		lab = labtest.Up(labtest.Name("ml"), topology.Seed(), binDir)
	})

	It("sends its IPv6 VMAC's MLD reports from the base interface", func() {
		lb1 := startDrlb(lab, "lb1", withV6Lines(ipv6Config("MASTER", 100), "use_vmac"))
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		fromVMAC, fromBase := reportsWhileStarting(lab, withV6Lines(ipv6Config("BACKUP", 90), "use_vmac"), "ip6 protochain 58", vmac6MAC,
			func(lb2 *balancer) {
				Eventually(lb2.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "BACKUP", "V6": "BACKUP"}))
			}, "listener report", "router solicitation")
		Expect(fromVMAC).To(BeZero(), "the backup's VMAC showed the virtual MAC")
		Expect(fromBase).To(BeNumerically(">=", 1), "the reports moved to lb2's eth1")
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		_, err := lab.Output(context.Background(), "lb1", "nft", "list", "table", "ip6", "drlb_vmac")
		Expect(err).To(HaveOccurred(), "the VMAC table goes with the VMAC")
	})

	It("sends its IPv4 VMAC's IGMP reports from the base interface", func() {
		lb1 := startDrlb(lab, "lb1", withInstanceLines(howtoConfig("MASTER", 100), "use_vmac"))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		fromVMAC, fromBase := reportsWhileStarting(lab, withInstanceLines(howtoConfig("BACKUP", 90), "use_vmac"), "igmp", vmacMAC,
			func(lb2 *balancer) { Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP")) }, "igmp")
		Expect(fromVMAC).To(BeZero(), "the backup's VMAC showed the virtual MAC")
		Expect(fromBase).To(BeNumerically(">=", 1), "the reports moved to lb2's eth1")
		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		_, err := lab.Output(context.Background(), "lb1", "nft", "list", "table", "ip", "drlb_vmac")
		Expect(err).To(HaveOccurred(), "the VMAC table goes with the VMAC")
	})
})
