package daemon_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// strict6Config is ipv6Config under vrrp_strict: without accept mode.
func strict6Config() string {
	const at = "global_defs {\n  drlb_dataplane nft\n"
	conf := ipv6Config("MASTER", 100)
	Expect(conf).To(ContainSubstring(at))
	return strings.Replace(conf, at, at+"  vrrp_strict\n", 1)
}

// In strict mode, without accept, the master drops traffic to its IPv6
// VIP (the table inet drlb_vrrp), but still answers neighbour
// solicitations for it and forwards the IPv6 virtual service.
var _ = Describe("drlb with vrrp_strict on an IPv6 instance", Ordered, Label("daemon", "ipv6", "vrrp"), func() {
	var lab *topology.Lab

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("a6"), topology.Seed(), binDir)
	})

	It("without accept: the IPv6 VIP does not answer ping, the virtual service works", func() {
		lb1 := startDrlb(lab, "lb1", strict6Config())
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		out, err := lab.Output(context.Background(), "lb1", "nft", "list", "table", "inet", "drlb_vrrp")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring(vip6.String()))

		// Control: lb1's own address answers.
		Expect(ping(lab, lab.Addr6("lb1"), 500*time.Millisecond)).To(BeTrue(), "lb1's own address answers ping")
		Expect(ping(lab, vip6, 500*time.Millisecond)).To(BeFalse(), "the IPv6 VIP must not answer ping without accept")
		Expect(ndpOwner(lab, vip6)).To(Equal("lb1"), "neighbour discovery for the VIP still works")
		Eventually(func() map[string]int { return servers6(lab, 4) }).WithTimeout(5 * time.Second).ShouldNot(HaveKey("error"))
		got := servers6(lab, 10)
		Expect(got).NotTo(HaveKey("error"), "the IPv6 virtual service is forwarded before the input hook: %v", got)

		Expect(lb1.proc.Stop(5 * time.Second)).To(Succeed())
		_, err = lab.Output(context.Background(), "lb1", "nft", "list", "table", "inet", "drlb_vrrp")
		Expect(err).To(HaveOccurred(), "the table goes with the daemon")
	})

	It("with accept: the IPv6 VIP answers ping", func() {
		lb1 := startDrlb(lab, "lb1", withV6Lines(strict6Config(), "accept"))
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(HaveKeyWithValue("V6", "MASTER"))
		Eventually(func() (bool, error) { return ping(lab, vip6, 500*time.Millisecond) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		Expect(servers6(lab, 10)).NotTo(HaveKey("error"))
	})
})
