package topology

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
)

// ResolveARP sends ARP requests for ip from host's iface and returns the
// hardware address that answers, or an error when nobody answers before ctx
// ends. It asks the wire, not the host's neighbour cache.
func (l *Lab) ResolveARP(ctx context.Context, host, iface string, ip netip.Addr) (net.HardwareAddr, error) {
	var client *arp.Client
	err := l.Do(host, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		client, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("arp socket on %s %s: %w", host, iface, err)
	}
	defer func() { _ = client.Close() }()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Second)
	}
	if err := client.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("arp deadline: %w", err)
	}
	mac, err := client.Resolve(ip)
	if err != nil {
		return nil, fmt.Errorf("arp who-has %s from %s: %w", ip, host, err)
	}
	return mac, nil
}

// MAC returns the hardware address of host's iface.
func (l *Lab) MAC(host, iface string) (net.HardwareAddr, error) {
	h, err := l.Handle(host)
	if err != nil {
		return nil, err
	}
	link, err := h.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("find %s in %s: %w", iface, host, err)
	}
	return link.Attrs().HardwareAddr, nil
}
