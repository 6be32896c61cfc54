package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// sorryTopology is the seed lab plus a third web server, "sorry"
// (172.16.1.12, VIP on loopback like the real servers), to be the
// virtual server's sorry_server.
func sorryTopology() *topology.Spec {
	spec := topology.Seed()
	for _, h := range spec.Hosts {
		if h.Name == "rs2" {
			h.Name = "sorry"
			spec.Hosts = append(spec.Hosts, h)
			break
		}
	}
	spec.Links = append(spec.Links, topology.Link{Host: "sorry", Segment: "lan", Interface: "eth1", Addresses: []string{"172.16.1.12/24"}})
	return spec
}

// sorryConfig is the fault finders' quorum-loss-sorry-server.conf with the
// sorry server on the lab's "sorry" host, plus quorum scripts, omega and
// real-server notify scripts that append their tag to a file.
func sorryConfig(script string) string {
	b, err := os.ReadFile("testdata/parity/quorum-loss-sorry-server.conf")
	Expect(err).NotTo(HaveOccurred())
	conf := strings.Replace(string(b), "    sorry_server 172.16.1.3 80\n", "    sorry_server 172.16.1.12 80\n"+
		"    omega\n"+
		"    quorum_up \""+script+" quorum-up\"\n"+
		"    quorum_down \""+script+" quorum-down\"\n", 1)
	Expect(conf).To(ContainSubstring("sorry_server 172.16.1.12 80"))
	for _, rs := range []string{"172.16.1.10", "172.16.1.11"} {
		conf = strings.Replace(conf, "    real_server "+rs+" 80 {\n",
			"    real_server "+rs+" 80 {\n        notify_up \""+script+" up "+rs+"\"\n        notify_down \""+script+" down "+rs+"\"\n", 1)
	}
	return conf
}

var _ = Describe("drlb with a sorry server when quorum is lost", Ordered, Label("daemon"), func() {
	var lab *topology.Lab
	var lb1 *balancer
	var log string

	// scriptLines is what the notify scripts wrote, one tag per line.
	scriptLines := func() []string {
		b, _ := os.ReadFile(log)
		return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
	}
	sorryServer := func() string {
		st, err := lb1.status()
		if err != nil || len(st.Services) == 0 {
			return "unreachable"
		}
		return st.Services[0].SorryServer
	}

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("sq"), sorryTopology(), binDir)
		// rs1's check page (/flag.html) exists only while the test says so.
		Expect(lab.SetPage("rs1", "/flag.html", "up\n")).To(Succeed())
		log = filepath.Join(lab.Dir(), "notify.log")
		script := filepath.Join(lab.Dir(), "notify.sh")
		Expect(os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755)).To(Succeed())
		lb1 = startDrlb(lab, "lb1", sorryConfig(script))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	})

	It("serves from both real servers while quorum holds", func() {
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(sorryServer()).To(BeEmpty())
		Eventually(scriptLines).WithTimeout(3*time.Second).Should(Equal([]string{"quorum-up"}),
			"keepalived gains quorum at start-up and runs quorum_up")
		got := servers(lab, 20)
		Expect(got).To(HaveKeyWithValue("rs1", 10), "rr splits evenly: %v", got)
		Expect(got).To(HaveKeyWithValue("rs2", 10), "rr splits evenly: %v", got)
	})

	It("sends every request to the sorry server alone when rs1's failure costs quorum", func() {
		Expect(lab.ResetPage("rs1", "/flag.html")).To(Succeed()) // 404 from now on
		changed := time.Now()
		// delay_loop 1 + connect_timeout 1 (retry 0), plus margin.
		Eventually(sorryServer).WithTimeout(5 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal("172.16.1.12:80"))
		GinkgoWriter.Printf("the sorry server replaced the pool %v after rs1's check page went away\n", time.Since(changed).Round(time.Millisecond))
		got := servers(lab, 20)
		Expect(got).To(Equal(map[string]int{"sorry": 20}), "only the sorry server may answer: %v", got)
		Expect(lb1.inTable()).To(BeEmpty(), "the live rs2 left the pool; the inhibited rs1 is at weight 0")
		Eventually(scriptLines).WithTimeout(3 * time.Second).Should(ContainElements("down_172.16.1.10", "quorum-down"))
		Expect(scriptLines()).NotTo(ContainElement("down_172.16.1.11"), "rs2 is healthy; it only left the pool")
	})

	It("brings the pool back and drops the sorry server when quorum returns", func() {
		Expect(lab.SetPage("rs1", "/flag.html", "up\n")).To(Succeed())
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(5 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(sorryServer()).To(BeEmpty())
		got := servers(lab, 20)
		Expect(got).NotTo(HaveKey("sorry"), "the sorry server left the pool: %v", got)
		Expect(got["rs1"]+got["rs2"]).To(Equal(20), "%v", got)
		Eventually(scriptLines).WithTimeout(3 * time.Second).Should(ContainElements("up_172.16.1.10", "quorum-up"))
	})

	It("runs notify_down for the live servers and quorum_down when it stops (omega)", func() {
		before := len(scriptLines())
		Expect(lb1.proc.Signal(syscall.SIGTERM)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		Expect(lb1.proc.Wait(ctx)).To(Succeed())
		Expect(scriptLines()[before:]).To(Equal([]string{"down_172.16.1.10", "down_172.16.1.11", "quorum-down"}))
	})

	It("runs notify_down for a live real server a reload removes", func() {
		started := len(scriptLines())
		lb1.start()
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Eventually(func() []string { return scriptLines()[started:] }).WithTimeout(3 * time.Second).Should(Equal([]string{"quorum-up"}))
		before := len(scriptLines())
		full, err := os.ReadFile(lb1.conf)
		Expect(err).NotTo(HaveOccurred())
		cut := strings.Index(string(full), "    real_server 172.16.1.11 80 {")
		Expect(cut).To(BeNumerically(">", 0))
		Expect(os.WriteFile(lb1.conf, []byte(string(full)[:cut]+"}\n"), 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Eventually(func() []string { return scriptLines()[before:] }).WithTimeout(3 * time.Second).Should(Equal([]string{"down_172.16.1.11"}))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(3 * time.Second).Should(ConsistOf("172.16.1.10:80"))
	})
})
