package daemon

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// instanceVIPs translates an instance's address lines: each on its device
// (the VMAC with use_vmac, see config.VRRPInstance.VIPDevice) and marked
// for the no_accept filter when the instance has no accept mode.
func instanceVIPs(in *config.VRRPInstance, vips []config.VirtualIP) []vrrp.VIP {
	out := make([]vrrp.VIP, 0, len(vips))
	for _, v := range vips {
		vip := vrrp.VIP{Prefix: v.Prefix, Interface: in.VIPDevice(v), Label: v.Label, Broadcast: v.Broadcast, NoAccept: in.NoAccept}
		vip.Scope, _ = config.AddressScope(v.Scope) // validated by the parser; "" is global
		for _, f := range []struct {
			set  bool
			flag uint32
		}{{v.Home, unix.IFA_F_HOMEADDRESS}, {v.NoDAD, unix.IFA_F_NODAD}, {v.NoPrefixRoute, unix.IFA_F_NOPREFIXROUTE}} {
			if f.set {
				vip.Flags |= f.flag
			}
		}
		out = append(out, vip)
	}
	return out
}

// routeTypes maps config route types to the kernel's.
var routeTypes = map[config.RouteType]uint8{
	config.RouteUnicast: unix.RTN_UNICAST, config.RouteBlackhole: unix.RTN_BLACKHOLE,
	config.RouteUnreachable: unix.RTN_UNREACHABLE, config.RouteProhibit: unix.RTN_PROHIBIT,
}

// vrrpRoutes translates virtual_routes / static_routes lines.
func vrrpRoutes(rs []config.Route) []vrrp.Route {
	out := make([]vrrp.Route, 0, len(rs))
	for _, r := range rs {
		vr := vrrp.Route{Type: routeTypes[r.Type], Dst: r.Dst, Src: r.Src, Via: r.Via, Dev: r.Dev, Table: r.Table, Metric: r.Metric, OnLink: r.OnLink}
		vr.Scope, _ = config.AddressScope(r.Scope) // validated by the parser
		if r.Scope == "" && r.Type == config.RouteUnicast && !r.Via.IsValid() {
			vr.Scope = unix.RT_SCOPE_LINK // as ip route: a route without gateway is on link
		}
		out = append(out, vr)
	}
	return out
}

// vrrpRules translates virtual_rules / static_rules lines.
func vrrpRules(rs []config.Rule) []vrrp.Rule {
	out := make([]vrrp.Rule, 0, len(rs))
	for _, r := range rs {
		out = append(out, vrrp.Rule{From: r.From, To: r.To, FWMark: r.FWMark, FWMask: r.FWMask, Iif: r.Iif, Oif: r.Oif,
			Invert: r.Invert, Priority: r.Priority, Table: r.Table})
	}
	return out
}

// garpFollowUps sets the refresh and lower-priority parts of a GARP
// schedule (garp_master_refresh*, garp_lower_prio_*, garp_extra_if).
func garpFollowUps(s *vrrp.GARPSchedule, g config.Garp) {
	s.Refresh, s.RefreshRepeat = g.MasterRefresh, g.MasterRefreshRepeat
	s.ExtraIf, s.ExtraIfAll = g.ExtraIf, g.ExtraIfAll
	if g.LowerPrioRepeat == nil && g.LowerPrioDelay == nil {
		return
	}
	s.LowerPrioSet, s.LowerPrioRepeat, s.LowerPrioDelay = true, g.MasterRepeat, g.MasterDelay
	if g.LowerPrioRepeat != nil {
		s.LowerPrioRepeat = *g.LowerPrioRepeat
	}
	if g.LowerPrioDelay != nil {
		s.LowerPrioDelay = *g.LowerPrioDelay
	}
}

// acceptServices lists the virtual servers (IPv4 and IPv6) with a port, whose traffic
// the no_accept filter lets through (fwmark services and services on every
// port are not listed: the filter cannot know them).
func acceptServices(c *config.Config) []vrrp.ServicePort {
	var out []vrrp.ServicePort
	for _, vs := range c.VirtualServers {
		if !vs.Address.IsValid() || vs.Port == 0 || vs.FWMark != 0 {
			continue
		}
		out = append(out, vrrp.ServicePort{Addr: vs.Address, Protocol: strings.ToLower(string(vs.Protocol)), Port: vs.Port})
	}
	return out
}
