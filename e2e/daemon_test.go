package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

var _ = Describe("drlab daemon", Label("failover"), func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo("nft") })

	It("starts drlb on a balancer, lets drlb status reach it, reloads and stops it", func() {
		drlb := filepath.Join(binDir, "drlb")
		Expect(scenarios.CheckDrlbRun(context.Background(), drlb)).To(Succeed(), "drlab daemon drives `drlb run`")
		lab := labtest.Up(labtest.Name("scd"), topology.Seed(), binDir)
		sc := &scenarios.Scenario{}
		tmpl, err := sc.ConfigTemplate("howto")
		Expect(err).NotTo(HaveOccurred())
		conf, err := scenarios.Render("howto", tmpl, scenarios.ValuesFor(lab.Spec()), "lb1", map[string]string{"priority": "150"})
		Expect(err).NotTo(HaveOccurred())
		file := filepath.Join(GinkgoT().TempDir(), "keepalived.conf")
		Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())

		drlab := func(args ...string) (string, error) {
			out, err := exec.Command(filepath.Join(binDir, "drlab"), append([]string{args[0], "--name", lab.Name()}, args[1:]...)...).CombinedOutput()
			return string(out), err
		}
		out, err := drlab("daemon", "start", "lb1", "-f", file, "--config-id", "e2e")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("drlb on lb1 ready"))
		Expect(lab.Running("lb1", scenarios.DrlbProcess)).To(BeTrue())

		// drlb status inside lb1 finds the daemon through DRLB_RUN_DIR, without flags.
		Eventually(func() (string, error) {
			return drlab("exec", "lb1", "--", "drlb", "status")
		}).WithTimeout(8 * time.Second).WithPolling(200 * time.Millisecond).Should(
			And(ContainSubstring("LVS_Teste"), ContainSubstring("MASTER"), ContainSubstring("172.16.1.10:80")))

		out, err = drlab("daemon", "reload", "lb1")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(lab.Running("lb1", scenarios.DrlbProcess)).To(BeTrue(), "a reload keeps the daemon running")
		Expect(out).To(ContainSubstring("reloaded"), "drlab daemon reload says what the daemon did")

		// A reload drlb refuses (an empty file would remove everything) is a
		// failure of drlab daemon reload too, not "reload done".
		Expect(os.WriteFile(file, nil, 0o644)).To(Succeed())
		out, err = drlab("daemon", "reload", "lb1")
		Expect(err).To(HaveOccurred(), "a refused reload fails: %s", out)
		Expect(out).To(ContainSubstring("refused"))
		Expect(out).NotTo(ContainSubstring("reload done"))
		Expect(lab.Running("lb1", scenarios.DrlbProcess)).To(BeTrue(), "a refused reload keeps the daemon running")

		out, err = drlab("daemon", "stop", "lb1")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(lab.Running("lb1", scenarios.DrlbProcess)).To(BeFalse())
		owners, err := lab.VIPOwners(lab.Spec().Host("rs1").LoopbackAddr())
		Expect(err).NotTo(HaveOccurred())
		Expect(owners).To(BeEmpty(), "a clean stop removes the VIP")

		out, err = drlab("daemon", "start", "lb1")
		Expect(err).To(HaveOccurred(), "start without -f is refused: %s", out)
		Expect(out).To(ContainSubstring("-f FILE"))
	})
})
