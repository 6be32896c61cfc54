package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
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

// ipv6Config is the usual dual-stack pair: an IPv4 VRRP instance (as in
// the how-to) and an IPv6 one (VRRPv3 over ff02::12, same VRID: VRIDs
// are per family) in one sync group, and an IPv6 virtual server on the
// lab's IPv6 VIP: wrr, rs1 weight 1, rs2 weight 3, HTTP_GET with the lab
// pages' digests.
func ipv6Config(state string, priority int) string {
	return fmt.Sprintf(`global_defs {
  drlb_dataplane nft
}
vrrp_sync_group DS {
  group {
    V4
    V6
  }
}
vrrp_instance V4 {
  state %[3]s
  interface eth1
  virtual_router_id 51
  priority %[4]d
  advert_int 1
  virtual_ipaddress {
    172.16.1.1/24
  }
}
vrrp_instance V6 {
  state %[3]s
  interface eth1
  virtual_router_id 51
  priority %[4]d
  advert_int 1
  virtual_ipaddress {
    fd00:172:16:1::1/128
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
        digest %[1]s
      }
      connect_timeout 1
    }
  }
  real_server fd00:172:16:1::11 80 {
    weight 3
    HTTP_GET {
      url {
        path /teste.html
        digest %[2]s
      }
      connect_timeout 1
    }
  }
}
`, pageDigest("rs1"), pageDigest("rs2"), state, priority)
}

// states returns b's instance states by name ("unreachable" for none).
func (b *balancer) states() map[string]string {
	st, err := b.status()
	if err != nil {
		return map[string]string{"error": "unreachable"}
	}
	out := map[string]string{}
	for _, in := range st.Instances {
		out[in.Name] = in.State
	}
	return out
}

// neighEntry is the client's neighbour cache entry for ip ("ip -6 neigh"
// or "ip -4 neigh"), lower case, without asking the network.
func neighEntry(lab *topology.Lab, ip netip.Addr) string {
	fam := "-4"
	if ip.Is6() {
		fam = "-6"
	}
	out, err := lab.Output(context.Background(), "client", "ip", fam, "neigh", "show", ip.String())
	if err != nil {
		return err.Error()
	}
	return strings.ToLower(string(out))
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

// lb1 and lb2 run drlb with a dual-stack sync group: VRRP over IPv6
// puts the IPv6 VIP on the master (no DAD, preferred lifetime 0, as
// keepalived adds a /128: otherwise the checkers' connections to the real
// servers would leave from the VIP, which the real servers hold on lo,
// and never be answered). The specs prove the IPv6 data plane, checks and
// failover end to end with a real client, real servers and drlb.
var _ = Describe("drlb with an IPv6 virtual server", Ordered, Label("daemon", "ipv6"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("d6"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", ipv6Config("MASTER", 100))
		lb2 = startDrlb(lab, "lb2", ipv6Config("BACKUP", 90))
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		Eventually(lb2.states).WithTimeout(5 * time.Second).Should(Equal(map[string]string{"V4": "BACKUP", "V6": "BACKUP"}))
		h, err := lab.Handle("lb1")
		Expect(err).NotTo(HaveOccurred())
		eth1, err := h.LinkByName("eth1")
		Expect(err).NotTo(HaveOccurred())
		addrs, err := h.AddrList(eth1, netlink.FAMILY_V6)
		Expect(err).NotTo(HaveOccurred())
		var vipAddr *netlink.Addr
		for i := range addrs {
			if addrs[i].IP.Equal(vip6.AsSlice()) {
				vipAddr = &addrs[i]
			}
		}
		Expect(vipAddr).NotTo(BeNil(), "VRRP put the IPv6 VIP on lb1")
		Expect(vipAddr.Flags & unix.IFA_F_NODAD).NotTo(BeZero())
		Expect(vipAddr.PreferedLft).To(BeZero(), "the /128 VIP is deprecated")
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

	It("moves both VIPs to lb2 when lb1 is killed, and the client's neighbour entry follows by unsolicited NA", func() {
		lb1MAC, err := lab.MAC("lb1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		lb2MAC, err := lab.MAC("lb2", "eth1")
		Expect(err).NotTo(HaveOccurred())
		// The client talks to both VIPs through lb1 first: its entries exist.
		Expect(servers6(lab, 5)).NotTo(HaveKey("error"))
		// No IPv4 service here: a connection to the IPv4 VIP, which lb1
		// holds (and refuses), fills that entry.
		if resp, err := lab.HTTPClient("client", time.Second).Get("http://172.16.1.1/"); err == nil {
			resp.Body.Close()
		}
		Expect(neighEntry(lab, vip)).To(ContainSubstring(lb1MAC.String()))
		Expect(neighEntry(lab, vip6)).To(ContainSubstring(lb1MAC.String()))
		Expect(lb1.proc.Signal(syscall.SIGKILL)).To(Succeed())
		killed := time.Now()
		// Master_Down_Interval for priority 90 = 3 × 1 s + (256 − 90)/256 s = 3.65 s.
		const mdi = 3650 * time.Millisecond
		Eventually(lb2.states).WithTimeout(mdi+time.Second).WithPolling(20*time.Millisecond).
			Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}), "the sync group moves both instances")
		// The transition times drlb recorded, not when the status was read.
		st, err := lb2.status()
		Expect(err).NotTo(HaveOccurred())
		for _, in := range st.Instances {
			took := in.Since.Sub(killed)
			GinkgoWriter.Printf("lb2 %s MASTER %v after the kill\n", in.Name, took.Round(time.Millisecond))
			Expect(took).To(BeNumerically("<", mdi), "%s took over within Master_Down_Interval", in.Name)
		}
		// Without a solicitation from the client: only lb2's unsolicited
		// neighbour advertisements (Override set) can change the entry.
		Eventually(func() string { return neighEntry(lab, vip6) }).WithTimeout(2 * time.Second).WithPolling(50 * time.Millisecond).
			Should(ContainSubstring(lb2MAC.String()))
		Eventually(func() string { return neighEntry(lab, vip) }).WithTimeout(2 * time.Second).
			Should(ContainSubstring(lb2MAC.String()))
		Eventually(func() []string { return lb2.inTable() }).WithTimeout(5 * time.Second).
			Should(ConsistOf("[fd00:172:16:1::10]:80", "[fd00:172:16:1::11]:80"))
		got := servers6(lab, 10)
		Expect(got["rs1"]+got["rs2"]).To(Equal(10), "served over IPv6 through lb2: %v", got)

		logBefore := len(lb1.proc.Log())
		lb1.start()
		Eventually(lb1.states).WithTimeout(10 * time.Second).Should(Equal(map[string]string{"V4": "MASTER", "V6": "MASTER"}))
		Eventually(lb2.states).WithTimeout(3 * time.Second).Should(Equal(map[string]string{"V4": "BACKUP", "V6": "BACKUP"}))
		Eventually(func() string { return neighEntry(lab, vip6) }).WithTimeout(3 * time.Second).Should(ContainSubstring(lb1MAC.String()))
		Expect(lb1.proc.Log()[logBefore:]).To(MatchRegexp(`removed stale VIP fd00:172:16:1::1/128`),
			"the restarted daemon cleans up the IPv6 VIP its killed predecessor left")
	})
})
