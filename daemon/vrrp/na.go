package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// AllNodes is ff02::1, where unsolicited neighbour advertisements go (RFC 4861 7.2.6).
var AllNodes = netip.MustParseAddr("ff02::1")

// NASender is a GARPSender for IPv6 addresses: it sends unsolicited
// neighbour advertisements, as keepalived does for an IPv6 VIP on becoming
// master (RFC 5798 6.4.2, RFC 4861 7.2.6): to ff02::1 from the
// interface's link-local address, hop limit 255, Override set, Solicited
// clear, Router set when the interface forwards IPv6 (keepalived reads the
// same sysctl), and the interface's MAC as target link-layer address, so
// that neighbours replace the entry they had for the address. It is built
// on github.com/mdlayher/ndp.
type NASender struct {
	conn   *ndp.Conn
	mac    net.HardwareAddr
	router bool
	name   string
}

var _ GARPSender = (*NASender)(nil)

// DialNA opens an NASender on the interface named ifname in the calling
// thread's network namespace (see InNamespace). The interface needs a
// usable link-local address. It needs CAP_NET_RAW.
func DialNA(ifname string) (*NASender, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("vrrp: neighbour advertisement on %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) == 0 {
		return nil, fmt.Errorf("vrrp: neighbour advertisement on %s: the interface has no link-layer address", ifname)
	}
	conn, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return nil, fmt.Errorf("vrrp: neighbour advertisement on %s: %w", ifname, err)
	}
	// Send only: filter every ICMPv6 type out of the receive queue.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := conn.SetICMPFilter(&f); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("vrrp: neighbour advertisement on %s: filter: %w", ifname, err)
	}
	return &NASender{conn: conn, mac: ifi.HardwareAddr, router: forwardsIPv6(ifname), name: ifname}, nil
}

// forwardsIPv6 reports whether ifname forwards IPv6 (its
// net.ipv6.conf.IF.forwarding sysctl, read in the calling thread's
// namespace); an unreadable sysctl counts as no.
func forwardsIPv6(ifname string) bool {
	b, err := os.ReadFile(sysctlPath("ipv6", ifname, "forwarding"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// UnsolicitedNA returns the neighbour advertisement announcing that ip is
// at mac (router: the sender forwards IPv6).
func UnsolicitedNA(ip netip.Addr, mac net.HardwareAddr, router bool) (*ndp.NeighborAdvertisement, error) {
	if !ip.Is6() || ip.Is4In6() || len(mac) == 0 {
		return nil, fmt.Errorf("vrrp: neighbour advertisement needs an IPv6 address and a link-layer address, got %v and %q", ip, mac)
	}
	return &ndp.NeighborAdvertisement{
		Router:        router,
		Override:      true,
		TargetAddress: ip.WithZone(""),
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}, nil
}

// SendGARP implements GARPSender: one unsolicited NA for ip to ff02::1.
func (s *NASender) SendGARP(ip netip.Addr) error {
	na, err := UnsolicitedNA(ip, s.mac, s.router)
	if err != nil {
		return err
	}
	if err := s.conn.WriteTo(na, nil, AllNodes); err != nil {
		return fmt.Errorf("vrrp: send neighbour advertisement for %v on %s: %w", ip, s.name, err)
	}
	return nil
}

// Close implements GARPSender.
func (s *NASender) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("vrrp: close neighbour advertisement socket on %s: %w", s.name, err)
	}
	return nil
}
