package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VIP is one virtual_ipaddress entry.
type VIP struct {
	// Prefix is the address with its mask (keepalived's default is /32).
	Prefix netip.Prefix
	// Interface carries the address; empty means the instance's interface.
	Interface string
	// Label is the optional address label (keepalived's "label eth1:1").
	Label string
	// Broadcast is the address's broadcast (brd); zero means none.
	Broadcast netip.Addr
	// Scope is the address scope (keepalived's "scope"; 0 is global).
	Scope uint8
	// Flags are IFA_F_* address flags (home, nodad, noprefixroute).
	Flags uint32
	// NoAccept marks an address of an instance without accept mode: while
	// it is on the interface, a VIPFilter drops traffic to and from it.
	NoAccept bool
}

// AddressManager adds and removes virtual addresses. NetlinkAddresses is
// the real one; tests use fakes.
type AddressManager interface {
	// Add adds vip; an address already present is not an error.
	Add(vip VIP) error
	// Remove removes vip; an address already absent is not an error.
	// It reports whether the address was there.
	Remove(vip VIP) (bool, error)
}

// NetlinkAddresses is an AddressManager over a netlink handle, which may be
// opened for any network namespace (netlink.NewHandleAt).
type NetlinkAddresses struct {
	// Handle is the netlink handle of the namespace the addresses live in.
	Handle *netlink.Handle
}

var _ AddressManager = NetlinkAddresses{}

func (n NetlinkAddresses) addr(vip VIP) (netlink.Link, *netlink.Addr, error) {
	link, err := n.Handle.LinkByName(vip.Interface)
	if err != nil {
		return nil, nil, fmt.Errorf("vrrp: find interface %s for %v: %w", vip.Interface, vip.Prefix, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: vip.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(vip.Prefix.Bits(), vip.Prefix.Addr().BitLen())}, Label: vip.Label,
		Scope: int(vip.Scope), Flags: int(vip.Flags)}
	if vip.Broadcast.IsValid() {
		a.Broadcast = vip.Broadcast.AsSlice()
	}
	if vip.Prefix.Addr().Is6() {
		var flags int
		flags, a.ValidLft, a.PreferedLft = ipv6VIPAttrs(vip.Prefix)
		a.Flags |= flags
	}
	return link, a, nil
}

// lifetimeForever is the kernel's infinite address lifetime (INFINITY_LIFE_TIME).
const lifetimeForever = 0xffffffff

// ipv6VIPAttrs returns the address flags and lifetimes (seconds) an IPv6
// VIP is added with, as keepalived adds it: IFA_F_NODAD (the address is
// usable at once; duplicate address detection would hold a new master's
// address "tentative" for a second or more, and VRRP already guarantees
// one owner), a valid lifetime of forever, and a preferred lifetime of 0
// for a /128 (keepalived.conf(5) preferred_lft): a deprecated address is
// never picked as the source of the host's own connections, so health
// checks to real servers, which hold the VIP on lo, do not leave from it.
func ipv6VIPAttrs(p netip.Prefix) (flags, valid, preferred int) {
	preferred = lifetimeForever
	if p.Bits() == 128 {
		preferred = 0
	}
	return unix.IFA_F_NODAD, lifetimeForever, preferred
}

// Add implements AddressManager.
func (n NetlinkAddresses) Add(vip VIP) error {
	link, a, err := n.addr(vip)
	if err != nil {
		return err
	}
	if err := n.Handle.AddrAdd(link, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vrrp: add %v to %s: %w", vip.Prefix, vip.Interface, err)
	}
	return nil
}

// Remove implements AddressManager.
func (n NetlinkAddresses) Remove(vip VIP) (bool, error) {
	link, a, err := n.addr(vip)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return false, nil // no interface (a VMAC not created yet): no address
		}
		return false, err
	}
	if err := n.Handle.AddrDel(link, a); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("vrrp: remove %v from %s: %w", vip.Prefix, vip.Interface, err)
	}
	return true, nil
}

// PrimaryIPv4 returns the first IPv4 address of ifname that is not one of
// vips: the source keepalived uses for adverts when no unicast_src_ip or
// mcast_src_ip is configured.
func PrimaryIPv4(h *netlink.Handle, ifname string, vips []VIP) (netip.Addr, error) {
	link, err := h.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: find interface %s: %w", ifname, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: list addresses of %s: %w", ifname, err)
	}
next:
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		for _, v := range vips {
			if v.Prefix.Addr() == ip {
				continue next
			}
		}
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("vrrp: interface %s has no IPv4 address of its own", ifname)
}
