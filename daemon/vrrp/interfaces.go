package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// InterfaceState is what an instance needs to know about an interface.
type InterfaceState struct {
	// Index is the interface index; 0 means the interface does not exist.
	Index int
	// Up is set while the interface is administratively up and has carrier
	// (IFF_UP and IFF_RUNNING).
	Up bool
	// IPv4 are its IPv4 addresses, in the kernel's order (primary first).
	IPv4 []netip.Addr
	// LinkLocal are its usable IPv6 link-local addresses (fe80::/10, not
	// tentative or failed duplicate address detection), in the kernel's
	// order: the source of an IPv6 instance's adverts (RFC 5798 5.1.2.1).
	LinkLocal []netip.Addr
}

// netlinkInterface reads ifname's state through h. A missing interface is
// not an error: its Index is 0.
func netlinkInterface(h *netlink.Handle, ifname string) (InterfaceState, error) {
	link, err := h.LinkByName(ifname)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV) {
			return InterfaceState{}, nil
		}
		return InterfaceState{}, fmt.Errorf("vrrp: find interface %s: %w", ifname, err)
	}
	a := link.Attrs()
	st := InterfaceState{Index: a.Index, Up: a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("vrrp: list addresses of %s: %w", ifname, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok {
			st.IPv4 = append(st.IPv4, ip)
		}
	}
	addrs6, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return st, fmt.Errorf("vrrp: list IPv6 addresses of %s: %w", ifname, err)
	}
	for _, ad := range addrs6 {
		if ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue // not usable as a source yet (or ever)
		}
		if ip, ok := netip.AddrFromSlice(ad.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
			st.LinkLocal = append(st.LinkLocal, ip)
		}
	}
	return st, nil
}

// SourceAddress is the address adverts come from: configured (unicast_src_ip
// or mcast_src_ip), else the interface's first IPv4 address that is not one
// of vips, as keepalived picks it. For an IPv6 instance (vips[0] is IPv6)
// it is the interface's first usable link-local address (RFC 5798
// 5.1.2.1; keepalived does the same). It is invalid when there is none.
func SourceAddress(configured netip.Addr, st InterfaceState, vips []VIP) netip.Addr {
	if configured.IsValid() {
		return configured
	}
	if len(vips) > 0 && vips[0].Prefix.Addr().Is6() {
		for _, ip := range st.LinkLocal {
			if !slices.ContainsFunc(vips, func(v VIP) bool { return v.Prefix.Addr() == ip }) {
				return ip
			}
		}
		return netip.Addr{}
	}
	for _, ip := range st.IPv4 {
		if !slices.ContainsFunc(vips, func(v VIP) bool { return v.Prefix.Addr() == ip }) {
			return ip
		}
	}
	return netip.Addr{}
}

// setWatched records the interfaces the instances need.
func (n *Node) setWatched() {
	var names []string
	for _, in := range n.insts {
		names = append(names, in.cfg.Interface)
		for _, t := range in.cfg.TrackInterfaces {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	n.watchFor.Store(&names)
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// readInterfaces reads the state of every named interface; one that
// cannot be read counts as missing (and is logged).
func (n *Node) readInterfaces(names []string) map[string]InterfaceState {
	out := make(map[string]InterfaceState, len(names))
	for _, name := range names {
		st, err := n.opts.Interface(name)
		if err != nil {
			n.log.Warn(fmt.Sprintf("cannot read interface %s", name), "err", err)
		}
		out[name] = st
	}
	return out
}

// watchInterfaces sends the states of the watched interfaces to out each
// time one changes. Changes are learnt from netlink link and address
// notifications; injected state functions (tests) are polled every
// DefaultLinkPollInterval, and so is netlink if the subscription fails.
func (n *Node) watchInterfaces(ctx context.Context, out chan map[string]InterfaceState) {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var tick <-chan time.Time
	if n.polled || n.subscribe(ctx, poke) != nil {
		t := time.NewTicker(DefaultLinkPollInterval)
		defer t.Stop()
		tick = t.C
	}
	last := n.ifstate
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-n.kick:
		case <-tick:
		}
		st := n.readInterfaces(*n.watchFor.Load())
		if equalStates(st, last) {
			continue
		}
		last = st
		// The loop keeps only the newest state.
		select {
		case <-out:
		default:
		}
		out <- st
	}
}

func equalStates(a, b map[string]InterfaceState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.Index != y.Index || x.Up != y.Up || !slices.Equal(x.IPv4, y.IPv4) || !slices.Equal(x.LinkLocal, y.LinkLocal) {
			return false
		}
	}
	return true
}

// subscribe asks netlink for link and address changes in the node's
// namespace and calls poke for each, until ctx ends.
func (n *Node) subscribe(ctx context.Context, poke func()) error {
	links := make(chan netlink.LinkUpdate, 16)
	addrs := make(chan netlink.AddrUpdate, 16)
	onErr := func(err error) { n.log.Debug("netlink subscription", "err", err) }
	lo := netlink.LinkSubscribeOptions{ErrorCallback: onErr}
	ao := netlink.AddrSubscribeOptions{ErrorCallback: onErr}
	if n.opts.NetNS > 0 {
		ns := n.opts.NetNS
		lo.Namespace, ao.Namespace = &ns, &ns
	}
	if err := netlink.LinkSubscribeWithOptions(links, ctx.Done(), lo); err != nil {
		n.log.Warn("no netlink link notifications: polling interfaces", "err", err)
		return err
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, ctx.Done(), ao); err != nil {
		n.log.Warn("no netlink address notifications: polling interfaces", "err", err)
		return err
	}
	n.workers.Go(func() {
		for links != nil || addrs != nil {
			select {
			case _, ok := <-links:
				if !ok {
					links = nil
				}
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
				}
			}
			poke()
		}
	})
	return nil
}

// syncInterfaces brings in's socket and interface trackers in line with
// the interface states st: the socket is opened once the interface exists
// and has a source address, closed when either goes away (or the source
// changes), and the instance's own interface tracker is up only while the
// socket is open and the link is up. At start an open error is returned;
// later the instance stays in FAULT and the error is returned for the log.
func (n *Node) syncInterfaces(in *instance, st map[string]InterfaceState, starting bool) error {
	own := st[in.cfg.Interface]
	src := SourceAddress(in.cfg.SourceIP, own, in.allVIPs)
	if in.cfg.Protocol.TrackSrcIP && src.IsValid() && !slices.Contains(own.IPv4, src) && !slices.Contains(own.LinkLocal, src) {
		src = netip.Addr{} // track_src_ip: FAULT until the address is there
	}
	if in.conn != nil && (own.Index == 0 || own.Index != in.ifindex || src != in.source) {
		reason := fmt.Sprintf("source address %v gone", in.source)
		if own.Index == 0 {
			reason = "interface " + in.cfg.Interface + " gone"
		}
		n.log.Warn(fmt.Sprintf("(%s) %s: closing VRRP socket", in.cfg.Name, reason), "instance", in.cfg.Name)
		n.closeInstance(in)
	}
	var err error
	switch {
	case in.conn != nil:
	case own.Index == 0:
		if !in.noAddrLogged {
			n.log.Warn(fmt.Sprintf("(%s) interface %s does not exist: FAULT until it appears", in.cfg.Name, in.cfg.Interface), "instance", in.cfg.Name)
			in.noAddrLogged = true
		}
	case !src.IsValid():
		if !in.noAddrLogged {
			n.log.Warn(fmt.Sprintf("(%s) interface %s has no %s of its own: FAULT until one appears", in.cfg.Name, in.cfg.Interface, in.cfg.sourceKind()), "instance", in.cfg.Name)
			in.noAddrLogged = true
		}
	default:
		err = n.openInstance(in, src, own.Index)
		if err == nil {
			in.noAddrLogged = false
		}
	}
	if starting && err != nil {
		return err
	}
	in.trackers[0].ok = in.conn != nil && own.Up
	for k, ti := range in.cfg.TrackInterfaces {
		s := st[ti.Name]
		in.trackers[1+k].ok = s.Index != 0 && s.Up
	}
	return err
}

// trackersChanged steps instance i if its trackers differ from before.
func (n *Node) trackersChanged(i int, before []tracker, now time.Time) {
	in := n.insts[i]
	if slices.Equal(before, in.trackers) {
		return
	}
	for k, t := range in.trackers {
		if k < len(before) && before[k].ok != t.ok {
			n.log.Info(fmt.Sprintf("(%s) tracker %s is %s", in.cfg.Name, t.name, map[bool]string{true: "up", false: "down"}[t.ok]),
				"instance", in.cfg.Name)
		}
	}
	if !before[0].ok && in.trackers[0].ok {
		n.holdPreemption(in, now)
	}
	delta, fault := in.trackResult()
	n.step(n.bg, i, EventTrack{Delta: delta, Fault: fault}, now)
}

// holdPreemption holds in's preemption after its interface came back,
// until the services were checked since now or RecoveryHold passed.
func (n *Node) holdPreemption(in *instance, now time.Time) {
	if n.cfg.RecoveryHold <= 0 || in.m.State == StateMaster {
		return
	}
	in.m.PreemptHeldUntil = now.Add(n.cfg.RecoveryHold)
	n.log.Info(fmt.Sprintf("(%s) interface back: no preemption until the services are checked (at most %v)", in.cfg.Name, n.cfg.RecoveryHold),
		"instance", in.cfg.Name)
	if in.holdStop != nil {
		in.holdStop()
	}
	if n.opts.ServicesChecked == nil {
		return // the bound alone
	}
	ctx, stop := context.WithTimeout(n.bg, n.cfg.RecoveryHold)
	in.holdStop = stop
	checked := n.opts.ServicesChecked(ctx, now)
	n.workers.Go(func() {
		select {
		case <-checked:
		case <-ctx.Done():
			return
		}
		select {
		case n.released <- in:
		case <-ctx.Done():
		}
	})
}
