package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/internal/checkstorm"
	"github.com/drlb/drlb/internal/testenv"
)

func TestParseStat(t *testing.T) {
	// A real line (comm with a space and a parenthesis), fields 19 nice = -3,
	// 39 processor = 1, 40 rt_priority = 7, 41 policy = 2.
	line := "4242 (drlb (x) y) S 1 4242 4242 0 -1 4194624 100 0 0 0 5 3 0 0 -100 -3 12 0 1234 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 7 2 0 0 0"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ThreadSched{Policy: 2, RTPriority: 7, Nice: -3, CPU: 1}); got != want {
		t.Errorf("parseStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "12 (x", "12 (x) S 1 2"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestThreadConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg ThreadConfig
		ok  bool
	}{
		{ThreadConfig{}, true},
		{ThreadConfig{RTPriority: 99, Nice: -20, CPUs: []int{0, 1}, RLimitRTTime: time.Millisecond, LockMemory: true}, true},
		{ThreadConfig{RTPriority: 100}, false},
		{ThreadConfig{RTPriority: -1}, false},
		{ThreadConfig{Nice: 20}, false},
		{ThreadConfig{CPUs: []int{-1}}, false},
		{ThreadConfig{RLimitRTTime: -time.Second}, false},
	} {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
	}
	if _, err := NewNode(Config{Thread: ThreadConfig{RTPriority: 100}}, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewNode with vrrp_rt_priority 100: %v", err)
	}
}

// TestNodeThreadScheduling runs a node with real-time scheduling and reads
// its thread's policy back from /proc; a reload takes it away again, and
// the thread ends with Run (it never goes back to the runtime's pool).
func TestNodeThreadScheduling(t *testing.T) {
	testenv.Privileged(t)
	h := &hub{}
	ic := v3Instance("VI_1", "10.0.0.1", 200)
	cfg := Config{Instances: []InstanceConfig{ic}, Thread: ThreadConfig{RTPriority: 7, Nice: -3, CPUs: []int{0}, RLimitRTTime: 20 * time.Millisecond}}
	tn := startNode(t, h, cfg)
	eventually(t, 2*time.Second, "MASTER", func() bool { return tn.state(0) == StateMaster })
	tid := tn.node.ThreadID()
	if tid == 0 || tid == unix.Gettid() {
		t.Fatalf("ThreadID = %d (test thread %d)", tid, unix.Gettid())
	}
	got, err := ReadThreadSched(tid)
	if err != nil {
		t.Fatal(err)
	}
	if got.Policy != unix.SCHED_RR || got.RTPriority != 7 || got.Nice != -3 {
		t.Errorf("thread %d: %+v, want SCHED_RR (2) priority 7 nice -3", tid, got)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil || set.Count() != 1 || !set.IsSet(0) {
		t.Errorf("affinity of thread %d: %v (%d CPUs), want CPU 0 only", tid, err, set.Count())
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTTIME, &lim); err != nil || lim.Cur != 20000 || lim.Max != 200000 {
		t.Errorf("RLIMIT_RTTIME = %+v (%v), want 20000/200000 µs", lim, err)
	}
	// Other threads of the process keep SCHED_OTHER.
	if me, err := ReadThreadSched(unix.Gettid()); err != nil || me.Policy != unix.SCHED_NORMAL {
		t.Errorf("test thread: %+v, %v; want SCHED_OTHER", me, err)
	}

	cfg.Thread = ThreadConfig{}
	if _, err := tn.node.Update(context.Background(), cfg); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, err := ReadThreadSched(tid); err != nil || got.Policy != unix.SCHED_NORMAL || got.RTPriority != 0 {
		t.Errorf("after reload without vrrp_rt_priority: %+v, %v; want SCHED_OTHER", got, err)
	}
	// Real-time again, then stop: the thread ends with Run, or (the
	// process's main thread, which Go parks instead) loses its scheduling.
	cfg.Thread = ThreadConfig{RTPriority: 5}
	if _, err := tn.node.Update(context.Background(), cfg); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, _ := ReadThreadSched(tid); got.Policy != unix.SCHED_RR {
		t.Errorf("after reload with vrrp_rt_priority 5: %+v", got)
	}
	tn.stop(t)
	eventually(t, 2*time.Second, "the VRRP thread gone or back to SCHED_OTHER", func() bool {
		got, err := ReadThreadSched(tid)
		return err != nil || (got.Policy == unix.SCHED_NORMAL && tid == os.Getpid())
	})
	_ = unix.Setrlimit(unix.RLIMIT_RTTIME, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
}

// TestIPv4ConnWriteDoesNotAllocate sends adverts on a real raw socket in
// a namespace: the advert path's last step allocates nothing either.
func TestIPv4ConnWriteDoesNotAllocate(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	l.addHost("b", "172.16.1.3")
	var c *IPv4Conn
	err := InNamespace(a.ns, func() (err error) {
		c, err = ListenIPv4(TransportConfig{Interface: "eth1", Source: a.ip})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, err := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 100, AdvertInterval: 10 * time.Millisecond,
		Addresses: []netip.Addr{labVIP.Addr()}}, a.ip, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	allocs := testing.AllocsPerRun(100, func() {
		if err := c.Write(msg, MulticastIPv4); err != nil {
			werr = err
		}
	})
	if werr != nil {
		t.Fatalf("Write: %v", werr)
	}
	if allocs != 0 {
		t.Errorf("IPv4Conn.Write: %v allocations, want 0", allocs)
	}
}

// TestIPv4ConnReadPending: an advert queued on a real raw socket is
// returned without blocking, header stripped, with its source and TTL;
// an empty socket says so at once.
func TestIPv4ConnReadPending(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	open := func(h *labHost) *IPv4Conn {
		var c *IPv4Conn
		if err := InNamespace(h.ns, func() (err error) {
			c, err = ListenIPv4(TransportConfig{Interface: "eth1", Source: h.ip})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ca, cb := open(a), open(b)
	buf := make([]byte, 2048)
	if _, _, ok, err := ca.ReadPending(buf); ok || err != nil {
		t.Fatalf("empty socket: ok %v, err %v", ok, err)
	}
	msg, err := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 100, AdvertInterval: 10 * time.Millisecond,
		Addresses: []netip.Addr{labVIP.Addr()}}, b.ip, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var info PacketInfo
	// Sent again until it arrives: a fresh veth may drop the first frames.
	eventually(t, 5*time.Second, "the advert pending", func() bool {
		if werr := cb.Write(msg, MulticastIPv4); werr != nil {
			t.Fatal(werr)
		}
		time.Sleep(10 * time.Millisecond)
		var ok bool
		n, info, ok, err = ca.ReadPending(buf)
		return ok || err != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != string(msg) || info.Src != b.ip || info.TTL != 255 || info.Dst != MulticastIPv4 {
		t.Errorf("ReadPending: %x %+v, want %x from %v TTL 255 to %v", buf[:n], info, msg, b.ip, MulticastIPv4)
	}
}

// BenchmarkAdvertLatenessStorm measures a MASTER at advert_int 0.01 on
// its real-time thread while every processor runs a storm of check events
// (producers handing a fresh 4 KiB result each to a consumer, as checkers
// do to the daemon: the GC runs hundreds of times a second) and, with
// /reload, the node is reloaded every 50 ms. It reports the share of
// adverts later than LateThreshold (2.5 ms) and the worst lateness: what
// the Go runtime's scheduler and collector cost the VRRP thread (its
// timer fires on whichever processor next schedules; see README).
func BenchmarkAdvertLatenessStorm(b *testing.B) {
	for _, reload := range []bool{false, true} {
		b.Run(map[bool]string{false: "storm", true: "storm+reload"}[reload], func(b *testing.B) {
			testenv.Privileged(b)
			h := &hub{}
			ic := v3Instance("VI_1", "10.0.0.1", 200)
			ic.AdvertInterval = 10 * time.Millisecond
			cfg := Config{Instances: []InstanceConfig{ic}, Thread: ThreadConfig{RTPriority: DefaultRTPriority, RLimitRTTime: DefaultRLimitRTTime}}
			tn := startNode(b, h, cfg)
			eventually(b, 2*time.Second, "MASTER", func() bool { return tn.state(0) == StateMaster })
			var sent, late uint64
			var worst time.Duration
			for b.Loop() {
				before := tn.node.Status()[0].Timing
				stopStorm := checkstorm.Start()
				for k := range 40 {
					if reload {
						next := cfg
						next.Instances = []InstanceConfig{ic}
						next.Instances[0].Notify.Master = fmt.Sprintf("/bin/master-%d.sh", k%2) // an in-place change
						if _, err := tn.node.Update(context.Background(), next); err != nil {
							b.Fatalf("Update: %v", err)
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
				stopStorm()
				after := tn.node.Status()[0].Timing
				sent += after.SendLateness.Count - before.SendLateness.Count
				late += after.LateAdverts - before.LateAdverts
				worst = max(worst, after.SendLateness.Max)
			}
			b.ReportMetric(float64(sent), "adverts")
			b.ReportMetric(100*float64(late)/float64(max(sent, 1)), "%late")
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-late-ms")
		})
	}
}
