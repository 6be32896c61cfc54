package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/maglev"
	"github.com/drlb/drlb/daemon/vrrp"
)

// ServiceID names a virtual server the way ipvsadm prints it: "TCP 172.16.1.1:80" or "FWM 5".
func ServiceID(vs *config.VirtualServer) string {
	if vs.FWMark != 0 {
		return fmt.Sprintf("FWM %d", vs.FWMark)
	}
	return string(vs.Protocol) + " " + netip.AddrPortFrom(vs.Address, vs.Port).String()
}

// RealID names a real server: "172.16.1.10:80".
func RealID(rs *config.RealServer) string {
	return netip.AddrPortFrom(rs.Address, rs.Port).String()
}

// TargetOf is the health-check identity of a real server. The members of
// a virtual_server_group share it ("group NAME"), so a real server is
// checked once for the whole group, as keepalived does, and a reload that
// adds or removes members leaves its checkers running.
func TargetOf(vs *config.VirtualServer, rs *config.RealServer) check.Target {
	return check.Target{VirtualServer: checkOwner(vs), RealServer: checkedID(vs, rs)}
}

// checkedID is the RealServer part of a check target: RealID, or for a
// group member the server as its real_server line names it (with DR its
// Port is the member's).
func checkedID(vs *config.VirtualServer, rs *config.RealServer) string {
	if vs.Group != "" {
		return netip.AddrPortFrom(rs.Address, rs.GroupPort).String()
	}
	return RealID(rs)
}

// checkOwner is the VirtualServer part of vs's check targets.
func checkOwner(vs *config.VirtualServer) string {
	if vs.Group != "" {
		return "group " + vs.Group
	}
	return ServiceID(vs)
}

// targetsOf lists the health-check identities of vs's real servers, in order.
func targetsOf(vs *config.VirtualServer) []check.Target {
	id := checkOwner(vs)
	out := make([]check.Target, len(vs.RealServers))
	for i := range vs.RealServers {
		out[i] = check.Target{VirtualServer: id, RealServer: checkedID(vs, &vs.RealServers[i])}
	}
	return out
}

// vrrpThread is the VRRP thread's scheduling from global_defs: drlb's
// defaults (vrrp.DefaultRTPriority with keepalived's RLIMIT_RTTIME) unless
// vrrp_rt_priority says otherwise; vrrp_no_swap locks VRRP's process's
// memory (checker_no_swap locks the parent's: checkerproc.go).
func vrrpThread(g config.GlobalDefs) vrrp.ThreadConfig {
	t := vrrp.ThreadConfig{RTPriority: vrrp.DefaultRTPriority, RLimitRTTime: vrrp.DefaultRLimitRTTime}
	if ps := g.VRRPProcess; ps != nil {
		if ps.RTPriority != nil {
			t.RTPriority = *ps.RTPriority
		}
		if ps.Nice != nil {
			t.Nice = *ps.Nice
		}
		if ps.RLimitRTTime != nil {
			t.RLimitRTTime = *ps.RLimitRTTime
		}
		t.CPUs = slices.Clone(ps.CPUs)
		t.LockMemory = ps.NoSwap
	}
	if t.RTPriority == 0 {
		t.RLimitRTTime = 0 // only real-time threads are limited
	}
	return t
}

// VRRPConfig translates the vrrp_* blocks for vrrp.NewNode.
func VRRPConfig(c *config.Config) (vrrp.Config, error) {
	scripts := map[string]config.VRRPScript{}
	for _, s := range c.Scripts {
		scripts[s.Name] = s
	}
	out := vrrp.Config{DynamicInterfaces: c.Global.DynamicInterfaces, Thread: vrrpThread(c.Global),
		StaticAddresses: instanceVIPs(&config.VRRPInstance{}, c.StaticAddresses),
		StaticRoutes:    vrrpRoutes(c.StaticRoutes), StaticRules: vrrpRules(c.StaticRules),
		AcceptServices: acceptServices(c),
		StartupDelay:   c.Global.VRRPStartupDelay, DelayAfterBoot: c.Global.VRRPDelayAfterBoot, LogUnknownVRIDs: c.Global.LogUnknownVRIDs}
	for _, in := range c.Instances {
		ic := vrrp.InstanceConfig{
			Name:           in.Name,
			Interface:      in.Interface,
			Priority:       uint8(min(max(in.Priority, 0), 255)),
			AdvertInterval: in.AdvertInterval,
			Version:        vrrp.Version(in.Version),
			WantMaster:     in.State == config.StateMaster,
			NoPreempt:      in.NoPreempt,
			PreemptDelay:   in.PreemptDelay,
			UnicastPeers:   slices.Clone(in.UnicastPeers),
			Notify: vrrp.NotifyScripts{Master: in.Notify.Master, Backup: in.Notify.Backup,
				Fault: in.Notify.Fault, Stop: in.Notify.Stop, Notify: in.Notify.Any},
			GARP:             vrrp.GARPSchedule{Repeat: in.Garp.MasterRepeat, Interval: in.Garp.Interval, Delay: in.Garp.MasterDelay},
			GNAInterval:      in.Garp.NAInterval,
			DontTrackPrimary: in.DontTrackPrimary,
			MulticastGroup:   c.Global.VRRPMcastGroup4,
		}
		if in.Garp.MasterDelay == 0 {
			ic.GARP.Delay = -1 // garp_master_delay 0: no second burst (vrrp's zero means its default)
		}
		if in.VirtualRouterID < 1 || in.VirtualRouterID > 255 {
			return out, fmt.Errorf("%s:%d: vrrp_instance %s: virtual_router_id %d outside 1-255", in.Pos.File, in.Pos.Line, in.Name, in.VirtualRouterID)
		}
		ic.VRID = uint8(in.VirtualRouterID)
		switch in.Auth.Type {
		case config.AuthPass:
			ic.AuthType, ic.AuthPass = vrrp.AuthPass, in.Auth.Password
		case config.AuthNone, "":
		default:
			return out, fmt.Errorf("%s:%d: vrrp_instance %s: auth_type %s is not supported", in.Pos.File, in.Pos.Line, in.Name, in.Auth.Type)
		}
		ic.SourceIP = in.UnicastSrcIP
		if !ic.SourceIP.IsValid() {
			ic.SourceIP = in.McastSrcIP
		}
		ic.VIPs, ic.ExcludedVIPs = instanceVIPs(&in, in.VirtualIPs), instanceVIPs(&in, in.ExcludedVIPs)
		if ic.IPv6() {
			ic.MulticastGroup = c.Global.VRRPMcastGroup6
		}
		if in.Protocol.McastDstIP.IsValid() {
			ic.MulticastGroup = in.Protocol.McastDstIP
		}
		ic.Protocol = vrrpProtocol(c, &in, ic)
		if in.UseVMAC {
			ic.VMAC, ic.VMACXmitBase = in.VMACName, in.VMACXmitBase
		}
		for _, a := range in.AddressVMACs {
			ic.AddressVMACs = append(ic.AddressVMACs, vrrp.AddressVMAC{Name: a.Name, Base: a.Base, V6: a.IPv6})
		}
		ic.Routes, ic.Rules = vrrpRoutes(in.VirtualRoutes), vrrpRules(in.VirtualRules)
		garpFollowUps(&ic.GARP, in.Garp)
		ic.Strict = in.StrictMode
		ic.TrackInterfaces = appendTrackInterfaces(ic.TrackInterfaces, in.TrackInterfaces)
		for _, t := range trackScriptsOf(c, in) {
			s, ok := scripts[t.Name]
			if !ok {
				return out, fmt.Errorf("%s:%d: vrrp_instance %s: track_script %q names no vrrp_script", in.Pos.File, in.Pos.Line, in.Name, t.Name)
			}
			weight, reverse := s.Weight, s.Reverse
			if t.WeightSet {
				weight, reverse = t.Weight, t.Reverse
			}
			ic.TrackScripts = append(ic.TrackScripts, vrrp.TrackScript{Name: s.Name, Script: s.Script,
				Interval: s.Interval, Timeout: s.Timeout, Weight: weight, Reverse: reverse, Rise: s.Rise, Fall: s.Fall, InitFail: s.InitFail})
		}
		if err := translateHardening(in, &ic); err != nil {
			return out, err
		}
		ic = withTrackFiles(c, in, ic)
		out.Instances = append(out.Instances, ic)
	}
	for _, g := range c.SyncGroups {
		out.SyncGroups = append(out.SyncGroups, vrrp.SyncGroupConfig{Name: g.Name, Instances: slices.Clone(g.Group),
			Notify: vrrp.NotifyScripts{Master: g.Notify.Master, Backup: g.Notify.Backup, Fault: g.Notify.Fault,
				Stop: g.Notify.Stop, Notify: g.Notify.Any}})
	}
	return out, nil
}

// trackScriptsOf is an instance's track_script list plus its sync group's.
func trackScriptsOf(c *config.Config, in config.VRRPInstance) []config.TrackScript {
	out := slices.Clone(in.TrackScripts)
	for _, g := range c.SyncGroups {
		if slices.Contains(g.Group, in.Name) {
			out = append(out, g.TrackScripts...)
		}
	}
	return out
}

// CheckServers translates the real servers and their checkers. start gives
// the health a server must start with (true = up); servers absent from it
// start as their checkers' alpha says. A server with checkers that starts
// down has all its checkers in alpha mode, so it comes back only after a
// good check: this is how a reload keeps a failed server out.
func CheckServers(c *config.Config, start map[check.Target]bool) ([]check.Server, error) {
	return checkServers(c, start, nil)
}

// checkServers is CheckServers calling pause (if set) once per virtual
// server, so a long loop can give up its processor (package yield).
func checkServers(c *config.Config, start map[check.Target]bool, pause func()) ([]check.Server, error) {
	var out []check.Server
	seen := map[check.Target]bool{} // a group's members share their servers' checks
	for vi := range c.VirtualServers {
		if pause != nil {
			pause()
		}
		vs := &c.VirtualServers[vi]
		targets := targetsOf(vs)
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			target := targets[ri]
			if vs.Group != "" && seen[target] {
				continue
			}
			seen[target] = true
			srv := check.Server{Target: target, Weight: rs.Weight, NotifyUp: rs.NotifyUp, NotifyDown: rs.NotifyDown}
			up, carried := start[target]
			for _, ck := range rs.Checkers {
				spec, err := checkSpec(c, vs, rs, ck)
				if err != nil {
					return nil, err
				}
				if carried {
					spec.Alpha = !up
				}
				srv.Checkers = append(srv.Checkers, spec)
			}
			out = append(out, srv)
		}
	}
	return out, nil
}

func checkSpec(c *config.Config, vs *config.VirtualServer, rs *config.RealServer, ck config.Checker) (check.Spec, error) {
	spec := check.Spec{
		Addr:             netip.AddrPortFrom(ck.ConnectIP, ck.ConnectPort),
		ConnectTimeout:   ck.ConnectTimeout,
		DelayLoop:        ck.DelayLoop,
		Retry:            ck.Retry,
		DelayBeforeRetry: ck.DelayBeforeRetry,
		Warmup:           ck.Warmup,
		Alpha:            vs.Alpha,
	}
	if !ck.ConnectIP.IsValid() {
		spec.Addr = netip.AddrPortFrom(rs.Address, spec.Addr.Port())
	}
	if spec.Addr.Port() == 0 {
		spec.Addr = netip.AddrPortFrom(spec.Addr.Addr(), rs.Port)
	}
	if ck.BindTo.IsValid() {
		spec.BindTo = netip.AddrPortFrom(ck.BindTo, ck.BindPort)
	}
	switch ck.Kind {
	case config.CheckHTTP, config.CheckSSL:
		spec.Kind = check.KindHTTP
		if ck.Kind == config.CheckSSL {
			spec.Kind = check.KindSSL
		}
		spec.HTTP.VirtualHost = ck.VirtualHost
		if spec.HTTP.VirtualHost == "" {
			spec.HTTP.VirtualHost = vs.VirtualHost
		}
		for _, u := range ck.URLs {
			url := check.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost}
			for _, r := range u.StatusCodes {
				url.StatusCodes = append(url.StatusCodes, check.StatusRange{Min: r.Min, Max: r.Max})
			}
			spec.HTTP.URLs = append(spec.HTTP.URLs, url)
		}
	case config.CheckTCP:
		spec.Kind = check.KindTCP
	case config.CheckMisc:
		spec.Kind = check.KindMisc
		spec.Misc = check.MiscSpec{Path: ck.MiscPath, Timeout: ck.MiscTimeout, Dynamic: ck.MiscDynamic}
	default:
		if !parityIISpec(c, rs, ck, &spec) {
			return spec, fmt.Errorf("%s:%d: checker %s is not supported", ck.Pos.File, ck.Pos.Line, ck.Kind)
		}
	}
	return withCheckerOptions(c, vs, rs, ck, spec)
}

// Health is a real server's state as the supervisor tracks it.
type Health struct {
	Up     bool
	Weight int // effective weight (misc_dynamic may change it)
}

// Placement says where the VIPs live on this host, for the data plane.
type Placement struct {
	// Interface returns the device that carries vip ("" if unknown).
	Interface func(vip netip.Addr) string
	// Forward returns the device the nftables data plane forwards vip's
	// traffic out of, when it is not Interface (a VMAC's base); nil or ""
	// means Interface.
	Forward func(vip netip.Addr) string
	// Owned reports whether this host holds vip now (VRRP master); used by ha_suspend.
	Owned func(vip netip.Addr) bool
}

// ServiceState is a virtual server's aggregate health.
type ServiceState struct {
	QuorumUp    bool
	SorryActive bool
}

// EvaluateServices computes each virtual server's quorum state from its real
// servers' health and the previous quorum state (hysteresis).
func EvaluateServices(c *config.Config, health map[check.Target]Health, prev map[string]ServiceState) map[string]ServiceState {
	return evaluateServices(c, health, prev, nil)
}

// evaluateServices is EvaluateServices calling pause (if set) once per
// virtual server.
func evaluateServices(c *config.Config, health map[check.Target]Health, prev map[string]ServiceState, pause func()) map[string]ServiceState {
	out := make(map[string]ServiceState, len(c.VirtualServers))
	for vi := range c.VirtualServers {
		if pause != nil {
			pause()
		}
		vs := &c.VirtualServers[vi]
		targets := targetsOf(vs)
		var servers []check.RealServerHealth
		for ri := range vs.RealServers {
			h := health[targets[ri]]
			servers = append(servers, check.RealServerHealth{Up: h.Up, Weight: h.Weight})
		}
		policy := check.VirtualServerPolicy{Quorum: vs.Quorum, Hysteresis: vs.Hysteresis, HasSorryServer: vs.SorryServer != nil}
		id := ServiceID(vs)
		p, seen := prev[id]
		prevUp := p.QuorumUp
		if !seen {
			prevUp = check.InitialQuorumUp(servers, policy)
		}
		st := check.AggregateVirtualServer(prevUp, servers, policy)
		out[id] = ServiceState{QuorumUp: st.QuorumUp, SorryActive: st.SorryActive}
	}
	return out
}

// Desired computes the data-plane table: healthy real servers with their
// weight, failed ones at weight 0 when inhibit_on_failure says so (else
// absent); when quorum is lost and a sorry server is configured, the sorry
// server instead of the pool (see poolOf); and nothing for an ha_suspend
// service whose VIP this host does not hold.
func Desired(c *config.Config, health map[check.Target]Health, services map[string]ServiceState, where Placement) dataplane.Table {
	return desired(c, health, services, where, nil)
}

// desired is Desired calling pause (if set) once per virtual server.
func desired(c *config.Config, health map[check.Target]Health, services map[string]ServiceState, where Placement, pause func()) dataplane.Table {
	var t dataplane.Table
	for vi := range c.VirtualServers {
		if pause != nil {
			pause()
		}
		vs := &c.VirtualServers[vi]
		if vs.HASuspend && vs.FWMark == 0 && where.Owned != nil && !where.Owned(vs.Address) {
			continue
		}
		svc := dataplane.Service{
			VIP:                vs.Address,
			FWMark:             vs.FWMark,
			Port:               vs.Port,
			Protocol:           protocolOf(vs.Protocol),
			Scheduler:          vs.Scheduler,
			Method:             methodOf(vs.Method),
			PersistenceTimeout: vs.PersistenceTimeout,
			PersistenceBits:    vs.PersistenceGranularity,
			Flags:              serviceFlagsOf(vs),
			PersistenceEngine:  vs.PersistenceEngine,
		}
		if vs.FWMark != 0 {
			svc.VIP = netip.Addr{}
		}
		if vs.BGPAnnounce {
			// Every director builds the same large table (scale-out).
			svc.HashTableSize = maglev.ScaleOutSize
		}
		if where.Interface != nil && vs.FWMark == 0 {
			svc.Interface = where.Interface(vs.Address)
			if where.Forward != nil {
				svc.ForwardInterface = where.Forward(vs.Address)
			}
		}
		svc.Reals = poolOf(vs, health, services[ServiceID(vs)].SorryActive)
		t.Services = append(t.Services, svc)
	}
	return t
}

// sorryWeight is the sorry server's weight in the pool (keepalived gives
// sorry_server no weight keyword; its real_server structure has weight 1).
const sorryWeight = 1

// poolOf is vs's real servers as the data plane holds them, following
// keepalived's ipwrapper.c:
//   - with quorum (or no sorry server): live servers at their weight,
//     failed inhibit_on_failure servers at weight 0, other failed ones absent;
//   - sorry server active (quorum lost, update_quorum_state): the sorry
//     server alone takes the traffic. perform_quorum_state removes the live
//     servers, which for inhibit_on_failure servers means weight 0, so
//     those stay listed at weight 0 whatever their health;
//   - sorry_server_inhibit keeps the sorry server listed at weight 0 while
//     quorum holds (init_service_vs adds it so);
//   - a sorry server that is also a real server (s_svr_duplicates_rs) is
//     listed once: as the sorry server while it is active, else as the
//     real server.
func poolOf(vs *config.VirtualServer, health map[check.Target]Health, sorryActive bool) []dataplane.Real {
	sorry := vs.SorryServer
	sorryActive = sorryActive && sorry != nil
	var sorryAt netip.AddrPort
	if sorry != nil {
		sorryAt = netip.AddrPortFrom(sorry.Address, sorry.Port)
	}
	duplicate := false
	var out []dataplane.Real
	for ri := range vs.RealServers {
		rs := &vs.RealServers[ri]
		if sorry != nil && netip.AddrPortFrom(rs.Address, rs.Port) == sorryAt {
			duplicate = true
			if sorryActive {
				continue // listed below as the sorry server
			}
		}
		h := health[TargetOf(vs, rs)]
		switch {
		case sorryActive && rs.InhibitOnFailure:
			out = append(out, withMethod(vs, rs.Method, dataplane.Real{Addr: rs.Address, Port: rs.Port, Weight: 0, UpperThreshold: rs.UThreshold, LowerThreshold: rs.LThreshold}))
		case sorryActive:
		case h.Up:
			out = append(out, withMethod(vs, rs.Method, dataplane.Real{Addr: rs.Address, Port: rs.Port, Weight: uint32(max(h.Weight, 0)), UpperThreshold: rs.UThreshold, LowerThreshold: rs.LThreshold}))
		case rs.InhibitOnFailure:
			out = append(out, withMethod(vs, rs.Method, dataplane.Real{Addr: rs.Address, Port: rs.Port, Weight: 0, UpperThreshold: rs.UThreshold, LowerThreshold: rs.LThreshold}))
		}
	}
	switch {
	case sorryActive:
		out = append(out, withMethod(vs, sorry.Method, dataplane.Real{Addr: sorry.Address, Port: sorry.Port, Weight: sorryWeight}))
	case sorry != nil && sorry.InhibitOnFailure && !duplicate:
		out = append(out, withMethod(vs, sorry.Method, dataplane.Real{Addr: sorry.Address, Port: sorry.Port, Weight: 0}))
	}
	return out
}

// serviceFlagsOf is vs's ops and scheduler flags as IPVS service flags.
func serviceFlagsOf(vs *config.VirtualServer) dataplane.ServiceFlags {
	var f dataplane.ServiceFlags
	if vs.OnePacket {
		f |= dataplane.OnePacket
	}
	for bit, flag := range map[uint8]dataplane.ServiceFlags{config.SchedFlag1: dataplane.SchedFlag1,
		config.SchedFlag2: dataplane.SchedFlag2, config.SchedFlag3: dataplane.SchedFlag3} {
		if vs.SchedFlags&bit != 0 {
			f |= flag
		}
	}
	return f
}

// withMethod gives r its own forwarding method m (a real_server's
// lvs_method, sorry_server_lvs_method) when it is not vs's.
func withMethod(vs *config.VirtualServer, m config.ForwardingMethod, r dataplane.Real) dataplane.Real {
	if m != "" && m != vs.Method {
		r.Method, r.OwnMethod = methodOf(m), true
	}
	return r
}

func protocolOf(p config.Protocol) dataplane.Protocol {
	switch p {
	case config.ProtocolUDP:
		return dataplane.UDP
	case config.ProtocolSCTP:
		return dataplane.SCTP
	}
	return dataplane.TCP
}

func methodOf(m config.ForwardingMethod) dataplane.Method {
	switch m {
	case config.ForwardDR:
		return dataplane.DR
	case config.ForwardTUN:
		return dataplane.TUN
	}
	return dataplane.NAT
}
