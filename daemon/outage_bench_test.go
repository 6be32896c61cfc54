package daemon_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
)

// vrrpOnlyConfig is a VRRP-only pair member, valid for drlb and keepalived alike.
func vrrpOnlyConfig(host string, master bool, version int, advert string) string {
	state, prio := "BACKUP", 200
	if master {
		state, prio = "MASTER", 250
	}
	auth := "  authentication {\n    auth_type PASS\n    auth_pass drlbpass\n  }\n"
	ver := ""
	if version == 3 {
		auth, ver = "", "  version 3\n"
	}
	return fmt.Sprintf("global_defs {\n  router_id %s\n}\nvrrp_instance VI_1 {\n  state %s\n  interface eth1\n  virtual_router_id 51\n  priority %d\n  advert_int %s\n%s%s  virtual_ipaddress {\n    172.16.1.1/24\n  }\n}\n",
		host, state, prio, advert, ver, auth)
}

// pairMember starts one VRRP speaker (drlb or keepalived) on host.
func pairMember(b *testing.B, lab *topology.Lab, bin, impl, host, conf string) *topology.Process {
	b.Helper()
	file := filepath.Join(lab.Dir(), host+"-"+impl+".conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	argv := []string{filepath.Join(bin, "drlb"), "run", "-f", file, "--run-dir", lab.RunDir(host), "--metrics-address", ""}
	if impl == "keepalived" {
		run := lab.RunDir(host)
		// -n: foreground, -l: log to console, -P: VRRP only; pid files per host.
		argv = []string{"/usr/sbin/keepalived", "-n", "-l", "-D", "-P", "-f", file,
			"-p", filepath.Join(run, "keepalived.pid"), "-r", filepath.Join(run, "vrrp.pid")}
	}
	p, err := lab.Start(host, topology.ProcSpec{Name: impl, Argv: argv})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// masterOf polls until one balancer holds the VIP on eth1 and returns it.
func masterOf(b *testing.B, lab *topology.Lab, within time.Duration) string {
	b.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		owners, err := lab.VIPOwners(vip)
		if err == nil && len(owners) == 1 {
			return owners[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("no single VIP owner after %v", within)
	return ""
}

// clientOutage starts a request to http://VIP:8080/data from the client
// every 5 ms (each on its own connection, bounded to 200 ms, so that one
// lost SYN does not hide the next answers) until stop, and returns how
// long after crashAt the first request sent after it was answered: what a
// client retrying every 5 ms sees.
func clientOutage(lab *topology.Lab, crashAt <-chan time.Time, stop <-chan struct{}) time.Duration {
	client := lab.HTTPClient("client", 200*time.Millisecond)
	type answer struct{ sent, done time.Time }
	answers := make(chan answer, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	var crash time.Time
	first := time.Duration(-1)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			if first < 0 {
				return 10 * time.Second // never answered again
			}
			return first
		case crash = <-crashAt:
		case a := <-answers:
			if !crash.IsZero() && a.sent.After(crash) && (first < 0 || a.done.Sub(crash) < first) {
				first = a.done.Sub(crash)
			}
		case <-tick.C:
			wg.Go(func() {
				sent := time.Now()
				resp, err := client.Get("http://172.16.1.1:8080/data")
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					select {
					case answers <- answer{sent, time.Now()}:
					default:
					}
				}
			})
		}
	}
}

// outageRuns is how many crashes BenchmarkFailoverOutage measures per
// implementation and interval: DRLB_OUTAGE_RUNS, default 3 (make bench
// stays short; the README's table is from DRLB_OUTAGE_RUNS=10).
func outageRuns() int {
	runs := 3
	if n := os.Getenv("DRLB_OUTAGE_RUNS"); n != "" {
		fmt.Sscan(n, &runs)
	}
	return runs
}

// BenchmarkFailoverOutage measures what a client sees when the master
// balancer's host fails (its VRRP speaker is SIGKILLed and its link goes
// down at once): how long after the crash the first request was answered
// again, for drlb pairs and keepalived pairs in the same lab, VRRPv3 at
// advert_int 1, 0.1, 0.03 and 0.01 (priorities 250 and 200). It reports
// the median and maximum over the runs (outageRuns). DRLB_OUTAGE_ADVERTS
// (a comma-separated list) limits the intervals.
func BenchmarkFailoverOutage(b *testing.B) {
	lab, bin := benchLab(b, "bout")
	for _, lb := range []string{"lb1", "lb2"} {
		if _, err := lab.Start(lb, topology.ProcSpec{Name: "web8080", Argv: []string{filepath.Join(bin, "drlab"), "serve",
			"--host", lb, "--root", lab.WebRoot(lb), "--listen", ":8080"}}); err != nil {
			b.Fatal(err)
		}
	}
	runs := outageRuns()
	adverts := []string{"1", "0.1", "0.03", "0.01"}
	if v := os.Getenv("DRLB_OUTAGE_ADVERTS"); v != "" {
		adverts = strings.Split(v, ",")
	}
	for _, advert := range adverts {
		for _, impl := range []string{"drlb", "keepalived"} {
			b.Run(fmt.Sprintf("%s/v3-advert%s", impl, advert), func(b *testing.B) {
				if impl == "keepalived" {
					if _, err := exec.LookPath("/usr/sbin/keepalived"); err != nil {
						testenv.Unavailable(b, "keepalived is not installed (make deps)")
					}
				}
				var outages []time.Duration
				for b.Loop() {
					for range runs {
						outages = append(outages, oneOutage(b, lab, bin, impl, 3, advert))
					}
				}
				slices.Sort(outages)
				b.ReportMetric(float64(outages[len(outages)/2].Microseconds())/1000, "median-outage-ms")
				b.ReportMetric(float64(outages[len(outages)-1].Microseconds())/1000, "max-outage-ms")
				b.Logf("%s v3 advert %s: outages %v", impl, advert, outages)
			})
		}
	}
}

func oneOutage(b *testing.B, lab *topology.Lab, bin, impl string, version int, advert string) time.Duration {
	b.Helper()
	lb1 := pairMember(b, lab, bin, impl, "lb1", vrrpOnlyConfig("lb1", true, version, advert))
	lb2 := pairMember(b, lab, bin, impl, "lb2", vrrpOnlyConfig("lb2", false, version, advert))
	defer func() {
		_ = lb2.Stop(2 * time.Second)
		_ = lb1.Kill()
		setLink(b, lab, "lb1", true)
		// Leave no VIP behind for the next run (a killed speaker cannot remove it).
		for _, lb := range []string{"lb1", "lb2"} {
			if h, err := lab.Handle(lb); err == nil {
				if l, err := h.LinkByName("eth1"); err == nil {
					a, _ := netlink.ParseAddr("172.16.1.1/24")
					_ = h.AddrDel(l, a)
				}
			}
		}
		_, _ = lab.Output(context.Background(), "client", "ip", "neigh", "flush", "dev", "eth1")
	}()
	// At short intervals the backup may hold the VIP for a moment before
	// the master (started at the same time) preempts it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if owners, err := lab.VIPOwners(vip); err == nil && slices.Equal(owners, []string{"lb1"}) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("lb1 did not become the only VIP owner (%s)", masterOf(b, lab, time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the backup settle in BACKUP and the client learn lb1's MAC.
	time.Sleep(1500 * time.Millisecond)
	crashAt := make(chan time.Time, 1)
	stop := make(chan struct{})
	result := make(chan time.Duration, 1)
	go func() { result <- clientOutage(lab, crashAt, stop) }()
	// A random phase within the advert interval: the outage depends on
	// how long before the crash the last advert left.
	interval, _ := time.ParseDuration(advert + "s")
	time.Sleep(500*time.Millisecond + rand.N(interval))
	if err := lb1.Kill(); err != nil {
		b.Fatal(err)
	}
	setLink(b, lab, "lb1", false)
	// The host is gone once its link is down (its web server answered
	// until then): the outage counts from here.
	crashAt <- time.Now()
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if owners, _ := lab.VIPOwners(vip); slices.Contains(owners, "lb2") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // the client must see answers again to close the gap
	close(stop)
	return <-result
}

func setLink(b *testing.B, lab *topology.Lab, host string, up bool) {
	b.Helper()
	h, err := lab.Handle(host)
	if err != nil {
		b.Fatal(err)
	}
	l, err := h.LinkByName("eth1")
	if err != nil {
		b.Fatal(err)
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		b.Fatal(err)
	}
}
