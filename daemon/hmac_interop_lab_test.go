package daemon_test

import (
	"context"
	"os"
	"os/exec"
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

// KeepalivedHMACEnv names a keepalived binary with auth_hmac (2.4.0 or
// later). Debian's keepalived 2.2.7 predates it, and no newer keepalived
// is packaged for this machine, so the interoperability spec is defined
// only when this is set (an operator's own keepalived 2.4+); it is not
// part of CI, which must not skip.
const KeepalivedHMACEnv = "DRLB_KEEPALIVED_HMAC"

var _ = hmacInteropSpecs(os.Getenv(KeepalivedHMACEnv) != "")

func hmacInteropSpecs(enabled bool) bool {
	if !enabled {
		return false
	}
	return Describe("auth_hmac with keepalived 2.4 as the peer", Ordered, Label("daemon", "vrrp", "interop"), func() {
		var lab *topology.Lab
		var ka *topology.Process
		var drlb *balancer
		var bin string

		startKeepalived := func(priority int) {
			GinkgoHelper()
			file := filepath.Join(lab.Dir(), "lb1-keepalived.conf")
			conf := strings.Replace(v3PairConfig("BACKUP", priority, hmacBlock), "vrrp_instance", "global_defs {\n   router_id ka\n}\nvrrp_instance", 1)
			Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
			run := lab.RunDir("lb1")
			argv := []string{bin, "-n", "-l", "-D", "-f", file, "-p", filepath.Join(run, "keepalived.pid"), "-r", filepath.Join(run, "keepalived-vrrp.pid")}
			if help, _ := exec.Command(bin, "--help").CombinedOutput(); strings.Contains(string(help), "-P, --vrrp ") {
				argv = append(argv, "-P") // VRRP only; a build without LVS has no such option
			}
			p, err := lab.Start("lb1", topology.ProcSpec{Name: "keepalived", Argv: argv})
			Expect(err).NotTo(HaveOccurred())
			ka = p
		}

		BeforeAll(func() {
			bin = os.Getenv(KeepalivedHMACEnv)
			testenv.PrivilegedGinkgo("nft")
			lab = labtest.Up(labtest.Name("ka"), topology.Seed(), binDir)
		})

		It("follows a keepalived master that signs, and takes over at once when it stops", func() {
			startKeepalived(150)
			Eventually(func() []string { o, _ := lab.VIPOwners(vip); return o }).WithTimeout(10 * time.Second).Should(ConsistOf("lb1"))
			drlb = startDrlb(lab, "lb2", v3PairConfig("BACKUP", 100, hmacBlock))
			Eventually(func() string {
				st, err := drlb.status()
				if err != nil || len(st.Instances) == 0 {
					return "unreachable"
				}
				i := st.Instances[0]
				return i.State + " master=" + i.MasterAddr
			}).WithTimeout(10 * time.Second).Should(Equal("BACKUP master=172.16.1.2"))
			Consistently(drlb.state).WithTimeout(3 * time.Second).Should(Equal("BACKUP"))
			m := metrics(lab, "lb2")
			Expect(m).NotTo(ContainSubstring(`reason="hmac_`), "drlb verifies every keepalived advert")
			Expect(m).To(MatchRegexp(`drlb_vrrp_adverts_received_total\{instance="VI_1"\} [1-9]`))

			// SIGTERM: keepalived signs its priority-0 advert too; drlb takes
			// over after the skew time, (256 − 100) / 256 s.
			Expect(ka.Signal(syscall.SIGTERM)).To(Succeed())
			Eventually(drlb.state).WithTimeout(610*time.Millisecond + 500*time.Millisecond).WithPolling(20 * time.Millisecond).Should(Equal("MASTER"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			Expect(ka.Wait(ctx)).To(Succeed(), "keepalived and its VRRP child exit")
			Expect(metrics(lab, "lb2")).To(MatchRegexp(`drlb_vrrp_adverts_received_total\{instance="VI_1"\} [1-9]`))
			Expect(drlb.proc.Log()).To(ContainSubstring("Backup received priority 0 advertisement"))
		})

		It("preempts with drlb's signed adverts: keepalived verifies them and steps back", func() {
			// keepalived returns with priority 50: drlb (100) stays master.
			// Only this start's lines count: the log also holds the first run.
			logBefore := len(ka.Log())
			startKeepalived(50)
			Consistently(drlb.state).WithTimeout(4 * time.Second).Should(Equal("MASTER"))
			log := func() string { return ka.Log()[logBefore:] }
			Expect(log()).To(ContainSubstring("Entering BACKUP STATE"))
			Expect(log()).To(ContainSubstring("master set to 172.16.1.3"), "keepalived follows drlb")
			Expect(log()).NotTo(MatchRegexp(`authentication|HMAC|replayed|stale`), "keepalived accepts drlb's trailers")
			Expect(log()).NotTo(ContainSubstring("Entering MASTER STATE"))
			owners, err := lab.VIPOwners(vip)
			Expect(err).NotTo(HaveOccurred())
			Expect(owners).To(ConsistOf("lb2"))
		})
	})
}
