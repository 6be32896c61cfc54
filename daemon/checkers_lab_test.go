package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// checkersConf: lb1 alone, one VIP, a virtual server per parity II checker
// toward rs1's DNS responder, SMTP greeter and UDP echo (drlab serve
// --mode …), PING_CHECK of rs2 and FILE_CHECK of a file.
func checkersConf(trackFile string) string {
	return fmt.Sprintf(`vrrp_instance VI_1 {
  state MASTER
  interface eth1
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    172.16.1.1/24
  }
}
track_file weightfile {
  file %s
  init_file 0 overwrite
}
virtual_server 172.16.1.1 53 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol UDP
  real_server 172.16.1.10 53 {
    DNS_CHECK {
      type A
      name rs1.lab
      connect_timeout 1
      retry 0
      delay_before_retry 1
    }
  }
}
virtual_server 172.16.1.1 25 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 172.16.1.10 25 {
    SMTP_CHECK {
      helo_name lb1.lab
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 172.16.1.1 7 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol UDP
  real_server 172.16.1.10 7 {
    UDP_CHECK {
      payload 6472 6c62 2070 726f 6265
      require_reply 6472 6c62
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 172.16.1.1 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server 172.16.1.11 80 {
    PING_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 172.16.1.10 80 {
    weight 2
    FILE_CHECK {
      track_file weightfile
      weight 1
      dynamic
    }
  }
}
`, trackFile)
}

// trackFileConf is the two-balancer instance whose priority follows a
// track_file (weight 1: the number is added to the priority).
func trackFileConf(state string, priority int, file string) string {
	return fmt.Sprintf(`track_file prio {
  file %s
  weight 1
  init_file 0 overwrite
}
vrrp_instance VI_1 {
  state %s
  interface eth1
  virtual_router_id 52
  priority %d
  advert_int 1
  virtual_ipaddress {
    172.16.1.1/24
  }
  track_file {
    prio
  }
}
`, file, state, priority)
}

// real finds service svc's real server addr in b's status.
func (b *balancer) real(svc, addr string) (healthy bool, weight int, reason string) {
	st, err := b.status()
	if err != nil {
		return false, 0, err.Error()
	}
	for _, s := range st.Services {
		if s.Address != svc {
			continue
		}
		for _, r := range s.Reals {
			if r.Address == addr {
				return r.Healthy, r.Weight, r.LastReason
			}
		}
	}
	return false, 0, "no such real server in " + svc
}

var _ = Describe("drlb's parity II health checkers", Ordered, Label("daemon", "checkers"), func() {
	var (
		lab  *topology.Lab
		lb1  *balancer
		file string
	)
	// rs1 runs the three sibling services of its web server.
	startService := func(mode, listen string) *topology.Process {
		GinkgoHelper()
		p, err := lab.Start("rs1", topology.ProcSpec{Name: mode, Argv: []string{filepath.Join(binDir, "drlab"), "serve",
			"--mode", mode, "--host", "rs1", "--root", lab.WebRoot("rs1"), "--listen", listen}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = p.Stop(2 * time.Second) })
		return p
	}
	// health is "up", or "down: " and the last check's reason.
	health := func(svc, addr string) func() string {
		return func() string {
			if h, _, reason := lb1.real(svc, addr); !h {
				return "down: " + reason
			}
			return "up"
		}
	}
	// show proves one checker: up while the service answers, down when it
	// answers wrong, back, down when it stops, back when it returns.
	show := func(svc, addr, mode, listen, wrong string, proc **topology.Process) {
		GinkgoHelper()
		Eventually(health(svc, addr)).WithTimeout(10*time.Second).Should(Equal("up"), "up while %s answers", mode)
		Expect(lab.SetServiceMode("rs1", mode, wrong)).To(Succeed())
		Eventually(health(svc, addr)).WithTimeout(6*time.Second).Should(HavePrefix("down"), "down when %s answers %s", mode, wrong)
		_, _, reason := lb1.real(svc, addr)
		GinkgoWriter.Printf("%s %s down: %s\n", svc, addr, reason)
		Expect(lab.SetServiceMode("rs1", mode, topology.BehaviourOK)).To(Succeed())
		Eventually(health(svc, addr)).WithTimeout(6*time.Second).Should(Equal("up"), "back when %s answers again", mode)
		Expect((*proc).Stop(2 * time.Second)).To(Succeed())
		Eventually(health(svc, addr)).WithTimeout(6*time.Second).Should(HavePrefix("down"), "down when %s stops", mode)
		*proc = startService(mode, listen)
		Eventually(health(svc, addr)).WithTimeout(6*time.Second).Should(Equal("up"), "back when %s returns", mode)
	}
	var dnsProc, smtpProc, udpProc *topology.Process

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("ck"), topology.Seed(), binDir)
		dnsProc = startService(topology.ModeDNS, ":53")
		smtpProc = startService(topology.ModeSMTP, ":25")
		udpProc = startService(topology.ModeUDPEcho, ":7")
		file = filepath.Join(lab.Dir(), "weightfile")
		lb1 = startDrlb(lab, "lb1", checkersConf(file))
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	})

	It("DNS_CHECK follows the real server's DNS responder", func() {
		show("172.16.1.1:53", "172.16.1.10:53", topology.ModeDNS, ":53", topology.BehaviourRefused, &dnsProc)
	})

	It("SMTP_CHECK follows the real server's SMTP greeter", func() {
		show("172.16.1.1:25", "172.16.1.10:25", topology.ModeSMTP, ":25", topology.BehaviourBusy, &smtpProc)
	})

	It("UDP_CHECK with require_reply follows the real server's UDP echo", func() {
		show("172.16.1.1:7", "172.16.1.10:7", topology.ModeUDPEcho, ":7", topology.BehaviourGarbage, &udpProc)
	})

	It("PING_CHECK follows the real server's link", func() {
		Eventually(health("172.16.1.1:80", "172.16.1.11:80")).WithTimeout(10 * time.Second).Should(Equal("up"))
		link := func(state string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := lab.Output(ctx, "rs2", "ip", "link", "set", "eth1", state)
			return err
		}
		Expect(link("down")).To(Succeed())
		DeferCleanup(func() { _ = link("up") })
		Eventually(health("172.16.1.1:80", "172.16.1.11:80")).WithTimeout(6 * time.Second).Should(HavePrefix("down"))
		Expect(link("up")).To(Succeed())
		Eventually(health("172.16.1.1:80", "172.16.1.11:80")).WithTimeout(10 * time.Second).Should(Equal("up"))
	})

	It("FILE_CHECK with dynamic sets the real server's weight from the file", func() {
		weight := func() int { _, w, _ := lb1.real("172.16.1.1:80", "172.16.1.10:80"); return w }
		Eventually(weight).WithTimeout(10*time.Second).Should(Equal(2), "init_file 0: the configured weight")
		Expect(os.WriteFile(file, []byte("5\n"), 0o644)).To(Succeed())
		Eventually(weight).WithTimeout(5*time.Second).Should(Equal(7), "2 + 5 × 1")
		Expect(os.WriteFile(file, []byte("-3\n"), 0o644)).To(Succeed())
		Eventually(health("172.16.1.1:80", "172.16.1.10:80")).WithTimeout(5*time.Second).Should(HavePrefix("down"), "2 - 3 < 0: down")
		Expect(os.WriteFile(file, []byte("0\n"), 0o644)).To(Succeed())
		Eventually(weight).WithTimeout(5 * time.Second).Should(Equal(2))
	})
})

var _ = Describe("drlb's track_file", Ordered, Label("daemon", "checkers"), func() {
	It("moves the VIP when the tracked file's number changes the priority", func() {
		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("tf"), topology.Seed(), binDir)
		f1, f2 := filepath.Join(lab.Dir(), "prio-lb1"), filepath.Join(lab.Dir(), "prio-lb2")
		lb1 := startDrlb(lab, "lb1", trackFileConf("MASTER", 100, f1))
		DeferCleanup(func() { _ = lb1.proc.Stop(5 * time.Second) })
		lb2 := startDrlb(lab, "lb2", trackFileConf("BACKUP", 90, f2))
		DeferCleanup(func() { _ = lb2.proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(5 * time.Second).Should(Equal("lb1"))

		Expect(os.WriteFile(f1, []byte("-30\n"), 0o644)).To(Succeed()) // lb1: 100 - 30 = 70 < 90
		Eventually(lb2.state).WithTimeout(10*time.Second).Should(Equal("MASTER"), "lb2 preempts the lowered lb1")
		Eventually(lb1.state).WithTimeout(5 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(5*time.Second).Should(Equal("lb2"), "the VIP moved")

		Expect(os.WriteFile(f1, []byte("0\n"), 0o644)).To(Succeed()) // back to 100
		Eventually(lb1.state).WithTimeout(10*time.Second).Should(Equal("MASTER"), "lb1 preempts back")
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(5 * time.Second).Should(Equal("lb1"))
	})
})
