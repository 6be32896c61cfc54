package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

var vip6 = netip.MustParseAddr("fd00:172:16:1::1")

// ipv6Config is an IPv4 VRRP instance (as in the how-to) and an IPv6
// virtual server on the lab's IPv6 VIP: wrr, rs1 weight 1, rs2 weight 3,
// HTTP_GET with the lab pages' digests.
func ipv6Config() string {
	return fmt.Sprintf(`global_defs {
  drlb_dataplane nft
}
vrrp_instance V4 {
  state MASTER
  interface eth1
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    172.16.1.1/24
  }
}
virtual_server fd00:172:16:1::1 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind DR
  protocol TCP
  real_server fd00:172:16:1::10 80 {
    weight 1
    HTTP_GET {
      url {
        path /teste.html
        digest %s
      }
      connect_timeout 1
    }
  }
  real_server fd00:172:16:1::11 80 {
    weight 3
    HTTP_GET {
      url {
        path /teste.html
        digest %s
      }
      connect_timeout 1
    }
  }
}
`, pageDigest("rs1"), pageDigest("rs2"))
}

// serve6 fetches /data through the IPv6 VIP from the client and returns the serving host.
func serve6(lab *topology.Lab) (string, error) {
	resp, err := lab.HTTPClient("client", time.Second).Get("http://[fd00:172:16:1::1]/data")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Real-Server"), nil
}

func servers6(lab *topology.Lab, n int) map[string]int {
	out := map[string]int{}
	for range n {
		host, err := serve6(lab)
		if err != nil {
			host = "error"
		}
		out[host]++
	}
	return out
}

// ndpOwner is the host whose MAC answers a neighbour solicitation for ip from the client.
func ndpOwner(lab *topology.Lab, ip netip.Addr) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	mac, err := lab.ResolveNDP(ctx, "client", "eth1", ip)
	if err != nil {
		return "nobody"
	}
	for _, h := range lab.Spec().HostNames() {
		if m, err := lab.MAC(h, "eth1"); err == nil && m.String() == mac.String() {
			return h
		}
	}
	return mac.String()
}

// The IPv6 VIP is held on lb1 statically: VRRP over IPv6 is another
// engineer's work (ipv6-vrrp); this spec proves the IPv6 data plane and
// checks end to end with a real client, real servers and drlb.
var _ = Describe("drlb with an IPv6 virtual server", Ordered, Label("daemon", "ipv6"), func() {
	var lab *topology.Lab
	var lb1 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("d6"), topology.Seed(), binDir)
		h, err := lab.Handle("lb1")
		Expect(err).NotTo(HaveOccurred())
		eth1, err := h.LinkByName("eth1")
		Expect(err).NotTo(HaveOccurred())
		addr, err := netlink.ParseAddr(vip6.String() + "/128")
		Expect(err).NotTo(HaveOccurred())
		// As keepalived adds a /128 IPv6 VIP: no DAD, preferred lifetime 0
		// (deprecated; keepalived.conf(5), preferred_lft), so that it is
		// never chosen as a source address.
		// Without that the checkers' connections to the real servers leave
		// from the VIP (longest matching prefix), which the real servers
		// hold on lo: their answers never come back.
		addr.Flags = unix.IFA_F_NODAD
		addr.ValidLft, addr.PreferedLft = 0xffffffff, 0
		Expect(h.AddrAdd(eth1, addr)).To(Succeed())
		lb1 = startDrlb(lab, "lb1", ipv6Config())
	})

	It("reaches http://[fd00:172:16:1::1]/data through lb1, split by weight within 10 %", func() {
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		Expect(ndpOwner(lab, vip6)).To(Equal("lb1"))
		const n = 100
		got := servers6(lab, n)
		GinkgoWriter.Printf("IPv6 wrr 1:3 over %d requests: %v\n", n, got)
		Expect(got["rs1"]).To(BeNumerically("~", n/4, n/10), "rs1 weight 1 of 4: %v", got)
		Expect(got["rs2"]).To(BeNumerically("~", 3*n/4, n/10), "rs2 weight 3 of 4: %v", got)
		Expect(got).NotTo(HaveKey("error"))
		out, err := lab.Output(context.Background(), "lb1", "sh", "-c", fmt.Sprintf("DRLB_RUN_DIR=%s %s/drlb status", lab.RunDir("lb1"), binDir))
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(MatchRegexp(`TCP  \[fd00:172:16:1::1\]:80 wrr`))
		Expect(string(out)).To(MatchRegexp(`-> \[fd00:172:16:1::11\]:80 +Route +3`))
	})

	It("real servers ignore neighbour solicitations for the VIP, and answer for their own address", func() {
		// Control: rs1 answers for its own address.
		Expect(ndpOwner(lab, lab.Addr6("rs1"))).To(Equal("rs1"))
		// Only lb1 answers for the VIP: every advertisement a solicitation
		// draws within 1.5 s carries lb1's MAC, and the client's cache,
		// filled by the traffic above, points at lb1.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		answers, err := lab.NDPAnswers(ctx, "client", "eth1", vip6)
		Expect(err).NotTo(HaveOccurred())
		lb1MAC, err := lab.MAC("lb1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(answers).To(Equal([]net.HardwareAddr{lb1MAC}), "answers for the VIP")
		out, err := lab.Output(context.Background(), "client", "ip", "-6", "neigh", "show", vip6.String())
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.ToLower(string(out))).To(ContainSubstring(lb1MAC.String()))
	})

	It("removes rs1 when its page changes, and brings it back", func() {
		bound := 6500 * time.Millisecond
		Expect(lab.SetPage("rs1", topology.TestPage, "altered by the test\n")).To(Succeed())
		changed := time.Now()
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(bound).WithPolling(50 * time.Millisecond).
			Should(ConsistOf("[fd00:172:16:1::11]:80"))
		GinkgoWriter.Printf("rs1 left the IPv6 table %v after its page changed\n", time.Since(changed).Round(time.Millisecond))
		Expect(servers6(lab, 10)).To(Equal(map[string]int{"rs2": 10}))
		Expect(lab.ResetPage("rs1", topology.TestPage)).To(Succeed())
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(bound).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
	})
})
