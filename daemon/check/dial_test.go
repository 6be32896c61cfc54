package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullListener listens on loopback with an accept queue that is already
// full, so the kernel drops further SYNs and connects hang until their
// timeout.
func fullListener(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port)) //nolint:gosec // a port
	// Fill the queue: backlog 0 admits one connection that is never accepted.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", a.String(), 200*time.Millisecond)
		if err != nil {
			return a // the queue is full
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("the kernel kept accepting connections on a full backlog; cannot build a hanging connect")
	return a
}

func TestDialConnectsAndTalks(t *testing.T) {
	srv := startRaw(t, func(c net.Conn, req []byte) { _, _ = c.Write([]byte("pong " + string(req))) })
	c, err := dial(context.Background(), srv.addr(), netip.AddrPort{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != srv.addr().String() {
		t.Errorf("RemoteAddr = %v, want %v", c.RemoteAddr(), srv.addr())
	}
	if _, err := c.Write([]byte("ping\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "pong ping") {
		t.Fatalf("read %q", got)
	}
}

func TestDialBindsSource(t *testing.T) {
	var mu sync.Mutex
	var peer string
	srv := startRaw(t, func(c net.Conn, _ []byte) {
		mu.Lock()
		peer = c.RemoteAddr().String()
		mu.Unlock()
	})
	// 127.0.0.2 is local on Linux but never the default source to 127.0.0.1.
	c, err := dial(context.Background(), srv.addr(), netip.MustParseAddrPort("127.0.0.2:0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if la := c.LocalAddr().String(); !strings.HasPrefix(la, "127.0.0.2:") {
		t.Errorf("LocalAddr = %s, want 127.0.0.2:*", la)
	}
	_, _ = c.Write([]byte("x\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.ReadAll(c)
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(peer, "127.0.0.2:") {
		t.Fatalf("server saw %q, want 127.0.0.2:*", peer)
	}
}

func TestDialErrors(t *testing.T) {
	closed := closedPort(t)

	_, err := dial(context.Background(), closed, netip.AddrPort{}, 0)
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("closed port: %v, want *net.OpError with ECONNREFUSED", err)
	}
	if oe.Addr.String() != closed.String() {
		t.Errorf("OpError.Addr = %v", oe.Addr)
	}

	_, err = dial(context.Background(), closed, netip.MustParseAddrPort("[::1]:0"), 0)
	if err == nil || !strings.Contains(err.Error(), "different families") {
		t.Fatalf("IPv6 bindto for an IPv4 server: %v", err)
	}
	_, err = dial(context.Background(), netip.AddrPort{}, netip.AddrPort{}, 0)
	if err == nil || !strings.Contains(err.Error(), "invalid address") {
		t.Fatalf("zero address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dial(ctx, closed, netip.AddrPort{}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestDialTimeoutAndCancelWhilePending(t *testing.T) {
	hang := fullListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := dial(ctx, hang, netip.AddrPort{}, 0)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging connect: %v, want deadline exceeded", err)
	}
	if took < 140*time.Millisecond || took > 2*time.Second {
		t.Fatalf("hanging connect returned after %v, want about 150ms", took)
	}
	r := ProbeTCP(context.Background(), Spec{Kind: KindTCP, Addr: hang, ConnectTimeout: 100 * time.Millisecond})
	if r.OK || r.Failure != FailTimeout || !strings.Contains(r.Reason, "timed out after 100ms") {
		t.Fatalf("TCP_CHECK on a hanging connect = %+v", r)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := dial(ctx, hang, netip.AddrPort{}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled while pending: %v", err)
	}
}

// TestConnectGateBound dials many servers at once through a gate of 2 and
// checks that no more than 2 connect(2) calls ever ran together, and that
// a pending connect (a hanging server) does not hold a slot.
func TestConnectGateBound(t *testing.T) {
	srv := startRaw(t, func(net.Conn, []byte) {})
	hang := fullListener(t)
	g := newConnectGate(2)

	// Two connects wait on the hanging server for the whole test...
	hctx, hcancel := context.WithCancel(context.Background())
	var hangers sync.WaitGroup
	for range 2 {
		hangers.Go(func() { _, _ = dialGated(hctx, g, hang, netip.AddrPort{}, 0) })
	}
	// ...and 64 others still get through the gate of 2.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := dialGated(ctx, g, srv.addr(), netip.AddrPort{}, 0)
			if err != nil {
				errs <- err
				return
			}
			_ = c.Close()
		})
	}
	wg.Wait()
	hcancel()
	hangers.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("dial through the gate: %v", err)
	}
	if p := g.peak.Load(); p < 1 || p > 2 {
		t.Fatalf("peak connects in the gate = %d, want 1..2", p)
	}
	if b := g.busy.Load(); b != 0 {
		t.Fatalf("gate still holds %d slots", b)
	}
}

// TestProbeLeavesNoTimeWait checks that a probe's socket is gone from the
// kernel as soon as the probe is done: no TIME_WAIT, no FIN_WAIT.
func TestProbeLeavesNoTimeWait(t *testing.T) {
	srv := startRaw(t, func(net.Conn, []byte) {})
	c, err := dial(context.Background(), srv.addr(), netip.AddrPort{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr).Port
	if !socketExists(t, local) {
		t.Fatalf("no socket with local port %d while connected: the check below cannot work", local)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if socketExists(t, local) {
		t.Fatalf("local port %d still has a socket after Close (TIME_WAIT or FIN_WAIT)", local)
	}
}

// socketExists reports whether /proc/net/tcp lists a socket bound to
// 127.0.0.1:port.
func socketExists(t *testing.T, port int) bool {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == want {
			return true
		}
	}
	return false
}
