package check

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Load test: 5,000 real servers checked every second with HTTP_GET + digest.
//
//	DRLB_CHECK_LOAD=10s go test -run TestLoad5000 -v ./daemon/check/
//
// The web servers run in a child process (this test binary in helper mode)
// so the CPU and memory reported are the checker's alone: 50 listeners on
// 127.0.0.1, 100 distinct pages each, every (listener, page) pair is one
// real server with its own digest. Each check is a fresh TCP connection,
// as keepalived does.

const (
	loadEnv        = "DRLB_CHECK_LOAD"
	loadServerEnv  = "DRLB_CHECK_LOAD_SERVER"
	loadListeners  = 50
	loadPagesPerLn = 100
)

func loadPage(i int) string { return fmt.Sprintf("<html>real server page %d</html>\n", i) }

// TestLoadServerHelper is the child process: it serves the pages and prints
// its ports, then runs until its stdin closes.
func TestLoadServerHelper(t *testing.T) {
	if os.Getenv(loadServerEnv) != "1" {
		t.Skip("helper process for TestLoad5000")
	}
	resp := make(map[string][]byte, loadPagesPerLn)
	for i := range loadPagesPerLn {
		p := loadPage(i)
		resp["/p"+strconv.Itoa(i)] = []byte("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + strconv.Itoa(len(p)) + "\r\n\r\n" + p)
	}
	var ports []string
	for range loadListeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					var buf [1024]byte
					n := 0
					for n < len(buf) {
						m, err := c.Read(buf[n:])
						n += m
						if err != nil || bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
							break
						}
					}
					f := bytes.Fields(buf[:n])
					if len(f) < 2 {
						return
					}
					if r, ok := resp[string(f[1])]; ok {
						_, _ = c.Write(r)
					} else {
						_, _ = c.Write([]byte("HTTP/1.0 404 Not Found\r\n\r\n"))
					}
				}()
			}
		}()
	}
	fmt.Println("PORTS " + strings.Join(ports, ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestLoad5000(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv(loadEnv))
	if err != nil || dur <= 0 {
		t.Skipf("load test: set %s=10s to run (5,000 servers, 1 s delay_loop)", loadEnv)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestLoadServerHelper$")
	child.Env = append(os.Environ(), loadServerEnv+"=1")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = child.Wait()
		if ru, ok := child.ProcessState.SysUsage().(*syscall.Rusage); ok {
			t.Logf("web servers (child process, not the checker): CPU %.2fs", tvSec(ru.Utime)+tvSec(ru.Stime))
		}
	}()
	var ports []uint16
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PORTS "); ok {
			for _, p := range strings.Split(rest, ",") {
				n, _ := strconv.Atoi(p)
				ports = append(ports, uint16(n))
			}
			break
		}
	}
	if len(ports) != loadListeners {
		t.Fatalf("helper gave %d ports", len(ports))
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	var servers []Server
	for li, port := range ports {
		for pi := range loadPagesPerLn {
			servers = append(servers, Server{
				Target: Target{"vs", fmt.Sprintf("rs-%d-%d", li, pi)},
				Weight: 1,
				Checkers: []Spec{{
					Kind: KindHTTP, Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
					ConnectTimeout: 5 * time.Second, DelayLoop: time.Second, Retry: 1, DelayBeforeRetry: time.Second,
					HTTP: HTTPSpec{URLs: []URL{{Path: "/p" + strconv.Itoa(pi), Digest: md5hex(loadPage(pi))}}},
				}},
			})
		}
	}
	var ok, failed atomic.Int64
	var lastFail atomic.Value
	var latSum atomic.Int64
	cfg := Config{
		Servers: servers,
		Probe: func(ctx context.Context, s Spec) Result {
			r := Probe(ctx, s)
			latSum.Add(int64(r.Latency))
			if r.OK {
				ok.Add(1)
			} else if ctx.Err() == nil && r.Failure != FailCanceled {
				failed.Add(1)
				lastFail.Store(r.Reason)
			}
			return r
		},
	}
	s, err := NewScheduler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var peakHeap atomic.Uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
			}
		}
	})
	var transitions int
	wg.Go(func() {
		for range s.Events() {
			transitions++
		}
	})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	wg.Wait()
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := tvSec(after.Utime) - tvSec(before.Utime) + tvSec(after.Stime) - tvSec(before.Stime)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("servers %d, wall %.1fs, checks ok %d failed %d (%.0f checks/s), transitions %d",
		len(servers), wall.Seconds(), ok.Load(), failed.Load(), float64(ok.Load()+failed.Load())/wall.Seconds(), transitions)
	t.Logf("mean probe latency %s", time.Duration(latSum.Load()/max(1, ok.Load()+failed.Load())))
	user := tvSec(after.Utime) - tvSec(before.Utime)
	t.Logf("checker CPU %.2fs (user %.2fs, sys %.2fs) = %.3f cores, %.0f µs per check; peak heap in use %.1f MiB; Go Sys %.1f MiB; peak RSS (VmHWM) %s",
		cpu, user, cpu-user, cpu/wall.Seconds(), cpu*1e6/float64(max(1, ok.Load()+failed.Load())), float64(peakHeap.Load())/(1<<20), float64(ms.Sys)/(1<<20), vmHWM())
	if failed.Load() > 0 {
		t.Errorf("%d failed checks, last: %v", failed.Load(), lastFail.Load())
	}
	// Each server is probed delay_loop after its previous probe completed
	// (keepalived's rule), and first probes are spread over the first
	// second, so the ideal is a little under one check per server-second.
	perServer := float64(ok.Load()) / float64(len(servers)) / (wall.Seconds() - 0.5)
	t.Logf("checks per server per second: %.3f", perServer)
	if perServer < 0.8 {
		t.Errorf("only %.3f checks per server per second, want about 1", perServer)
	}
	for _, st := range s.Snapshot() {
		if !st.Up {
			t.Fatalf("server %s down: %s", st.Target, st.LastReason)
		}
	}
}

func tvSec(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// BenchmarkFetch measures one HTTP_GET with digest against a loopback server.
func BenchmarkFetch(b *testing.B) {
	srv := startRaw(b, reply("HTTP/1.0 200 OK\r\nContent-Length: 30\r\n\r\n<html>real server page</html>\n"))
	spec := httpSpec(srv.addr(), URL{Path: "/", Digest: md5hex("<html>real server page</html>\n")})
	b.ReportAllocs()
	for b.Loop() {
		if r := Probe(context.Background(), spec); !r.OK {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkParseResponse measures the head parser on a typical response.
func BenchmarkParseResponse(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 12:00:00 GMT\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 30\r\n\r\n<html>real server page</html>\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}
