package daemon_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

func TestDaemonLab(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "daemon lab suite")
}

var binDir string

var _ = labtest.SuiteBinaries(&binDir, "nft")

var vip = netip.MustParseAddr("172.16.1.1")

// howtoConfig is the how-to's keepalived.conf, byte for byte, with its VRID
// fixed (500 is out of range) and the digests of the lab's test pages.
func howtoConfig(state string, priority int) string {
	seed, err := os.ReadFile("config/testdata/seed.conf")
	Expect(err).NotTo(HaveOccurred())
	conf := strings.Replace(string(seed), "virtual_router_id 500", "virtual_router_id 51", 1)
	conf = strings.Replace(conf, "dcec999b7ece0cc82e62145eb832731f", pageDigest("rs1"), 1)
	conf = strings.Replace(conf, "78617b939168605ad578d3625dc3e75e", pageDigest("rs2"), 1)
	conf = strings.Replace(conf, "state MASTER", "state "+state, 1)
	return strings.Replace(conf, "priority 100", fmt.Sprintf("priority %d", priority), 1)
}

func pageDigest(host string) string {
	page, _ := topology.DefaultPage(host, topology.TestPage)
	sum := md5.Sum([]byte(page))
	return hex.EncodeToString(sum[:])
}

// balancer is drlb running on a lab host.
type balancer struct {
	lab  *topology.Lab
	host string
	conf string
	proc *topology.Process
}

func startDrlb(lab *topology.Lab, host, conf string) *balancer {
	GinkgoHelper()
	file := filepath.Join(lab.Dir(), host+".conf")
	Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
	b := &balancer{lab: lab, host: host, conf: file}
	b.start()
	return b
}

func (b *balancer) start() {
	GinkgoHelper()
	p, err := b.lab.Start(b.host, topology.ProcSpec{Name: "drlb", Argv: []string{filepath.Join(binDir, "drlb"), "run",
		"-f", b.conf, "--run-dir", b.lab.RunDir(b.host)}})
	Expect(err).NotTo(HaveOccurred())
	b.proc = p
	Eventually(func() error { _, err := b.status(); return err }).WithTimeout(10 * time.Second).Should(Succeed())
}

func (b *balancer) client() *api.Client { return api.NewClient(b.lab.RunDir(b.host)) }

func (b *balancer) status() (*api.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return b.client().Status(ctx)
}

func (b *balancer) state() string {
	st, err := b.status()
	if err != nil || len(st.Instances) == 0 {
		return "unreachable"
	}
	return st.Instances[0].State
}

// inTable lists the real servers the data plane holds with a weight > 0.
func (b *balancer) inTable() []string {
	st, err := b.status()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, s := range st.Services {
		for _, r := range s.Reals {
			if r.InTable && r.Weight > 0 {
				out = append(out, r.Address)
			}
		}
	}
	return out
}

// serve fetches /data through the VIP from the client and returns the serving host.
func serve(lab *topology.Lab) (string, error) {
	resp, err := lab.HTTPClient("client", time.Second).Get("http://172.16.1.1/data")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Real-Server"), nil
}

// servers makes n requests through the VIP and counts the serving hosts.
func servers(lab *topology.Lab, n int) map[string]int {
	out := map[string]int{}
	for range n {
		host, err := serve(lab)
		if err != nil {
			host = "error"
		}
		out[host]++
	}
	return out
}

func arpOwner(lab *topology.Lab) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	mac, err := lab.ResolveARP(ctx, "client", "eth1", vip)
	if err != nil {
		return "nobody"
	}
	for _, lb := range []string{"lb1", "lb2"} {
		if m, err := lab.MAC(lb, "eth1"); err == nil && m.String() == mac.String() {
			return lb
		}
	}
	return mac.String()
}

var _ = Describe("drlb with the how-to's configuration", Ordered, Label("daemon"), func() {
	var lab *topology.Lab
	var lb1, lb2 *balancer

	BeforeAll(func() {
		testenv.PrivilegedGinkgo("nft")
		lab = labtest.Up(labtest.Name("dm"), topology.Seed(), binDir)
		lb1 = startDrlb(lab, "lb1", howtoConfig("MASTER", 100))
		lb2 = startDrlb(lab, "lb2", howtoConfig("BACKUP", 90))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(10 * time.Second).Should(Equal("BACKUP"))
	})

	It("serves the client through the VIP from both real servers", func() {
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(10 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(arpOwner(lab)).To(Equal("lb1"))
		got := servers(lab, 20)
		Expect(got).To(HaveKeyWithValue("rs1", 10), "rr splits evenly: %v", got)
		Expect(got).To(HaveKeyWithValue("rs2", 10), "rr splits evenly: %v", got)
	})

	It("ignores malformed VRRP packets sent at the running master, counting why", func() {
		before, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		dropsBefore := uint64(0)
		for _, n := range before.Instances[0].Drops {
			dropsBefore += n
		}
		// A raw protocol-112 socket in the client: its packets go out with
		// TTL 64 (not 255) or carry a broken VRRP message.
		var conn net.PacketConn
		Expect(lab.Do("client", func() error {
			var err error
			conn, err = net.ListenPacket("ip4:112", "172.16.1.100")
			return err
		})).To(Succeed())
		defer conn.Close()
		garbage := [][]byte{
			{},     // empty
			{0x21}, // too short
			{0x31, 51, 255, 1, 0, 1, 0, 0, 172, 16, 1, 1},                                               // v3 header, wrong checksum, priority 255
			{0x21, 51, 255, 1, 1, 1, 0xff, 0xff, 172, 16, 1, 1, 'L', 'v', 'S', 'b', 'A', 'l', 'a', 'n'}, // v2, bad checksum
			{0x91, 51, 255, 1, 1, 1, 0, 0},                                                              // version 9
		}
		for range 5 {
			for _, g := range garbage {
				for _, dst := range []string{"224.0.0.18", "172.16.1.2"} {
					_, err := conn.WriteTo(g, &net.IPAddr{IP: net.ParseIP(dst)})
					Expect(err).NotTo(HaveOccurred())
				}
			}
		}
		Eventually(func() uint64 {
			st, err := lb1.status()
			if err != nil {
				return 0
			}
			var n uint64
			for _, c := range st.Instances[0].Drops {
				n += c
			}
			return n
		}).WithTimeout(3*time.Second).Should(BeNumerically(">", dropsBefore), "the daemon counts what it dropped")
		Consistently(func() string {
			st, err := lb1.status()
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%s transitions=%d", st.Instances[0].State, st.Instances[0].Transitions)
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(
			Equal(fmt.Sprintf("MASTER transitions=%d", before.Instances[0].Transitions)))
		Expect(lb2.state()).To(Equal("BACKUP"))
		after, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("drops by reason: %v\n", after.Instances[0].Drops)
	})

	It("removes a real server whose test page changed, within the checker bound, and brings it back", func() {
		// delay_loop 1 + connect_timeout 1 × (retry 1 + 1) + delay_before_retry 3 × 1, plus 0.5 s.
		bound := 6500 * time.Millisecond
		Expect(lab.SetPage("rs1", topology.TestPage, "altered by the test\n")).To(Succeed())
		changed := time.Now()
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(bound).WithPolling(50 * time.Millisecond).Should(ConsistOf("172.16.1.11:80"))
		GinkgoWriter.Printf("rs1 left the table %v after its page changed\n", time.Since(changed).Round(time.Millisecond))
		Expect(servers(lab, 10)).To(Equal(map[string]int{"rs2": 10}))

		Expect(lab.ResetPage("rs1", topology.TestPage)).To(Succeed())
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(bound).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		Expect(servers(lab, 10)).To(HaveKeyWithValue("rs1", 5))
	})

	It("keeps VIPs, health and the data plane through a SIGHUP with an unchanged file", func() {
		Expect(lab.SetPage("rs2", topology.TestPage, "broken\n")).To(Succeed())
		DeferCleanup(lab.ResetPage, "rs2", topology.TestPage)
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(7 * time.Second).Should(ConsistOf("172.16.1.10:80"))
		before, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())

		Expect(lb1.proc.Signal(syscall.SIGHUP)).To(Succeed())
		Eventually(func() int { st, _ := lb1.status(); return st.Reloads }).WithTimeout(5 * time.Second).Should(Equal(before.Reloads + 1))
		// Several advert intervals: no flap, the failed rs2 stays out, rs1 stays in.
		Consistently(func() string {
			st, err := lb1.status()
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("%s transitions=%d table=%v", st.Instances[0].State, st.Instances[0].Transitions, lb1.inTable())
		}).WithTimeout(3500 * time.Millisecond).WithPolling(250 * time.Millisecond).Should(
			Equal(fmt.Sprintf("MASTER transitions=%d table=[172.16.1.10:80]", before.Instances[0].Transitions)))
		Expect(arpOwner(lab)).To(Equal("lb1"))
	})

	It("refuses a reload of a broken file and keeps serving", func() {
		good, err := os.ReadFile(lb1.conf)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.WriteFile, lb1.conf, good, os.FileMode(0o644))
		Expect(os.WriteFile(lb1.conf, []byte(strings.Replace(string(good), "virtual_router_id 51", "virtual_router_id 500", 1)), 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeFalse())
		Expect(strings.Join(res.Diagnostics, "\n")).To(ContainSubstring("virtual_router_id 500 is out of range"))
		Expect(lb1.state()).To(Equal("MASTER"))
		host, err := serve(lab)
		Expect(err).NotTo(HaveOccurred())
		Expect(host).To(BeElementOf("rs1", "rs2"))
	})

	It("adds a real server on reload only after its first good check", func() {
		conf := howtoConfig("MASTER", 100)
		// Keep only rs1, then reload with both.
		cut := strings.Index(conf, "      real_server 172.16.1.11 80")
		Expect(cut).To(BeNumerically(">=", 0), "the how-to config has no real_server 172.16.1.11")
		onlyRS1 := conf[:cut] + " }\n"
		Expect(os.WriteFile(lb1.conf, []byte(onlyRS1), 0o644)).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		Expect(res.Changes).To(ContainElement("health checks: 1 real servers unchanged (their checks run on), 0 started, 1 stopped"))
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(3 * time.Second).Should(ConsistOf("172.16.1.10:80"))

		Expect(os.WriteFile(lb1.conf, []byte(conf), 0o644)).To(Succeed())
		evCtx, evCancel := context.WithCancel(context.Background())
		defer evCancel()
		events, err := lb1.client().Subscribe(evCtx)
		Expect(err).NotTo(HaveOccurred())
		res, err = lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue())
		// rs1's checker is not restarted: only rs2's starts.
		Expect(res.Changes).To(ContainElement("health checks: 1 real servers unchanged (their checks run on), 1 started, 0 stopped"))
		// The data plane adds rs2 only after a health event says it passed a check.
		sawUp := false
		Eventually(events).WithTimeout(5 * time.Second).Should(Receive(Satisfy(func(e api.Event) bool {
			if e.Kind == api.EventHealth && e.Server == "172.16.1.11:80" && e.Up != nil && *e.Up {
				sawUp = true
			}
			return e.Kind == api.EventDataplane && strings.Contains(e.Detail, "172.16.1.11")
		})))
		Expect(sawUp).To(BeTrue(), "rs2 entered the table before its first good check")
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(2 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
	})

	It("fails a TCP_CHECK on a closed port, with the reason", func() {
		conf := howtoConfig("MASTER", 100)
		// rs2's checker becomes a TCP_CHECK on port 81, where nothing listens.
		i := strings.Index(conf, "      real_server 172.16.1.11 80")
		tcp := conf[:i] + "      real_server 172.16.1.11 80 {\n           TCP_CHECK {\n                connect_port 81\n                connect_timeout 1\n           }\n      }\n }\n"
		Expect(os.WriteFile(lb1.conf, []byte(tcp), 0o644)).To(Succeed())
		DeferCleanup(func() {
			Expect(os.WriteFile(lb1.conf, []byte(conf), 0o644)).To(Succeed())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := lb1.client().Reload(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.OK).To(BeTrue())
			Eventually(func() []string { return lb1.inTable() }).WithTimeout(8 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := lb1.client().Reload(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.OK).To(BeTrue(), "%v", res.Diagnostics)
		// delay_loop 1 + connect_timeout 1 × 2 + delay_before_retry 1 (TCP_CHECK default) + 0.5 s.
		Eventually(func() []string { return lb1.inTable() }).WithTimeout(4500 * time.Millisecond).Should(ConsistOf("172.16.1.10:80"))
		st, err := lb1.status()
		Expect(err).NotTo(HaveOccurred())
		var reason string
		for _, r := range st.Services[0].Reals {
			if r.Address == "172.16.1.11:80" {
				reason = r.LastReason
			}
		}
		Expect(reason).To(ContainSubstring("refused"))
	})

	It("prints the same digests as keepalived's genhash for the lab pages", func() {
		_, err := exec.LookPath("genhash")
		if err != nil {
			testenv.UnavailableGinkgo("keepalived's genhash is missing (make deps installs keepalived)")
		}
		Expect(lab.SetPage("rs2", "/binary.bin", "\x00\x01\xff binary \r\n\r\n body")).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, target := range [][2]string{{"172.16.1.10", "/teste.html"}, {"172.16.1.11", "/teste.html"},
			{"172.16.1.11", "/binary.bin"}, {"172.16.1.10", "/missing.html"}} {
			ours, err := lab.Output(ctx, "lb1", filepath.Join(binDir, "drlb"), "genhash", "-s", target[0], "-p", "80", "-u", target[1])
			Expect(err).NotTo(HaveOccurred())
			theirs, err := lab.Output(ctx, "lb1", "genhash", "-s", target[0], "-p", "80", "-u", target[1])
			Expect(err).NotTo(HaveOccurred())
			Expect(string(ours)).To(MatchRegexp(`^[0-9a-f]{32}\n$`))
			Expect(string(ours)).To(Equal(string(theirs)), "%s%s", target[0], target[1])
		}
		// Control: different pages give different digests.
		a, _ := lab.Output(ctx, "lb1", filepath.Join(binDir, "drlb"), "genhash", "-s", "172.16.1.10", "-p", "80", "-u", "/teste.html")
		b, _ := lab.Output(ctx, "lb1", filepath.Join(binDir, "drlb"), "genhash", "-s", "172.16.1.11", "-p", "80", "-u", "/teste.html")
		Expect(a).NotTo(Equal(b))
		Expect(strings.TrimSpace(string(a))).To(Equal(pageDigest("rs1")))
	})

	It("exports the state changes as Prometheus metrics on loopback", func() {
		resp, err := lab.HTTPClient("lb1", 2*time.Second).Get("http://127.0.0.1:9650/metrics")
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		body := string(b)
		Expect(body).To(MatchRegexp(`drlb_vrrp_transitions_total\{instance="LVS_Teste",state="MASTER"\} [1-9]`))
		Expect(body).To(MatchRegexp(`drlb_vrrp_state\{instance="LVS_Teste"\} 2`))
		Expect(body).To(MatchRegexp(`drlb_real_server_transitions_total\{server="172.16.1.10:80",service="TCP 172.16.1.1:80",state="down"\} [1-9]`))
		Expect(body).To(MatchRegexp(`drlb_dataplane_applies_total\{result="ok"\} [1-9]`))
		Expect(body).To(MatchRegexp(`drlb_reloads_total\{result="refused"\} 1`))
		// rs1's altered page and rs2's stopped server failed probes earlier.
		Expect(body).To(MatchRegexp(`drlb_health_checks_total\{result="failed"\} [1-9]`))
		Expect(body).To(MatchRegexp(`drlb_health_checks_total\{result="ok"\} [1-9]`))
	})

	It("refuses the control socket to other users", func() {
		sock := filepath.Join(lab.RunDir("lb1"), api.SocketName)
		fi, err := os.Stat(sock)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		cmd := exec.Command(filepath.Join(binDir, "drlb"), "status", "--run-dir", lab.RunDir("lb1"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		Expect(err).To(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("permission denied"))
	})

	It("keeps a download going through a kill -9 and restart of the daemon", func() {
		done := make(chan error, 1)
		flowing := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			resp, err := lab.HTTPClient("client", 20*time.Second).Get("http://172.16.1.1/blob?size=2000000&rate=500000")
			if err != nil {
				close(flowing)
				done <- err
				return
			}
			defer resp.Body.Close()
			// The first 100 kB prove the download runs through lb1 before the kill.
			head := make([]byte, 100000)
			_, err = io.ReadFull(resp.Body, head)
			close(flowing)
			if err != nil {
				done <- err
				return
			}
			n, err := topology.VerifyBlob(io.MultiReader(bytes.NewReader(head), resp.Body))
			if err == nil && n != 2000000 {
				err = fmt.Errorf("download ended after %d bytes", n)
			}
			done <- err
		}()
		Eventually(flowing).WithTimeout(10 * time.Second).Should(BeClosed())
		Expect(lb1.proc.Signal(syscall.SIGKILL)).To(Succeed())
		Expect(lb1.proc.Wait(context.Background())).To(HaveOccurred())
		lb1.start()
		Eventually(done).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
	})

	It("moves the VIP to lb2 when the master is killed, keeps serving, and takes it back", func() {
		Expect(lb1.proc.Signal(syscall.SIGKILL)).To(Succeed())
		killed := time.Now()
		// Master_Down_Interval for priority 90 = 3 × 1 s + (256 − 90)/256 s = 3.65 s.
		Eventually(lb2.state).WithTimeout(3650*time.Millisecond + 500*time.Millisecond).WithPolling(20 * time.Millisecond).Should(Equal("MASTER"))
		GinkgoWriter.Printf("lb2 became master %v after the kill\n", time.Since(killed).Round(time.Millisecond))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb2"))
		Eventually(func() []string { return lb2.inTable() }).WithTimeout(3 * time.Second).Should(ConsistOf("172.16.1.10:80", "172.16.1.11:80"))
		got := servers(lab, 10)
		Expect(got["rs1"]+got["rs2"]).To(Equal(10), "served through lb2: %v", got)

		// Only this start's lines count: the log also holds earlier runs.
		logBefore := len(lb1.proc.Log())
		lb1.start()
		Eventually(lb1.state).WithTimeout(10 * time.Second).Should(Equal("MASTER"))
		Eventually(lb2.state).WithTimeout(3 * time.Second).Should(Equal("BACKUP"))
		Eventually(func() string { return arpOwner(lab) }).WithTimeout(3 * time.Second).Should(Equal("lb1"))
		Expect(lb1.proc.Log()[logBefore:]).To(MatchRegexp(`removed stale VIP 172\.16\.1\.1`),
			"the restarted daemon cleans up the VIP its killed predecessor left")
	})
})

var _ = Describe("drlb when a component cannot run", Label("daemon"), func() {
	It("exits non-zero naming the cause instead of running without VRRP", func() {
		testenv.PrivilegedGinkgo("nft")
		lab := labtest.Up(labtest.Name("dmf"), topology.Seed(), binDir)
		conf := strings.Replace(howtoConfig("MASTER", 100), "interface eth1", "interface eth9", 1)
		file := filepath.Join(lab.Dir(), "lb1.conf")
		Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
		p, err := lab.Start("lb1", topology.ProcSpec{Name: "drlb", Argv: []string{filepath.Join(binDir, "drlb"), "run",
			"-f", file, "--run-dir", lab.RunDir("lb1")}})
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = p.Wait(ctx)
		var exit *exec.ExitError
		Expect(errors.As(err, &exit)).To(BeTrue(), "drlb must exit on its own: %v", err)
		Expect(exit.ExitCode()).To(Equal(1))
		// Refused at load, at the keyword's position, before anything starts.
		Expect(p.Log()).To(MatchRegexp(`lb1\.conf:\d+:\d+: error: interface eth9 \(vrrp_instance LVS_Teste\) does not exist on this host`))
		owners, err := lab.VIPOwners(vip)
		Expect(err).NotTo(HaveOccurred())
		Expect(owners).To(BeEmpty())
	})
})
