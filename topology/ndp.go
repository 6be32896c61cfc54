package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
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
	macs, err := l.solicit(ctx, host, iface, ip, false)
	if err != nil {
		return nil, err
	}
	return macs[0], nil
}

// NDPAnswers solicits ip from host's iface as ResolveNDP does, but keeps
// listening until ctx ends (default 2 s) and returns every distinct
// link-layer address that advertised ip, in the order they answered
// (none is not an error). It tells "only the balancer answers" apart from
// "the balancer answered first".
func (l *Lab) NDPAnswers(ctx context.Context, host, iface string, ip netip.Addr) ([]net.HardwareAddr, error) {
	return l.solicit(ctx, host, iface, ip, true)
}

// solicit sends solicitations for ip until ctx's deadline and collects the
// advertised link-layer addresses: the first one (all false) or all of them.
func (l *Lab) solicit(ctx context.Context, host, iface string, ip netip.Addr, all bool) ([]net.HardwareAddr, error) {
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
	group, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, fmt.Errorf("solicited-node group of %s: %w", ip, err)
	}
	ns := &ndp.NeighborSolicitation{
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	// Solicit again every 300 ms, as a host retransmits (RetransTimer is 1 s;
	// shorter keeps tests quick), until an answer (or, for all, the deadline).
	var macs []net.HardwareAddr
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
				if all {
					return macs, nil
				}
				return nil, fmt.Errorf("neighbour solicitation for %s from %s: no advertisement: %w", ip, host, err)
			}
			return nil, fmt.Errorf("read neighbour advertisement on %s: %w", host, err)
		}
		na, ok := msg.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != ip {
			continue
		}
		mac := targetLLA(na)
		if mac == nil {
			return nil, fmt.Errorf("neighbour advertisement for %s without a target link-layer address", ip)
		}
		if !all {
			return []net.HardwareAddr{mac}, nil
		}
		if !slices.ContainsFunc(macs, func(m net.HardwareAddr) bool { return m.String() == mac.String() }) {
			macs = append(macs, mac)
		}
	}
}

// targetLLA is the target link-layer address option of an advertisement.
func targetLLA(na *ndp.NeighborAdvertisement) net.HardwareAddr {
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			return lla.Addr
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
