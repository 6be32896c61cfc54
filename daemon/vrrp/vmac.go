package vrrp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// VMACAddress returns the IPv4 virtual router MAC of vrid,
// 00:00:5e:00:01:VRID (RFC 5798 section 7.3).
func VMACAddress(vrid uint8) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
}

// vmacState remembers what ensureVMAC changed, to undo it.
type vmacState struct {
	name, base string
	// created is set when we created the macvlan (an existing matching one
	// is reused, as keepalived does, and also removed at the end).
	created bool
	// arpIgnore and arpFilter are the base interface's arp_ignore and
	// arp_filter before we set them ("" if not changed).
	arpIgnore, arpFilter string
}

// sysctlPath is the /proc/sys file of a per-interface setting.
func sysctlPath(family, ifname, key string) string {
	return "/proc/sys/net/" + family + "/conf/" + ifname + "/" + key
}

// ensureVMAC creates (or reuses) the macvlan name on base with the virtual
// MAC of vrid, in private mode as keepalived does (VMACs of several
// instances on one interface must not talk to each other), and brings it
// up. Before that it turns off IPv6 on it (an IPv4 VMAC must not send
// router solicitations or DAD from the virtual MAC while BACKUP: the
// switch would learn the MAC on the backup's port) and sets arp_ignore 1 on
// base, so that ARP for a VIP is answered by the VMAC with the virtual MAC
// and not by base with its own. inNS runs a function in the node's
// namespace (for the /proc/sys files).
func ensureVMAC(h *netlink.Handle, inNS func(func() error) error, name, base string, vrid uint8) (vmacState, error) {
	st := vmacState{name: name, base: base}
	baseLink, err := h.LinkByName(base)
	if err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: find interface %s: %w", base, err)
	}
	mac := VMACAddress(vrid)
	if l, err := h.LinkByName(name); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		if !ok || mv.ParentIndex != baseLink.Attrs().Index || mv.HardwareAddr.String() != mac.String() {
			return st, fmt.Errorf("vrrp: use_vmac: interface %s exists and is not the VMAC %v on %s (type %s)", name, mac, base, l.Type())
		}
	} else {
		link := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: baseLink.Attrs().Index, HardwareAddr: mac},
			Mode: netlink.MACVLAN_MODE_PRIVATE}
		if err := h.LinkAdd(link); err != nil {
			return st, fmt.Errorf("vrrp: use_vmac: create macvlan %s on %s: %w", name, base, err)
		}
		st.created = true
	}
	err = inNS(func() error {
		if err := writeSysctl(sysctlPath("ipv6", name, "disable_ipv6"), "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		// As keepalived (vrrp_if_config.c): the VMAC answers ARP only for
		// its own addresses (the VIPs), never for the base's, and hears
		// the other balancer's adverts without an address of its own.
		for key, v := range map[string]string{"arp_ignore": "1", "accept_local": "1", "rp_filter": "0"} {
			if err := writeSysctl(sysctlPath("ipv4", name, key), v); err != nil {
				return err
			}
		}
		// The base answers neither for the VIPs (arp_ignore) nor, from
		// the VMAC's side, for its own address (arp_filter).
		for _, set := range []struct {
			key  string
			save *string
		}{{"arp_ignore", &st.arpIgnore}, {"arp_filter", &st.arpFilter}} {
			old, err := os.ReadFile(sysctlPath("ipv4", base, set.key))
			if err != nil {
				return fmt.Errorf("vrrp: use_vmac: read %s of %s: %w", set.key, base, err)
			}
			if v := strings.TrimSpace(string(old)); v == "0" {
				if err := writeSysctl(sysctlPath("ipv4", base, set.key), "1"); err != nil {
					return err
				}
				*set.save = v
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: find %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: set %s up: %w", name, err)
	}
	return st, nil
}

// removeVMAC deletes the macvlan and restores base's arp_ignore and arp_filter.
func removeVMAC(h *netlink.Handle, inNS func(func() error) error, st vmacState) error {
	var errs []error
	if l, err := h.LinkByName(st.name); err == nil {
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: delete VMAC %s: %w", st.name, err))
		}
	}
	for key, v := range map[string]string{"arp_ignore": st.arpIgnore, "arp_filter": st.arpFilter} {
		if v != "" {
			errs = append(errs, inNS(func() error { return writeSysctl(sysctlPath("ipv4", st.base, key), v) }))
		}
	}
	return errors.Join(errs...)
}

func writeSysctl(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("vrrp: set %s to %s: %w", path, value, err)
	}
	return nil
}

// inNamespace runs fn in the node's network namespace.
func (n *Node) inNamespace(fn func() error) error {
	if n.opts.NetNS > 0 {
		return InNamespace(n.opts.NetNS, fn)
	}
	return fn()
}

// ensureVMAC creates in's VMAC (use_vmac) once, before its socket opens.
func (n *Node) ensureVMAC(in *instance) error {
	c := in.cfg
	if c.VMAC == "" || in.vmac != nil {
		return nil
	}
	if n.opts.Netlink == nil {
		return fmt.Errorf("vrrp: use_vmac %s needs a netlink handle", c.VMAC)
	}
	st, err := ensureVMAC(n.opts.Netlink, n.inNamespace, c.VMAC, c.Interface, c.VRID)
	in.vmac = &st // also on error: what was done is undone at the end
	if err != nil {
		return err
	}
	n.log.Info(fmt.Sprintf("(%s) VMAC %s (%v) on %s", c.Name, c.VMAC, VMACAddress(c.VRID), c.Interface), "instance", c.Name)
	return nil
}

// releaseVMAC deletes in's VMAC, once its addresses are gone.
func (n *Node) releaseVMAC(in *instance) {
	if in.vmac == nil {
		return
	}
	if err := removeVMAC(n.opts.Netlink, n.inNamespace, *in.vmac); err != nil {
		n.log.Warn(fmt.Sprintf("(%s) cannot remove VMAC %s", in.cfg.Name, in.vmac.name), "instance", in.cfg.Name, "err", err)
	}
	in.vmac = nil
}
