package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/scenarios/report"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// slowAfter marks scenarios whose traffic runs this long as "slow".
const slowAfter = 12 * time.Second

// scenarioLabels are a scenario's labels plus "slow" for long ones.
func scenarioLabels(sc *scenarios.Scenario) Labels {
	labels := Labels(append([]string(nil), sc.Labels...))
	if sc.Traffic != nil && sc.Traffic.Duration.D() >= slowAfter {
		labels = append(labels, "slow")
	}
	return labels
}

// timelineFile is where a spec's timeline goes: in DRLB_ARTIFACT_DIR when
// set (kept there, with a failed spec's training view, for CI to collect),
// else in the spec's temporary directory, removed with it (a failed spec
// carries the timeline's tail in its report).
func timelineFile(name string) string {
	dir := os.Getenv("DRLB_ARTIFACT_DIR")
	if dir == "" {
		dir = GinkgoT().TempDir()
	}
	return filepath.Join(dir, fmt.Sprintf("drlb-e2e-%s-p%d.timeline.jsonl", name, GinkgoParallelProcess()))
}

// requireDaemons fails (never skips) when a scenario's daemons cannot run here.
func requireDaemons(sc *scenarios.Scenario) {
	GinkgoHelper()
	if sc.NeedsDrlb() {
		err := scenarios.CheckDrlbRun(context.Background(), filepath.Join(binDir, "drlb"))
		Expect(err).NotTo(HaveOccurred(), "scenario %s runs drlb on its balancers, and `drlb run` does not work in this build", sc.Name)
	}
	if sc.NeedsKeepalived() {
		_, err := exec.LookPath(scenarios.DefaultKeepalived)
		Expect(err).NotTo(HaveOccurred(), "scenario %s runs keepalived as the reference peer: install the keepalived package (make deps)", sc.Name)
	}
}

// play runs sc in a fresh lab of this process, attaching the timeline to a failed spec.
func play(sc *scenarios.Scenario) *scenarios.Result {
	GinkgoHelper()
	spec, err := topology.LoadSpec(orSeed(sc.Topology))
	Expect(err).NotTo(HaveOccurred())
	lab := labtest.Up(labtest.Name("sc"), spec, binDir)
	path := timelineFile(sc.Name)
	f, err := os.Create(path)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(f.Close()).To(Succeed())
		if CurrentSpecReport().Failed() {
			data, _ := os.ReadFile(path)
			if len(data) > 64*1024 {
				data = data[len(data)-64*1024:]
			}
			AddReportEntry("timeline "+path, string(data))
			page := strings.TrimSuffix(path, ".timeline.jsonl") + ".html"
			if os.Getenv("DRLB_ARTIFACT_DIR") == "" {
				AddReportEntry("set DRLB_ARTIFACT_DIR to keep this timeline and its training view")
			} else if err := report.WriteFile(path, page); err == nil {
				AddReportEntry("training view (open in a browser) " + page)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res := scenarios.Run(ctx, sc, scenarios.Options{
		Lab: lab, DrlbBinary: filepath.Join(binDir, "drlb"),
		Timeline: f, TimelinePath: path,
		OnEvent: func(ev scenarios.Event) {
			if ev.Kind != scenarios.EvRequest {
				GinkgoWriter.Printf("%8.3fs %-6s %-11s %s\n", ev.T, ev.Host, ev.Kind, ev.Text)
			}
		},
	})
	Expect(res.WriteSummary(GinkgoWriter)).To(Succeed())
	return res
}

func orSeed(s string) string {
	if s == "" {
		return "seed"
	}
	return s
}

var _ = Describe("scenario library", func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo("nft") })

	for _, name := range scenarios.List() {
		sc, err := scenarios.Load(name, nil)
		if err != nil {
			It(name, func() { Fail(fmt.Sprintf("scenario %s does not load: %v", name, err)) })
			continue
		}
		It(name+": "+firstLine(sc.Description), scenarioLabels(sc), func() {
			requireDaemons(sc)
			res := play(sc)
			Expect(res.Passed()).To(BeTrue(), res.Report())
		})
	}
})

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
