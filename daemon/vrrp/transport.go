package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Conn sends and receives VRRP messages (IP payloads, without the IP
// header) for one instance. IPv4Conn is the real one; tests use fakes.
type Conn interface {
	// Read blocks until a message arrives and copies it into b. It returns
	// an error once the Conn is closed.
	Read(b []byte) (n int, info PacketInfo, err error)
	// Write sends one message to dst (the multicast group or a unicast peer).
	Write(msg []byte, dst netip.Addr) error
	// Close ends the Conn and unblocks Read.
	Close() error
}

// TransportConfig says where an IPv4Conn sends and listens.
type TransportConfig struct {
	// Interface is the instance's interface (multicast is joined on it and
	// the socket is bound to it).
	Interface string
	// Source is the source address of our adverts (unicast_src_ip, or the
	// interface's primary address).
	Source netip.Addr
	// Group is the multicast group to join; zero means 224.0.0.18.
	Group netip.Addr
	// Unicast selects unicast_peer mode: no multicast group is joined and the
	// socket only receives packets addressed to Source.
	Unicast bool
	// TTL is the TTL (hop limit) of unicast adverts (unicast_ttl); zero
	// means 255. Multicast adverts always carry 255.
	TTL int
	// RxBufSize is the socket's SO_RCVBUF in bytes (kernel_rx_buf_size,
	// vrrp_rx_bufs_policy); zero keeps the system default. The kernel
	// doubles it and caps it at net.core.rmem_max.
	RxBufSize int
	// RxBufMTUs, when RxBufSize is zero, sizes SO_RCVBUF as this many times
	// the interface's MTU (vrrp_rx_bufs_policy MTU).
	RxBufMTUs int
}

// ttl is the unicast TTL tc asks for.
func (tc TransportConfig) ttl() int {
	if tc.TTL <= 0 || tc.TTL > RequiredTTL {
		return RequiredTTL
	}
	return tc.TTL
}

// IPv4Conn is a raw IPv4 protocol-112 socket: TTL 255 (unicast_ttl for unicast), TOS 0xc0, the
// received TTL delivered with each packet, bound to one interface.
//
// Sockets belong to the network namespace they are created in: call
// ListenIPv4 in the right namespace (see InNamespace).
//
// Write does not allocate: its control message (source, interface) is
// built once and the socket written with sendmsg(2) directly. Writes are
// for one goroutine at a time (the node's loop).
type IPv4Conn struct {
	pc     *ipv4.PacketConn
	ifi    *net.Interface
	source netip.Addr
	// The write path's state, set up once by ListenIPv4.
	rc      syscall.RawConn
	oob     []byte             // IP_PKTINFO: source and interface
	to      unix.SockaddrInet4 // the destination of the current Write
	msg     []byte             // the message of the current Write
	werr    error              // the current Write's sendmsg error
	writeFn func(fd uintptr) bool
}

var _ Conn = (*IPv4Conn)(nil)

// ListenIPv4 opens the raw VRRP socket for cfg in the calling thread's
// network namespace. It needs CAP_NET_RAW.
func ListenIPv4(cfg TransportConfig) (*IPv4Conn, error) {
	if !cfg.Source.Is4() {
		return nil, fmt.Errorf("vrrp: listen on %s: source %v is not IPv4", cfg.Interface, cfg.Source)
	}
	bind := "0.0.0.0"
	if cfg.Unicast {
		bind = cfg.Source.String()
	}
	var pc *ipv4.PacketConn
	c, ifi, err := listenRaw(cfg, "ip4", bind, "", MulticastIPv4, func(c *net.IPConn, ifi *net.Interface) ([]sockStep, joinFunc) {
		pc = ipv4.NewPacketConn(c)
		return []sockStep{
			{"control messages", func() error {
				return pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
			}},
			{"TOS", func() error { return pc.SetTOS(TOS) }},
			{"TTL", func() error { return pc.SetTTL(cfg.ttl()) }},
			{"multicast TTL", func() error { return pc.SetMulticastTTL(RequiredTTL) }},
			{"multicast interface", func() error { return pc.SetMulticastInterface(ifi) }},
			{"multicast loopback", func() error { return pc.SetMulticastLoopback(false) }},
		}, pc.JoinGroup
	})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close() // set-up failed: its error is the one returned
		return nil, fmt.Errorf("vrrp: socket on %s: %w", cfg.Interface, err)
	}
	conn := &IPv4Conn{pc: pc, ifi: ifi, source: cfg.Source, rc: rc,
		oob: (&ipv4.ControlMessage{Src: cfg.Source.AsSlice(), IfIndex: ifi.Index}).Marshal()}
	conn.writeFn = conn.sendmsg
	return conn, nil
}

// sockStep is one socket option ListenIPv4 or ListenIPv6 sets.
type sockStep struct {
	what string
	fn   func() error
}

// joinFunc joins a multicast group on an interface (ipv4.PacketConn's
// and ipv6.PacketConn's JoinGroup).
type joinFunc func(ifi *net.Interface, group net.Addr) error

// listenRaw is what ListenIPv4 and ListenIPv6 share: it opens a raw
// protocol-112 socket on network ("ip4" or "ip6") bound to bind and to
// cfg.Interface, sets the options setup returns and, in multicast mode,
// joins cfg.Group (group when unset) with setup's join. label ("" or
// "IPv6 ") names the socket in errors. On an error the socket is closed.
func listenRaw(cfg TransportConfig, network, bind, label string, group netip.Addr,
	setup func(c *net.IPConn, ifi *net.Interface) ([]sockStep, joinFunc)) (*net.IPConn, *net.Interface, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, nil, fmt.Errorf("vrrp: listen on %s: %w", cfg.Interface, err)
	}
	pc, err := net.ListenPacket(fmt.Sprintf("%s:%d", network, IPProtocol), bind)
	if err != nil {
		return nil, nil, fmt.Errorf("vrrp: open raw %ssocket on %s: %w", label, cfg.Interface, err)
	}
	c := pc.(*net.IPConn)
	ok := false
	defer func() {
		if !ok {
			_ = c.Close() // set-up failed: its error is the one returned
		}
	}()
	if err := bindToDevice(c, cfg.Interface); err != nil {
		return nil, nil, err
	}
	steps, join := setup(c, ifi)
	if size := rxBufSize(cfg, ifi.MTU); size > 0 {
		steps = append(steps, sockStep{"receive buffer", func() error { return c.SetReadBuffer(size) }})
	}
	if !cfg.Unicast {
		if cfg.Group.IsValid() {
			group = cfg.Group
		}
		steps = append(steps, sockStep{"join " + group.String(), func() error {
			return join(ifi, &net.IPAddr{IP: group.AsSlice()})
		}})
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return nil, nil, fmt.Errorf("vrrp: %ssocket on %s: set %s: %w", label, cfg.Interface, s.what, err)
		}
	}
	ok = true
	return c, ifi, nil
}

// bindToDevice restricts the socket to one interface, so that an instance
// never hears adverts from another segment.
func bindToDevice(c *net.IPConn, name string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("vrrp: bind socket to %s: %w", name, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, name)
	}); err != nil {
		return fmt.Errorf("vrrp: bind socket to %s: %w", name, err)
	}
	if serr != nil {
		return fmt.Errorf("vrrp: bind socket to %s: %w", name, serr)
	}
	return nil
}

// Read implements Conn. The TTL comes from the IP_RECVTTL control message.
func (c *IPv4Conn) Read(b []byte) (int, PacketInfo, error) {
	n, cm, src, err := c.pc.ReadFrom(b)
	if err != nil {
		return 0, PacketInfo{}, fmt.Errorf("vrrp: read on %s: %w", c.ifi.Name, err)
	}
	info := PacketInfo{TTL: -1}
	if ipa, ok := src.(*net.IPAddr); ok {
		info.Src, _ = netip.AddrFromSlice(ipa.IP.To4())
	}
	if cm != nil {
		info.TTL = cm.TTL
		info.IfIndex = cm.IfIndex
		info.Dst, _ = netip.AddrFromSlice(cm.Dst.To4())
	}
	return n, info, nil
}

// ReadPending implements PendingReader: one message already queued on
// the socket, or ok false when there is none.
func (c *IPv4Conn) ReadPending(b []byte) (int, PacketInfo, bool, error) {
	oob := make([]byte, 128)
	var nb, noob int
	var from unix.Sockaddr
	var rerr error
	// Control, not Read: the reader goroutine holds the read lock while it
	// waits in the poller.
	err := c.rc.Control(func(fd uintptr) {
		nb, noob, _, from, rerr = unix.Recvmsg(int(fd), b, oob, unix.MSG_DONTWAIT)
	})
	if err == nil {
		err = rerr
	}
	if errors.Is(err, unix.EAGAIN) {
		return 0, PacketInfo{}, false, nil
	}
	if err != nil {
		return 0, PacketInfo{}, false, fmt.Errorf("vrrp: read on %s: %w", c.ifi.Name, err)
	}
	// A raw IPv4 socket delivers the IP header too; ipv4.PacketConn strips
	// it in Read, so do the same.
	if nb < 20 || b[0]>>4 != 4 {
		return 0, PacketInfo{}, false, nil
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 || hl > nb {
		return 0, PacketInfo{}, false, nil
	}
	info := PacketInfo{TTL: int(b[8])}
	if sa, ok := from.(*unix.SockaddrInet4); ok {
		info.Src = netip.AddrFrom4(sa.Addr)
	}
	var cm ipv4.ControlMessage
	if cm.Parse(oob[:noob]) == nil {
		info.IfIndex = cm.IfIndex
		if d, ok := netip.AddrFromSlice(cm.Dst.To4()); ok {
			info.Dst = d
		}
	}
	n := copy(b, b[hl:nb])
	return n, info, true, nil
}

// Write implements Conn: from Source, out of the instance's interface.
// It does not allocate unless it fails.
func (c *IPv4Conn) Write(msg []byte, dst netip.Addr) error {
	c.msg, c.to.Addr, c.werr = msg, dst.As4(), nil
	err := c.rc.Write(c.writeFn)
	c.msg = nil
	if err == nil {
		err = c.werr
	}
	if err != nil {
		return fmt.Errorf("vrrp: send advert to %v on %s: %w", dst, c.ifi.Name, err)
	}
	return nil
}

// sendmsg is the RawConn.Write callback of Write: false asks the runtime
// to wait until the socket is writable.
func (c *IPv4Conn) sendmsg(fd uintptr) bool {
	_, err := unix.SendmsgN(int(fd), c.msg, c.oob, &c.to, 0)
	if err == unix.EAGAIN || err == unix.EINTR {
		return false
	}
	c.werr = err
	return true
}

// Close implements Conn.
func (c *IPv4Conn) Close() error {
	if err := c.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("vrrp: close socket on %s: %w", c.ifi.Name, err)
	}
	return nil
}

// rxBufSize is the SO_RCVBUF cfg asks for on an interface of mtu bytes
// (zero: the system default).
func rxBufSize(cfg TransportConfig, mtu int) int {
	if cfg.RxBufSize > 0 {
		return cfg.RxBufSize
	}
	return max(cfg.RxBufMTUs, 0) * mtu
}
