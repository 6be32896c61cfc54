package e2e_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/topology/labtest"
)

var _ = Describe("the scenario engine", Label("lab"), func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo("nft") })

	It("fails a deliberately wrong expectation with a report naming it, the measured value and the timeline, and replays it identically", func() {
		sc, err := scenarios.Load("lab-web-stop", nil)
		Expect(err).NotTo(HaveOccurred())
		// Requests to a stopped web server do fail: claiming none may is wrong.
		var wrong *scenarios.Expectation
		for i := range sc.Expect {
			if sc.Expect[i].MaxErrors != nil {
				wrong = &sc.Expect[i]
			}
		}
		Expect(wrong).NotTo(BeNil())
		zero := 0
		wrong.MaxErrors = &zero
		wrong.Name = "no request fails (deliberately wrong)"

		res := play(sc)
		Expect(res.Err).NotTo(HaveOccurred())
		Expect(res.Passed()).To(BeFalse())
		failed := res.Failed()
		Expect(failed).To(HaveLen(1), "only the wrong expectation fails: %s", res.Report())
		Expect(failed[0].Measured).To(MatchRegexp(`^[1-9]\d* of \d+$`))
		report := res.Report()
		Expect(report).To(ContainSubstring(`expectation "no request fails (deliberately wrong)"`))
		Expect(report).To(ContainSubstring("measured " + failed[0].Measured))
		Expect(report).To(ContainSubstring("bound <= 0"))
		Expect(report).To(ContainSubstring("library/lab-web-stop.yaml:"))
		Expect(report).To(ContainSubstring("timeline: " + res.TimelinePath))

		// The timeline records the verdict, and replays identically, also through the CLI.
		data, err := os.ReadFile(res.TimelinePath)
		Expect(err).NotTo(HaveOccurred())
		events, err := scenarios.ReadTimeline(bytes.NewReader(data))
		Expect(err).NotTo(HaveOccurred())
		var verdict *scenarios.Event
		for i := range events {
			if events[i].Kind == scenarios.EvExpectation && strings.Contains(events[i].Text, "deliberately wrong") {
				verdict = &events[i]
			}
		}
		Expect(verdict).NotTo(BeNil())
		Expect(*verdict.Met).To(BeFalse())
		var a, b bytes.Buffer
		Expect(scenarios.Replay(events, &a, 0, nil)).To(Succeed())
		Expect(scenarios.Replay(events, &b, 0, nil)).To(Succeed())
		Expect(a.String()).To(Equal(b.String()))
		Expect(a.String()).To(ContainSubstring("FAIL no request fails (deliberately wrong)"))
		Expect(a.String()).To(ContainSubstring("state: rs1 web down"))
		cli, err := exec.Command(filepath.Join(binDir, "drlab"), "scenario", "replay", "--speed", "0", res.TimelinePath).Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(cli)).To(Equal(a.String()))
	})

	It("runs a scenario from the CLI and exits 0 when every expectation holds", func() {
		name := labtest.Name("scc")
		timeline := filepath.Join(GinkgoT().TempDir(), "t.jsonl")
		cmd := exec.CommandContext(context.Background(), filepath.Join(binDir, "drlab"), "scenario", "run", "lab-pages", "--name", name, "--narrate", "--timeline", timeline)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("scenario lab-pages: PASSED"))
		Expect(string(out)).To(ContainSubstring("↳ "), "narration")
		Expect(timeline).To(BeAnExistingFile())
		_, err = os.Stat(filepath.Join("/run/drlab", name))
		Expect(os.IsNotExist(err)).To(BeTrue(), "the CLI removed its lab")
	})

	It("exits 1 from the CLI when an expectation of a user's scenario file fails, naming it", func() {
		file := filepath.Join(GinkgoT().TempDir(), "wrong.yaml")
		Expect(os.WriteFile(file, []byte(`name: wrong
description: rs1 alone answers, but the file claims rs2 does.
traffic: {url: "http://{{addr \"rs1\"}}/data", rate: 10, duration: 1s}
steps:
  - at: 0.5s
expect:
  - name: rs2 serves everything (wrong)
    share: {server: rs2, min: 1, max: 1}
`), 0o644)).To(Succeed())
		cmd := exec.Command(filepath.Join(binDir, "drlab"), "scenario", "run", file, "--name", labtest.Name("scw"),
			"--timeline", filepath.Join(GinkgoT().TempDir(), "wrong.timeline.jsonl"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		Expect(err).To(HaveOccurred())
		Expect(cmd.ProcessState.ExitCode()).To(Equal(1), stdout.String()+stderr.String())
		Expect(stderr.String()).To(MatchRegexp(regexp.QuoteMeta(`expectation "rs2 serves everything (wrong)" (`+file+`:7, end (whole run)): measured 0.00 (0 of `) + `\d+` + regexp.QuoteMeta(` answered), bound [1.00, 1.00]`)))
		Expect(stderr.String()).To(MatchRegexp(`timeline: /\S+\.timeline\.jsonl`))
		Expect(stdout.String()).To(ContainSubstring("FAIL  rs2 serves everything (wrong)"))
	})
})
