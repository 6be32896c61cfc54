package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connectGate bounds how many connect(2) calls run at once in this process.
//
// connect(2) can spend real CPU in the calling thread: to a server on the
// same host the kernel runs the whole TCP handshake inside the call, and
// when source ports toward one server run short it searches the port
// range. With hundreds of probe workers in connect(2) at once the kernel
// scheduler sees hundreds of runnable threads, and VRRP, reloads and the
// control socket get a few percent of a core. The gate keeps at most
// GOMAXPROCS threads in connect(2); waiting for a remote handshake
// (EINPROGRESS, then the poller) happens outside it, so slow or distant
// servers never hold a slot.
type connectGate struct {
	slots chan struct{}
	busy  atomic.Int32
	// peak is the most connects seen in the gate at once (tests read it).
	peak atomic.Int32
}

func newConnectGate(n int) *connectGate {
	return &connectGate{slots: make(chan struct{}, max(n, 1))}
}

var probeGate = sync.OnceValue(func() *connectGate { return newConnectGate(max(2, runtime.GOMAXPROCS(0))) })

func (g *connectGate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	n := g.busy.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return nil
}

func (g *connectGate) release() {
	g.busy.Add(-1)
	<-g.slots
}

// dial opens a TCP connection to addr from bind (if valid or with a port),
// with SO_MARK mark (if not 0), within ctx. Errors are *net.OpError so
// callers can classify them as net.Dial's.
func dial(ctx context.Context, addr, bind netip.AddrPort, mark uint32) (net.Conn, error) {
	return dialGatedIf(ctx, probeGate(), addr, bind, mark, "")
}

// dialIf is dial bound to interface ifname (bind_if) when not empty.
func dialIf(ctx context.Context, addr, bind netip.AddrPort, mark uint32, ifname string) (net.Conn, error) {
	return dialGatedIf(ctx, probeGate(), addr, bind, mark, ifname)
}

func dialGated(ctx context.Context, gate *connectGate, addr, bind netip.AddrPort, mark uint32) (net.Conn, error) {
	return dialGatedIf(ctx, gate, addr, bind, mark, "")
}

func dialGatedIf(ctx context.Context, gate *connectGate, addr, bind netip.AddrPort, mark uint32, ifname string) (net.Conn, error) {
	opErr := func(err error) error {
		oe := &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(addr), Err: err}
		if bind.IsValid() {
			oe.Source = net.TCPAddrFromAddrPort(bind)
		}
		return oe
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	raddr, family, err := sockaddr(addr)
	if err != nil {
		return nil, opErr(err)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, opErr(os.NewSyscallError("socket", err))
	}
	ok := false
	defer func() {
		if !ok {
			_ = unix.Close(fd)
		}
	}()
	if err := setSockOpts(fd, mark, ifname); err != nil {
		return nil, opErr(err)
	}
	if bind.IsValid() || bind.Port() != 0 {
		if !bind.Addr().IsValid() {
			bind = netip.AddrPortFrom(unspecified(family), bind.Port())
		}
		laddr, lfamily, err := sockaddr(bind)
		if err != nil {
			return nil, opErr(err)
		}
		if lfamily != family {
			return nil, opErr(fmt.Errorf("bindto %s and connect address %s are of different families", bind.Addr(), addr.Addr()))
		}
		if err := unix.Bind(fd, laddr); err != nil {
			return nil, opErr(os.NewSyscallError("bind", err))
		}
	}
	if err := gate.acquire(ctx); err != nil {
		return nil, opErr(err)
	}
	err = unix.Connect(fd, raddr)
	gate.release()
	pending := false
	switch {
	case err == nil, errors.Is(err, unix.EISCONN):
	case errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EALREADY), errors.Is(err, unix.EINTR):
		pending = true
	default:
		return nil, opErr(os.NewSyscallError("connect", err))
	}
	// A non-blocking descriptor makes a pollable *os.File: reads, writes and
	// deadlines go through the runtime poller like a net.Conn's, without
	// net.FileConn's dup and keepalive setsockopts.
	f := os.NewFile(uintptr(fd), "tcp "+addr.String())
	ok = true // f owns fd now
	conn := &probeConn{File: f, remote: net.TCPAddrFromAddrPort(addr)}
	if pending {
		if err := waitConnected(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, opErr(err)
		}
	}
	return conn, nil
}

// probeConn is a connected probe socket as a net.Conn.
type probeConn struct {
	*os.File
	remote net.Addr
}

// Close resets the connection (SO_LINGER 0) rather than closing it with a
// FIN, as HAProxy's checks do. The side that closes first keeps the
// connection in TIME_WAIT for 60 s, and a probe is closed first: a
// balancer checking one backend port 1,000 times a second (1,000 virtual
// servers sharing it) would hold 60,000 TIME_WAIT sockets toward it and
// run out of its 28,000 source ports, so connects would fail and burn CPU
// searching for a free port.
func (c *probeConn) Close() error {
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		})
	}
	return c.File.Close()
}

// LocalAddr asks the kernel for the socket's address.
func (c *probeConn) LocalAddr() net.Addr {
	var sa unix.Sockaddr
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) })
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	}
	return &net.TCPAddr{}
}

// RemoteAddr is the address dialed.
func (c *probeConn) RemoteAddr() net.Addr { return c.remote }

// waitConnected waits in the poller until a non-blocking connect finishes.
func waitConnected(ctx context.Context, conn *probeConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	// ctx alone bounds the wait, so its error (deadline or cancel) is the
	// one reported.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var sockErr error
	werr := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			sockErr = os.NewSyscallError("getsockopt", err)
			return true
		}
		switch e := syscall.Errno(v); e {
		case 0:
			// No error yet: connected if the peer is known, else still pending.
			_, err := unix.Getpeername(int(fd))
			return err == nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			sockErr = os.NewSyscallError("connect", e)
			return true
		}
	})
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return werr
	}
	if sockErr != nil {
		return sockErr
	}
	return conn.SetWriteDeadline(time.Time{})
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int, error) {
	a := ap.Addr()
	switch {
	case a.Is4() || a.Is4In6():
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, unix.AF_INET, nil
	case a.Is6():
		sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		if z := a.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, 0, fmt.Errorf("address %s: zone: %w", a, err)
			}
			sa.ZoneId = uint32(ifi.Index) //nolint:gosec // interface indexes are small and positive
		}
		return sa, unix.AF_INET6, nil
	}
	return nil, 0, fmt.Errorf("invalid address %q", ap)
}

func unspecified(family int) netip.Addr {
	if family == unix.AF_INET6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}
