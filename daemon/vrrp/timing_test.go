package vrrp

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHistogramObserve(t *testing.T) {
	for _, tt := range []struct {
		d      time.Duration
		bucket int // -1: above every bound
	}{
		{-time.Millisecond, 0},
		{0, 0},
		{100 * time.Microsecond, 0},
		{101 * time.Microsecond, 1},
		{3 * time.Millisecond, 5},
		{10 * time.Millisecond, 6},
		{10*time.Millisecond + 1, 7},
		{10 * time.Second, len(LatenessBuckets) - 1},
		{time.Minute, -1},
	} {
		var h Histogram
		h.Observe(tt.d)
		got := -1
		for k, c := range h.Counts {
			if c == 1 {
				got = k
			}
		}
		if got != tt.bucket || h.Count != 1 || h.Max != max(tt.d, 0) {
			t.Errorf("Observe(%v): bucket %d count %d max %v, want bucket %d", tt.d, got, h.Count, h.Max, tt.bucket)
		}
	}
	var h Histogram
	for _, d := range []time.Duration{time.Millisecond, time.Millisecond, time.Second} {
		h.Observe(d)
	}
	cum := h.Cumulative()
	if cum[0.001] != 2 || cum[1] != 3 || cum[10] != 3 || cum[0.0001] != 0 {
		t.Errorf("Cumulative = %v", cum)
	}
}

func TestLateThreshold(t *testing.T) {
	for _, tt := range []struct{ interval, want time.Duration }{
		{time.Second, 250 * time.Millisecond},
		{100 * time.Millisecond, 25 * time.Millisecond},
		{10 * time.Millisecond, 2500 * time.Microsecond},
		{2 * time.Millisecond, time.Millisecond},
	} {
		if got := LateThreshold(tt.interval); got != tt.want {
			t.Errorf("LateThreshold(%v) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

func TestTimingWarnings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	master := netip.MustParseAddr("172.16.1.2").As16()
	other := netip.MustParseAddr("172.16.1.3").As16()

	var ts timingState
	// On time and slightly late: histogram only.
	if msg, _ := ts.sent(t0, t0.Add(ms), 10*ms); msg != "" {
		t.Errorf("1 ms late at 10 ms: warned %q", msg)
	}
	// Late beyond a quarter interval: warned once, then rate-limited and counted.
	if msg, _ := ts.sent(t0, t0.Add(5*ms), 10*ms); !strings.Contains(msg, "advert sent 5ms late") {
		t.Errorf("5 ms late: %q", msg)
	}
	if msg, _ := ts.sent(t0.Add(time.Second), t0.Add(time.Second+5*ms), 10*ms); msg != "" {
		t.Errorf("second late advert within %v: warned %q", TimingWarnInterval, msg)
	}
	msg, held := ts.sent(t0.Add(20*time.Second), t0.Add(20*time.Second+5*ms), 10*ms)
	if msg == "" || held != 1 {
		t.Errorf("late advert after %v: %q, %d held, want a warning with 1 held", TimingWarnInterval, msg, held)
	}
	if ts.t.LateAdverts != 3 || ts.t.SendLateness.Count != 4 {
		t.Errorf("LateAdverts %d, sends %d; want 3 and 4", ts.t.LateAdverts, ts.t.SendLateness.Count)
	}

	// Receive gaps from one master; another source starts over.
	ts = timingState{}
	down := 32 * ms
	for k := range 3 {
		if msg, _ := ts.received(master, t0.Add(time.Duration(k)*10*ms), down); msg != "" {
			t.Errorf("regular advert %d: %q", k, msg)
		}
	}
	ts.received(other, t0.Add(25*ms), down)
	if g := ts.t.ReceiveGap; g.Count != 2 || g.Max != 10*ms {
		t.Errorf("ReceiveGap count %d max %v, want 2 and 10ms", g.Count, g.Max)
	}

	// The master-down timer fires 1 ms late (not worth a warning), then the
	// master's advert arrives 5 ms later: its adverts were merely late.
	ts = timingState{}
	ts.received(master, t0, down)
	if msg, _ := ts.masterDown(t0.Add(down), t0.Add(down+ms), master, 10*ms); msg != "" {
		t.Errorf("timer 1 ms late: %q", msg)
	}
	msg, _ = ts.received(master, t0.Add(down+6*ms), down)
	if !strings.Contains(msg, "master-down timer fired although the master was alive") || ts.t.FalseMasterDowns != 1 {
		t.Errorf("late master advert: %q, FalseMasterDowns %d", msg, ts.t.FalseMasterDowns)
	}
	// A master that returns after its down interval was really gone.
	ts.masterDown(t0.Add(time.Second), t0.Add(time.Second), master, 10*ms)
	if msg, _ := ts.received(master, t0.Add(2*time.Second), down); msg != "" || ts.t.FalseMasterDowns != 1 {
		t.Errorf("master back after 1 s: %q, FalseMasterDowns %d", msg, ts.t.FalseMasterDowns)
	}
	// Our own timer seen late: this machine was busy.
	if msg, _ := ts.masterDown(t0.Add(3*time.Second), t0.Add(3*time.Second+20*ms), master, 10*ms); !strings.Contains(msg, "seen 20ms late") {
		t.Errorf("timer 20 ms late: %q", msg)
	}
}

// nopConn is a Conn that sends nowhere, for the allocation test.
type nopConn struct{ sent int }

func (c *nopConn) Read([]byte) (int, PacketInfo, error) { select {} }
func (c *nopConn) Write(msg []byte, _ netip.Addr) error { c.sent++; return nil }
func (c *nopConn) Close() error                         { return nil }

// TestAdvertPathDoesNotAllocate: a MASTER's advert timer (state machine,
// cached advert, write, lateness, the loop's publish) allocates nothing,
// so that the VRRP goroutine is never drafted into GC assists and gives
// the collector nothing to do at 100 adverts a second.
func TestAdvertPathDoesNotAllocate(t *testing.T) {
	ic := v3Instance("VI_1", "172.16.1.2", 200)
	ic.AdvertInterval = 10 * time.Millisecond
	ic.UnicastPeers = []netip.Addr{netip.MustParseAddr("172.16.1.3"), netip.MustParseAddr("172.16.1.4")}
	n, err := NewNode(Config{Instances: []InstanceConfig{ic}}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in := n.insts[0]
	conn := &nopConn{}
	in.conn, in.source = conn, ic.SourceIP
	in.dsts = ic.UnicastPeers
	in.setParams()
	now := time.Now()
	in.m, _ = Step(in.m, EventStartup{}, now) // BACKUP
	in.m, _ = Step(in.m, EventTimer{}, now.Add(time.Second))
	if in.m.State != StateMaster {
		t.Fatalf("state %v, want MASTER", in.m.State)
	}
	n.publish()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		now = now.Add(10 * time.Millisecond)
		in.m.TimerAt = now
		n.timerFired(ctx, now)
		n.publish()
	})
	if allocs != 0 {
		t.Errorf("advert path: %v allocations per advert, want 0", allocs)
	}
	if conn.sent < 400 {
		t.Errorf("%d adverts written, want ≥ 400 (2 peers × 200 runs)", conn.sent)
	}
	if st := n.Status()[0]; st.Timing.SendLateness.Count < 200 || st.Counters.AdvertsSent < 400 {
		t.Errorf("status: %d lateness samples, %d adverts sent", st.Timing.SendLateness.Count, st.Counters.AdvertsSent)
	}
}

// pendingConn has adverts waiting in its "socket" for ReadPending.
type pendingConn struct {
	nopConn
	pending [][]byte
	src     netip.Addr
}

func (c *pendingConn) ReadPending(b []byte) (int, PacketInfo, bool, error) {
	if len(c.pending) == 0 {
		return 0, PacketInfo{}, false, nil
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return copy(b, m), PacketInfo{Src: c.src, Dst: MulticastIPv4, TTL: 255}, true, nil
}

// TestMasterDownReadsPendingAdverts: when a backup's master-down timer
// falls due while the master's advert already arrived (queued for the
// loop, or still in the socket), the advert is handled first and the
// backup stays BACKUP.
func TestMasterDownReadsPendingAdverts(t *testing.T) {
	master := netip.MustParseAddr("172.16.1.3")
	advert, err := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 250, AdvertInterval: 10 * time.Millisecond,
		Addresses: []netip.Addr{testVIP.Addr()}}, master, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"queued", "socket", "nowhere"} {
		t.Run(where, func(t *testing.T) {
			ic := v3Instance("VI_1", "172.16.1.2", 200)
			ic.AdvertInterval = 10 * time.Millisecond
			n, err := NewNode(Config{Instances: []InstanceConfig{ic}}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Addresses: &fakeAddrs{have: map[netip.Prefix]bool{}}, DialGARP: func(string) (GARPSender, error) { return &fakeGARP{}, nil },
				RunScript: (&scriptLog{fail: map[string]bool{}}).run})
			if err != nil {
				t.Fatal(err)
			}
			n.packets = make(chan packetIn, 4)
			in := n.insts[0]
			conn := &pendingConn{src: master}
			in.conn, in.source, in.dsts = conn, ic.SourceIP, []netip.Addr{MulticastIPv4}
			in.setParams()
			now := time.Now()
			in.m, _ = Step(in.m, EventStartup{}, now)
			in.m, _ = Step(in.m, EventAdvert{Src: master, Priority: 250, AdvertInterval: ic.AdvertInterval}, now)
			// The master-down timer fell due a moment ago.
			in.m.TimerAt = time.Now().Add(-time.Millisecond)
			due := in.m.TimerAt
			switch where {
			case "queued":
				n.packets <- packetIn{from: in, data: advert, info: PacketInfo{Src: master, Dst: MulticastIPv4, TTL: 255}, at: due.Add(-time.Millisecond)}
			case "socket":
				conn.pending = [][]byte{advert}
			}
			n.bg = context.Background()
			n.timerFired(context.Background(), time.Now())
			want := StateBackup
			if where == "nowhere" {
				want = StateMaster
			}
			if in.m.State != want {
				t.Errorf("advert %s: state %v, want %v", where, in.m.State, want)
			}
		})
	}
}
