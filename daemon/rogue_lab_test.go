package daemon_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/ipv4"
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

	It("drops repeated priority-255 adverts announcing other addresses, as keepalived does", func() {
		// unknown255 with the VIP 172.16.1.99 instead of the pair's 172.16.1.1:
		// keepalived 2.2.7 drops it (vrrp_check_packet), so repeating it wins nothing.
		pkt := rogueAdvert("unknown255")
		copy(pkt[28:32], []byte{172, 16, 1, 99})
		pkt[26], pkt[27] = 0, 0
		var sum uint32
		for i := 20; i+1 < len(pkt); i += 2 {
			sum += uint32(pkt[i])<<8 | uint32(pkt[i+1])
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(pkt[26:28], ^uint16(sum))

		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("ral"), topology.Seed(), binDir)
		lb1 := startDrlb(lab, "lb1", howtoConfig("MASTER", 150))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		lb2 := startDrlb(lab, "lb2", howtoConfig("BACKUP", 100))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
		want1, want2 := transitionsOf(lb1), transitionsOf(lb2)
		for range 3 {
			sendRaw(lab, pkt)
			time.Sleep(200 * time.Millisecond)
		}
		Consistently(func() string { return transitionsOf(lb1) + " / " + transitionsOf(lb2) }).
			WithTimeout(5 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(want1 + " / " + want2))
		owners, err := lab.VIPOwners(vip)
		Expect(err).NotTo(HaveOccurred())
		Expect(owners).To(ConsistOf("lb1"))
		for _, host := range []string{"lb1", "lb2"} {
			Expect(metrics(lab, host)).To(ContainSubstring(`drlb_vrrp_adverts_dropped_total{instance="LVS_Teste",reason="address_list_mismatch"} 3`), "%s metrics", host)
		}
		Expect(lb1.proc.Log()).To(ContainSubstring("not present in MASTER advert"))
	})

	It("keeps the v2 master after one forged priority-255 advert carrying the pair's auth_pass", func() {
		rogueSpec("rv2", "unknown255", howtoConfig, "LVS_Teste",
			map[string][]string{
				"lb1": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_takeover"} 1`},
				"lb2": {`drlb_vrrp_adverts_suspect_total{instance="%s",reason="unconfirmed_master"} 1`},
			})
	})
})

// captureAdvert joins the VRRP group in the client and returns the payload
// of the next advert from src.
func captureAdvert(lab *topology.Lab, src netip.Addr) []byte {
	GinkgoHelper()
	var out []byte
	Expect(lab.Do("client", func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		pc := ipv4.NewPacketConn(c)
		ifi, err := net.InterfaceByName("eth1")
		if err != nil {
			return err
		}
		if err := pc.JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("no advert from %v: %w", src, err)
			}
			if a, ok := from.(*net.IPAddr); ok && a.IP.Equal(net.IP(src.AsSlice())) {
				out = append([]byte(nil), buf[:n]...)
				return nil
			}
		}
	})).To(Succeed())
	return out
}

// ipv4Packet wraps a VRRP payload in an IPv4 header from src to dst with
// TTL 255 (the kernel fills in the checksum of an IPPROTO_RAW packet).
func ipv4Packet(src, dst netip.Addr, payload []byte) []byte {
	h := []byte{0x45, 0xc0}
	h = binary.BigEndian.AppendUint16(h, uint16(20+len(payload)))
	h = append(h, 0x12, 0x34, 0, 0, 255, 112, 0, 0)
	h = append(h, src.AsSlice()...)
	h = append(h, dst.AsSlice()...)
	return append(h, payload...)
}

const hmacBlock = `   auth_hmac {
       key 1 hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
       active_key 1
   }
`

var _ = Describe("drlb pair with auth_hmac", Ordered, Label("daemon", "vrrp"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("hm"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", v3PairConfig("MASTER", 150, hmacBlock))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		lb2 = startDrlb(lab, "lb2", v3PairConfig("BACKUP", 100, hmacBlock))
		Eventually(func() string {
			st, err := lb2.status()
			if err != nil || len(st.Instances) == 0 {
				return "unreachable"
			}
			return fmt.Sprintf("%s master=%s heard=%t", st.Instances[0].State, st.Instances[0].MasterAddr, st.Instances[0].AdvertsReceived >= 2)
		}).WithTimeout(10 * time.Second).Should(Equal("BACKUP master=172.16.1.2 heard=true"))
	})

	It("signs its adverts, ignores a replayed capture and a forged advert without the key, counting both", func() {
		advert := captureAdvert(lab, netip.MustParseAddr("172.16.1.2"))
		Expect(len(advert)).To(Equal(12+28), "a v3 advert with one VIP and the 28-byte trailer: %x", advert)
		want1, want2 := transitionsOf(lb1), transitionsOf(lb2)

		sendRaw(lab, ipv4Packet(netip.MustParseAddr("172.16.1.2"), netip.MustParseAddr("224.0.0.18"), advert))
		sendRaw(lab, rogueAdvert("v3rogue_big"))
		Consistently(func() string { return transitionsOf(lb1) + " / " + transitionsOf(lb2) }).
			WithTimeout(3 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(want1 + " / " + want2))
		Expect(metrics(lab, "lb2")).To(MatchRegexp(`drlb_vrrp_adverts_dropped_total\{instance="VI_1",reason="hmac_replay"\} [1-9]`))
		Expect(metrics(lab, "lb2")).To(ContainSubstring(`drlb_vrrp_adverts_dropped_total{instance="VI_1",reason="hmac_missing"} 1`))
		Expect(metrics(lab, "lb1")).To(ContainSubstring(`drlb_vrrp_adverts_dropped_total{instance="VI_1",reason="hmac_missing"} 1`))
		Expect(lb2.proc.Log()).To(MatchRegexp(`replayed sequence from 172\.16\.1\.2`))
		Expect(lb1.proc.Log()).To(MatchRegexp(`trailer missing from 172\.16\.1\.100`))
	})

	It("fails over when the master is killed and takes the VIP back", func() {
		Expect(lb1.proc.Signal(syscall.SIGKILL)).To(Succeed())
		killed := time.Now()
		// Master_Down_Interval for priority 100: 3 × 1 s + (256 − 100) × 1 s / 256.
		Eventually(lb2.state).WithTimeout(3610*time.Millisecond + 500*time.Millisecond).WithPolling(20 * time.Millisecond).Should(Equal("MASTER"))
		GinkgoWriter.Printf("lb2 became master %v after the kill\n", time.Since(killed).Round(time.Millisecond))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb2"))
		lb1.start()
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(3 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb1"))
		Expect(metrics(lab, "lb2")).NotTo(MatchRegexp(`reason="hmac_(invalid|stale|unknown_key|malformed)"`))
		// The preemption is confirmed by lb1's answer to lb2's challenge: lb2
		// leaves MASTER well within one advert interval of lb1 entering it.
		backupAt, masterAt := lastLogTime(lb2.proc.Log(), "Entering BACKUP STATE"), lastLogTime(lb1.proc.Log(), "Entering MASTER STATE")
		Expect(backupAt).NotTo(BeZero())
		Expect(masterAt).NotTo(BeZero())
		both := backupAt.Sub(masterAt)
		GinkgoWriter.Printf("both MASTER for %v during the preemption\n", both)
		Expect(both).To(BeNumerically("<", time.Second))
	})
})

// lastLogTime returns the time stamp of the last line of a drlb log that
// contains what (zero when none).
func lastLogTime(log, what string) time.Time {
	var at time.Time
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, what) {
			continue
		}
		if f := strings.Fields(line); len(f) > 0 {
			if t, err := time.Parse(time.RFC3339Nano, f[0]); err == nil {
				at = t
			}
		}
	}
	return at
}
