package daemon_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// rogueAdvert returns the named IPv4 packet (IP header included) of
// testdata/rogue-adverts.hex, captured from a client's fault report:
// v3rogue_big (VRRPv3, VRID 51, priority 255, interval 40.95 s) and
// unknown255 (VRRPv2 with the pair's auth_pass, priority 255).
func rogueAdvert(name string) []byte {
	GinkgoHelper()
	raw, err := os.ReadFile("testdata/rogue-adverts.hex")
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			b, err := hex.DecodeString(f[1])
			Expect(err).NotTo(HaveOccurred())
			return b
		}
	}
	Fail("no packet " + name + " in testdata/rogue-adverts.hex")
	return nil
}

// sendRaw sends one complete IPv4 packet (its own header, TTL 255) from the
// client's eth1 with an IPPROTO_RAW socket, as a stranger on the segment would.
func sendRaw(lab *topology.Lab, pkt []byte) {
	GinkgoHelper()
	Expect(lab.Do("client", func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "eth1"); err != nil {
			return fmt.Errorf("bind to eth1: %w", err)
		}
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: [4]byte(pkt[16:20])})
	})).To(Succeed())
}

// metrics scrapes a balancer's Prometheus endpoint (loopback in its namespace).
func metrics(lab *topology.Lab, host string) string {
	resp, err := lab.HTTPClient(host, 2*time.Second).Get("http://127.0.0.1:9650/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// v3PairConfig is a VRRPv3 pair on the seed lab: VRID 51, advert_int 1,
// the VIP only (no virtual server). extra goes inside vrrp_instance.
func v3PairConfig(state string, priority int, extra string) string {
	return fmt.Sprintf(`global_defs {
   vrrp_version 3
}
vrrp_instance VI_1 {
   state %s
   interface eth1
   virtual_router_id 51
   priority %d
   advert_int 1
%s   virtual_ipaddress {
     172.16.1.1/24
   }
}
`, state, priority, extra)
}

// transitionsOf returns "STATE transitions=N" of a balancer's first instance.
func transitionsOf(b *balancer) string {
	st, err := b.status()
	if err != nil || len(st.Instances) == 0 {
		return fmt.Sprintf("unreachable: %v", err)
	}
	return fmt.Sprintf("%s transitions=%d", st.Instances[0].State, st.Instances[0].Transitions)
}

// rogueSpec starts lb1 (priority 150) and lb2 (100) with the configs conf
// returns, sends the named forged advert once from the client and checks
// that nothing moves for several advert intervals, that the VIP stays on
// lb1, and that metricLines appear in the balancers' metrics (by host)
// and the source in lb1's log.
func rogueSpec(labName, packet string, conf func(state string, priority int) string, instance string, metricLines map[string][]string) {
	testenv.PrivilegedGinkgo("nft")
	lab := labtest.Up(labtest.Name(labName), topology.Seed(), binDir)
	lb1 := startDrlb(lab, "lb1", conf("MASTER", 150))
	Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	lb2 := startDrlb(lab, "lb2", conf("BACKUP", 100))
	Eventually(func() string {
		st, err := lb2.status()
		if err != nil || len(st.Instances) == 0 {
			return "unreachable"
		}
		return fmt.Sprintf("%s master=%s heard=%t", st.Instances[0].State, st.Instances[0].MasterAddr, st.Instances[0].AdvertsReceived >= 2)
	}).WithTimeout(10 * time.Second).Should(Equal("BACKUP master=172.16.1.2 heard=true"))
	Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb1"))
	want1, want2 := transitionsOf(lb1), transitionsOf(lb2)
	Expect(want1).To(HavePrefix("MASTER "))
	Expect(want2).To(HavePrefix("BACKUP "))

	sendRaw(lab, rogueAdvert(packet))
	sent := time.Now()

	// Five advert intervals: the master keeps the VIP, nobody moves.
	Consistently(func() string { return transitionsOf(lb1) + " / " + transitionsOf(lb2) }).
		WithTimeout(5 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(want1 + " / " + want2))
	Expect(arpOwner(lab)).To(Equal("lb1"))
	owners, err := lab.VIPOwners(vip)
	Expect(err).NotTo(HaveOccurred())
	Expect(owners).To(ConsistOf("lb1"))
	GinkgoWriter.Printf("no change in the %v after the forged %s\n", time.Since(sent).Round(time.Millisecond), packet)

	for host, lines := range metricLines {
		body := metrics(lab, host)
		for _, l := range lines {
			Expect(body).To(ContainSubstring(fmt.Sprintf(l, instance)), "%s metrics", host)
		}
	}
	Expect(lb1.proc.Log()).To(MatchRegexp(`WARN.*from 172\.16\.1\.100`), "lb1 logs the stranger's address")
}

var _ = Describe("drlb and adverts from a stranger on the segment", Label("daemon", "vrrp"), func() {
	It("keeps the v3 master and the backup's timing after one forged priority-255 advert with a 40.95 s interval", func() {
		rogueSpec("rv3", "v3rogue_big", func(state string, prio int) string { return v3PairConfig(state, prio, "") }, "VI_1",
			map[string][]string{
				"lb1": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_takeover"} 1`},
				"lb2": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_master"} 1`},
			})
	})

	It("drops the forged advert as a stranger's with drlb_accept_from, multicast as it is", func() {
		rogueSpec("rac", "v3rogue_big", func(state string, prio int) string {
			return v3PairConfig(state, prio, "   drlb_accept_from 172.16.1.2 172.16.1.3\n")
		}, "VI_1", map[string][]string{
			"lb1": {`drlb_vrrp_adverts_dropped_total{instance="%s",reason="unknown_peer"} 1`},
			"lb2": {`drlb_vrrp_adverts_dropped_total{instance="%s",reason="unknown_peer"} 1`},
		})
	})

	It("keeps the v2 master after one forged priority-255 advert carrying the pair's auth_pass", func() {
		rogueSpec("rv2", "unknown255", howtoConfig, "LVS_Teste",
			map[string][]string{
				"lb1": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_takeover"} 1`},
				"lb2": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_master"} 1`},
			})
	})
})
