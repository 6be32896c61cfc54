package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route is a virtual_routes or static_routes entry (keepalived's subset of
// `ip route`). It is comparable, so reloads can tell what changed.
type Route struct {
	// Type is unix.RTN_UNICAST (0 means unicast too), RTN_BLACKHOLE,
	// RTN_UNREACHABLE or RTN_PROHIBIT.
	Type uint8
	// Dst is the destination.
	Dst netip.Prefix
	// Src is the preferred source (zero: none).
	Src netip.Addr
	// Via is the gateway (zero: on link).
	Via netip.Addr
	// Dev is the output interface ("" : the kernel's choice).
	Dev string
	// Scope is the route scope (0: universe).
	Scope uint8
	// Table is the routing table (0: main).
	Table int
	// Metric is the route priority.
	Metric int
	// OnLink is RTNH_F_ONLINK.
	OnLink bool
}

// Rule is a virtual_rules or static_rules entry (keepalived's subset of
// `ip rule`). Zero selectors match everything.
type Rule struct {
	// From and To select by source and destination.
	From, To netip.Prefix
	// FWMark and FWMask select by firewall mark.
	FWMark, FWMask uint32
	// Iif and Oif select by interface.
	Iif, Oif string
	// Invert is "not".
	Invert bool
	// Priority orders the rule (0: the kernel chooses).
	Priority int
	// Table is looked up when the rule matches.
	Table int
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// netlinkRoute builds r for h.
func netlinkRoute(h *netlink.Handle, r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Scope: netlink.Scope(r.Scope), Table: r.Table, Priority: r.Metric, Type: int(r.Type)}
	if r.Type == 0 {
		nr.Type = unix.RTN_UNICAST
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	nr.Family = unix.AF_INET
	if r.Dst.Addr().Is6() {
		nr.Family = unix.AF_INET6
	}
	if r.Dev != "" {
		link, err := h.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("vrrp: route %v: find interface %s: %w", r.Dst, r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	return nr, nil
}

func netlinkRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Table, nr.Invert, nr.IifName, nr.OifName = r.Table, r.Invert, r.Iif, r.Oif
	nr.Family = unix.AF_INET
	if r.From.IsValid() {
		nr.Src = ipNet(r.From)
		if r.From.Addr().Is6() {
			nr.Family = unix.AF_INET6
		}
	}
	if r.To.IsValid() {
		nr.Dst = ipNet(r.To)
		if r.To.Addr().Is6() {
			nr.Family = unix.AF_INET6
		}
	}
	if r.FWMark != 0 || r.FWMask != 0 {
		nr.Mark = r.FWMark
		if r.FWMask != 0 {
			m := r.FWMask
			nr.Mask = &m
		}
	}
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	return nr
}

// RouteManager adds and removes routes and rules. NetlinkRoutes is the
// real one; tests use fakes.
type RouteManager interface {
	// AddRoute adds r; a route already present is not an error.
	AddRoute(r Route) error
	// RemoveRoute removes r; a route already absent is not an error.
	RemoveRoute(r Route) error
	// AddRule adds r; a rule already present is not an error.
	AddRule(r Rule) error
	// RemoveRule removes r; a rule already absent is not an error.
	RemoveRule(r Rule) error
}

// NetlinkRoutes is a RouteManager over a netlink handle.
type NetlinkRoutes struct {
	// Handle is the netlink handle of the namespace the routes live in.
	Handle *netlink.Handle
}

var _ RouteManager = NetlinkRoutes{}

// AddRoute implements RouteManager.
func (n NetlinkRoutes) AddRoute(r Route) error {
	nr, err := netlinkRoute(n.Handle, r)
	if err != nil {
		return err
	}
	if err := n.Handle.RouteAdd(nr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vrrp: add route %v: %w", r.Dst, err)
	}
	return nil
}

// RemoveRoute implements RouteManager.
func (n NetlinkRoutes) RemoveRoute(r Route) error {
	nr, err := netlinkRoute(n.Handle, r)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil // its interface is gone, and the route with it
		}
		return err
	}
	if err := n.Handle.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("vrrp: remove route %v: %w", r.Dst, err)
	}
	return nil
}

// AddRule implements RouteManager.
func (n NetlinkRoutes) AddRule(r Rule) error {
	if err := n.Handle.RuleAdd(netlinkRule(r)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("vrrp: add rule to table %d: %w", r.Table, err)
	}
	return nil
}

// RemoveRule implements RouteManager.
func (n NetlinkRoutes) RemoveRule(r Rule) error {
	if err := n.Handle.RuleDel(netlinkRule(r)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("vrrp: remove rule to table %d: %w", r.Table, err)
	}
	return nil
}

// addRoutes adds in's virtual_routes then virtual_rules (after its
// addresses, which a route's src may need), as keepalived on becoming MASTER.
func (n *Node) addRoutes(in *instance) {
	if n.opts.Routes == nil {
		return
	}
	for _, r := range in.cfg.Routes {
		if err := n.opts.Routes.AddRoute(r); err != nil {
			in.counters.Errors++
			n.log.Error(fmt.Sprintf("(%s) cannot add virtual route %v", in.cfg.Name, r.Dst), "instance", in.cfg.Name, "err", err)
		}
	}
	for _, r := range in.cfg.Rules {
		if err := n.opts.Routes.AddRule(r); err != nil {
			in.counters.Errors++
			n.log.Error(fmt.Sprintf("(%s) cannot add virtual rule to table %d", in.cfg.Name, r.Table), "instance", in.cfg.Name, "err", err)
		}
	}
}

// removeRoutes removes in's virtual_rules and virtual_routes.
func (n *Node) removeRoutes(in *instance) {
	if n.opts.Routes == nil {
		return
	}
	for _, r := range in.cfg.Rules {
		if err := n.opts.Routes.RemoveRule(r); err != nil {
			in.counters.Errors++
			n.log.Error(fmt.Sprintf("(%s) cannot remove virtual rule to table %d", in.cfg.Name, r.Table), "instance", in.cfg.Name, "err", err)
		}
	}
	for _, r := range in.cfg.Routes {
		if err := n.opts.Routes.RemoveRoute(r); err != nil {
			in.counters.Errors++
			n.log.Error(fmt.Sprintf("(%s) cannot remove virtual route %v", in.cfg.Name, r.Dst), "instance", in.cfg.Name, "err", err)
		}
	}
}

// replaceRoutes swaps a MASTER's routes and rules of old for those of its
// current configuration (a reload in place).
func (n *Node) replaceRoutes(in *instance, old InstanceConfig) {
	cur := in.cfg
	in.cfg = old
	n.removeRoutes(in)
	in.cfg = cur
	n.addRoutes(in)
}

// applyStatic brings the static addresses, routes and rules from those of
// old to those of cur: what only old has is removed (rules, then routes,
// then addresses), what cur has is added (addresses first). Errors are
// logged: a static entry that cannot be set must not stop VRRP.
func (n *Node) applyStatic(old, cur Config) {
	logErr := func(what string, err error) {
		if err != nil {
			n.log.Error("cannot set "+what, "err", err)
		}
	}
	for _, r := range old.StaticRules {
		if !slices.Contains(cur.StaticRules, r) && n.opts.Routes != nil {
			logErr("static rule", n.opts.Routes.RemoveRule(r))
		}
	}
	for _, r := range old.StaticRoutes {
		if !slices.Contains(cur.StaticRoutes, r) && n.opts.Routes != nil {
			logErr("static route", n.opts.Routes.RemoveRoute(r))
		}
	}
	for _, a := range old.StaticAddresses {
		if !slices.Contains(cur.StaticAddresses, a) {
			_, err := n.opts.Addresses.Remove(a)
			logErr("static address", err)
		}
	}
	for _, a := range cur.StaticAddresses {
		logErr("static address", n.opts.Addresses.Add(a))
	}
	if n.opts.Routes == nil {
		return
	}
	for _, r := range cur.StaticRoutes {
		logErr("static route", n.opts.Routes.AddRoute(r))
	}
	for _, r := range cur.StaticRules {
		logErr("static rule", n.opts.Routes.AddRule(r))
	}
}
