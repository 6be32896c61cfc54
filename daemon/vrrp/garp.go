package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// GARPSender sends gratuitous ARP for an address on one interface.
type GARPSender interface {
	// SendGARP broadcasts one gratuitous ARP request announcing ip.
	SendGARP(ip netip.Addr) error
	// Close releases the socket.
	Close() error
}

// ARPSender is a GARPSender over an AF_PACKET socket. (mdlayher/arp would
// do, but its mdlayher/packet v1.0.0 does not build against the
// mdlayher/socket version in go.mod, and a send-only socket is short.)
type ARPSender struct {
	fd      int
	ifindex int
	mac     net.HardwareAddr
	name    string
}

var _ GARPSender = (*ARPSender)(nil)

const etherTypeARP = 0x0806

// DialGARP opens a GARPSender on the interface named ifname in the calling
// thread's network namespace (see InNamespace). It needs CAP_NET_RAW.
func DialGARP(ifname string) (*ARPSender, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: gratuitous ARP on %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: gratuitous ARP on %s: not an Ethernet interface (MAC %q)", ifname, ifi.HardwareAddr)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(etherTypeARP)))
	if err != nil {
		return nil, fmt.Errorf("vrrp: gratuitous ARP on %s: open packet socket: %w", ifname, err)
	}
	// Send only: an empty receive buffer keeps the kernel from queueing
	// every ARP frame of the segment for us.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifi.Index}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("vrrp: gratuitous ARP on %s: bind: %w", ifname, err)
	}
	return &ARPSender{fd: fd, ifindex: ifi.Index, mac: ifi.HardwareAddr, name: ifname}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// MarshalGARP returns the Ethernet frame of a gratuitous ARP request from
// mac announcing ip, as keepalived sends it: broadcast, sender and target
// protocol address both ip, padded to the 60-byte minimum.
func MarshalGARP(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(mac) != 6 || !ip.Is4() {
		return nil, fmt.Errorf("vrrp: gratuitous ARP needs a 6-byte MAC and an IPv4 address, got %v and %v", mac, ip)
	}
	b := make([]byte, 60)
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	copy(b[0:], bcast)
	copy(b[6:], mac)
	binary.BigEndian.PutUint16(b[12:], etherTypeARP)
	arp := b[14:]
	binary.BigEndian.PutUint16(arp[0:], 1)      // hardware type Ethernet
	binary.BigEndian.PutUint16(arp[2:], 0x0800) // protocol IPv4
	arp[4], arp[5] = 6, 4
	binary.BigEndian.PutUint16(arp[6:], 1) // request
	copy(arp[8:], mac)
	ip4 := ip.As4()
	copy(arp[14:], ip4[:])
	copy(arp[18:], bcast)
	copy(arp[24:], ip4[:])
	return b, nil
}

// SendGARP implements GARPSender.
func (s *ARPSender) SendGARP(ip netip.Addr) error {
	frame, err := MarshalGARP(s.mac, ip)
	if err != nil {
		return err
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: s.ifindex, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(s.fd, frame, 0, to); err != nil {
		return fmt.Errorf("vrrp: send gratuitous ARP for %v on %s: %w", ip, s.name, err)
	}
	return nil
}

// Close implements GARPSender.
func (s *ARPSender) Close() error {
	if err := unix.Close(s.fd); err != nil {
		return fmt.Errorf("vrrp: close ARP socket on %s: %w", s.name, err)
	}
	return nil
}

// GARPSchedule is keepalived's gratuitous ARP schedule on becoming master.
type GARPSchedule struct {
	// Repeat is how many ARPs per address in each burst (garp_master_repeat, default 5).
	Repeat int
	// Interval is the gap between ARPs of a burst (garp_interval, default 0).
	Interval time.Duration
	// Delay is the wait before the second burst (garp_master_delay, default
	// 5 s); a negative Delay disables the second burst.
	Delay time.Duration
	// Refresh is garp_master_refresh: after the bursts a MASTER sends
	// RefreshRepeat ARPs per address every Refresh (0: never).
	Refresh time.Duration
	// RefreshRepeat is garp_master_refresh_repeat (0 means 1).
	RefreshRepeat int
	// LowerPrioSet says LowerPrioRepeat and LowerPrioDelay replace Repeat
	// and Delay for the ARPs a MASTER sends on hearing a lower-priority
	// advert (garp_lower_prio_repeat, garp_lower_prio_delay); unset, the
	// master schedule is used (keepalived's default).
	LowerPrioSet    bool
	LowerPrioRepeat int
	LowerPrioDelay  time.Duration
	// ExtraIf is garp_extra_if: while MASTER, one ARP (or NA) for the
	// first address of each interface that garpExtraIf selects, every
	// ExtraIf (0: never); ExtraIfAll is its "all".
	ExtraIf    time.Duration
	ExtraIfAll bool
}

// lowerPriority is the schedule after hearing a lower-priority advert.
func (s GARPSchedule) lowerPriority() GARPSchedule {
	if !s.LowerPrioSet {
		return s
	}
	s.Repeat, s.Delay = s.LowerPrioRepeat, s.LowerPrioDelay
	if s.Delay == 0 {
		s.Delay = -1
	}
	return s
}

// GARPLinkWait bounds how long gratuitous ARPs wait for their interface
// to be able to send: the kernel marks a link operationally up after
// carrier, within a second (linkwatch).
const GARPLinkWait = 2 * time.Second

// garpRetry is the gap between attempts while the link is not ready.
const garpRetry = 10 * time.Millisecond

// SendGARPBursts announces ips with s's schedule: a burst now, one after
// Delay, then RefreshRepeat ARPs every Refresh while ctx lasts. It returns early when ctx ends (the instance left MASTER) and
// reports each send error through onErr; it returns the number sent. An
// ARP refused because the interface is down (ENETDOWN, just after link-up)
// is retried every 10 ms for up to GARPLinkWait before it counts as failed.
func SendGARPBursts(ctx context.Context, sender GARPSender, ips []netip.Addr, s GARPSchedule, onErr func(error)) int {
	sent := 0
	var downSince time.Time
	send := func(ip netip.Addr) error {
		for {
			err := sender.SendGARP(ip)
			if err == nil || !errors.Is(err, unix.ENETDOWN) {
				return err
			}
			if downSince.IsZero() {
				downSince = time.Now()
			}
			if time.Since(downSince) >= GARPLinkWait || !sleepCtx(ctx, garpRetry) {
				return err
			}
		}
	}
	burst := func() bool {
		for i := range s.Repeat {
			if i > 0 && s.Interval > 0 && !sleepCtx(ctx, s.Interval) {
				return false
			}
			for _, ip := range ips {
				if ctx.Err() != nil {
					return false
				}
				if err := send(ip); err != nil {
					onErr(err)
					continue
				}
				sent++
			}
		}
		return true
	}
	if !burst() {
		return sent
	}
	if s.Delay >= 0 && (!sleepCtx(ctx, s.Delay) || !burst()) {
		return sent
	}
	if s.Refresh <= 0 {
		return sent
	}
	s.Repeat = max(s.RefreshRepeat, 1)
	for sleepCtx(ctx, s.Refresh) {
		if !burst() {
			break
		}
	}
	return sent
}

// sleepCtx waits d (a schedule, not readiness) and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitOperUp waits until ifname's operational state is UP (or UNKNOWN,
// which interfaces without carrier reporting keep), checking every 10 ms
// until ctx ends.
func waitOperUp(ctx context.Context, h *netlink.Handle, ifname string) error {
	for {
		link, err := h.LinkByName(ifname)
		if err == nil {
			if st := link.Attrs().OperState; st == netlink.OperUp || st == netlink.OperUnknown {
				return nil
			}
		}
		if !sleepCtx(ctx, garpRetry) {
			if err != nil {
				return fmt.Errorf("vrrp: wait for %s: %w", ifname, err)
			}
			return fmt.Errorf("vrrp: %s is not operationally up: %w", ifname, ctx.Err())
		}
	}
}
