package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
)

// TrafficClass is the IPv6 traffic class of adverts (DSCP CS6, as the
// IPv4 TOS; keepalived sets the same).
const TrafficClass = TOS

// IPv6Conn is a raw IPv6 next-header-112 socket for an IPv6 instance (RFC
// 5798 5.1.2): hop limit 255 on everything sent (unicast_ttl on unicast
// adverts), the received hop limit and destination delivered with each
// packet (Validate drops a multicast advert's hop limit other than 255), bound to one interface, joined to ff02::12 (or the
// configured group) in multicast mode. The checksum, over the IPv6
// pseudo-header, is Marshal's and Parse's (IPV6_CHECKSUM is not set), so
// that a bad one is counted like any other drop.
//
// Sockets belong to the network namespace they are created in: call
// ListenIPv6 in the right namespace (see InNamespace).
type IPv6Conn struct {
	pc     *ipv6.PacketConn
	ifi    *net.Interface
	source netip.Addr
	// hopLimit is 255, or unicast_ttl for a unicast instance.
	hopLimit int
}

var _ Conn = (*IPv6Conn)(nil)

// ListenIPv6 opens the raw VRRP socket for cfg (Source an IPv6 address,
// usually the interface's link-local one) in the calling thread's network
// namespace. It needs CAP_NET_RAW.
func ListenIPv6(cfg TransportConfig) (*IPv6Conn, error) {
	if !cfg.Source.Is6() || cfg.Source.Is4In6() {
		return nil, fmt.Errorf("vrrp: listen on %s: source %v is not IPv6", cfg.Interface, cfg.Source)
	}
	bind := "::"
	if cfg.Unicast {
		bind = zoned(cfg.Source, cfg.Interface).String()
	}
	var pc *ipv6.PacketConn
	_, ifi, err := listenRaw(cfg, "ip6", bind, "IPv6 ", MulticastIPv6, func(c *net.IPConn, ifi *net.Interface) ([]sockStep, joinFunc) {
		pc = ipv6.NewPacketConn(c)
		return []sockStep{
			{"control messages", func() error {
				return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
			}},
			{"traffic class", func() error { return pc.SetTrafficClass(TrafficClass) }},
			{"hop limit", func() error { return pc.SetHopLimit(cfg.ttl()) }},
			{"multicast hop limit", func() error { return pc.SetMulticastHopLimit(RequiredTTL) }},
			{"multicast interface", func() error { return pc.SetMulticastInterface(ifi) }},
			{"multicast loopback", func() error { return pc.SetMulticastLoopback(false) }},
		}, pc.JoinGroup
	})
	if err != nil {
		return nil, err
	}
	hops := RequiredTTL
	if cfg.Unicast {
		hops = cfg.ttl()
	}
	return &IPv6Conn{pc: pc, ifi: ifi, source: cfg.Source, hopLimit: hops}, nil
}

// zoned returns ip with the interface as its zone when ip is link-local
// (unicast or multicast), which the kernel needs to pick the link.
func zoned(ip netip.Addr, ifname string) netip.Addr {
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return ip.WithZone(ifname)
	}
	return ip
}

// Read implements Conn. The hop limit comes from the IPV6_HOPLIMIT control
// message, the destination from IPV6_PKTINFO.
func (c *IPv6Conn) Read(b []byte) (int, PacketInfo, error) {
	n, cm, src, err := c.pc.ReadFrom(b)
	if err != nil {
		return 0, PacketInfo{}, fmt.Errorf("vrrp: read on %s: %w", c.ifi.Name, err)
	}
	info := PacketInfo{TTL: -1}
	if ipa, ok := src.(*net.IPAddr); ok {
		info.Src, _ = netip.AddrFromSlice(ipa.IP.To16())
	}
	if cm != nil {
		info.TTL = cm.HopLimit
		info.IfIndex = cm.IfIndex
		info.Dst, _ = netip.AddrFromSlice(cm.Dst.To16())
	}
	return n, info, nil
}

// Write implements Conn: from Source, out of the instance's interface,
// hop limit 255.
func (c *IPv6Conn) Write(msg []byte, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{Src: c.source.AsSlice(), IfIndex: c.ifi.Index, HopLimit: c.hopLimit, TrafficClass: TrafficClass}
	to := zoned(dst, c.ifi.Name)
	if _, err := c.pc.WriteTo(msg, cm, &net.IPAddr{IP: to.AsSlice(), Zone: to.Zone()}); err != nil {
		return fmt.Errorf("vrrp: send advert to %v on %s: %w", dst, c.ifi.Name, err)
	}
	return nil
}

// Close implements Conn.
func (c *IPv6Conn) Close() error {
	if err := c.pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("vrrp: close socket on %s: %w", c.ifi.Name, err)
	}
	return nil
}
