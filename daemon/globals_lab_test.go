package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// The global_defs housekeeping keywords, through the real binary in a lab:
// startup/shutdown scripts, umask, set_supplementary_groups, the SIGUSR1 /
// SIGUSR2 / SIGRTMIN+2 dumps, the netlink receive buffers,
// reload_check_config and fifo_write_vrrp_states_on_reload.
var _ = Describe("drlb's global_defs housekeeping", Ordered, Label("daemon", "globals"), func() {
	var (
		lab               *topology.Lab
		scriptDir, outDir string
		lb1               *balancer
	)
	writeScript := func(name, body string) string {
		path := filepath.Join(scriptDir, name)
		Expect(os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o600)).To(Succeed())
		Expect(os.Chmod(path, 0o755)).To(Succeed())
		return path
	}
	readOut := func(name string) func() string {
		return func() string {
			b, _ := os.ReadFile(filepath.Join(outDir, name))
			return string(b)
		}
	}
	run := func(conf string) {
		lb1 = startDrlb(lab, "lb1", conf)
		proc := lb1.proc
		DeferCleanup(func() { _ = proc.Stop(5 * time.Second) })
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	}

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft", "ss")
		lab = labtest.Up(labtest.Name("glb"), topology.Seed(), binDir)
		var err error
		scriptDir, err = os.MkdirTemp("", "drlb-globals-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, scriptDir)
		Expect(os.Chmod(scriptDir, 0o755)).To(Succeed())
		outDir, err = os.MkdirTemp("", "drlb-globals-out-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, outDir)
		Expect(os.Chmod(outDir, 0o777)).To(Succeed())
	})

	It("runs startup_script before VRRP and shutdown_script after it, with umask and supplementary groups", func() {
		// Each script records the umask it inherited, its groups, and
		// whether lb1 holds the VIP: not yet at start-up, no longer at
		// shutdown.
		body := `echo "$2 umask=$(umask) groups=$(id -G) vip=$(ip -o addr show to 172.16.1.99 | wc -l)" >> "$1"`
		start := writeScript("start.sh", body)
		stop := writeScript("stop.sh", body)
		old := unix.Umask(0o022) // what drlb inherits
		DeferCleanup(func() { unix.Umask(old) })
		conf := scriptConf(fmt.Sprintf("script_user root\nstartup_script \"%s %s start\" postgres\nstartup_script_timeout 5\n"+
			"shutdown_script \"%s %s stop\" postgres\nshutdown_script_timeout 5\numask IRWXO | IWGRP\nset_supplementary_groups",
			start, filepath.Join(outDir, "ss.txt"), stop, filepath.Join(outDir, "ss.txt")), "", "")
		run(conf)
		// postgres is in ssl-cert (103) besides its own group (104): only
		// set_supplementary_groups gives it 103.
		Expect(readOut("ss.txt")()).To(Equal("start umask=0027 groups=104 103 vip=0\n"), "startup script ran first, as postgres with its groups, under umask 027")
		Expect(lb1.proc.Stop(10 * time.Second)).To(Succeed())
		Expect(readOut("ss.txt")()).To(Equal("start umask=0027 groups=104 103 vip=0\nstop umask=0027 groups=104 103 vip=0\n"), "shutdown script ran after the VIP was released")

		// Control: without set_supplementary_groups and umask, the same user
		// has no supplementary group and the inherited umask.
		Expect(os.Remove(filepath.Join(outDir, "ss.txt"))).To(Succeed())
		run(scriptConf(fmt.Sprintf("script_user root\nstartup_script \"%s %s start\" postgres", start, filepath.Join(outDir, "ss.txt")), "", ""))
		Expect(readOut("ss.txt")()).To(Equal("start umask=0022 groups=104 vip=0\n"))
	})

	It("kills a startup_script at its timeout and starts anyway", func() {
		hang := writeScript("hang.sh", `echo started >> "$1"; sleep 60`)
		began := time.Now()
		run(scriptConf(fmt.Sprintf("script_user root\nstartup_script \"%s %s\"\nstartup_script_timeout 1", hang, filepath.Join(outDir, "hang.txt")), "", ""))
		Expect(readOut("hang.txt")()).To(Equal("started\n"))
		Expect(time.Since(began)).To(BeNumerically("<", 30*time.Second))
		Eventually(func() string { return lb1.proc.Log() }).Should(MatchRegexp(`startup script failed.*timed out after 1(\.\d+)?s`))
	})

	It("writes keepalived's dumps on SIGUSR1, SIGUSR2 and SIGRTMIN+2", func() {
		dumpDir := filepath.Join(outDir, "dumps") + "/"
		Expect(os.MkdirAll(dumpDir, 0o755)).To(Succeed())
		run(scriptConf("umask 0077\nstate_file_location "+dumpDir+"\nstats_file_location "+dumpDir+"counters.txt\njson_file_location "+dumpDir+"\njson_version 2", "", ""))
		for sig, file := range map[syscall.Signal]string{syscall.SIGUSR1: "keepalived.data", syscall.SIGUSR2: "counters.txt", syscall.Signal(36): "keepalived.json"} {
			path := filepath.Join(dumpDir, file)
			Expect(os.Remove(path)).To(Or(Succeed(), MatchError(os.ErrNotExist)))
			Expect(lb1.proc.Signal(sig)).To(Succeed())
			Eventually(func() error { _, err := os.Stat(path); return err }).WithTimeout(5*time.Second).Should(Succeed(), "signal %v writes %s", sig, file)
			fi, err := os.Stat(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)), "created under umask 0077")
		}
		data, _ := os.ReadFile(filepath.Join(dumpDir, "keepalived.data"))
		Expect(string(data)).To(ContainSubstring("VI_9"))
		stats, _ := os.ReadFile(filepath.Join(dumpDir, "counters.txt"))
		Expect(string(stats)).To(MatchRegexp(`VRRP Instance: VI_9\n  Advertisements:\n    Received: \d+\n    Sent: [1-9]\d*\n`))
		var js struct {
			VRRP []struct {
				Data struct {
					IName string `json:"iname"`
					State int    `json:"state"`
				} `json:"data"`
			} `json:"vrrp"`
		}
		b, _ := os.ReadFile(filepath.Join(dumpDir, "keepalived.json"))
		Expect(json.Unmarshal(b, &js)).To(Succeed(), "%s", b)
		Expect(js.VRRP).To(HaveLen(1))
		Expect(js.VRRP[0].Data.IName).To(Equal("VI_9"))
		Expect(js.VRRP[0].Data.State).To(Equal(2), "MASTER is keepalived's 2")
		Expect(lb1.proc.Exited()).To(BeFalse(), "the signals do not stop drlb")
	})

	It("sizes the VRRP netlink receive buffers", func() {
		rcvBufs := func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out, err := lab.Output(ctx, "lb1", "ss", "-0", "-m", "-f", "netlink")
			Expect(err).NotTo(HaveOccurred())
			return string(out)
		}
		rb := regexp.MustCompile(`rtnl:.*rb(\d+)`)
		sizes := func(out string) []string {
			var s []string
			for _, m := range rb.FindAllStringSubmatch(out, -1) {
				s = append(s, m[1])
			}
			return s
		}
		// The kernel doubles SO_RCVBUF; 5 MB is beyond rmem_max here, so
		// only SO_RCVBUFFORCE gets it (10000000).
		run(scriptConf("vrrp_netlink_cmd_rcv_bufs 5000000\nvrrp_netlink_cmd_rcv_bufs_force\nvrrp_netlink_monitor_rcv_bufs 350000", "", ""))
		got := sizes(rcvBufs())
		Expect(got).To(ContainElement("10000000"), "command socket, forced")
		Expect(got).To(ContainElement("700000"), "monitor sockets")
		Expect(lb1.proc.Stop(10 * time.Second)).To(Succeed())
		run(scriptConf("", "", ""))
		got = sizes(rcvBufs())
		Expect(got).NotTo(ContainElement("10000000"), "control: default sizes")
		Expect(got).NotTo(ContainElement("700000"), "control: default sizes")
	})

	It("logs a reload's check to reload_check_config's file and writes the VRRP states with fifo_write_vrrp_states_on_reload", func() {
		logFile := filepath.Join(outDir, "reload-check.log")
		fifo := filepath.Join(outDir, "vrrp.fifo")
		global := "reload_check_config " + logFile + "\nvrrp_notify_fifo " + fifo + "\nfifo_write_vrrp_states_on_reload"
		run(scriptConf(global, "", ""))
		f, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)
		drain := func() string {
			// What was written is in the pipe already: a short deadline ends the read.
			_ = f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 4096)
			n, _ := f.Read(buf)
			return string(buf[:max(n, 0)])
		}
		drain()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Eventually(drain).WithTimeout(2*time.Second).Should(Equal("INSTANCE \"VI_9\" MASTER 50\n"), "the unchanged state is written again")
		Expect(os.ReadFile(logFile)).To(ContainSubstring("configuration valid: reloaded"))

		bad := scriptConf(global, "   priority 300", "")
		Expect(os.WriteFile(lb1.conf, []byte(bad), 0o644)).To(Succeed())
		res, err = lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeFalse())
		log, _ := os.ReadFile(logFile)
		Expect(string(log)).To(ContainSubstring(lb1.conf + ":"))
		Expect(string(log)).To(ContainSubstring("priority 300 is out of range"))
		Expect(string(log)).To(ContainSubstring("configuration invalid: reload refused"))
		Consistently(drain).WithTimeout(time.Second).Should(BeEmpty(), "a refused reload writes no states")
		Expect(lb1.state()).To(Equal("MASTER"))
	})

	It("runs notify_up of the real servers that start up with rs_init_notifies", func() {
		up := writeScript("up.sh", `echo "up $2" >> "$1"`)
		top := fmt.Sprintf(`virtual_server 172.16.1.99 80 {
   lb_kind DR
   protocol TCP
   real_server 172.16.1.10 80 {
       notify_up "%s %s rs1"
   }
}
`, up, filepath.Join(outDir, "rsinit.txt"))
		run(scriptConf("script_user root\nrs_init_notifies", "", top))
		Eventually(readOut("rsinit.txt")).WithTimeout(5 * time.Second).Should(Equal("up rs1\n"))
		Expect(lb1.proc.Stop(10 * time.Second)).To(Succeed())

		// Control: without it a server that starts up is not notified.
		Expect(os.Remove(filepath.Join(outDir, "rsinit.txt"))).To(Succeed())
		run(scriptConf("script_user root", "", top))
		Consistently(readOut("rsinit.txt")).WithTimeout(2 * time.Second).Should(BeEmpty())
	})

	It("names the no_accept table, its priority and counters as nftables, nftables_priority and nftables_counters say", func() {
		list := func(table string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out, err := lab.Output(ctx, "lb1", "nft", "list", "table", "inet", table)
			return string(out), err
		}
		run(scriptConf("nftables ka_globals\nnftables_priority -5\nnftables_counters", "   no_accept", ""))
		var table string
		Eventually(func() error { var err error; table, err = list("ka_globals"); return err }).WithTimeout(5 * time.Second).Should(Succeed())
		Expect(table).To(ContainSubstring("priority filter - 5"))
		Expect(table).To(MatchRegexp(`ip daddr @vips counter packets \d+ bytes \d+ drop`))
		Expect(table).To(ContainSubstring("172.16.1.99"), "the VIP is blocked")
		_, err := list("drlb_vrrp")
		Expect(err).To(HaveOccurred(), "drlb's default table is not made")
		Expect(lb1.proc.Stop(10 * time.Second)).To(Succeed())
		_, err = list("ka_globals")
		Expect(err).To(HaveOccurred(), "removed at stop")

		// Control: without the keywords, drlb's table at priority -1, no counters.
		run(scriptConf("", "   no_accept", ""))
		Eventually(func() error { var err error; table, err = list("drlb_vrrp"); return err }).WithTimeout(5 * time.Second).Should(Succeed())
		Expect(table).To(ContainSubstring("priority filter - 1"))
		Expect(table).NotTo(ContainSubstring("counter"))
	})

	It("removes reload_file once a reload has read the configuration", func() {
		reloadFile := filepath.Join(outDir, "ka.reload")
		reload := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := lb1.client().Reload(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		}
		run(scriptConf("reload_file "+reloadFile, "", ""))
		// The update process touches the file, then asks for the reload
		// and waits for the file to go.
		Expect(os.WriteFile(reloadFile, []byte("updating"), 0o600)).To(Succeed())
		reload()
		_, err := os.Stat(reloadFile)
		Expect(err).To(MatchError(os.ErrNotExist), "removed once the file was read")
		Expect(lb1.proc.Stop(10 * time.Second)).To(Succeed())

		// Control: without reload_file the file is left alone.
		run(scriptConf("", "", ""))
		Expect(os.WriteFile(reloadFile, []byte("updating"), 0o600)).To(Succeed())
		reload()
		Expect(os.ReadFile(reloadFile)).To(Equal([]byte("updating")))
	})

	It("builds the binary that reads these keywords", func() {
		// drlb check accepts every keyword above (a control for the specs:
		// an old binary says "not supported yet").
		file := filepath.Join(lab.Dir(), "check-globals.conf")
		Expect(os.WriteFile(file, []byte(scriptConf("umask 0022\nno_email_faults\nstartup_script_timeout 3\njson_version 1", "", "")), 0o644)).To(Succeed())
		out, err := exec.Command(filepath.Join(binDir, "drlb"), "check", "-f", file).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).NotTo(ContainSubstring("not supported"))
		Expect(strings.TrimSpace(string(out))).NotTo(BeEmpty())
	})
})
