package daemon_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// benchLab builds drlb/drlab and brings up a seed lab for a benchmark. The
// lab's name starts with $DRLB_LAB_PREFIX, so two checkouts benchmarking at
// once do not tear down each other's labs.
func benchLab(b *testing.B, name string) (*topology.Lab, string) {
	b.Helper()
	testenv.Privileged(b, "nft")
	name = os.Getenv(labtest.PrefixEnv) + name
	dir := b.TempDir()
	for _, bin := range []string{"drlb", "drlab"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, bin), "../cmd/"+bin).CombinedOutput()
		if err != nil {
			b.Fatalf("build %s: %v\n%s", bin, err, out)
		}
	}
	_, _ = topology.Down(context.Background(), name, "")
	lab, err := topology.Up(context.Background(), topology.Options{Name: name, DrlabBinary: filepath.Join(dir, "drlab")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lab.Down(context.Background()) })
	return lab, dir
}

func startBench(b *testing.B, lab *topology.Lab, bin, host, conf string, extra ...string) *topology.Process {
	b.Helper()
	file := filepath.Join(lab.Dir(), host+".conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	argv := append([]string{filepath.Join(bin, "drlb"), "run", "-f", file, "--run-dir", lab.RunDir(host)}, extra...)
	p, err := lab.Start(host, topology.ProcSpec{Name: "drlb", Argv: argv})
	if err != nil {
		b.Fatal(err)
	}
	c := api.NewClient(lab.RunDir(host))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) || p.Exited() {
			b.Fatalf("drlb did not come up: %v\n%s", err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMaster polls drlb's status until its first instance is MASTER (and
// so sending adverts).
func waitMaster(b *testing.B, c *api.Client) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && len(st.Instances) > 0 && st.Instances[0].State == "MASTER" {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("drlb did not become MASTER: %v %+v", err, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usage samples a process's RSS (MiB) and CPU (cores) over window.
func usage(b *testing.B, pid int, window time.Duration) (rssMiB, cores float64) {
	b.Helper()
	cpu := func() float64 {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(raw)[strings.LastIndexByte(string(raw), ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		return (ut + st) / 100 // clock ticks (USER_HZ = 100)
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(window) // a measurement window, not a wait for readiness
	cores = (cpu() - c0) / time.Since(t0).Seconds()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rssMiB = kb / 1024
		}
	}
	return rssMiB, cores
}

// BenchmarkDaemonIdleHowto reports drlb's RSS and CPU with the how-to's
// configuration (VRRP master, two HTTP_GET digest checks every second).
func BenchmarkDaemonIdleHowto(b *testing.B) {
	lab, bin := benchLab(b, "bidle")
	conf, err := os.ReadFile("config/testdata/seed-fixed.conf")
	if err != nil {
		b.Fatal(err)
	}
	p := startBench(b, lab, bin, "lb1", string(conf))
	var rss, cores float64
	for b.Loop() {
		rss, cores = usage(b, p.PID, 5*time.Second)
	}
	b.ReportMetric(rss, "RSS-MiB")
	b.ReportMetric(cores, "CPU-cores")
}

// bigConfig is 1,000 virtual servers × 10 real servers with TCP_CHECKs
// every second against the lab's two web servers, plus one VRRP instance.
func bigConfig(extraReal bool, delayLoop int) string {
	var c strings.Builder
	c.WriteString("vrrp_instance VI_1 {\n state MASTER\n interface eth1\n virtual_router_id 51\n priority 150\n advert_int 1\n virtual_ipaddress {\n  172.16.1.1/24\n }\n}\n")
	for v := range 1000 {
		fmt.Fprintf(&c, "virtual_server 172.16.1.1 %d {\n delay_loop %d\n lb_algo rr\n lb_kind DR\n protocol TCP\n", 10000+v, delayLoop)
		reals := 10
		if extraReal && v == 0 {
			reals = 11
		}
		for r := range reals {
			fmt.Fprintf(&c, " real_server 172.16.1.%d %d {\n  TCP_CHECK {\n   connect_ip 172.16.1.%d\n   connect_port 80\n   connect_timeout 1\n  }\n }\n",
				20+r, 10000+v, 10+r%2)
		}
		c.WriteString("}\n")
	}
	return c.String()
}

// BenchmarkDaemon1000x10 reports RSS and CPU with 10,000 real servers
// checked every second and 1,000 nftables services, and the time of a
// reload with the same file and with one real server added.
func BenchmarkDaemon1000x10(b *testing.B) { benchBig(b, 1) }

// BenchmarkDaemon1000x10Quiet is the same table with checks every 60 s, so
// the reload times show the reload's own cost rather than CPU starvation
// by 10,000 TCP handshakes a second on two cores.
func BenchmarkDaemon1000x10Quiet(b *testing.B) { benchBig(b, 60) }

func benchBig(b *testing.B, delayLoop int) {
	lab, bin := benchLab(b, "bbig")
	p := startBench(b, lab, bin, "lb1", bigConfig(false, delayLoop), "--dataplane", "nft")
	c := api.NewClient(lab.RunDir("lb1"))
	time.Sleep(3 * time.Second) // let every checker run once before measuring
	var rss, cores, rate float64
	var same, added time.Duration
	for b.Loop() {
		c0, t0 := checksRun(b, lab), time.Now()
		rss, cores = usage(b, p.PID, 5*time.Second)
		rate = (checksRun(b, lab) - c0) / time.Since(t0).Seconds()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := c.Reload(ctx)
		if err != nil || !res.OK {
			b.Fatalf("reload: %v %+v", err, res)
		}
		same = res.Duration
		b.Logf("reload, same file: %v %+v", res.Duration, res.Phases)
		if err := os.WriteFile(filepath.Join(lab.Dir(), "lb1.conf"), []byte(bigConfig(true, delayLoop)), 0o644); err != nil {
			b.Fatal(err)
		}
		res, err = c.Reload(ctx)
		cancel()
		if err != nil || !res.OK {
			b.Fatalf("reload: %v %+v", err, res)
		}
		added = res.Duration
		b.Logf("reload, one server added: %v %+v", res.Duration, res.Phases)
	}
	b.ReportMetric(rss, "RSS-MiB")
	b.ReportMetric(cores, "CPU-cores")
	b.ReportMetric(rate, "checks/s")
	b.ReportMetric(float64(same.Microseconds())/1000, "reload-same-ms")
	b.ReportMetric(float64(added.Microseconds())/1000, "reload-add1-ms")
}

// checksRun scrapes lb1's drlb_health_checks_total (ok + failed).
func checksRun(b *testing.B, lab *topology.Lab) float64 {
	b.Helper()
	resp, err := lab.HTTPClient("lb1", 5*time.Second).Get("http://127.0.0.1:9650/metrics")
	if err != nil {
		b.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatalf("scrape metrics: %v", err)
	}
	total, found := 0.0, 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "drlb_health_checks_total{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				b.Fatalf("metrics line %q: %v", line, err)
			}
			total += v
			found++
		}
	}
	if found != 2 {
		b.Fatalf("drlb_health_checks_total: %d series, want 2", found)
	}
	return total
}

// BenchmarkReloadAdvertJitter reloads a 1,000×10 configuration (with one
// VRRP instance, advert_int 1) five times while tcpdump in the client
// records the master's adverts, and reports how far the advert intervals
// strayed from 1 s (goal: no advert late by more than 10 ms). The same
// capture without reloads, just before, is the control: what the machine's
// load alone does to the adverts.
func BenchmarkReloadAdvertJitter(b *testing.B) {
	lab, bin := benchLab(b, "bjit")
	testenv.Privileged(b, "tcpdump")
	delayLoop := 60 // DRLB_JITTER_DELAY_LOOP=1 adds 10,000 checks a second
	if v := os.Getenv("DRLB_JITTER_DELAY_LOOP"); v != "" {
		fmt.Sscan(v, &delayLoop)
	}
	startBench(b, lab, bin, "lb1", bigConfig(false, delayLoop), "--dataplane", "nft")
	c := api.NewClient(lab.RunDir("lb1"))
	waitMaster(b, c)
	var worstLate, worstQuiet, worstReload time.Duration
	for b.Loop() {
		worstQuiet = max(worstQuiet, advertLateness(b, lab, func(context.Context) {}))
		worstLate = max(worstLate, advertLateness(b, lab, func(ctx context.Context) {
			for i := range 5 {
				if err := os.WriteFile(filepath.Join(lab.Dir(), "lb1.conf"), []byte(bigConfig(i%2 == 0, delayLoop)), 0o644); err != nil {
					b.Fatal(err)
				}
				res, err := c.Reload(ctx)
				if err != nil || !res.OK {
					b.Fatalf("reload: %v %+v", err, res)
				}
				worstReload = max(worstReload, res.Duration)
				b.Logf("reload %d: %v %+v", i, res.Duration, res.Phases)
				time.Sleep(time.Second)
			}
		}))
	}
	b.ReportMetric(float64(worstLate.Microseconds())/1000, "worst-advert-late-ms")
	b.ReportMetric(float64(worstQuiet.Microseconds())/1000, "no-reload-worst-late-ms")
	b.ReportMetric(float64(worstReload.Microseconds())/1000, "worst-reload-ms")
}

// advertLateness captures 9 of lb1's adverts from the client while during
// runs (started 1.5 s into the capture) and returns the most an interval
// exceeded 1 s.
func advertLateness(b *testing.B, lab *topology.Lab, during func(context.Context)) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []byte
	var dumpErr error
	done := make(chan struct{})
	go func() {
		// 9 adverts at 1 s, bounded in count and time.
		out, dumpErr = lab.Output(ctx, "client", "timeout", "12", "tcpdump", "-i", "eth1", "-n", "-tt", "-c", "9", "ip proto 112")
		close(done)
	}()
	time.Sleep(1500 * time.Millisecond)
	during(ctx)
	<-done
	if dumpErr != nil {
		b.Fatalf("tcpdump: %v\n%s", dumpErr, out)
	}
	var stamps []float64
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.Contains(line, "VRRP") {
			if ts, err := strconv.ParseFloat(f[0], 64); err == nil {
				stamps = append(stamps, ts)
			}
		}
	}
	if len(stamps) < 6 {
		b.Fatalf("captured %d adverts:\n%s", len(stamps), out)
	}
	var worst time.Duration
	for i := 1; i < len(stamps); i++ {
		late := time.Duration((stamps[i]-stamps[i-1])*float64(time.Second)) - time.Second
		worst = max(worst, late)
	}
	return worst
}
