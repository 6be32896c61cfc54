package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// lb1Addr is lb1's own address on eth1 in the seed lab.
var lb1Addr = netip.MustParsePrefix("172.16.1.2/24")

func setAddr(lab *topology.Lab, host string, p netip.Prefix, add bool) error {
	h, err := lab.Handle(host)
	if err != nil {
		return err
	}
	link, err := h.LinkByName("eth1")
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if add {
		return h.AddrAdd(link, a)
	}
	return h.AddrDel(link, a)
}

func setEth1(lab *topology.Lab, host string, up bool) error {
	h, err := lab.Handle(host)
	if err != nil {
		return err
	}
	link, err := h.LinkByName("eth1")
	if err != nil {
		return err
	}
	if up {
		return h.LinkSetUp(link)
	}
	return h.LinkSetDown(link)
}

func vipOwners(lab *topology.Lab) []string {
	owners, err := lab.VIPOwners(vip)
	if err != nil {
		return []string{err.Error()}
	}
	return owners
}

const vrrpOnlyConf = `vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        172.16.1.1/24
    }
}
`

var _ = Describe("drlb when its VRRP interface has no address yet", Label("daemon", "recovery"), func() {
	It("waits in FAULT and takes the VIP once the address appears", func() {
		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("rfa"), topology.Seed(), binDir)
		Expect(setAddr(lab, "lb1", lb1Addr, false)).To(Succeed())
		lb1 := startDrlb(lab, "lb1", vrrpOnlyConf)
		Eventually(lb1.state).WithTimeout(5 * time.Second).Should(Equal("FAULT"))
		// keepalived's behaviour: FAULT (not an exit) while the address is missing.
		Consistently(func() string { return lb1.state() + " " + strings.Join(vipOwners(lab), ",") }).
			WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal("FAULT "))
		resp, err := lab.HTTPClient("lb1", 2*time.Second).Get("http://127.0.0.1:9650/metrics")
		Expect(err).NotTo(HaveOccurred())
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(body)).To(ContainSubstring(`drlb_vrrp_state{instance="VI_1"} 3`), "FAULT in the metrics")
		Expect(setAddr(lab, "lb1", lb1Addr, true)).To(Succeed())
		added := time.Now()
		// FAULT -> BACKUP at once, then MASTER after Master_Down_Interval
		// (3 x 1 s + (256 - 150)/256 s) without a peer.
		Eventually(lb1.state).WithTimeout(time.Second).WithPolling(10 * time.Millisecond).Should(Equal("BACKUP"))
		GinkgoWriter.Printf("BACKUP %v after the address was added\n", time.Since(added).Round(time.Millisecond))
		Eventually(lb1.state).WithTimeout(5 * time.Second).WithPolling(20 * time.Millisecond).Should(Equal("MASTER"))
		GinkgoWriter.Printf("MASTER %v after the address was added\n", time.Since(added).Round(time.Millisecond))
		Eventually(func() []string { return vipOwners(lab) }).WithTimeout(2 * time.Second).Should(Equal([]string{"lb1"}))
		Expect(lb1.proc.Log()).To(ContainSubstring("has no IPv4 address of its own: FAULT until one appears"))
		Expect(lb1.proc.Log()).NotTo(ContainSubstring("polling interfaces"), "netlink notifications, not polling")
	})
})

// notifyScript writes a script appending its arguments to log and returns its path.
func notifyScript(lab *topology.Lab, name, log string) string {
	path := filepath.Join(lab.Dir(), name)
	Expect(os.WriteFile(path, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755)).To(Succeed())
	return path
}

func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

var _ = Describe("drlb reloaded next to a keepalived peer", Label("daemon", "recovery"), func() {
	It("applies a notify-only change in place: no transition, VIP kept, no notify", func() {
		testenv.PrivilegedGinkgo("nft")
		if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
			testenv.UnavailableGinkgo("keepalived is missing (make deps installs it)")
		}
		lab := labtest.Up(labtest.Name("rfc"), topology.Seed(), binDir)
		cases := "testdata/parity/" // the fault finders' parity cases
		read := func(name, script string) string {
			b, err := os.ReadFile(cases + name)
			Expect(err).NotTo(HaveOccurred())
			return strings.ReplaceAll(string(b), "/usr/local/bin/notify.sh", script)
		}
		lb1Log, lb2Log := filepath.Join(lab.Dir(), "lb1-notify.log"), filepath.Join(lab.Dir(), "lb2-notify.log")
		s1, s2 := notifyScript(lab, "notify-lb1.sh", lb1Log), notifyScript(lab, "notify-lb2.sh", lb2Log)

		lb1 := startDrlb(lab, "lb1", read("reload-notify-change-lb1-before.conf", s1))
		Eventually(lb1.state).WithTimeout(6 * time.Second).Should(Equal("MASTER"))
		kconf := filepath.Join(lab.Dir(), "lb2-keepalived.conf")
		Expect(os.WriteFile(kconf, []byte(read("reload-notify-change-lb2-keepalived.conf", s2)), 0o644)).To(Succeed())
		run := lab.RunDir("lb2")
		Expect(os.MkdirAll(run, 0o755)).To(Succeed())
		_, err := lab.Start("lb2", topology.ProcSpec{Name: "keepalived", Argv: []string{"keepalived", "-n", "-l", "-D", "-P", "-f", kconf,
			"-p", filepath.Join(run, "keepalived.pid"), "-r", filepath.Join(run, "vrrp.pid")}})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []string { return lines(lb2Log) }).WithTimeout(5 * time.Second).Should(ContainElement(ContainSubstring("BACKUP")))
		Expect(vipOwners(lab)).To(Equal([]string{"lb1"}))
		before, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		notes1, notes2 := lines(lb1Log), lines(lb2Log)

		Expect(os.WriteFile(lb1.conf, []byte(read("reload-notify-change-lb1-after.conf", s1)), 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Expect(res.Changes).To(ContainElement("vrrp instance VI_1: updated in place (notify)"))
		// Several advert intervals (1 s): nobody moves, the VIP stays on lb1.
		Consistently(func() string {
			st, err := lb1.status()
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%s transitions=%d owners=%v notify=%d/%d", st.Instances[0].State, st.Instances[0].Transitions,
				vipOwners(lab), len(lines(lb1Log)), len(lines(lb2Log)))
		}).WithTimeout(4 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(
			fmt.Sprintf("MASTER transitions=%d owners=[lb1] notify=%d/%d", before.Instances[0].Transitions, len(notes1), len(notes2))))
	})
})

// prober fetches the VIP from the client every 20 ms and records failures.
type prober struct {
	mu       sync.Mutex
	failures []time.Time
	total    int
}

func (p *prober) run(ctx context.Context, lab *topology.Lab) {
	client := lab.HTTPClient("client", 100*time.Millisecond)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get("http://172.16.1.1/teste.html")
		if err == nil {
			resp.Body.Close()
		}
		p.mu.Lock()
		p.total++
		if err != nil {
			p.failures = append(p.failures, time.Now())
		}
		p.mu.Unlock()
	}
}

// failed counts failures in [from, to).
func (p *prober) failed(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range p.failures {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

var _ = Describe("drlb pair at VRRPv3 0.1 s through a link flap", Label("daemon", "recovery"), func() {
	It("costs the client no more on recovery than on the loss", func() {
		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("rfb"), topology.Seed(), binDir)
		conf := func(name string) string {
			b, err := os.ReadFile("testdata/reliability/" + name) // the fault finders' reliability cases
			Expect(err).NotTo(HaveOccurred())
			c := strings.Replace(string(b), "27abd4a63a9f1a7641d85dc4c76606c2", pageDigest("rs1"), 1)
			return strings.Replace(c, "d4eab0097f70e7862e71fdb46bcf4287", pageDigest("rs2"), 1)
		}
		lb1 := startDrlb(lab, "lb1", conf("v3-fast-lb1.conf"))
		lb2 := startDrlb(lab, "lb2", conf("v3-fast-lb2.conf"))
		Eventually(lb1.state).WithTimeout(5 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(5 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(5 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Eventually(func() []string { return lb2.inTable() }).WithTimeout(5 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := &prober{}
		done := make(chan struct{})
		go func() { defer GinkgoRecover(); defer close(done); p.run(ctx, lab) }()
		DeferCleanup(func() { cancel(); <-done })

		time.Sleep(time.Second) // traffic before the fault, as a baseline (a schedule, not readiness)
		down := time.Now()
		Expect(setEth1(lab, "lb1", false)).To(Succeed())
		time.Sleep(5 * time.Second) // the scenario's 5 s link loss
		up := time.Now()
		Expect(setEth1(lab, "lb1", true)).To(Succeed())
		// lb1 takes the VIP back, with real servers in its table.
		Eventually(lb1.state).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Equal("MASTER"))
		back := time.Now()
		time.Sleep(2 * time.Second) // the takeover's aftermath
		end := time.Now()
		cancel()
		<-done
		loss, recovery := p.failed(down, up), p.failed(up, end)
		GinkgoWriter.Printf("requests %d; failed during the 5 s loss: %d, after link-up: %d; lb1 MASTER %v after link-up\n",
			p.total, loss, recovery, back.Sub(up).Round(time.Millisecond))
		Expect(loss).To(BeNumerically(">", 0), "the loss must cost something, or this test measures nothing")
		Expect(recovery).To(BeNumerically("<=", loss), "recovery cost more than the loss")
		Expect(lb1.proc.Log()).NotTo(ContainSubstring("network is down"))
	})
})
