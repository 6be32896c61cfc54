package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"sigs.k8s.io/knftables"
)

// AcceptTable is the nftables table (family inet, for IPv4 and IPv6 VIPs)
// holding the drop rules of instances without accept mode; keepalived's is
// "keepalived", also inet.
const AcceptTable = "drlb_vrrp"

// VIPFilter drops packets addressed to (and sent from) virtual addresses of
// instances without accept mode while they are MASTER, as RFC 5798 section
// 6.4.3 asks of a master that is not the address owner and Accept_Mode is
// false. NFTFilter is the real one; tests use fakes.
type VIPFilter interface {
	// Block starts dropping traffic to and from addr.
	Block(addr netip.Addr) error
	// Unblock stops dropping it; an address not blocked is not an error.
	Unblock(addr netip.Addr) error
	// SetServices lists the virtual services whose traffic is accepted
	// even to a blocked address (the IPVS data plane sees it after the
	// filter's input hook; keepalived drops it).
	SetServices(services []ServicePort) error
	// Close removes every rule of the filter.
	Close() error
}

// ServicePort is a virtual service: address, protocol (tcp, udp or sctp, as
// nft names them) and port.
type ServicePort struct {
	Addr     netip.Addr
	Protocol string
	Port     uint16
}

// NFTFilter is a VIPFilter in its own nftables table (family inet), laid
// out as keepalived's: sets "vips" (IPv4) and "vips6" (IPv6), a chain "in"
// (hook input, priority -1) with "ip daddr @vips drop" and "ip6 daddr
// @vips6 drop" and a chain "out" (hook output, priority -1) with "ip saddr
// @vips drop" and "ip6 saddr @vips6 drop". Before the drops, "in" accepts
// the virtual services of the sets "services" and "services6" (drlb's
// addition, for IPVS), and both chains accept neighbour solicitations and
// advertisements (the IPv6 counterpart of ARP, which nftables' ip and ip6
// hooks never see: without them the master could not answer for its own
// IPv6 VIP, whose advertisements leave from the VIP). Traffic that drlb's
// nftables data plane forwards (netdev ingress) never reaches the input
// hook, so virtual services keep working; only traffic for the VIP itself
// is dropped.
type NFTFilter struct {
	ctx context.Context
	nft knftables.Interface
	// run executes fn in the filter's network namespace.
	run func(fn func() error) error
	mu  sync.Mutex
}

var _ VIPFilter = (*NFTFilter)(nil)

// NewNFTFilter creates (or empties, after a killed predecessor) the table
// AcceptTable; run executes a function in the namespace the table belongs
// to (nil: the calling thread's). Every nft command of the filter runs
// with ctx, which must outlive the filter's Close. It needs the nft
// command.
func NewNFTFilter(ctx context.Context, run func(fn func() error) error) (*NFTFilter, error) {
	if run == nil {
		run = func(fn func() error) error { return fn() }
	}
	f := &NFTFilter{ctx: ctx, run: run}
	err := run(func() (err error) {
		f.nft, err = knftables.New(knftables.InetFamily, AcceptTable)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vrrp: open nftables table inet %s: %w", AcceptTable, err)
	}
	return f, f.apply(func(tx *knftables.Transaction) {
		tx.Add(&knftables.Table{Comment: knftables.PtrTo("drlb: VRRP no_accept (drops traffic to VIPs of masters without accept mode)")})
		tx.Flush(&knftables.Table{})
		tx.Add(&knftables.Set{Name: "vips", Type: "ipv4_addr"})
		tx.Add(&knftables.Set{Name: "vips6", Type: "ipv6_addr"})
		tx.Add(&knftables.Set{Name: "services", Type: "ipv4_addr . inet_proto . inet_service"})
		tx.Add(&knftables.Set{Name: "services6", Type: "ipv6_addr . inet_proto . inet_service"})
		const nd = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"
		for _, c := range []struct {
			name  string
			rules []string
			hook  knftables.BaseChainHook
		}{
			{"in", []string{"ip daddr . meta l4proto . th dport @services accept", "ip6 daddr . meta l4proto . th dport @services6 accept",
				nd, "ip daddr @vips drop", "ip6 daddr @vips6 drop"}, knftables.InputHook},
			{"out", []string{nd, "ip saddr @vips drop", "ip6 saddr @vips6 drop"}, knftables.OutputHook},
		} {
			tx.Add(&knftables.Chain{Name: c.name, Type: knftables.PtrTo(knftables.FilterType), Hook: knftables.PtrTo(c.hook),
				Priority: knftables.PtrTo(knftables.BaseChainPriority("-1"))})
			for _, r := range c.rules {
				tx.Add(&knftables.Rule{Chain: c.name, Rule: r})
			}
		}
	})
}

func (f *NFTFilter) apply(build func(tx *knftables.Transaction)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := f.nft.NewTransaction()
	build(tx)
	return f.run(func() error { return f.nft.Run(f.ctx, tx) })
}

// vipSet is the set of addr's family: "vips" or "vips6".
func vipSet(addr netip.Addr) string {
	if addr.Is6() && !addr.Is4In6() {
		return "vips6"
	}
	return "vips"
}

// Block implements VIPFilter.
func (f *NFTFilter) Block(addr netip.Addr) error {
	addr = addr.Unmap()
	if err := f.apply(func(tx *knftables.Transaction) {
		tx.Add(&knftables.Element{Set: vipSet(addr), Key: []string{addr.String()}})
	}); err != nil {
		return fmt.Errorf("vrrp: drop traffic to %v (no_accept): %w", addr, err)
	}
	return nil
}

// Unblock implements VIPFilter.
func (f *NFTFilter) Unblock(addr netip.Addr) error {
	addr = addr.Unmap()
	err := f.apply(func(tx *knftables.Transaction) {
		// Add first: deleting an absent element is an error in nft.
		tx.Add(&knftables.Element{Set: vipSet(addr), Key: []string{addr.String()}})
		tx.Delete(&knftables.Element{Set: vipSet(addr), Key: []string{addr.String()}})
	})
	if err != nil {
		return fmt.Errorf("vrrp: accept traffic to %v again: %w", addr, err)
	}
	return nil
}

// SetServices implements VIPFilter.
func (f *NFTFilter) SetServices(services []ServicePort) error {
	if err := f.apply(func(tx *knftables.Transaction) {
		tx.Flush(&knftables.Set{Name: "services"})
		tx.Flush(&knftables.Set{Name: "services6"})
		for _, s := range services {
			set := "services"
			if addr := s.Addr.Unmap(); addr.Is6() {
				set = "services6"
			}
			tx.Add(&knftables.Element{Set: set, Key: []string{s.Addr.Unmap().String(), s.Protocol, strconv.Itoa(int(s.Port))}})
		}
	}); err != nil {
		return fmt.Errorf("vrrp: accept virtual services to blocked VIPs: %w", err)
	}
	return nil
}

// Close implements VIPFilter: it deletes the table.
func (f *NFTFilter) Close() error {
	if err := f.apply(func(tx *knftables.Transaction) {
		tx.Add(&knftables.Table{})
		tx.Delete(&knftables.Table{})
	}); err != nil {
		return fmt.Errorf("vrrp: remove nftables table inet %s: %w", AcceptTable, err)
	}
	return nil
}

// filteredAddresses adds a VIP of an instance without accept mode to the
// filter when it is added to the interface, and takes it out when it is
// removed, so the drop rules follow the MASTER state exactly.
type filteredAddresses struct {
	AddressManager
	filter VIPFilter
}

// Add implements AddressManager.
func (f filteredAddresses) Add(vip VIP) error {
	if vip.NoAccept {
		if err := f.filter.Block(vip.Prefix.Addr()); err != nil {
			return err
		}
	}
	return f.AddressManager.Add(vip)
}

// Remove implements AddressManager.
func (f filteredAddresses) Remove(vip VIP) (bool, error) {
	removed, err := f.AddressManager.Remove(vip)
	if vip.NoAccept {
		if uerr := f.filter.Unblock(vip.Prefix.Addr()); uerr != nil && err == nil {
			err = uerr
		}
	}
	return removed, err
}

// lazyFilter creates its NFTFilter on the first Block, so that a
// configuration with accept everywhere (keepalived's default) leaves
// nftables alone, and a reload that adds no_accept still gets one.
type lazyFilter struct {
	open     func() (VIPFilter, error)
	mu       sync.Mutex
	filter   VIPFilter
	services []ServicePort
}

// Block implements VIPFilter.
func (l *lazyFilter) Block(addr netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.filter == nil {
		if l.open == nil {
			return fmt.Errorf("vrrp: drop traffic to %v (no_accept): the filter is not started", addr)
		}
		f, err := l.open()
		if err != nil {
			return err
		}
		if err := f.SetServices(l.services); err != nil {
			_ = f.Close() // half set up: its error is the one returned
			return err
		}
		l.filter = f
	}
	return l.filter.Block(addr)
}

// Unblock implements VIPFilter.
func (l *lazyFilter) Unblock(addr netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.filter == nil {
		return nil
	}
	return l.filter.Unblock(addr)
}

// SetServices implements VIPFilter.
func (l *lazyFilter) SetServices(services []ServicePort) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.services = services
	if l.filter == nil {
		return nil
	}
	return l.filter.SetServices(services)
}

// Close implements VIPFilter.
func (l *lazyFilter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.filter == nil {
		return nil
	}
	err := l.filter.Close()
	l.filter = nil
	return err
}

// setupAcceptFilter wraps the real address manager with the no_accept
// filter (Options.AcceptFilter, else an NFTFilter created when the first
// address is blocked, whose commands run with startAcceptFilter's context).
func (n *Node) setupAcceptFilter() {
	f := n.opts.AcceptFilter
	if f == nil {
		f = &lazyFilter{}
	}
	n.filter = f
	n.opts.Addresses = filteredAddresses{AddressManager: n.opts.Addresses, filter: f}
	n.setAcceptServices(n.cfg.AcceptServices)
}

// startAcceptFilter gives the lazily created filter its context: it must
// outlive Run's, since Close deletes the table after Run's context ended.
// A table left by a killed predecessor is removed first: its drop rules
// would otherwise outlive a configuration that accepts.
func (n *Node) startAcceptFilter(ctx context.Context) {
	l, ok := n.filter.(*lazyFilter)
	if !ok {
		return
	}
	l.mu.Lock()
	l.open = func() (VIPFilter, error) { return NewNFTFilter(ctx, n.inNamespace) }
	l.mu.Unlock()
	if err := removeStaleAcceptTable(ctx, n.inNamespace); err != nil {
		n.log.Debug("no stale no_accept table removed", "err", err)
	}
	if err := removeStaleVMACTables(ctx, n.inNamespace); err != nil {
		n.log.Debug("no stale VMAC table removed", "err", err)
	}
}

// removeStaleAcceptTable deletes the table AcceptTable if it exists (also
// the family ip one of drlb versions that filtered IPv4 only).
func removeStaleAcceptTable(ctx context.Context, run func(func() error) error) error {
	return run(func() error {
		var errs []error
		for _, family := range []knftables.Family{knftables.InetFamily, knftables.IPv4Family} {
			nft, err := knftables.New(family, AcceptTable)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, err := nft.List(ctx, "set"); knftables.IsNotFound(err) {
				continue
			}
			tx := nft.NewTransaction()
			tx.Delete(&knftables.Table{})
			errs = append(errs, nft.Run(ctx, tx))
		}
		return errors.Join(errs...)
	})
}

// setAcceptServices gives the filter the configuration's virtual services.
func (n *Node) setAcceptServices(services []ServicePort) {
	if n.filter == nil {
		return
	}
	if err := n.filter.SetServices(services); err != nil {
		n.log.Error("cannot list the virtual services in the no_accept table", "err", err)
	}
}

// closeAcceptFilter removes the filter's rules.
func (n *Node) closeAcceptFilter() {
	if n.filter == nil {
		return
	}
	if err := n.filter.Close(); err != nil {
		n.log.Warn("cannot remove the no_accept table", "err", err)
	}
	n.filter = nil
}
