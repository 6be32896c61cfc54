package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/net/ipv4"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// advert is one VRRP packet seen on the wire.
type advert struct {
	From     netip.Addr
	Priority int
}

// vrrpCapture records the VRRP packets a lab host receives (it joins
// 224.0.0.18 on eth1) until stop is called.
type vrrpCapture struct {
	conn net.PacketConn
	mu   sync.Mutex
	seen []advert
	done chan struct{}
}

func captureVRRP(lab *topology.Lab, host string) *vrrpCapture {
	GinkgoHelper()
	c := &vrrpCapture{done: make(chan struct{})}
	Expect(lab.Do(host, func() error {
		conn, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth1")
		if err == nil {
			err = ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)})
		}
		if err != nil {
			_ = conn.Close()
			return err
		}
		c.conn = conn
		return nil
	})).To(Succeed())
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.conn.ReadFrom(buf)
			if err != nil {
				return // closed by stop
			}
			if n < 3 {
				continue
			}
			addr, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP.To4())
			c.mu.Lock()
			c.seen = append(c.seen, advert{From: addr, Priority: int(buf[2])})
			c.mu.Unlock()
		}
	}()
	DeferCleanup(c.stop)
	return c
}

// stop ends the capture and returns what it saw.
func (c *vrrpCapture) stop() []advert {
	_ = c.conn.Close()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]advert(nil), c.seen...)
}

var _ = Describe("drlb reloading a file that would remove everything", Ordered, Label("daemon"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("dme"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", howtoConfig("MASTER", 100))
		lb2 = startDrlb(lab, "lb2", howtoConfig("BACKUP", 90))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
	})

	It("refuses an empty, all-NUL or comment-only file, naming what it would remove, and the service stays as it was", func() {
		good, err := os.ReadFile(lb1.conf)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.WriteFile, lb1.conf, good, os.FileMode(0o644))
		before1, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		before2, err := lb2.status()
		Expect(err).NotTo(HaveOccurred())
		capture := captureVRRP(lab, "client")

		for name, content := range map[string]string{
			"empty":        "",
			"all NUL":      strings.Repeat("\x00", 4096),
			"comment-only": "   \n# truncated by a full disk\n! nothing else\n\n",
		} {
			Expect(os.WriteFile(lb1.conf, []byte(content), 0o644)).To(Succeed())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := lb1.client().Reload(ctx)
			cancel()
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(res.OK).To(BeFalse(), "%s file: reload must be refused, got changes %v", name, res.Changes)
			why := strings.Join(res.Diagnostics, "\n")
			Expect(why).To(ContainSubstring("LVS_Teste"), "%s: names the VRRP instance it would remove", name)
			Expect(why).To(ContainSubstring("TCP 172.16.1.1:80"), "%s: names the virtual server it would remove", name)
			Expect(why).To(ContainSubstring("--allow-empty"), "%s: says how to do it on purpose", name)
		}
		// The command line exits non-zero with the reason.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := lab.Output(ctx, "lb1", filepath.Join(binDir, "drlb"), "reload", "--run-dir", lab.RunDir("lb1"))
		Expect(err).To(HaveOccurred(), "drlb reload of an empty file must fail: %s", out)
		Expect(string(out)).To(ContainSubstring("refused"))

		// Several advert intervals: lb1 stays master with its table, lb2 stays backup.
		Consistently(func() string {
			st1, err1 := lb1.status()
			st2, err2 := lb2.status()
			if err := errors.Join(err1, err2); err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%s/%d %s/%d table=%v", st1.Instances[0].State, st1.Instances[0].Transitions,
				st2.Instances[0].State, st2.Instances[0].Transitions, lb1.inTable())
		}).WithTimeout(3500 * time.Millisecond).WithPolling(250 * time.Millisecond).Should(Equal(
			fmt.Sprintf("MASTER/%d BACKUP/%d table=[172.16.1.10:80 172.16.1.11:80]",
				before1.Instances[0].Transitions, before2.Instances[0].Transitions)))
		Expect(arpOwner(lab)).To(Equal("lb1"))
		got := servers(lab, 10)
		Expect(got["rs1"]+got["rs2"]).To(Equal(10), "served through lb1: %v", got)
		after1, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		Expect(after1.Reloads).To(Equal(before1.Reloads), "a refused reload is not a reload")

		seen := capture.stop()
		fromLB1 := 0
		for _, a := range seen {
			if a.From == lab.Addr("lb1") {
				fromLB1++
				Expect(a.Priority).NotTo(BeZero(), "lb1 sent a priority-0 advert (it gave up mastership)")
			}
		}
		Expect(fromLB1).To(BeNumerically(">=", 3), "control: the capture sees lb1's adverts (%d packets in all)", len(seen))
	})

	It("goes ahead with --allow-empty: lb1 hands the VIP to lb2 and empties its table; the good file brings it back", func() {
		good, err := os.ReadFile(lb1.conf)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.WriteFile, lb1.conf, good, os.FileMode(0o644))
		Expect(os.WriteFile(lb1.conf, nil, 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := lab.Output(ctx, "lb1", filepath.Join(binDir, "drlb"), "reload", "--run-dir", lab.RunDir("lb1"), "--allow-empty")
		Expect(err).NotTo(HaveOccurred(), "drlb reload --allow-empty: %s", out)
		Expect(string(out)).To(ContainSubstring("reloaded"))
		// lb1 sent priority 0: lb2 takes over after its skew time, not Master_Down_Interval.
		Eventually(lb2.state).WithTimeout(2 * time.Second).Should(Equal("MASTER"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb2"))
		st, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Instances).To(BeEmpty())
		Expect(st.Services).To(BeEmpty())

		Expect(os.WriteFile(lb1.conf, good, 0o644)).To(Succeed())
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb1"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
	})
})
