package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// The VRRP child's lifecycle in the parent, through the real binary in a
// lab: a child killed alone is respawned (keepalived's "VRRP child
// process(PID) died: Respawning") and its instance elected again; with
// --dont-respawn the daemon stops; a child dying in a loop stops the
// daemon after the respawn limit.
var _ = Describe("drlb's VRRP child respawn", Ordered, Label("daemon", "respawn"), func() {
	var lab *topology.Lab

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("rsp"), topology.Seed(), binDir)
	})

	child := func(b *balancer) func() *api.VRRPChild {
		return func() *api.VRRPChild {
			st, err := b.status()
			if err != nil || st.VRRPChild == nil {
				return &api.VRRPChild{}
			}
			return st.VRRPChild
		}
	}
	// killChild SIGKILLs lb's running VRRP child alone and returns its PID.
	killChild := func(b *balancer) int {
		GinkgoHelper()
		var pid int
		Eventually(func() int { c := child(b)(); pid = c.PID; return pid }).WithTimeout(10 * time.Second).ShouldNot(BeZero())
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
		return pid
	}
	// thisRun is b's log since its last start (the lab appends runs).
	thisRun := func(b *balancer) string {
		l := b.proc.Log()
		if i := strings.LastIndex(l, "drlab: start drlb"); i >= 0 {
			return l[i:]
		}
		return l
	}
	startWith := func(host, conf string, args ...string) *balancer {
		GinkgoHelper()
		b := &balancer{lab: lab, host: host, conf: filepath.Join(lab.Dir(), host+".conf")}
		Expect(os.WriteFile(b.conf, []byte(conf), 0o644)).To(Succeed())
		p, err := lab.Start(host, topology.ProcSpec{Name: "drlb", Argv: append([]string{filepath.Join(binDir, "drlb"), "run",
			"-f", b.conf, "--run-dir", lab.RunDir(host)}, args...)})
		Expect(err).NotTo(HaveOccurred())
		b.proc = p
		DeferCleanup(func() { _ = p.Stop(15 * time.Second) })
		return b
	}

	It("respawns a killed child, which removes the stale VIP and becomes MASTER again", func() {
		lb1 := startWith("lb1", scriptConf("", "   priority 150", ""))
		lb2 := startWith("lb2", scriptConf("", "   priority 100", ""))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(15 * time.Second).Should(Equal("BACKUP"))
		st, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		Expect(st.VRRPChild).NotTo(BeNil())
		Expect(st.VRRPChild.State).To(Equal("running"))
		Expect(st.VRRPChild.Restarts).To(BeZero())
		parent := st.PID

		old := killChild(lb1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		line, err := lb1.proc.WaitLog(ctx, regexp.MustCompile(`VRRP child process\(\d+\) died: Respawning`))
		Expect(err).NotTo(HaveOccurred())
		Expect(line).To(ContainSubstring("VRRP child process(" + strconv.Itoa(old) + ") died: Respawning"))
		Expect(line).To(ContainSubstring("signal: killed"), "the exit status is logged")
		Eventually(func() int { return child(lb1)().PID }).WithTimeout(10*time.Second).ShouldNot(Or(BeZero(), Equal(old)), "a new child runs")
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		Consistently(lb2.state).WithTimeout(2 * time.Second).Should(Equal("BACKUP"))
		st, err = lb1.status()
		Expect(err).NotTo(HaveOccurred())
		Expect(st.PID).To(Equal(parent), "the parent lived on")
		Expect(st.VRRPChild.Restarts).To(Equal(1))
		Expect(st.VRRPChild.State).To(Equal("running"))
		out, err := lab.Output(ctx, "lb1", "curl", "-s", "--max-time", "2", "http://127.0.0.1:9650/metrics")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(MatchRegexp(`(?m)^drlb_vrrp_child_restarts_total 1$`))
		// The VIP is held once, by lb1 alone.
		vips, err := lab.Output(ctx, "lb1", "ip", "-o", "addr", "show", "to", "172.16.1.99")
		Expect(err).NotTo(HaveOccurred())
		Expect(regexp.MustCompile(`172\.16\.1\.99`).FindAll(vips, -1)).To(HaveLen(1))
		vips, err = lab.Output(ctx, "lb2", "ip", "-o", "addr", "show", "to", "172.16.1.99")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(vips)).To(BeEmpty())
		Expect(lb1.proc.Stop(15 * time.Second)).To(Succeed())
		Expect(lb2.proc.Stop(15 * time.Second)).To(Succeed())
	})

	It("applies a reload made while the child is down to the new child", func() {
		lb1 := startWith("lb1", scriptConf("", "   priority 150", ""))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		// Stop the child (SIGSTOP would keep it alive): kill it and reload
		// at once; whichever comes first, the new child has priority 120.
		Expect(os.WriteFile(lb1.conf, []byte(scriptConf("", "   priority 120", "")), 0o644)).To(Succeed())
		killChild(lb1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Eventually(func() int {
			st, err := lb1.status()
			if err != nil || len(st.Instances) == 0 || st.VRRPChild == nil || st.VRRPChild.State != "running" {
				return 0
			}
			return st.Instances[0].Priority
		}).WithTimeout(15 * time.Second).Should(Equal(120))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		Expect(lb1.proc.Stop(15 * time.Second)).To(Succeed())
	})

	It("stops with a clear error under --dont-respawn (-R)", func() {
		lb1 := startWith("lb1", scriptConf("", "   priority 150", ""), "-R")
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		pid := killChild(lb1)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := lb1.proc.Wait(ctx)
		Expect(err).To(HaveOccurred(), "drlb exits non-zero")
		Expect(err.Error()).To(ContainSubstring("exit status 1"))
		Expect(thisRun(lb1)).To(ContainSubstring("VRRP child process(" + strconv.Itoa(pid) + ") died: Exiting"))
		Expect(thisRun(lb1)).To(ContainSubstring("--dont-respawn"))
		Expect(thisRun(lb1)).NotTo(ContainSubstring("Respawning"))
	})

	It("stops after the respawn limit when the child keeps dying", func() {
		lb1 := startWith("lb1", scriptConf("", "   priority 150", ""))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		// 5 respawns within 10 s are allowed; the 6th death stops drlb.
		for range 6 {
			old := child(lb1)().PID
			if lb1.proc.Exited() {
				break
			}
			killChild(lb1)
			Eventually(func() bool {
				c := child(lb1)()
				return lb1.proc.Exited() || (c.PID != 0 && c.PID != old)
			}).WithTimeout(5 * time.Second).Should(BeTrue())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := lb1.proc.Wait(ctx)
		Expect(err).To(HaveOccurred(), "drlb exits non-zero")
		Expect(thisRun(lb1)).To(ContainSubstring("vrrp child died too often: 6 deaths within 10s"))
		Expect(regexp.MustCompile(`died: Respawning`).FindAllString(thisRun(lb1), -1)).To(HaveLen(5))
	})

	It("waits child_wait_time for a child that does not stop, then kills it", func() {
		stopTime := func(top string) (time.Duration, string) {
			GinkgoHelper()
			lb1 := startWith("lb1", scriptConf("", "   priority 150", top))
			Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
			var pid int
			Eventually(func() int { pid = child(lb1)().PID; return pid }).ShouldNot(BeZero())
			// A frozen child cannot answer the stop.
			Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
			began := time.Now()
			Expect(lb1.proc.Signal(syscall.SIGTERM)).To(Succeed())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			Expect(lb1.proc.Wait(ctx)).To(Succeed())
			return time.Since(began), thisRun(lb1)
		}
		took, log := stopTime("child_wait_time 2\n")
		Expect(log).To(ContainSubstring("VRRP child did not stop in time: killed"))
		Expect(took).To(And(BeNumerically(">=", 2*time.Second), BeNumerically("<", 5*time.Second)))
		// Control: without it, the default 10 s.
		took, _ = stopTime("")
		Expect(took).To(BeNumerically(">=", 10*time.Second))
	})

	It("applies the checker_* keywords to every thread of the parent, not to the VRRP child", func() {
		global := "checker_priority 5\nchecker_rt_priority 2\nchecker_cpu_affinity 1\nchecker_rlimit_rttime 50000\nchecker_no_swap"
		lb1 := startWith("lb1", scriptConf(global, "   priority 150", ""))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		st, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		parent := st.PID
		var childPID int
		Eventually(func() int { childPID = child(lb1)().PID; return childPID }).ShouldNot(BeZero())
		mine := procField(os.Getpid(), "", "Cpus_allowed_list")
		Expect(mine).NotTo(Equal("1"), "the test needs more than CPU 1 to tell the affinities apart")

		threads := procThreads(parent)
		Expect(len(threads)).To(BeNumerically(">", 3))
		for _, tid := range threads {
			Expect(threadSched(parent, tid)).To(Equal([3]int{5, 2, 2}), "parent thread %d: nice, rt_priority, policy (SCHED_RR)", tid)
			Expect(procField(parent, strconv.Itoa(tid), "Cpus_allowed_list")).To(Equal("1"), "parent thread %d", tid)
		}
		Expect(procField(parent, "", "VmLck")).NotTo(Equal("0 kB"), "checker_no_swap locks the parent")
		lim, err := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/limits")
		Expect(err).NotTo(HaveOccurred())
		Expect(regexp.MustCompile(`Max realtime timeout.*`).FindString(string(lim))).To(MatchRegexp(`Max realtime timeout\s+\d*050000\s+500000\s+us`),
			"soft 50 ms (the kernel adds 1 s to it with each SIGXCPU), hard 10 times it")

		// The VRRP child keeps its own: vrrp_rt_priority's default
		// (SCHED_RR 1), nice 0, the CPUs drlb started with, no lock.
		for _, tid := range procThreads(childPID) {
			Expect(threadSched(childPID, tid)).To(Equal([3]int{0, 1, 2}), "child thread %d", tid)
			Expect(procField(childPID, strconv.Itoa(tid), "Cpus_allowed_list")).To(Equal(mine), "child thread %d", tid)
		}
		Expect(procField(childPID, "", "VmLck")).To(Equal("0 kB"))
		Expect(lb1.proc.Stop(15 * time.Second)).To(Succeed())

		// Control: without the keywords the parent runs SCHED_OTHER, nice 0, unlocked.
		lb1 = startWith("lb1", scriptConf("", "   priority 150", ""))
		Eventually(lb1.state).WithTimeout(15 * time.Second).Should(Equal("MASTER"))
		st, err = lb1.status()
		Expect(err).NotTo(HaveOccurred())
		for _, tid := range procThreads(st.PID) {
			Expect(threadSched(st.PID, tid)).To(Equal([3]int{0, 0, 0}), "parent thread %d", tid)
		}
		Expect(procField(st.PID, "", "VmLck")).To(Equal("0 kB"))
	})
})

// procThreads lists the threads of process pid.
func procThreads(pid int) []int {
	GinkgoHelper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	Expect(err).NotTo(HaveOccurred())
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}

// threadSched is a thread's nice, rt_priority and policy: proc(5) stat
// fields 19, 40 and 41, counted after the command name's last ')'.
func threadSched(pid, tid int) [3]int {
	GinkgoHelper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/stat")
	Expect(err).NotTo(HaveOccurred())
	f := strings.Fields(string(raw)[strings.LastIndexByte(string(raw), ')')+1:])
	var out [3]int
	for i, field := range []int{19, 40, 41} {
		out[i], err = strconv.Atoi(f[field-3])
		Expect(err).NotTo(HaveOccurred())
	}
	return out
}

// procField is a field of /proc/PID/status (or /proc/PID/task/TID/status).
func procField(pid int, tid, name string) string {
	GinkgoHelper()
	path := "/proc/" + strconv.Itoa(pid)
	if tid != "" {
		path += "/task/" + tid
	}
	raw, err := os.ReadFile(path + "/status")
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
