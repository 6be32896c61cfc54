package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/drlb/drlb/topology"
)

// vrrpOnlyConfig is a VRRP-only pair member, valid for drlb and keepalived alike.
func vrrpOnlyConfig(host string, master bool, version int, advert string) string {
	state, prio := "BACKUP", 100
	if master {
		state, prio = "MASTER", 150
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

// clientOutage polls http://VIP:8080/data from the client every 10 ms
// (each request bounded to 100 ms) until stop, and returns the longest
// time without a successful answer that started after crashAt.
func clientOutage(lab *topology.Lab, crashAt <-chan time.Time, stop <-chan struct{}) time.Duration {
	client := lab.HTTPClient("client", 100*time.Millisecond)
	var crash time.Time
	last := time.Now()
	var worst time.Duration
	for {
		select {
		case <-stop:
			return worst
		case crash = <-crashAt:
		default:
		}
		resp, err := client.Get("http://172.16.1.1:8080/data")
		now := time.Now()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if !crash.IsZero() && now.After(crash) {
					from := last
					if crash.After(from) {
						from = crash
					}
					worst = max(worst, now.Sub(from))
				}
				last = now
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkFailoverOutage measures what a client sees when the master
// balancer crashes (its VRRP speaker is SIGKILLed and its link goes down,
// as when the machine dies): the longest gap in answers from the VIP.
// It runs drlb pairs and keepalived pairs in the same lab, VRRPv2 with
// advert_int 1 and VRRPv3 with advert_int 0.1, and reports the median
// and maximum over the runs (DRLB_OUTAGE_RUNS, default 5).
func BenchmarkFailoverOutage(b *testing.B) {
	lab, bin := benchLab(b, "bout")
	for _, lb := range []string{"lb1", "lb2"} {
		if _, err := lab.Start(lb, topology.ProcSpec{Name: "web8080", Argv: []string{filepath.Join(bin, "drlab"), "serve",
			"--host", lb, "--root", lab.WebRoot(lb), "--listen", ":8080"}}); err != nil {
			b.Fatal(err)
		}
	}
	runs := 5
	if n := os.Getenv("DRLB_OUTAGE_RUNS"); n != "" {
		fmt.Sscan(n, &runs)
	}
	for _, tc := range []struct {
		impl    string
		version int
		advert  string
	}{{"drlb", 2, "1"}, {"keepalived", 2, "1"}, {"drlb", 3, "0.1"}, {"keepalived", 3, "0.1"}} {
		b.Run(fmt.Sprintf("%s/v%d-advert%s", tc.impl, tc.version, tc.advert), func(b *testing.B) {
			if tc.impl == "keepalived" {
				if _, err := exec.LookPath("/usr/sbin/keepalived"); err != nil {
					b.Skip("keepalived is not installed (make deps)")
				}
			}
			var outages []time.Duration
			for b.Loop() {
				for range runs {
					outages = append(outages, oneOutage(b, lab, bin, tc.impl, tc.version, tc.advert))
				}
			}
			slices.Sort(outages)
			b.ReportMetric(float64(outages[len(outages)/2].Milliseconds()), "median-outage-ms")
			b.ReportMetric(float64(outages[len(outages)-1].Milliseconds()), "max-outage-ms")
			b.Logf("%s v%d advert %s: outages %v", tc.impl, tc.version, tc.advert, outages)
		})
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
	if got := masterOf(b, lab, 10*time.Second); got != "lb1" {
		b.Fatalf("master is %s, want lb1", got)
	}
	// Let the backup settle in BACKUP and the client learn lb1's MAC.
	time.Sleep(1500 * time.Millisecond)
	crashAt := make(chan time.Time, 1)
	stop := make(chan struct{})
	result := make(chan time.Duration, 1)
	go func() { result <- clientOutage(lab, crashAt, stop) }()
	time.Sleep(500 * time.Millisecond)
	crash := time.Now()
	if err := lb1.Kill(); err != nil {
		b.Fatal(err)
	}
	setLink(b, lab, "lb1", false)
	crashAt <- crash
	deadline := time.Now().Add(10 * time.Second)
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
