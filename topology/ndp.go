package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/ndp"
)

// ResolveNDP sends IPv6 neighbour solicitations (RFC 4861 section 7.2.2) for
// ip from host's iface, sourced from its link-local address and addressed to
// ip's solicited-node multicast group, and returns the link-layer address of
// the first neighbour advertisement for ip. It asks the wire, not the host's
// neighbour cache: an error means nobody answered before ctx ended (default 2 s).
// It is the IPv6 counterpart of ResolveARP.
func (l *Lab) ResolveNDP(ctx context.Context, host, iface string, ip netip.Addr) (net.HardwareAddr, error) {
	if !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("neighbour solicitation for %s: not an IPv6 address", ip)
	}
	var (
		conn *ndp.Conn
		ifi  *net.Interface
	)
	err := l.Do(host, func() error {
		var err error
		ifi, err = net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		conn, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ndp socket on %s %s: %w", host, iface, err)
	}
	defer func() { _ = conn.Close() }()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Second)
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("ndp deadline: %w", err)
	}
	group, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, fmt.Errorf("solicited-node group of %s: %w", ip, err)
	}
	ns := &ndp.NeighborSolicitation{
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	// Solicit again every 300 ms, as a host retransmits (RetransTimer is 1 s;
	// shorter keeps tests quick), until an answer or the deadline.
	next := time.Now()
	for {
		if !time.Now().Before(next) {
			if err := conn.WriteTo(ns, nil, group); err != nil {
				return nil, fmt.Errorf("send neighbour solicitation for %s from %s: %w", ip, host, err)
			}
			next = time.Now().Add(300 * time.Millisecond)
			if err := conn.SetReadDeadline(minTime(next, deadline)); err != nil {
				return nil, fmt.Errorf("ndp deadline: %w", err)
			}
		}
		msg, _, _, err := conn.ReadFrom()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline) {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("neighbour solicitation for %s from %s: no advertisement: %w", ip, host, err)
			}
			return nil, fmt.Errorf("read neighbour advertisement on %s: %w", host, err)
		}
		na, ok := msg.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != ip {
			continue
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				return lla.Addr, nil
			}
		}
		return nil, fmt.Errorf("neighbour advertisement for %s without a target link-layer address", ip)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
