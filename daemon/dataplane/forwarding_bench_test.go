package dataplane_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/nft"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// wrkRate matches wrk's summary line "Requests/sec:  12345.67".
var wrkRate = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)

// parseWrk returns the requests per second of a wrk report, refusing
// reports with failed requests.
func parseWrk(out string) (float64, error) {
	if strings.Contains(out, "Non-2xx or 3xx responses") {
		return 0, fmt.Errorf("wrk saw failed responses:\n%s", out)
	}
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	rps, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("wrk rate %q: %w", m[1], err)
	}
	return rps, nil
}

func TestParseWrk(t *testing.T) {
	const report = `Running 5s test @ http://172.16.1.1/data
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   350.12us  120.00us   5.00ms   90.00%
  61234 requests in 5.00s, 9.87MB read
Requests/sec:  12246.80
Transfer/sec:      1.97MB
`
	rps, err := parseWrk(report)
	if err != nil || rps != 12246.80 {
		t.Errorf("parseWrk = %v, %v; want 12246.80", rps, err)
	}
	if _, err := parseWrk(strings.Replace(report, "Requests/sec:  12246.80\n", "", 1)); err == nil {
		t.Error("a report without a rate was accepted")
	}
	if _, err := parseWrk(report + "  Non-2xx or 3xx responses: 12\n"); err == nil {
		t.Error("a report with failed responses was accepted")
	}
}

// drlabBinary returns a drlab binary: $DRLB_BIN_DIR/drlab, or a fresh build.
func drlabBinary(b *testing.B) string {
	b.Helper()
	if dir := os.Getenv(labtest.BinDirEnv); dir != "" {
		return filepath.Join(dir, "drlab")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(b.TempDir(), "drlab")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/drlab")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build drlab: %v\n%s", err, out)
	}
	return bin
}

// wrk runs a bounded wrk from the client against url and returns its rate.
func wrk(b *testing.B, lab *topology.Lab, url string) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lab.Output(ctx, "client", "wrk", "-t1", "-c8", "-d3s", "--timeout", "2s", url)
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	rps, err := parseWrk(string(out))
	if err != nil {
		b.Fatal(err)
	}
	return rps
}

// benchVIP is the IPv4 VIP benchDirector adds to lb1.
const benchVIP = "172.16.1.1"

// benchDirector brings up the seed lab name (removing the leftovers of an
// earlier one first; it comes down at the end of the benchmark), adds
// benchVIP/32 to lb1's eth1 and returns the lab, lb1's netlink handle and
// eth1, and an nft back end in lb1.
func benchDirector(b *testing.B, ctx context.Context, name string) (*topology.Lab, *netlink.Handle, netlink.Link, *nft.Backend) {
	b.Helper()
	if _, err := topology.Down(ctx, name, ""); err == nil {
		b.Logf("removed leftovers of an earlier lab %s", name)
	}
	lab, err := topology.Up(ctx, topology.Options{Name: name, Spec: topology.Seed(), DrlabBinary: drlabBinary(b)})
	if err != nil {
		b.Fatalf("lab up: %v", err)
	}
	b.Cleanup(func() {
		if err := lab.Down(context.Background()); err != nil {
			b.Errorf("lab down: %v", err)
		}
	})
	h, err := lab.Handle("lb1")
	if err != nil {
		b.Fatal(err)
	}
	eth1, err := h.LinkByName("eth1")
	if err != nil {
		b.Fatal(err)
	}
	vip := netip.MustParseAddr(benchVIP)
	if err := h.AddrAdd(eth1, &netlink.Addr{IPNet: &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		b.Fatalf("add VIP to lb1: %v", err)
	}
	be, err := nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb1")})
	if err != nil {
		b.Fatal(err)
	}
	return lab, h, eth1, be
}

// BenchmarkForwardingCost measures requests per second from the client
// through the VIP (nft rules on lb1, one real server, rs1) and straight to
// rs1, and reports both and their ratio (goal ≥ 0.9). It alternates two
// 3 s wrk runs of each (12 s in all, each run bounded to 10 s); use
// -benchtime 1x.
func BenchmarkForwardingCost(b *testing.B) {
	testenv.Privileged(b, "nft", "wrk")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := os.Getenv(labtest.PrefixEnv) + "dlbench"
	lab, _, _, be := benchDirector(b, ctx, name)
	vip := netip.MustParseAddr(benchVIP)
	table := dataplane.Table{Services: []dataplane.Service{{VIP: vip, Port: 80, Protocol: dataplane.TCP, Scheduler: "wrr",
		Interface: "eth1", Reals: []dataplane.Real{{Addr: lab.Addr("rs1"), Port: 80, Weight: 1}}}}}
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// Alternate the two targets so that a change of the machine's load
		// (it is shared) biases neither.
		var direct, viaVIP float64
		for range 2 {
			direct += wrk(b, lab, fmt.Sprintf("http://%s/data", lab.Addr("rs1"))) / 2
			viaVIP += wrk(b, lab, "http://172.16.1.1/data") / 2
		}
		b.ReportMetric(direct, "rps-direct")
		b.ReportMetric(viaVIP, "rps-vip")
		b.ReportMetric(viaVIP/direct, "ratio")
	}
	b.ReportMetric(0, "ns/op") // one op is four 3 s runs; its duration says nothing
}

// BenchmarkForwardingCostIPv6 measures requests per second from the client
// through the IPv6 VIP and the IPv4 VIP of the same lb1 (nft rules for
// both families on one device, one real server, rs1), and straight to rs1
// over IPv6, alternating two 3 s wrk runs of each (18 s in all); it reports
// the IPv6 VIP's rate relative to IPv6 direct and to the IPv4 VIP. Use
// -benchtime 1x.
func BenchmarkForwardingCostIPv6(b *testing.B) {
	testenv.Privileged(b, "nft", "wrk")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := os.Getenv(labtest.PrefixEnv) + "dlbench6"
	lab, h, eth1, be := benchDirector(b, ctx, name)
	vip4, vip6 := netip.MustParseAddr(benchVIP), netip.MustParseAddr("fd00:172:16:1::1")
	// As keepalived adds a /128: no DAD, deprecated (never a source address).
	if err := h.AddrAdd(eth1, &netlink.Addr{IPNet: &net.IPNet{IP: vip6.AsSlice(), Mask: net.CIDRMask(128, 128)},
		Flags: unix.IFA_F_NODAD, ValidLft: 0xffffffff}); err != nil {
		b.Fatalf("add IPv6 VIP to lb1: %v", err)
	}
	table := dataplane.Table{Services: []dataplane.Service{
		{VIP: vip4, Port: 80, Protocol: dataplane.TCP, Scheduler: "wrr", Interface: "eth1",
			Reals: []dataplane.Real{{Addr: lab.Addr("rs1"), Port: 80, Weight: 1}}},
		{VIP: vip6, Port: 80, Protocol: dataplane.TCP, Scheduler: "wrr", Interface: "eth1",
			Reals: []dataplane.Real{{Addr: lab.Addr6("rs1"), Port: 80, Weight: 1}}},
	}}
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var direct6, vip6Rate, vip4Rate float64
		for range 2 {
			direct6 += wrk(b, lab, fmt.Sprintf("http://[%s]/data", lab.Addr6("rs1"))) / 2
			vip6Rate += wrk(b, lab, "http://[fd00:172:16:1::1]/data") / 2
			vip4Rate += wrk(b, lab, "http://172.16.1.1/data") / 2
		}
		b.ReportMetric(direct6, "rps-direct6")
		b.ReportMetric(vip6Rate, "rps-vip6")
		b.ReportMetric(vip4Rate, "rps-vip4")
		b.ReportMetric(vip6Rate/direct6, "ratio-vip6/direct6")
		b.ReportMetric(vip6Rate/vip4Rate, "ratio-vip6/vip4")
	}
	b.ReportMetric(0, "ns/op") // one op is six 3 s runs; its duration says nothing
}
