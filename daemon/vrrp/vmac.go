package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// VMACAddress returns the IPv4 virtual router MAC of vrid,
// 00:00:5e:00:01:VRID (RFC 5798 section 7.3).
func VMACAddress(vrid uint8) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
}

// VMACAddress6 returns the IPv6 virtual router MAC of vrid,
// 00:00:5e:00:02:VRID (RFC 5798 section 7.3).
func VMACAddress6(vrid uint8) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x02, vrid}
}

// vmacAddress is the virtual MAC of an IPv4 (v6 false) or IPv6 instance.
func vmacAddress(vrid uint8, v6 bool) net.HardwareAddr {
	if v6 {
		return VMACAddress6(vrid)
	}
	return VMACAddress(vrid)
}

// vmacSpec is what ensureVMAC creates: the macvlan Name on Base with the
// virtual MAC of VRID for the instance's family (V6), and for an IPv6
// instance LinkLocal, the address its adverts and neighbour
// advertisements leave from.
type vmacSpec struct {
	Name, Base string
	VRID       uint8
	V6         bool
	LinkLocal  netip.Addr
}

// vmacState remembers what ensureVMAC changed, to undo it.
type vmacState struct {
	name, base string
	// owned is set when the link is our VMAC: we created the macvlan, or
	// reused an existing one that matches (a killed predecessor's, as
	// keepalived does). Only an owned link is deleted at the end: an
	// interface of another kind that happens to bear the name is not.
	owned bool
	// arpIgnore and arpFilter are the base interface's arp_ignore and
	// arp_filter before we set them ("" if not changed).
	arpIgnore, arpFilter string
	// mldChain is the chain of VMACTable that moves the VMAC's MLD or
	// IGMP reports to the base (name "" if none).
	mldChain vmacChain
	// mldErr is why the chain could not be made (the VMAC works anyway).
	mldErr error
}

// VMACTable is the nftables table (family ip6 for IPv6 VMACs, ip for
// IPv4 ones: dup needs them) with one chain per VMAC, as keepalived's
// firewall does for VMACs: the VMAC's MLD (IGMP) reports are sent from
// the base instead (dup to the base, then drop) and its router
// solicitations dropped, so that a BACKUP's VMAC never shows the virtual
// MAC to the switches (they would send the VIP's traffic to it), while
// multicast snooping still forwards the groups to this port.
const VMACTable = "drlb_vmac"

// vmacChainName is the VMACTable chain of the VMAC vmac.
func vmacChainName(vmac string) string {
	b := []byte("out_" + vmac)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			b[i] = '_'
		}
	}
	return string(b)
}

// vmacMLDRules are the rules of vmac's chain (base is its parent).
func vmacMLDRules(vmac, base string, v6 bool) []string {
	if !v6 {
		return []string{
			fmt.Sprintf("oifname %q ip protocol igmp dup to ip daddr device %q", vmac, base),
			fmt.Sprintf("oifname %q ip protocol igmp drop", vmac),
		}
	}
	const reports = "{ mld-listener-report, mld2-listener-report }"
	return []string{
		fmt.Sprintf("oifname %q icmpv6 type %s dup to ip6 daddr device %q", vmac, reports, base),
		fmt.Sprintf("oifname %q icmpv6 type { mld-listener-report, mld2-listener-report, nd-router-solicit } drop", vmac),
	}
}

// vmacNFTTimeout bounds each nft command of VMACTable.
const vmacNFTTimeout = 5 * time.Second

// filterVMACMLD installs (or refreshes, after a killed predecessor) the
// chain of vmac in VMACTable; inNS runs in the node's namespace.
func filterVMACMLD(inNS func(func() error) error, vmac, base string, v6 bool) (vmacChain, error) {
	ch := vmacChain{name: vmacChainName(vmac), family: knftables.IPv4Family}
	if v6 {
		ch.family = knftables.IPv6Family
	}
	chain := ch.name
	err := inVMACTable(inNS, ch.family, func(ctx context.Context, nft knftables.Interface) error {
		tx := nft.NewTransaction()
		tx.Add(&knftables.Table{Comment: knftables.PtrTo("drlb: MLD/IGMP reports of VMACs leave from their base")})
		tx.Add(&knftables.Chain{Name: chain, Type: knftables.PtrTo(knftables.FilterType), Hook: knftables.PtrTo(knftables.OutputHook),
			Priority: knftables.PtrTo(knftables.BaseChainPriority("-1"))})
		tx.Flush(&knftables.Chain{Name: chain})
		for _, r := range vmacMLDRules(vmac, base, v6) {
			tx.Add(&knftables.Rule{Chain: chain, Rule: r})
		}
		return nft.Run(ctx, tx)
	})
	if err != nil {
		return vmacChain{}, fmt.Errorf("vrrp: use_vmac: move the MLD/IGMP reports of %s to %s (nftables table %s %s): %w", vmac, base, ch.family, VMACTable, err)
	}
	return ch, nil
}

// inVMACTable runs fn in the node's namespace (inNS) on VMACTable of
// family, with a context of its own bounded by vmacNFTTimeout: VMACs are
// set up and torn down also while the node stops, after its context
// ended.
func inVMACTable(inNS func(func() error) error, family knftables.Family, fn func(context.Context, knftables.Interface) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), vmacNFTTimeout)
	defer cancel()
	return inNS(func() error {
		nft, err := knftables.New(family, VMACTable)
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		return fn(ctx, nft)
	})
}

// removeStaleVMACTables deletes both VMACTable tables if they exist (a
// killed predecessor's; its VMACs get their chains again when reused).
func removeStaleVMACTables(ctx context.Context, run func(func() error) error) error {
	return run(func() error {
		var errs []error
		for _, family := range []knftables.Family{knftables.IPv4Family, knftables.IPv6Family} {
			nft, err := knftables.New(family, VMACTable)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := nft.List(ctx, "chains"); knftables.IsNotFound(err) {
				continue
			}
			tx := nft.NewTransaction()
			tx.Delete(&knftables.Table{})
			errs = append(errs, nft.Run(ctx, tx))
		}
		return errors.Join(errs...)
	})
}

// vmacChain is a chain of VMACTable and the table's family.
type vmacChain struct {
	name   string
	family knftables.Family
}

// unfilterVMACMLD deletes chain from VMACTable, and the table with its
// last chain.
func unfilterVMACMLD(inNS func(func() error) error, ch vmacChain) error {
	err := inVMACTable(inNS, ch.family, func(ctx context.Context, nft knftables.Interface) error {
		tx := nft.NewTransaction()
		tx.Delete(&knftables.Chain{Name: ch.name})
		if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
			return err
		}
		chains, err := nft.List(ctx, "chains")
		if err != nil || len(chains) > 0 {
			return nil
		}
		tx = nft.NewTransaction()
		tx.Delete(&knftables.Table{})
		return nft.Run(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("vrrp: remove chain %s of nftables table %s %s: %w", ch.name, ch.family, VMACTable, err)
	}
	return nil
}

// sysctlPath is the /proc/sys file of a per-interface setting.
func sysctlPath(family, ifname, key string) string {
	return "/proc/sys/net/" + family + "/conf/" + ifname + "/" + key
}

// ensureVMAC creates (or reuses) the macvlan sp.Name on sp.Base with the
// virtual MAC of sp.VRID, in private mode as keepalived does (VMACs of
// several instances on one interface must not talk to each other), and
// brings it up. inNS runs a function in the node's namespace (for the
// /proc/sys files).
//
// IPv4 (keepalived's netlink_link_add_vmac and set_interface_parameters):
// IPv6 is turned off on the VMAC (it must not send router solicitations or
// DAD from the virtual MAC while BACKUP: the switch would learn the MAC on
// the backup's port); arp_ignore 1, accept_local 1 and rp_filter 0 on the
// VMAC and arp_ignore and arp_filter 1 on the base, so that ARP for a VIP
// is answered by the VMAC with the virtual MAC and not by the base.
//
// IPv6: IPv6 is on (disable_ipv6 0, as keepalived's link_set_ipv6), no
// IPv4 setting is touched, the kernel generates no link-local address
// from the virtual MAC (addr_gen_mode none: every router of the VRID
// would have the same one, RFC 5798 section 7.4), and sp.LinkLocal (the
// instance's source: the base's link-local address, or unicast_src_ip) is
// added as a /64 without DAD (the base holds the same address), so
// adverts and unsolicited neighbour advertisements leave the VMAC from a
// router's own address with the virtual MAC.
//
// Both: before the link comes up, a chain of VMACTable moves the VMAC's
// MLD/IGMP reports to the base (see VMACTable).
func ensureVMAC(h *netlink.Handle, inNS func(func() error) error, sp vmacSpec) (vmacState, error) {
	name, base := sp.Name, sp.Base
	st := vmacState{name: name, base: base}
	baseLink, err := h.LinkByName(base)
	if err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: find interface %s: %w", base, err)
	}
	mac := vmacAddress(sp.VRID, sp.V6)
	if l, err := h.LinkByName(name); err == nil {
		mv, ok := l.(*netlink.Macvlan)
		if !ok || mv.ParentIndex != baseLink.Attrs().Index || mv.HardwareAddr.String() != mac.String() {
			return st, fmt.Errorf("vrrp: use_vmac: interface %s exists and is not the VMAC %v on %s (type %s)", name, mac, base, l.Type())
		}
		st.owned = true
	} else {
		link := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: baseLink.Attrs().Index, HardwareAddr: mac},
			Mode: netlink.MACVLAN_MODE_PRIVATE}
		if err := h.LinkAdd(link); err != nil {
			return st, fmt.Errorf("vrrp: use_vmac: create macvlan %s on %s: %w", name, base, err)
		}
		st.owned = true
	}
	if sp.V6 {
		err = inNS(func() error { return writeSysctl(sysctlPath("ipv6", name, "disable_ipv6"), "0") })
	} else {
		err = inNS(st.setIPv4Sysctls)
	}
	if err != nil {
		return st, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: find %s: %w", name, err)
	}
	if sp.V6 {
		if err := h.LinkSetIP6AddrGenMode(l, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
			return st, fmt.Errorf("vrrp: use_vmac: no generated link-local address on %s: %w", name, err)
		}
	}
	// Before the link comes up: its first reports leave then.
	// Without nft (or its dup) the VMAC still works, as keepalived's
	// without a firewall: the caller warns.
	st.mldChain, st.mldErr = filterVMACMLD(inNS, name, base, sp.V6)
	if err := h.LinkSetUp(l); err != nil {
		return st, fmt.Errorf("vrrp: use_vmac: set %s up: %w", name, err)
	}
	if sp.V6 {
		if !sp.LinkLocal.Is6() {
			return st, fmt.Errorf("vrrp: use_vmac: %s needs an IPv6 source address, got %v", name, sp.LinkLocal)
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: sp.LinkLocal.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := h.AddrReplace(l, a); err != nil {
			return st, fmt.Errorf("vrrp: use_vmac: add %v/64 to %s: %w", sp.LinkLocal, name, err)
		}
	}
	return st, nil
}

// setIPv4Sysctls sets the sysctls of an IPv4 VMAC and its base (see
// ensureVMAC), remembering the base's old values; it runs in the node's
// namespace.
func (st *vmacState) setIPv4Sysctls() error {
	name, base := st.name, st.base
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
}

// removeVMAC deletes the macvlan (if owned) and restores base's
// arp_ignore and arp_filter.
func removeVMAC(h *netlink.Handle, inNS func(func() error) error, st vmacState) error {
	var errs []error
	if l, err := h.LinkByName(st.name); err == nil && st.owned {
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: delete VMAC %s: %w", st.name, err))
		}
	}
	for key, v := range map[string]string{"arp_ignore": st.arpIgnore, "arp_filter": st.arpFilter} {
		if v != "" {
			errs = append(errs, inNS(func() error { return writeSysctl(sysctlPath("ipv4", st.base, key), v) }))
		}
	}
	if st.mldChain.name != "" {
		errs = append(errs, unfilterVMACMLD(inNS, st.mldChain))
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

// ensureVMAC creates in's VMAC (use_vmac) and address VMACs
// (use_vmac_addr) once, before its socket opens.
func (n *Node) ensureVMAC(in *instance) error {
	c := in.cfg
	if c.VMAC != "" && in.vmac == nil {
		if n.opts.Netlink == nil {
			return fmt.Errorf("vrrp: use_vmac %s needs a netlink handle", c.VMAC)
		}
		st, err := ensureVMAC(n.opts.Netlink, n.inNamespace, vmacSpec{Name: c.VMAC, Base: c.Interface, VRID: c.VRID, V6: c.IPv6(), LinkLocal: in.source})
		in.vmac = &st // also on error: what was done is undone at the end
		if err != nil {
			return err
		}
		n.warnMLD(c.Name, st)
		n.log.Info(fmt.Sprintf("(%s) VMAC %s (%v) on %s", c.Name, c.VMAC, vmacAddress(c.VRID, c.IPv6()), c.Interface), "instance", c.Name)
	}
	if len(c.AddressVMACs) == 0 || in.addrVMACs != nil {
		return nil
	}
	if n.opts.Netlink == nil {
		return fmt.Errorf("vrrp: use_vmac_addr %s needs a netlink handle", c.AddressVMACs[0].Name)
	}
	in.addrVMACs = make([]vmacState, 0, len(c.AddressVMACs))
	for _, a := range c.AddressVMACs {
		sp := vmacSpec{Name: a.Name, Base: a.Base, VRID: c.VRID, V6: a.V6}
		if a.V6 {
			ll, err := linkLocalOf(n.opts.Netlink, a.Base)
			if err != nil {
				return fmt.Errorf("vrrp: instance %s: address VMAC %s: %w", c.Name, a.Name, err)
			}
			sp.LinkLocal = ll
		}
		st, err := ensureVMAC(n.opts.Netlink, n.inNamespace, sp)
		in.addrVMACs = append(in.addrVMACs, st)
		if err != nil {
			return err
		}
		n.warnMLD(c.Name, st)
		n.log.Info(fmt.Sprintf("(%s) address VMAC %s (%v) on %s", c.Name, a.Name, vmacAddress(c.VRID, a.V6), a.Base), "instance", c.Name)
	}
	return nil
}

// warnMLD logs that the VMAC of st announces the virtual MAC when it
// joins a group, when its chain could not be made.
func (n *Node) warnMLD(instance string, st vmacState) {
	if st.mldErr != nil {
		n.log.Warn(fmt.Sprintf("(%s) VMAC %s: its MLD/IGMP reports will show the virtual MAC", instance, st.name), "instance", instance, "err", st.mldErr)
	}
}

// linkLocalOf is the first IPv6 link-local address of ifname, which an
// IPv6 address VMAC copies (keepalived's base_ifp->sin6_addr).
func linkLocalOf(h *netlink.Handle, ifname string) (netip.Addr, error) {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find interface %s: %w", ifname, err)
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv6 link-local address", ifname)
}

// releaseVMAC deletes in's VMACs, once its addresses are gone.
func (n *Node) releaseVMAC(in *instance) {
	states := in.addrVMACs
	if in.vmac != nil {
		states = append(states, *in.vmac)
	}
	for _, st := range states {
		if err := removeVMAC(n.opts.Netlink, n.inNamespace, st); err != nil {
			n.log.Warn(fmt.Sprintf("(%s) cannot remove VMAC %s", in.cfg.Name, st.name), "instance", in.cfg.Name, "err", err)
		}
	}
	in.vmac, in.addrVMACs = nil, nil
}

// garpExtraIf is how often a MASTER of c sends one more gratuitous ARP
// (or NA) on ifname, an interface carrying some of its VIPs, for
// garp_extra_if (0: never). As keepalived's vrrp_send_vmac_update: on
// c's VMAC, or with "all" on any interface, but not on the interface
// that sends the adverts (the VMAC, or Interface without use_vmac),
// whose adverts already keep the switches' MAC tables, unless
// vmac_xmit_base moved them to the base.
func (c InstanceConfig) garpExtraIf(ifname string) time.Duration {
	if c.GARP.ExtraIf <= 0 {
		return 0
	}
	ours := c.VMAC != "" && ifname == c.VMAC
	if !ours && !c.GARP.ExtraIfAll {
		return 0
	}
	own := c.Interface
	if c.VMAC != "" {
		own = c.VMAC
	}
	if ifname == own && !c.VMACXmitBase {
		return 0
	}
	return c.GARP.ExtraIf
}

// startExtraGARP sends one gratuitous ARP (or NA) for g's first address
// every `every` until ctx ends (the instance leaves MASTER or its bursts
// restart), for garp_extra_if.
func (n *Node) startExtraGARP(ctx context.Context, in *instance, g garpTarget, every time.Duration) {
	if len(g.ips) == 0 {
		return
	}
	name, sent, running := in.cfg.Name, in.garpSent, in.garpRunning
	running.Add(1)
	n.scripts.Go(func() {
		defer running.Add(-1)
		for sleepCtx(ctx, every) {
			if err := g.sender.SendGARP(g.ips[0]); err != nil {
				n.log.Warn(fmt.Sprintf("(%s) garp_extra_if: gratuitous ARP on %s failed", name, g.ifname), "instance", name, "err", err)
				continue
			}
			sent.Add(1)
		}
	})
}
