package topology_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"

	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

func TestLab(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "topology lab suite")
}

var binDir string

var _ = labtest.SuiteBinaries(&binDir)

var (
	vip  = netip.MustParseAddr("172.16.1.1")
	vip6 = netip.MustParseAddr("fd00:172:16:1::1")
)

// get fetches url from inside host and returns the serving host and body.
func get(lab *topology.Lab, host, url string) (string, string, error) {
	resp, err := lab.HTTPClient(host, 2*time.Second).Get(url)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != 200 {
		return "", "", fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return resp.Header.Get("X-Real-Server"), string(body), nil
}

// rootHasLabAddress reports lab addresses or links in the root namespace.
func rootLabTraces(lab string) []string {
	var out []string
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	Expect(err).NotTo(HaveOccurred())
	labNet := netip.MustParsePrefix("172.16.1.0/24")
	labNet6 := netip.MustParsePrefix("fd00:172:16::/48")
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		if labNet.Contains(ip.Unmap()) || labNet6.Contains(ip) {
			out = append(out, "address "+a.IPNet.String())
		}
	}
	links, err := netlink.LinkList()
	Expect(err).NotTo(HaveOccurred())
	for _, l := range links {
		name := l.Attrs().Name
		if name == "eth1" || strings.HasPrefix(name, "br-") || regexp.MustCompile(`^(lb|rs)\d-`).MatchString(name) {
			out = append(out, "link "+name)
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	Expect(err).NotTo(HaveOccurred())
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if dst, err := netip.ParsePrefix(r.Dst.String()); err == nil && within(dst, labNet, labNet6) {
			out = append(out, "route "+r.Dst.String())
		}
	}
	_ = lab
	return out
}

// leftovers lists what of lab still exists: namespaces, mounts, state, processes.
func leftovers(name string, pids []int) []string {
	var out []string
	entries, _ := os.ReadDir(topology.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name+"-") {
			out = append(out, "namespace "+e.Name())
		}
	}
	mounts, err := os.Open("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	defer mounts.Close()
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "/run/netns/"+name+"-") {
			out = append(out, "mount "+sc.Text())
		}
	}
	if _, err := os.Stat(filepath.Join(topology.DefaultStateRoot, name)); err == nil {
		out = append(out, "state directory")
	}
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			out = append(out, fmt.Sprintf("process %d", pid))
		}
	}
	return out
}

var _ = Describe("the seed lab", Ordered, func() {
	var lab *topology.Lab

	BeforeAll(func() {
		lab = labtest.Up(labtest.Name("tp"), topology.Seed(), binDir)
	})

	It("lets the client reach each real server by its own address", func() {
		for _, rs := range []string{"rs1", "rs2"} {
			server, body, err := get(lab, "client", fmt.Sprintf("http://%s/data", lab.Addr(rs)))
			Expect(err).NotTo(HaveOccurred())
			Expect(server).To(Equal(rs))
			Expect(body).To(HavePrefix(rs + " "))
			_, page, err := get(lab, "client", fmt.Sprintf("http://%s/teste.html", lab.Addr(rs)))
			Expect(err).NotTo(HaveOccurred())
			want, _ := topology.DefaultPage(rs, "/teste.html")
			Expect(page).To(Equal(want))
		}
	})

	It("reads back every sysctl of the spec", func() {
		for _, h := range lab.Spec().Hosts {
			for key, val := range h.Sysctls {
				got, err := lab.Sysctl(h.Name, key)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(val), "%s %s", h.Name, key)
			}
		}
		got, err := lab.Sysctl(topology.SwitchHost, "net.bridge.bridge-nf-call-iptables")
		if err == nil {
			Expect(got).To(Equal("0"))
		}
	})

	It("does not let real servers answer ARP for the VIP", func() {
		// Control: the same probe does get an answer for a real server's own address.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		mac, err := lab.ResolveARP(ctx, "client", "eth1", lab.Addr("rs1"))
		Expect(err).NotTo(HaveOccurred())
		rs1MAC, err := lab.MAC("rs1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(mac).To(Equal(rs1MAC))

		ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		mac, err = lab.ResolveARP(ctx, "client", "eth1", vip)
		Expect(err).To(HaveOccurred(), "someone answered ARP for the VIP with %v", mac)
	})

	It("lets the client reach each real server's web server over IPv6 too", func() {
		for _, rs := range []string{"rs1", "rs2"} {
			addr := lab.Addr6(rs)
			Expect(addr.Is6()).To(BeTrue(), "%s has an IPv6 address", rs)
			server, body, err := get(lab, "client", fmt.Sprintf("http://[%s]/data", addr))
			Expect(err).NotTo(HaveOccurred())
			Expect(server).To(Equal(rs))
			Expect(body).To(HavePrefix(rs + " "))
		}
	})

	It("has usable IPv6 addresses at once: no tentative address, a link-local address on eth1", func() {
		for _, host := range lab.Spec().HostNames() {
			h, err := lab.Handle(host)
			Expect(err).NotTo(HaveOccurred())
			link, err := h.LinkByName("eth1")
			Expect(err).NotTo(HaveOccurred())
			addrs, err := h.AddrList(link, netlink.FAMILY_V6)
			Expect(err).NotTo(HaveOccurred())
			var global, linkLocal int
			for _, a := range addrs {
				Expect(a.Flags&unix.IFA_F_TENTATIVE).To(BeZero(), "%s %s is still tentative (DAD)", host, a.IPNet)
				Expect(a.Flags&unix.IFA_F_DADFAILED).To(BeZero(), "%s %s failed DAD", host, a.IPNet)
				if a.IP.IsLinkLocalUnicast() {
					linkLocal++
				} else {
					global++
				}
			}
			Expect(global).To(Equal(1), "%s: fd00:172:16:1::N/64 on eth1", host)
			Expect(linkLocal).To(Equal(1), "%s: a link-local address on eth1 (VRRPv3 sends from it)", host)
		}
	})

	It("does not let real servers answer neighbour solicitations for the IPv6 VIP", func() {
		// Control: the same probe does get rs1's answer for its own address.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		mac, err := lab.ResolveNDP(ctx, "client", "eth1", lab.Addr6("rs1"))
		Expect(err).NotTo(HaveOccurred())
		rs1MAC, err := lab.MAC("rs1", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(mac).To(Equal(rs1MAC))

		// Both real servers hold the VIP on lo, yet neither advertises it on
		// eth1: Linux answers a solicitation only for addresses on the
		// interface it arrived on, unless proxy_ndp is on.
		for _, rs := range []string{"rs1", "rs2"} {
			Expect(lab.Sysctl(rs, "net.ipv6.conf.eth1.proxy_ndp")).To(Equal("0"))
		}
		ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		mac, err = lab.ResolveNDP(ctx, "client", "eth1", vip6)
		Expect(err).To(HaveOccurred(), "someone answered a neighbour solicitation for the IPv6 VIP with %v", mac)

		// Second control, the IPv6 analogue of arp_ignore=0: with proxy_ndp
		// (and forwarding) and a proxy entry for the VIP, rs2 does answer,
		// so the probe above would have seen a real server that answers.
		h, err := lab.Handle("rs2")
		Expect(err).NotTo(HaveOccurred())
		eth1, err := h.LinkByName("eth1")
		Expect(err).NotTo(HaveOccurred())
		proxy := &netlink.Neigh{LinkIndex: eth1.Attrs().Index, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: vip6.AsSlice()}
		DeferCleanup(func() {
			_ = h.NeighDel(proxy)
			_ = lab.SetSysctl("rs2", "net.ipv6.conf.eth1.proxy_ndp", "0")
			_ = lab.SetSysctl("rs2", "net.ipv6.conf.eth1.forwarding", "0")
		})
		Expect(lab.SetSysctl("rs2", "net.ipv6.conf.eth1.forwarding", "1")).To(Succeed())
		Expect(lab.SetSysctl("rs2", "net.ipv6.conf.eth1.proxy_ndp", "1")).To(Succeed())
		Expect(h.NeighAdd(proxy)).To(Succeed())
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		mac, err = lab.ResolveNDP(ctx, "client", "eth1", vip6)
		Expect(err).NotTo(HaveOccurred(), "rs2 with proxy_ndp should answer for the VIP")
		rs2MAC, err := lab.MAC("rs2", "eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(mac).To(Equal(rs2MAC))
	})

	It("lets each real server accept traffic to the VIP locally", func() {
		for _, rs := range []string{"rs1", "rs2"} {
			for _, url := range []string{"http://172.16.1.1/data", "http://[fd00:172:16:1::1]/data"} {
				server, _, err := get(lab, rs, url)
				Expect(err).NotTo(HaveOccurred())
				Expect(server).To(Equal(rs))
			}
		}
		for _, v := range []netip.Addr{vip, vip6} {
			owners, err := lab.VIPOwners(v)
			Expect(err).NotTo(HaveOccurred())
			Expect(owners).To(BeEmpty(), "no balancer runs yet, so nobody holds %s on eth1", v)
		}
		// Control: a VIP on a balancer's eth1 is seen, in either family.
		h, err := lab.Handle("lb2")
		Expect(err).NotTo(HaveOccurred())
		eth1, err := h.LinkByName("eth1")
		Expect(err).NotTo(HaveOccurred())
		addr, err := netlink.ParseAddr("fd00:172:16:1::1/128")
		Expect(err).NotTo(HaveOccurred())
		addr.Flags = unix.IFA_F_NODAD
		Expect(h.AddrAdd(eth1, addr)).To(Succeed())
		DeferCleanup(func() { _ = h.AddrDel(eth1, addr) }) // also when an expectation fails
		owners, err := lab.VIPOwners(vip6)
		Expect(err).NotTo(HaveOccurred())
		Expect(owners).To(Equal([]string{"lb2"}))
		st, err := lab.Status()
		Expect(err).NotTo(HaveOccurred())
		var text strings.Builder
		st.WriteText(&text)
		Expect(text.String()).To(ContainSubstring("VIP fd00:172:16:1::1: held by lb2"))
		Expect(text.String()).To(ContainSubstring("VIP 172.16.1.1: no balancer holds it"))
		Expect(text.String()).To(MatchRegexp(`rs1 +realserver +lo +172\.16\.1\.1/32 fd00:172:16:1::1/128`))
		Expect(text.String()).To(MatchRegexp(`eth1 +172\.16\.1\.10/24 fd00:172:16:1::10/64`))
		Expect(h.AddrDel(eth1, addr)).To(Succeed())
	})

	It("changes and restores a page at run time", func() {
		url := fmt.Sprintf("http://%s/teste.html", lab.Addr("rs1"))
		digest := func() string {
			_, body, err := get(lab, "client", url)
			Expect(err).NotTo(HaveOccurred())
			sum := md5.Sum([]byte(body))
			return hex.EncodeToString(sum[:])
		}
		original := digest()
		Expect(lab.SetPage("rs1", "/teste.html", "altered\n")).To(Succeed())
		Expect(digest()).NotTo(Equal(original))
		Expect(lab.ResetPage("rs1", "/teste.html")).To(Succeed())
		Expect(digest()).To(Equal(original))
		Expect(lab.SetPage("rs1", "/../../etc/passwd", "x")).To(MatchError(ContainSubstring("clean absolute path")))
	})

	It("serves verifiable downloads and slows down on demand", func() {
		resp, err := lab.HTTPClient("client", 5*time.Second).Get(fmt.Sprintf("http://%s/blob?size=1048576", lab.Addr("rs2")))
		Expect(err).NotTo(HaveOccurred())
		n, err := topology.VerifyBlob(resp.Body)
		resp.Body.Close()
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(BeEquivalentTo(1 << 20))

		Expect(lab.SetDelay("rs2", 300*time.Millisecond)).To(Succeed())
		start := time.Now()
		_, _, err = get(lab, "client", fmt.Sprintf("http://%s/data", lab.Addr("rs2")))
		Expect(err).NotTo(HaveOccurred())
		Expect(time.Since(start)).To(BeNumerically(">=", 300*time.Millisecond))
		Expect(lab.SetDelay("rs2", 0)).To(Succeed())
	})

	It("runs, signals and waits for real processes, with per-host logs", func() {
		p, err := lab.Start("lb1", topology.ProcSpec{Name: "ticker", Argv: []string{"sh", "-c", "echo ready in $DRLAB_HOST; exec sleep 60"}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Kill)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		line, err := p.WaitLog(ctx, regexp.MustCompile(`^ready in lb1$`))
		Expect(err).NotTo(HaveOccurred())
		Expect(line).To(Equal("ready in lb1"))

		Expect(p.Signal(syscall.SIGSTOP)).To(Succeed())
		Eventually(func() string { return procState(p.PID) }).WithTimeout(2 * time.Second).Should(Equal("T"))
		Expect(p.Signal(syscall.SIGCONT)).To(Succeed())
		Eventually(func() string { return procState(p.PID) }).WithTimeout(2 * time.Second).Should(Equal("S"))
		Expect(lab.Running("lb1", "ticker")).To(BeTrue())

		_, err = lab.Start("lb1", topology.ProcSpec{Name: "ticker", Argv: []string{"true"}})
		Expect(err).To(MatchError(ContainSubstring("already running")))

		Expect(lab.Signal("lb1", "ticker", syscall.SIGKILL)).To(Succeed())
		Expect(p.Wait(ctx)).To(MatchError(ContainSubstring("killed")))
		Expect(lab.Running("lb1", "ticker")).To(BeFalse())

		out, err := lab.Output(ctx, "lb1", "cat", "/proc/net/dev")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("eth1"), "the command ran inside lb1's namespace")
	})

	It("keeps the root namespace free of lab addresses, links and routes", func() {
		Expect(rootLabTraces(lab.Name())).To(BeEmpty())
	})
})

// within reports whether route prefix dst lies inside one of the lab's networks.
func within(dst netip.Prefix, nets ...netip.Prefix) bool {
	for _, n := range nets {
		if dst.Bits() >= n.Bits() && n.Contains(dst.Addr()) {
			return true
		}
	}
	return false
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2:][:1]
}

var _ = Describe("lab lifecycle", func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo() })

	It("leaves no namespace, mount, state or process after down", func() {
		name := labtest.Name("tpd")
		lab, err := topology.Up(context.Background(), topology.Options{Name: name, DrlabBinary: filepath.Join(binDir, "drlab")})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _, _ = topology.Down(context.Background(), name, "") })
		procs, err := lab.Processes()
		Expect(err).NotTo(HaveOccurred())
		var pids []int
		for _, p := range procs {
			pids = append(pids, p.PID)
		}
		Expect(pids).To(HaveLen(2), "a web server in rs1 and rs2")
		Expect(leftovers(name, nil)).NotTo(BeEmpty(), "control: the lab exists before down")

		Expect(lab.Down(context.Background())).To(Succeed())
		Expect(leftovers(name, pids)).To(BeEmpty())
		Expect(rootLabTraces(name)).To(BeEmpty())
		_, err = topology.Down(context.Background(), name, "")
		Expect(err).To(MatchError(topology.ErrNoLab))
	})

	It("runs two labs with different names side by side", func() {
		a := labtest.Up(labtest.Name("tpa"), topology.Seed(), binDir)
		b := labtest.Up(labtest.Name("tpb"), topology.Seed(), binDir)
		Expect(a.SetPage("rs1", "/teste.html", "lab a\n")).To(Succeed())
		_, bodyA, err := get(a, "client", "http://172.16.1.10/teste.html")
		Expect(err).NotTo(HaveOccurred())
		_, bodyB, err := get(b, "client", "http://172.16.1.10/teste.html")
		Expect(err).NotTo(HaveOccurred())
		Expect(bodyA).To(Equal("lab a\n"))
		Expect(bodyB).NotTo(Equal(bodyA), "the same address reaches a different server in each lab")
	})

	It("removes a crashed run's leftovers with drlab down", func() {
		name := labtest.Name("tpc")
		drlab := filepath.Join(binDir, "drlab")
		// A drlab process that dies with SIGKILL right after building: its
		// namespaces, web servers and state stay behind.
		up := exec.Command(drlab, "up", "--name", name)
		out, err := up.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		DeferCleanup(func() { _, _ = topology.Down(context.Background(), name, "") })
		crashed, err := topology.Open(name, "")
		Expect(err).NotTo(HaveOccurred())
		procs, err := crashed.Processes()
		Expect(err).NotTo(HaveOccurred())
		var pids []int
		for _, p := range procs {
			pids = append(pids, p.PID)
		}
		// Lose the state file too, as if the crash happened before it was written.
		Expect(os.Remove(filepath.Join(crashed.Dir(), "state.json"))).To(Succeed())

		down := exec.Command(drlab, "down", "--name", name)
		out, err = down.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("6 namespaces removed"))
		// Without state the web servers are strays: reported, not killed by guesswork.
		Expect(string(out)).To(ContainSubstring("was not started by the lab"))
		for _, pid := range pids {
			Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
		}
		Expect(leftovers(name, nil)).To(BeEmpty())
	})

	It("ends a crashed run's processes when its state survived", func() {
		name := labtest.Name("tps")
		out, err := exec.Command(filepath.Join(binDir, "drlab"), "up", "--name", name).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		DeferCleanup(func() { _, _ = topology.Down(context.Background(), name, "") })
		crashed, err := topology.Open(name, "")
		Expect(err).NotTo(HaveOccurred())
		procs, err := crashed.Processes()
		Expect(err).NotTo(HaveOccurred())
		var pids []int
		for _, p := range procs {
			pids = append(pids, p.PID)
		}
		out, err = exec.Command(filepath.Join(binDir, "drlab"), "down", "--name", name).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("2 processes ended, 6 namespaces removed"))
		Expect(leftovers(name, pids)).To(BeEmpty())
	})

	It("rejects an invalid spec before creating anything", func() {
		name := labtest.Name("tpx")
		out, err := exec.Command(filepath.Join(binDir, "drlab"), "up", "--name", name, "--topology", "testdata/bad.yaml").CombinedOutput()
		Expect(err).To(HaveOccurred())
		Expect(string(out)).To(ContainSubstring(`testdata/bad.yaml:10: link names unknown host "lb9"`))
		Expect(leftovers(name, nil)).To(BeEmpty())
	})

	It("passes exit codes through drlab exec and runs inside the host", func() {
		lab := labtest.Up(labtest.Name("tpe"), topology.Seed(), binDir)
		cmd := exec.Command(filepath.Join(binDir, "drlab"), "exec", "--name", lab.Name(), "rs2", "--", "sh", "-c", "cat /proc/sys/net/ipv4/conf/eth1/arp_ignore; exit 7")
		out, err := cmd.CombinedOutput()
		Expect(cmd.ProcessState.ExitCode()).To(Equal(7), string(out))
		Expect(err).To(HaveOccurred())
		Expect(strings.TrimSpace(string(out))).To(Equal("1"))
	})
})
