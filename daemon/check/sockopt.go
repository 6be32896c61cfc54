package check

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// setSockOpts applies a checker's fwmark (SO_MARK) and bind_if
// (SO_BINDTODEVICE) to a socket; zero values leave the socket alone. Both
// need CAP_NET_ADMIN or CAP_NET_RAW, as in keepalived.
func setSockOpts(fd int, mark uint32, ifname string) error {
	if mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("set SO_MARK %d: %w", mark, os.NewSyscallError("setsockopt", err))
		}
	}
	if ifname != "" {
		if err := unix.BindToDevice(fd, ifname); err != nil {
			return fmt.Errorf("bind to interface %s: %w", ifname, os.NewSyscallError("setsockopt", err))
		}
	}
	return nil
}

// sockControl returns a net.Dialer/net.ListenConfig Control function that
// applies setSockOpts.
func sockControl(mark uint32, ifname string) func(network, address string, c syscall.RawConn) error {
	if mark == 0 && ifname == "" {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setSockOpts(int(fd), mark, ifname) }); err != nil {
			return err
		}
		return serr
	}
}

// udpDialer is the dialer of the datagram checkers (DNS_CHECK, UDP_CHECK):
// source address and port from bind, options from mark and ifname.
func udpDialer(spec Spec) *net.Dialer {
	d := &net.Dialer{Timeout: spec.ConnectTimeout, Control: sockControl(spec.FWMark, spec.BindIf)}
	if spec.BindTo.Addr().IsValid() || spec.BindTo.Port() != 0 {
		a := spec.BindTo.Addr()
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
			if spec.Addr.Addr().Is6() && !spec.Addr.Addr().Is4In6() {
				a = netip.IPv6Unspecified()
			}
		}
		d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, spec.BindTo.Port()))
	}
	return d
}
