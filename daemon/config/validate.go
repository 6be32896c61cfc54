package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// validate checks what one block cannot check alone: ranges that depend on
// other keywords, references between blocks, duplicates and (with
// HostChecks) this host's interfaces.
func (p *parser) validate(cfg *Config) {
	p.validateInstances(cfg)
	p.validateSyncGroups(cfg)
	p.warnSyncGroupWeights(cfg)
	p.validateVirtualServers(cfg)
	p.validateBGP(cfg)
	p.validateLVSDefs(cfg)
	if p.directives == 0 && len(cfg.Files) > 0 && !p.diags.HasErrors() {
		// A truncated deploy or a full disk leaves such a file: say so.
		p.warnAt(Position{File: cfg.Files[0], Line: 1, Col: 1}, "the file has no directives: drlb runs with nothing (as keepalived does), and a reload into it is refused unless `drlb reload --allow-empty`")
	}
	if p.opts.HostChecks {
		p.hostChecks(cfg)
	}
}

func where(pos Position) string { return fmt.Sprintf("%s:%d", pos.File, pos.Line) }

func (p *parser) validateInstances(cfg *Config) {
	type vridKey struct {
		iface string
		vrid  int
		v6    bool
	}
	byName := map[string]int{}
	byVRID := map[vridKey]int{}
	vmacNames := map[string]bool{}
	scripts := map[string]bool{}
	scriptNames := make([]string, 0, len(cfg.Scripts))
	for _, s := range cfg.Scripts {
		if scripts[s.Name] {
			p.errAt(s.Pos, "vrrp_script %s is defined twice", s.Name)
		}
		scripts[s.Name] = true
		scriptNames = append(scriptNames, s.Name)
	}
	for i := range cfg.Instances {
		in := &cfg.Instances[i]
		m := p.instMeta[i]
		if j, dup := byName[in.Name]; dup {
			p.errAt(in.Pos, "vrrp_instance %s is defined twice (first at %s)", in.Name, where(cfg.Instances[j].Pos))
		} else {
			byName[in.Name] = i
		}
		if !m.ifaceSet {
			p.errAt(in.Pos, "vrrp_instance %s has no interface", in.Name)
		} else if in.Interface == "lo" {
			// keepalived -t: "cannot use a loopback interface (lo) for vrrp".
			p.errAt(m.ifacePos, "vrrp_instance %s: VRRP cannot run on the loopback interface lo (keepalived refuses it too)", in.Name)
		}
		if !m.vridSet {
			p.errAt(in.Pos, "vrrp_instance %s has no virtual_router_id (1..255)", in.Name)
		}
		p.instanceFamily(in, m)
		p.checkAdvertInterval(in, m)
		if in.NoPreempt && in.State == StateMaster {
			p.warnAt(in.Pos, "vrrp_instance %s: nopreempt only works with state BACKUP; cleared (as keepalived does)", in.Name)
			in.NoPreempt = false
		}
		if in.Priority == 255 && in.State == StateBackup {
			p.warnAt(in.Pos, "vrrp_instance %s: priority 255 makes this router the address owner, which starts as MASTER; state BACKUP is ignored", in.Name)
			in.State = StateMaster
		}
		if in.Version == 3 && in.Auth.Type != AuthNone {
			p.warnAt(in.Pos, "vrrp_instance %s: authentication is not part of VRRPv3; ignored", in.Name)
			in.Auth = Authentication{Type: AuthNone}
		}
		p.applyModes(cfg.Global, in, m.modes)
		p.nameVMACs(cfg.Global, in, m.modes, vmacNames)
		p.applyProtocol(in, m.modes)
		p.applyGarpGroup(cfg.GarpGroups, in, m.modes)
		p.checkRunnableInstance(in, m)
		v6 := len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6()
		for k, v := range in.VirtualIPs {
			if v.Prefix.Addr().Is6() != v6 {
				p.errAt(m.vipPos[k], "vrrp_instance %s mixes IPv4 and IPv6 virtual addresses (keepalived needs one family per instance)", in.Name)
				break
			}
		}
		if m.vridSet && in.VirtualRouterID != 0 && in.Interface != "" {
			key := vridKey{in.Interface, in.VirtualRouterID, v6}
			if j, dup := byVRID[key]; dup {
				p.errAt(m.vridPos, "virtual_router_id %d is already used on %s by vrrp_instance %s (%s); each instance on an interface needs its own id",
					in.VirtualRouterID, in.Interface, cfg.Instances[j].Name, where(cfg.Instances[j].Pos))
			} else {
				byVRID[key] = i
			}
		}
		// keepalived ignores a track_script naming no vrrp_script (with a
		// warning); drop it so the model holds only what runs.
		kept := in.TrackScripts[:0]
		for k, ts := range in.TrackScripts {
			if !scripts[ts.Name] {
				p.unknownScriptRef(m.trackScripts[k], scriptNames)
				continue
			}
			kept = append(kept, ts)
		}
		in.TrackScripts = kept
	}
}

// instanceFamily applies keepalived's version rule for an IPv6 instance
// (its first virtual_ipaddress is IPv6; vrrp_complete_instance in
// keepalived's vrrp_parser.c): without its own "version" it runs VRRPv3,
// whatever global_defs vrrp_version says; with "version 2" it runs
// keepalived's VRRPv2 over IPv6 (strict mode switches it to 3, see
// applyModes), which only keepalived and drlb understand.
func (p *parser) instanceFamily(in *VRRPInstance, m instanceMeta) {
	if len(in.VirtualIPs) == 0 || !in.VirtualIPs[0].Prefix.Addr().Is6() {
		return
	}
	if !m.versionSet {
		in.Version = 3
		return
	}
	if in.Version == 2 {
		p.warnAt(m.versionPos, "vrrp_instance %s: version 2 over IPv6 is keepalived's own extension (RFC 3768 is IPv4 only): only keepalived and drlb peers understand it; remove \"version 2\" for VRRPv3", in.Name)
	}
}

// checkRunnableInstance reports, at their place, what the VRRP engine
// refuses: authentication other than PASS, an instance without addresses,
// authentication over IPv6, and a source or unicast peer of the other
// address family than the instance's addresses (keepalived refuses those
// too: one socket, one family).
func (p *parser) checkRunnableInstance(in *VRRPInstance, m instanceMeta) {
	if in.Auth.Type == AuthAH {
		var pos positioner = m.authTypePos
		if m.authTypePos.line == 0 {
			pos = in.Pos
		}
		p.errAt(pos, "auth_type AH is not supported yet (vrrp_instance %s): drlb authenticates with PASS only; use auth_type PASS or remove the authentication block", in.Name)
	}
	if len(in.VirtualIPs) == 0 && !p.noVIPsAllowed(in) {
		return
	}
	v6 := len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6()
	family := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
	if v6 && in.Auth.Type == AuthPass {
		var pos positioner = m.authTypePos
		if m.authTypePos.line == 0 {
			pos = in.Pos
		}
		p.errAt(pos, "vrrp_instance %s: authentication is not carried over IPv6 (keepalived sends none there); remove the authentication block", in.Name)
	}
	if in.UnicastSrcIP.IsValid() && in.UnicastSrcIP.Is6() != v6 {
		p.errAt(m.unicastSrcPos, "unicast_src_ip %s (vrrp_instance %s) is not %s like the instance's virtual addresses; VRRP runs over one address family", in.UnicastSrcIP, in.Name, family)
	}
	if in.McastSrcIP.IsValid() && in.McastSrcIP.Is6() != v6 {
		p.errAt(m.mcastSrcPos, "mcast_src_ip %s (vrrp_instance %s) is not %s like the instance's virtual addresses; VRRP runs over one address family", in.McastSrcIP, in.Name, family)
	}
	for k, peer := range in.UnicastPeers {
		if peer.Is6() != v6 && k < len(m.peerPos) {
			p.errAt(m.peerPos[k], "unicast_peer %s (vrrp_instance %s) is not %s like the instance's virtual addresses; VRRP runs over one address family", peer, in.Name, family)
		}
	}
}

// unknownScriptRef warns about a track_script naming no vrrp_script that
// runs: one removed for having no script, or no such block at all.
func (p *parser) unknownScriptRef(t token, names []string) {
	if p.scriptless[t.text] {
		p.warnAt(t.pos, "track_script %q: vrrp_script %s has no script; ignored", t.text, t.text)
		return
	}
	p.unknownRef(t, "track_script", "vrrp_script", names)
}

// unknownRef reports a reference to a block that does not exist, with a suggestion.
func (p *parser) unknownRef(t token, what, kind string, names []string) {
	msg := fmt.Sprintf("%s %q: no %s has that name", what, t.text, kind)
	if s := suggest(t.text, names, nil); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	p.warnAt(t.pos, "%s; ignored", msg)
}

// checkAdvertInterval applies the per-version range: VRRPv2 carries whole
// seconds (1..255), VRRPv3 centiseconds (0.01..40.95 s).
func (p *parser) checkAdvertInterval(in *VRRPInstance, m instanceMeta) {
	var pos positioner = m.advertPos
	if m.advertPos.line == 0 {
		pos = in.Pos
	}
	d := in.AdvertInterval
	switch in.Version {
	case 3:
		if d < 10*time.Millisecond || d > 4095*10*time.Millisecond {
			p.errAt(pos, "advert_int %s is out of range for VRRPv3: must be 0.01..40.95 seconds", secs(d))
			in.AdvertInterval = time.Second
			return
		}
		if r := d.Truncate(10 * time.Millisecond); r != d {
			p.warnAt(pos, "advert_int %s: VRRPv3 counts in hundredths of a second; %s is used", secs(d), secs(r))
			in.AdvertInterval = r
		}
	default:
		if d < time.Second || d > 255*time.Second {
			p.errAt(pos, "advert_int %s is out of range for VRRPv2: must be 1..255 seconds (use version 3 for shorter intervals)", secs(d))
			in.AdvertInterval = time.Second
			return
		}
		if r := d.Truncate(time.Second); r != d {
			p.warnAt(pos, "advert_int %s: VRRPv2 counts in whole seconds; %s is used", secs(d), secs(r))
			in.AdvertInterval = r
		}
	}
}

func (p *parser) validateSyncGroups(cfg *Config) {
	byName := map[string]int{}
	names := make([]string, len(cfg.Instances))
	for i, in := range cfg.Instances {
		if _, dup := byName[in.Name]; !dup {
			byName[in.Name] = i
		}
		names[i] = in.Name
	}
	scriptNames := make([]string, 0, len(cfg.Scripts))
	for _, s := range cfg.Scripts {
		scriptNames = append(scriptNames, s.Name)
	}
	seenGroup := map[string]bool{}
	for gi := range cfg.SyncGroups {
		g := &cfg.SyncGroups[gi]
		kept := g.TrackScripts[:0]
		for k, ts := range g.TrackScripts {
			if !slices.Contains(scriptNames, ts.Name) {
				p.unknownScriptRef(p.groupMeta[gi].trackScripts[k], scriptNames)
				continue
			}
			kept = append(kept, ts)
		}
		g.TrackScripts = kept
		if seenGroup[g.Name] {
			p.errAt(g.Pos, "vrrp_sync_group %s is defined twice", g.Name)
		}
		seenGroup[g.Name] = true
		for _, t := range p.groupMeta[gi].members {
			i, ok := byName[t.text]
			if !ok {
				msg := fmt.Sprintf("vrrp_sync_group %s names vrrp_instance %q, which does not exist", g.Name, t.text)
				if s := suggest(t.text, names, nil); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				p.errAt(t.pos, "%s", msg)
				continue
			}
			in := &cfg.Instances[i]
			if in.SyncGroup != "" && in.SyncGroup != g.Name {
				p.errAt(t.pos, "vrrp_instance %s is already in vrrp_sync_group %s; an instance can be in one group only", in.Name, in.SyncGroup)
				continue
			}
			in.SyncGroup = g.Name
		}
	}
}

// validateVirtualServers applies keepalived's own corrections (each with a
// warning): services without real servers are dropped, duplicate real
// servers removed, ports that DR/TUN cannot change reset, quorum and
// hysteresis bounded.
func (p *parser) validateVirtualServers(cfg *Config) {
	type svcKey struct {
		addr  string
		port  uint16
		proto Protocol
		mark  uint32
	}
	seen := map[svcKey]int{}
	kept := cfg.VirtualServers[:0]
	for i := range cfg.VirtualServers {
		p.tick()
		vs := cfg.VirtualServers[i]
		if len(vs.RealServers) == 0 {
			p.warnAt(vs.Pos, "virtual_server %s has no real_server; ignored (as keepalived does)", vs.Name())
			continue
		}
		key := svcKey{vs.Address.String(), vs.Port, vs.Protocol, vs.FWMark}
		if j, dup := seen[key]; dup {
			p.errAt(vs.Pos, "virtual_server %s is defined twice (first at %s)", vs.Name(), where(kept[j].Pos))
		} else {
			seen[key] = len(kept)
		}
		if vs.HASuspend && vs.FWMark != 0 {
			p.warnAt(vs.Pos, "virtual_server %s: ha_suspend cannot be used with fwmark; cleared", vs.Name())
			vs.HASuspend = false
		}
		if vs.FWMark == 0 && (vs.Address.IsUnspecified() || vs.Address.IsMulticast()) {
			p.errAt(vs.Pos, "virtual_server %s: %s is not a unicast address", vs.Name(), vs.Address)
		}
		rsSeen := map[string]int{}
		servers := vs.RealServers[:0]
		weight := 0
		for _, rs := range vs.RealServers {
			p.tick()
			// Ports first: two DR servers that differ only in port are one.
			p.fixPort(&vs, rs.Method, &rs.Port, rs.Pos, "real_server "+rs.Address.String())
			id := netip.AddrPortFrom(rs.Address, rs.Port).String()
			if j, dup := rsSeen[id]; dup {
				p.warnAt(rs.Pos, "real_server %s appears twice in virtual_server %s (first at %s); the second is ignored", id, vs.Name(), where(servers[j].Pos))
				continue
			}
			rsSeen[id] = len(servers)
			weight += rs.Weight
			servers = append(servers, rs)
		}
		vs.RealServers = servers
		if ss := vs.SorryServer; ss != nil {
			method := ss.Method
			p.fixPort(&vs, method, &ss.Port, vs.Pos, "sorry_server "+ss.Address.String())
			if vs.FWMark == 0 && ss.Address.Is4() != vs.Address.Is4() {
				p.errAt(vs.Pos, "virtual_server %s: sorry_server %s is not in the virtual server's address family", vs.Name(), ss.Address)
			}
			// A sorry server that is also a real server (keepalived's
			// s_svr_duplicates_rs) is listed once by the desired table.
		}
		// keepalived (check_data.c): "one packet scheduling requires UDP -
		// resetting", for a service with an address (fwmark ones may carry UDP).
		if vs.OnePacket && vs.FWMark == 0 && vs.Protocol != ProtocolUDP {
			p.warnAt(vs.OnePacketPos, "virtual_server %s: ops (one-packet scheduling) needs protocol UDP; ignored, as keepalived does", vs.Name())
			vs.OnePacket = false
		}
		p.checkDataplane(&vs, cfg.Global.Dataplane)
		if vs.Quorum > weight {
			p.warnAt(vs.Pos, "virtual_server %s: quorum %d exceeds the real servers' total weight %d; %d is used", vs.Name(), vs.Quorum, weight, weight)
			vs.Quorum = weight
		}
		if vs.Quorum > 0 && vs.Hysteresis >= vs.Quorum {
			p.warnAt(vs.Pos, "virtual_server %s: hysteresis %d must be below quorum %d; %d is used", vs.Name(), vs.Hysteresis, vs.Quorum, vs.Quorum-1)
			vs.Hysteresis = vs.Quorum - 1
		}
		kept = append(kept, vs)
	}
	cfg.VirtualServers = kept
}

// checkDataplane reports what the nftables data plane cannot program: it
// forwards DR to IPv4 and IPv6 services with a port, and refuses a whole table that
// holds anything else. It is an error with drlb_dataplane nft, and with auto
// when Options.IPVSAvailable says this host has no IPVS (auto then picks
// nftables); otherwise IPVS may do it and nothing is said.
func (p *parser) checkDataplane(vs *VirtualServer, dp Dataplane) {
	suffix := " (drlb_dataplane nft)"
	switch {
	case dp == DataplaneNFT:
	case dp == DataplaneAuto && p.opts.IPVSAvailable != nil && !p.opts.IPVSAvailable():
		suffix = " (drlb_dataplane auto, and this kernel has no IPVS)"
	default:
		return
	}
	report := p.errAt
	var why []string
	switch {
	case vs.FWMark != 0:
		// Marks are set at prerouting (iptables mangle, nft inet), after the
		// netdev ingress hook where nftables forwards: the mark is not known
		// there (see README, fwmark services).
		why = append(why, "a fwmark service (its mark is set at prerouting, after the ingress hook where nftables forwards; or write one virtual_server per address and port)")
	case vs.Port == 0:
		why = append(why, "a service without a port")
	}
	if vs.OnePacket {
		// Each packet of a flow may go to another server: the nft data
		// plane keeps its flows on one server (connection maps).
		why = append(why, "ops (one-packet scheduling)")
	}
	if vs.PersistenceEngine != "" {
		why = append(why, "persistence_engine "+vs.PersistenceEngine)
	}
	methods := map[ForwardingMethod]bool{}
	if len(vs.RealServers) == 0 || vs.SorryServer != nil {
		methods[vs.Method] = true
	}
	if vs.SorryServer != nil {
		methods[vs.SorryServer.Method] = true
	}
	for _, rs := range vs.RealServers {
		methods[rs.Method] = true
		if rs.Address.Is4() && rs.Address.As4()[0] == 0 {
			why = append(why, fmt.Sprintf("real_server %s in 0.0.0.0/8", rs.Address))
		}
	}
	for _, m := range []ForwardingMethod{ForwardNAT, ForwardTUN} {
		if methods[m] {
			why = append(why, "lvs_method "+string(m))
		}
	}
	if len(why) > 0 {
		report(vs.Pos, "virtual_server %s: %s needs IPVS: the nftables data plane does DR with a port only%s", vs.Name(), strings.Join(why, ", "), suffix)
	}
}

// fixPort applies the kernel's rule that only NAT can change the port: a
// DR/TUN server uses the service's port (none for a fwmark service).
func (p *parser) fixPort(vs *VirtualServer, method ForwardingMethod, port *uint16, pos Position, what string) {
	if method == ForwardNAT {
		return
	}
	want := vs.Port
	if vs.FWMark != 0 {
		want = 0
	}
	if *port != want {
		if vs.Group != "" {
			// A group's real servers serve every member: the member's port
			// (none for a fwmark member) is the one DR uses, silently.
			*port = want
			return
		}
		if vs.FWMark != 0 {
			p.warnAt(pos, "%s: a %s fwmark service cannot use a port (%d); cleared (connect_port sets the checkers' port)", what, method, *port)
		} else {
			p.warnAt(pos, "%s: %s forwarding cannot change the port (%d); the virtual server's port %d is used", what, method, *port, want)
		}
		*port = want
	}
}

// Name returns the virtual server as keepalived logs it: "[IP]:PORT" or "FWM N".
func (vs *VirtualServer) Name() string {
	switch {
	case vs.Group != "" && (vs.FWMark != 0 || vs.Address.IsValid()):
		m := *vs
		m.Group = ""
		return m.Name() + " (group " + vs.Group + ")"
	case vs.FWMark != 0:
		return fmt.Sprintf("FWM %d", vs.FWMark)
	case vs.Group != "":
		return "group " + vs.Group
	case vs.Address.Is6():
		return fmt.Sprintf("[%s]:%d", vs.Address, vs.Port)
	default:
		return fmt.Sprintf("%s:%d", vs.Address, vs.Port)
	}
}

func (p *parser) interfaceExists(name string) bool {
	if p.opts.InterfaceExists != nil {
		return p.opts.InterfaceExists(name)
	}
	_, err := net.InterfaceByName(name)
	return err == nil
}

// netNamespaceExists reports whether /run/netns/NAME exists.
func (p *parser) netNamespaceExists(name string) bool {
	if p.opts.NetNamespaceExists != nil {
		return p.opts.NetNamespaceExists(name)
	}
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// hostChecks reports interfaces (and a net_namespace) that do not exist on this host.
func (p *parser) hostChecks(cfg *Config) {
	if cfg.NetNamespace != "" && !p.netNamespaceExists(cfg.NetNamespace) {
		p.errAt(p.netnsPos, "net_namespace %s does not exist on this host (create it with ip netns add %s)", cfg.NetNamespace, cfg.NetNamespace)
	}
	if ns := cfg.NetNamespaceIPVS; ns != nil && *ns != "" && !p.netNamespaceExists(*ns) {
		p.errAt(p.ipvsNetnsPos, "net_namespace_ipvs %s does not exist on this host (create it with ip netns add %s)", *ns, *ns)
	}
	for i, in := range cfg.Instances {
		m := p.instMeta[i]
		p.checkVMAC(&in, m.modes)
		if in.Interface != "" && !p.interfaceExists(in.Interface) {
			if cfg.Global.DynamicInterfaces {
				// drlb run waits in FAULT for it, as keepalived does.
				p.warnAt(m.ifacePos, "interface %s (vrrp_instance %s) does not exist on this host yet (dynamic_interfaces: FAULT until it appears)", in.Interface, in.Name)
			} else {
				p.errAt(m.ifacePos, "interface %s (vrrp_instance %s) does not exist on this host", in.Interface, in.Name)
			}
		}
		for _, ti := range in.TrackInterfaces {
			if !p.interfaceExists(ti.Name) {
				p.warnAt(in.Pos, "track_interface %s (vrrp_instance %s) does not exist on this host", ti.Name, in.Name)
			}
		}
		for _, v := range in.VirtualIPs {
			if v.Dev != "" && !p.interfaceExists(v.Dev) {
				p.errAt(v.Pos, "dev %s for %s does not exist on this host", v.Dev, v.Prefix)
			}
		}
	}
}

// suggest returns the candidate closest to word, or "" when none is close:
// a case-insensitive match, or an edit distance (with transpositions) small
// for the word's length.
func suggest(word string, lists ...[]string) string {
	lw := strings.ToLower(word)
	best, bestDist := "", 1<<30
	limit := 2
	if l := len(lw) / 4; l > limit {
		limit = l
	}
	for _, list := range lists {
		for _, c := range list {
			lc := strings.ToLower(c)
			if lc == lw {
				return c
			}
			if diff := len(lc) - len(lw); diff > limit || -diff > limit {
				continue // the distance is at least the length difference
			}
			d := editDistance(lw, lc)
			if d < bestDist {
				best, bestDist = c, d
			}
		}
	}
	if bestDist <= limit && bestDist < len(lw) {
		return best
	}
	return ""
}

// editDistance is the optimal string alignment distance (Levenshtein plus
// adjacent transpositions) between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // keywords are short; do not spend time on garbage
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
