package daemon_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// scriptConf is the instance of /work/shared/cases/reliability's configs
// (no peer: lb1 becomes master after about 3.8 s) with global, extra
// instance lines and extra top-level blocks.
func scriptConf(global, instance, top string) string {
	return "global_defs {\n" + global + "\n}\n" + `vrrp_instance VI_9 {
   state BACKUP
   interface eth1
   virtual_router_id 99
   priority 50
   advert_int 1
` + instance + `
   virtual_ipaddress {
     172.16.1.99/32
   }
}
` + top
}

// peakRSSKiB is VmHWM of process pid, in KiB.
func peakRSSKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM")
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

var _ = Describe("drlb's scripts", Ordered, Label("daemon", "scripts"), func() {
	var (
		lab               *topology.Lab
		scriptDir, outDir string
		lb1               *balancer
	)

	writeScript := func(name, body string, mode os.FileMode) string {
		path := filepath.Join(scriptDir, name)
		Expect(os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o600)).To(Succeed())
		Expect(os.Chmod(path, mode)).To(Succeed()) // not subject to the umask
		return path
	}
	// logFrom is where this spec's part of lb1's daemon log starts (the log
	// file is shared by the specs' daemons).
	var logFrom int
	newLog := func() string { return lb1.proc.Log()[logFrom:] }
	run := func(conf string) {
		logFrom = 0
		if st, err := os.Stat(filepath.Join(lab.Dir(), "logs", "lb1", "drlb.log")); err == nil {
			logFrom = int(st.Size())
		}
		lb1 = startDrlb(lab, "lb1", conf)
		proc := lb1.proc
		DeferCleanup(func() { _ = proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	}
	readOut := func(name string) func() string {
		return func() string {
			b, _ := os.ReadFile(filepath.Join(outDir, name))
			return string(b)
		}
	}

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("scr"), topology.Seed(), binDir)
		var err error
		// Scripts live in a root-owned 0755 directory under the sticky /tmp,
		// which keepalived's rules accept; outputs in a directory anybody may
		// write, so that scripts running as nobody can report.
		scriptDir, err = os.MkdirTemp("", "drlb-scripts-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, scriptDir)
		Expect(os.Chmod(scriptDir, 0o755)).To(Succeed())
		outDir, err = os.MkdirTemp("", "drlb-script-out-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, outDir)
		Expect(os.Chmod(outDir, 0o777)).To(Succeed())
		// The generic notify script is the control: it proves scripts run.
		writeScript("record.sh", `echo "$4 $(id -u)" >> "$1"`, 0o755) // $2.. are INSTANCE VI_9 STATE PRIORITY
	})

	It("refuses a world-writable script under enable_script_security, at check and at run", func() {
		ww := writeScript("ww.sh", `echo "ran as $(id -u)" >> "$1"`, 0o777)
		conf := scriptConf("enable_script_security\nscript_user root",
			fmt.Sprintf("   notify_master \"%s %s\"\n   notify \"%s %s\"", ww, filepath.Join(outDir, "ww1.txt"), filepath.Join(scriptDir, "record.sh"), filepath.Join(outDir, "control1.txt")), "")
		file := filepath.Join(lab.Dir(), "check1.conf")
		Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
		out, err := exec.Command(filepath.Join(binDir, "drlb"), "check", "-f", file).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).To(ContainSubstring(file+":11:4: warning: notify_master "+ww), "located at the keyword")
		Expect(string(out)).To(ContainSubstring(ww + " is writable by everyone (mode 0777)"))
		Expect(string(out)).To(ContainSubstring("the script is disabled"))

		run(conf)
		Eventually(readOut("control1.txt")).WithTimeout(5*time.Second).Should(ContainSubstring("MASTER 0"), "the safe notify script ran")
		Consistently(readOut("ww1.txt")).WithTimeout(2*time.Second).Should(BeEmpty(), "the unsafe script never runs")
		Expect(newLog()).To(ContainSubstring("writable by everyone (mode 0777)"), "run reports it too")
	})

	It("runs notify scripts as script_user nobody and MISC_CHECK as its own user", func() {
		ww := writeScript("ww.sh", `echo "ran as $(id -u)" >> "$1"`, 0o777)
		misc := writeScript("misc.sh", `id -u > "$1"`, 0o755)
		top := fmt.Sprintf(`virtual_server 172.16.1.99 80 {
   delay_loop 1
   lb_kind DR
   protocol TCP
   real_server 172.16.1.10 80 {
       MISC_CHECK {
           misc_path "%s %s"
           user daemon
       }
   }
}
`, misc, filepath.Join(outDir, "misc.txt"))
		conf := scriptConf("enable_script_security\nscript_user nobody",
			fmt.Sprintf("   notify_master \"%s %s\"", ww, filepath.Join(outDir, "ww2.txt")), top)
		run(conf)
		Eventually(readOut("ww2.txt")).WithTimeout(5*time.Second).Should(Equal("ran as 65534\n"), "nobody may run a script nobody could change")
		Eventually(readOut("misc.txt")).WithTimeout(5 * time.Second).Should(Equal("1\n")) // daemon is uid 1 on Debian
	})

	It("keeps its memory and its log bounded when a script prints 200 MB", func() {
		loud := writeScript("loud.sh", "head -c 200000000 /dev/zero | tr '\\0' A\nexit 1", 0o755)
		run(scriptConf("", fmt.Sprintf("   notify_master %q", loud), ""))
		Eventually(newLog).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).
			Should(ContainSubstring("notify script failed"), "the script ran and failed")
		hwm, err := peakRSSKiB(lb1.proc.PID)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("daemon peak RSS after 200 MB of script output: %d KiB\n", hwm)
		Expect(hwm).To(BeNumerically("<", 64<<10), "VmHWM in KiB")
		log := newLog()
		longest := 0
		for line := range strings.Lines(log) {
			longest = max(longest, len(line))
		}
		Expect(longest).To(BeNumerically("<", 16<<10), "longest log line")
		Expect(log).To(ContainSubstring("199995904 dropped"))
	})

	It("leaves no process behind when a notify script forks a child and hangs", func() {
		pidFile := filepath.Join(outDir, "child.pid")
		hang := writeScript("hang.sh", fmt.Sprintf("sleep 1000 &\necho $! > %s\nsleep 1000", pidFile), 0o755)
		run(scriptConf("script_user root", fmt.Sprintf("   notify_master %q", hang), ""))
		Eventually(readOut("child.pid")).WithTimeout(5 * time.Second).ShouldNot(BeEmpty())
		pid, err := strconv.Atoi(strings.TrimSpace(readOut("child.pid")()))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		Expect(alive(pid)).To(BeTrue(), "control: the child runs while the script hangs")
		// Notify scripts time out after 10 s (vrrp.DefaultScriptTimeout);
		// SIGTERM reaches the whole group.
		Eventually(func() bool { return alive(pid) }).WithTimeout(15*time.Second).WithPolling(100*time.Millisecond).Should(BeFalse(),
			"the hanging script's child outlives its timeout")
		Eventually(newLog).WithTimeout(5 * time.Second).Should(MatchRegexp(`notify script failed.*timed out after 10(\.\d+)?s, process group killed`))
	})
})
