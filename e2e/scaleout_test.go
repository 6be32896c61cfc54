package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/scenarios"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// The scale-out lab (issue 16): three directors announce 172.16.100.1 by
// BGP to an FRR router that spreads flows over them by an L4 ECMP hash;
// every director builds the same Maglev table, so a flow the router moves
// to another director keeps its real server.

var (
	scaleoutVIP = netip.MustParseAddr("172.16.100.1")
	directors   = []string{"lb1", "lb2", "lb3"}
	directorIPs = map[string]string{"lb1": "172.16.2.11", "lb2": "172.16.2.12", "lb3": "172.16.2.13", "lb4": "172.16.2.14"}
)

// holdTime is the BGP hold time of the lab's sessions (config and router: timers 1 3).
const holdTime = 3 * time.Second

// startDirector renders the library's scaleout config for host and starts drlb there.
func startDirector(lab *topology.Lab, host string, vars map[string]string) {
	GinkgoHelper()
	sc := &scenarios.Scenario{}
	tmpl, err := sc.ConfigTemplate("scaleout")
	Expect(err).NotTo(HaveOccurred())
	conf, err := scenarios.Render("scaleout", tmpl, scenarios.ValuesFor(lab.Spec()), host, vars)
	Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(GinkgoT().TempDir(), host+".conf")
	Expect(os.WriteFile(file, []byte(conf), 0o644)).To(Succeed())
	_, err = scenarios.StartDaemon(context.Background(), lab, host, scenarios.DaemonOptions{
		Kind: scenarios.DaemonDrlb, Binary: filepath.Join(binDir, "drlb"), ConfigFile: file})
	Expect(err).NotTo(HaveOccurred())
}

// nextHops is the router's ECMP next hops for the service address.
func nextHops(lab *topology.Lab) ([]string, error) {
	hops, err := lab.NextHops("router", scaleoutVIP)
	var out []string
	for _, h := range hops {
		out = append(out, h.String())
	}
	return out, err
}

// wantNextHops waits until the router routes the service address over exactly hosts.
func wantNextHops(lab *topology.Lab, timeout time.Duration, hosts ...string) {
	GinkgoHelper()
	var want []string
	for _, h := range hosts {
		want = append(want, directorIPs[h])
	}
	slices.Sort(want)
	Eventually(func() ([]string, error) { return nextHops(lab) }).WithTimeout(timeout).WithPolling(50*time.Millisecond).
		Should(Equal(want), "router next hops for %s", scaleoutVIP)
}

// directorConnections is the number of connections a director's data plane
// has seen (its connection table: active + inactive, 15 min timeout).
func directorConnections(lab *topology.Lab, host string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := api.NewClient(lab.RunDir(host)).Status(ctx)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, s := range st.Services {
		for _, r := range s.Reals {
			n += r.ActiveConn + r.InActConn
		}
	}
	return n, nil
}

// request makes one new connection from the client and returns the real
// server that answered.
func request(lab *topology.Lab, timeout time.Duration) (string, error) {
	rs, _, err := requestPort(lab, timeout)
	return rs, err
}

// requestPort is request that also returns the client's source port. The
// real server closes first (no keep-alive), so the client may reuse a
// port soon, and a director's connection map keyed by the 5-tuple then
// holds one entry for both connections.
func requestPort(lab *topology.Lab, timeout time.Duration) (string, int, error) {
	port := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			if a, ok := ci.Conn.LocalAddr().(*net.TCPAddr); ok {
				port = a.Port
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+scaleoutVIP.String()+"/data", nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := lab.HTTPClient("client", timeout).Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", 0, err
	}
	return resp.Header.Get("X-Real-Server"), port, nil
}

// download is one long-lived paced /blob download.
type download struct {
	server string
	n      int64
	err    error
}

// startDownloads opens n paced downloads of size bytes at rate bytes/s
// each, all at once, and returns a function that waits for them (bounded
// by the client timeout).
func startDownloads(lab *topology.Lab, n int, size, rate int64, timeout time.Duration) func() []download {
	out := make([]download, n)
	var wg sync.WaitGroup
	url := fmt.Sprintf("http://%s/blob?size=%d&rate=%d", scaleoutVIP, size, rate)
	client := lab.HTTPClient("client", timeout)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			resp, err := client.Get(url)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].server = resp.Header.Get("X-Real-Server")
			out[i].n, out[i].err = topology.VerifyBlob(resp.Body)
		}()
	}
	return func() []download { wg.Wait(); return out }
}

// expectIntact checks that every download completed with every byte right.
func expectIntact(ds []download, size int64) {
	GinkgoHelper()
	var bad []string
	servers := map[string]int{}
	for i, d := range ds {
		servers[d.server]++
		if d.err != nil || d.n != size {
			bad = append(bad, fmt.Sprintf("#%d via %s: %d bytes, %v", i, d.server, d.n, d.err))
		}
	}
	Expect(bad).To(BeEmpty(), "downloads broken (of %d; by server %v)", len(ds), servers)
	GinkgoWriter.Printf("%d downloads intact, by real server %v\n", len(ds), servers)
}

// probeNew makes a new connection every interval until stop and returns
// how long new connections kept failing (from the start of the first
// failed attempt to the start of the last; 0 when none failed) and the
// number of failures. While a director is lost only the flows the router
// still hashes to it fail, so failures interleave with successes: the span
// is what the hold time bounds.
func probeNew(lab *topology.Lab, interval, timeout time.Duration, stop <-chan struct{}) func() (time.Duration, int) {
	var mu sync.Mutex
	var first, last time.Time
	failed := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer GinkgoRecover()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			inner.Add(1)
			go func(start time.Time) {
				defer inner.Done()
				if _, err := request(lab, timeout); err == nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				failed++
				if first.IsZero() || start.Before(first) {
					first = start
				}
				if start.After(last) {
					last = start
				}
			}(time.Now())
		}
	}()
	return func() (time.Duration, int) {
		wg.Wait()
		return last.Sub(first), failed
	}
}

func upScaleout(prefix string) *topology.Lab {
	GinkgoHelper()
	lab := labtest.Up(labtest.Name(prefix), topology.Scaleout(), binDir)
	for _, h := range directors {
		startDirector(lab, h, nil)
	}
	wantNextHops(lab, 15*time.Second, directors...)
	return lab
}

var _ = Describe("scale-out: BGP-announced directors behind an ECMP router", Label("scaleout"), Ordered, func() {
	BeforeEach(func() { testenv.PrivilegedGinkgo("nft", "vtysh", topology.FRRBin+"/bgpd") })

	It("establishes three BGP sessions, routes the service over three next hops and spreads new connections", func() {
		lab := upScaleout("sso")
		peers, err := lab.BGPPeers(context.Background(), "router")
		Expect(err).NotTo(HaveOccurred())
		Expect(peers).To(HaveLen(3))
		for _, p := range peers {
			Expect(p.State).To(Equal("Established"), "%+v", p)
			Expect(p.Prefixes).To(Equal(1), "%+v", p)
		}
		// Control: the router has no route to an address nobody announces.
		hops, err := lab.NextHops("router", netip.MustParseAddr("172.16.100.2"))
		Expect(err).NotTo(HaveOccurred())
		Expect(hops).To(BeEmpty())

		const n = 3000
		servers := map[string]int{}
		ports := map[int]bool{}
		for range n {
			rs, port, err := requestPort(lab, 2*time.Second)
			Expect(err).NotTo(HaveOccurred())
			servers[rs]++
			ports[port] = true
		}
		// One map entry per 5-tuple: connections that reused a client port
		// share one (the VIP, the port 80 and the client address are fixed).
		// The count is a netlink dump of each director's connection maps,
		// which a hash table resize still running on a busy host can make
		// skip entries: read again until every connection is seen (bounded).
		counts := map[string]uint64{}
		var total uint64
		Eventually(func() uint64 {
			total = 0
			for _, h := range directors {
				c, err := directorConnections(lab, h)
				Expect(err).NotTo(HaveOccurred())
				counts[h] = c
				total += c
			}
			return total
		}).WithTimeout(10*time.Second).WithPolling(time.Second).Should(BeNumerically(">=", len(ports)),
			"every connection (%d distinct client ports of %d) passed a director", len(ports), n)
		GinkgoWriter.Printf("%d connections: by director %v, by real server %v\n", n, counts, servers)
		AddReportEntry("ecmp spread", fmt.Sprintf("by director %v, by real server %v", counts, servers))
		for _, h := range directors {
			Expect(float64(counts[h])).To(BeNumerically("~", float64(total)/3, float64(total)/30), "director %s within ±10%% of a third", h)
		}
		for _, rs := range []string{"rs1", "rs2", "rs3"} {
			Expect(float64(servers[rs])).To(BeNumerically("~", n/3.0, n/3.0*0.25), "real server %s", rs)
		}

		By("drlb status and metrics show the session and the route")
		st, err := api.NewClient(lab.RunDir("lb1")).Status(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(st.BGP).NotTo(BeNil())
		Expect(st.BGP.Sessions).To(HaveLen(1))
		Expect(st.BGP.Sessions[0].State).To(Equal("Established"))
		Expect(st.BGP.Routes).To(ConsistOf(api.BGPRoute{Prefix: "172.16.100.1/32", Service: "TCP 172.16.100.1:80", Announced: true, Reason: "quorum"}))
	})

	It("keeps 300 long-lived connections intact across a director crash (link down, then kill -9); new connections fail at most the hold time", func() {
		lab := upScaleout("ssc")
		const n, size, rate = 300, 96 * 1024, 12 * 1024 // 8 s each
		wait := startDownloads(lab, n, size, rate, 40*time.Second)
		stop := make(chan struct{})
		outage := probeNew(lab, 50*time.Millisecond, time.Second, stop)
		// The downloads spread over the directors as they start: wait for
		// lb2's share rather than a fixed second.
		Eventually(func() (uint64, error) { return directorConnections(lab, "lb2") }).
			WithTimeout(5*time.Second).WithPolling(50*time.Millisecond).
			Should(BeNumerically(">", n/6), "lb2 carries some of the long-lived connections")
		By("lb2's link goes down: the router notices after the hold time")
		down := time.Now()
		h, err := lab.Handle("lb2")
		Expect(err).NotTo(HaveOccurred())
		link, err := h.LinkByName("eth1")
		Expect(err).NotTo(HaveOccurred())
		Expect(h.LinkSetDown(link)).To(Succeed())
		wantNextHops(lab, holdTime+2*time.Second, "lb1", "lb3")
		AddReportEntry("next hop removed after link down", time.Since(down).Round(10*time.Millisecond).String())

		By("kill -9 of lb3's daemon: its session ends, the router drops it")
		Expect(lab.Signal("lb3", scenarios.DrlbProcess, syscall.SIGKILL)).To(Succeed())
		wantNextHops(lab, holdTime+2*time.Second, "lb1")

		ds := wait()
		close(stop)
		span, failed := outage()
		expectIntact(ds, size)
		AddReportEntry("new connections", fmt.Sprintf("failed for %v (%d attempts of one every 50 ms failed)", span.Round(10*time.Millisecond), failed))
		Expect(span).To(BeNumerically("<=", holdTime+time.Second), "new connections fail at most the hold time (plus the route's installation)")
	})

	It("drains on SIGTERM: withdraws first, no new connection fails, long-lived ones finish; a fourth director joins under traffic", func() {
		lab := upScaleout("ssd")
		const n, size, rate = 300, 64 * 1024, 12 * 1024 // about 5.5 s each
		wait := startDownloads(lab, n, size, rate, 40*time.Second)
		stop := make(chan struct{})
		outage := probeNew(lab, 50*time.Millisecond, 2*time.Second, stop)
		// The join and the drain happen under traffic: wait until lb2, the
		// director drained below, carries its share of the downloads.
		Eventually(func() (uint64, error) { return directorConnections(lab, "lb2") }).
			WithTimeout(5*time.Second).WithPolling(50*time.Millisecond).
			Should(BeNumerically(">", n/6), "lb2 carries some of the long-lived connections")

		By("a fourth director joins")
		startDirector(lab, "lb4", nil)
		wantNextHops(lab, 10*time.Second, "lb1", "lb2", "lb3", "lb4")

		By("SIGTERM to lb2: the route goes at once, the data plane after drain_delay")
		start := time.Now()
		Expect(lab.Signal("lb2", scenarios.DrlbProcess, syscall.SIGTERM)).To(Succeed())
		wantNextHops(lab, time.Second, "lb1", "lb3", "lb4")
		AddReportEntry("route withdrawn after SIGTERM", time.Since(start).Round(10*time.Millisecond).String())
		Eventually(func() bool { return lab.Running("lb2", scenarios.DrlbProcess) }).WithTimeout(10 * time.Second).Should(BeFalse())
		Expect(time.Since(start)).To(BeNumerically(">=", 2*time.Second), "the daemon stayed for drain_delay")

		ds := wait()
		close(stop)
		span, failed := outage()
		expectIntact(ds, size)
		Expect(failed).To(BeZero(), "no new connection fails during a drain or a join (failures over %v)", span)
	})

	It("withdraws within one check round when a director alone sees all its real servers down", func() {
		lab := upScaleout("ssq")
		By("lb1's own health checks are blocked (its forwarding is not)")
		start := time.Now()
		Expect(blockChecks(lab, "lb1")).To(Succeed())
		// One check round is delay_loop 1 s + connect_timeout 1 s (retry 0 in
		// the template); the withdrawal does not wait for the apply of the
		// 65,537-slot table that the first DOWN started. 1 s for the UPDATE
		// and the router's FIB.
		wantNextHops(lab, 10*time.Second, "lb2", "lb3")
		took := time.Since(start)
		AddReportEntry("withdrawn after its checks failed", took.Round(10*time.Millisecond).String())
		Expect(took).To(BeNumerically("<", 3*time.Second))
		st, err := api.NewClient(lab.RunDir("lb1")).Status(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(st.BGP.Routes[0].Announced).To(BeFalse())
		Expect(st.BGP.Routes[0].Reason).To(Equal("no quorum"))
		for range 30 {
			_, err := request(lab, 2*time.Second)
			Expect(err).NotTo(HaveOccurred(), "the other directors serve")
		}
	})
})

// blockChecks drops the health-check traffic a director's own processes
// send to port 80 (nft output hook: forwarded packets leave through
// netdev fwd and are not affected).
func blockChecks(lab *topology.Lab, host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, host, "nft", "add table inet solabblock ; add chain inet solabblock out { type filter hook output priority 0 ; } ; add rule inet solabblock out tcp dport 80 drop")
	if err != nil {
		return errors.Join(err, errors.New(strings.TrimSpace(string(out))))
	}
	return nil
}
