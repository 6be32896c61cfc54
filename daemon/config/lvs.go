package config

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// timers are the checker timers that virtual_server and real_server may set
// for the checkers below them; nil means "inherit".
type timers struct {
	delayLoop, connectTimeout, delayBeforeRetry, warmup *time.Duration
	retry                                               *int
}

// timer handles a timer keyword; it returns false for other keywords.
func (p *parser) timer(n *node, t *timers) bool {
	switch n.key.text {
	case "delay_loop":
		p.durp(n, time.Millisecond, 24*time.Hour, &t.delayLoop)
	case "connect_timeout":
		p.durp(n, time.Millisecond, time.Hour, &t.connectTimeout)
	case "delay_before_retry":
		p.durp(n, 0, time.Hour, &t.delayBeforeRetry)
	case "warmup":
		p.durp(n, 0, 24*time.Hour, &t.warmup)
	case "retry":
		p.intp(n, 0, math.MaxInt32, &t.retry)
	case "nb_get_retry":
		p.warnAt(n.key.pos, "nb_get_retry is deprecated (keepalived 2 says so too); use retry")
		p.intp(n, 0, math.MaxInt32, &t.retry)
	default:
		return false
	}
	return true
}

// inherit fills unset timers in t from parent.
func (t timers) inherit(parent timers) timers {
	if t.delayLoop == nil {
		t.delayLoop = parent.delayLoop
	}
	if t.connectTimeout == nil {
		t.connectTimeout = parent.connectTimeout
	}
	if t.delayBeforeRetry == nil {
		t.delayBeforeRetry = parent.delayBeforeRetry
	}
	if t.warmup == nil {
		t.warmup = parent.warmup
	}
	if t.retry == nil {
		t.retry = parent.retry
	}
	return t
}

// virtualServer parses "virtual_server IP PORT { }", "virtual_server fwmark N { }"
// or "virtual_server group NAME { }".
func (p *parser) virtualServer(b *node) (VirtualServer, bool) {
	vs := VirtualServer{
		Pos: p.pos(b.key.pos), Protocol: ProtocolTCP, DelayLoop: 60 * time.Second, Scheduler: "wlc",
		Method: ForwardNAT, Quorum: 1, Weight: 1,
	}
	switch {
	case len(b.args) >= 2 && b.args[0].text == "fwmark":
		v, ok := p.intTok("virtual_server fwmark", b.args[1], 1, math.MaxUint32)
		if !ok {
			return vs, false
		}
		vs.FWMark = uint32(v)
		vs.Protocol = "" // the mark selects the packets, whatever their protocol
	case len(b.args) >= 2 && b.args[0].text == "group":
		vs.Group = b.args[1].text // expanded into its members by build
	case len(b.args) == 1 && b.args[0].text == "group":
		p.errAt(afterKey(b), "virtual_server group needs the name of a virtual_server_group")
		return vs, false
	case len(b.args) >= 1:
		a, ok := p.addrTok("virtual_server", b.args[0])
		if !ok {
			return vs, false
		}
		vs.Address = a
		// keepalived: "virtual_server IP" without a port is a service on
		// every port (port 0), which IPVS allows only when persistent.
		if len(b.args) >= 2 {
			port, ok := p.portTok("virtual_server", b.args[1])
			if !ok {
				return vs, false
			}
			vs.Port = port
		}
	default:
		p.errAt(afterKey(b), "virtual_server needs \"IP [PORT]\", \"fwmark N\" or \"group NAME\"")
		return vs, false
	}
	if len(b.args) > 2 {
		p.warnAt(b.args[2].pos, "virtual_server: extra %q ignored", b.args[2].text)
	}
	switch {
	case vs.Group != "": // set per member (expandGroup)
	case vs.Address.Is6():
		vs.PersistenceGranularity = 128
	default:
		vs.PersistenceGranularity = 32
	}

	var vt timers
	var realNodes, schedFlagNodes []*node
	var sorryMethod ForwardingMethod
	var sorryMethodNode *node
	var protocolSet, schedulerSet, methodSet bool
	for _, n := range b.children {
		if p.timer(n, &vt) {
			continue
		}
		switch n.key.text {
		case "protocol":
			protocolSet = true
		case "lb_algo", "lvs_sched":
			schedulerSet = true
		case "lb_kind", "lvs_method":
			methodSet = true
		}
		switch n.key.text {
		case "lb_algo", "lvs_sched":
			if t, ok := p.one(n); ok {
				switch t.text {
				case "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos":
					vs.Scheduler = t.text
				default:
					p.errAt(t.pos, "%s %q: unknown scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)", n.key.text, t.text)
				}
			}
		case "lb_kind", "lvs_method":
			if m, ok := p.method(n); ok {
				vs.Method = m
			}
		case "persistence_timeout":
			// The bare keyword means keepalived's 6 minutes.
			if len(n.args) == 0 && !n.hasBlock {
				vs.PersistenceTimeout = 360 * time.Second
				continue
			}
			// IPVS keeps whole seconds; keepalived reads an unsigned number.
			var secs int
			if p.intv(n, 0, math.MaxUint32, &secs) {
				vs.PersistenceTimeout = time.Duration(secs) * time.Second
			}
		case "persistence_granularity":
			if t, ok := p.one(n); ok {
				p.granularity(t, &vs)
			}
		case "protocol":
			if vs.FWMark != 0 {
				p.warnAt(n.key.pos, "protocol is ignored for a fwmark service (the mark selects the packets)")
				p.valueOnly(n)
				continue
			}
			if t, ok := p.one(n); ok {
				switch pr := Protocol(strings.ToUpper(t.text)); pr {
				case ProtocolTCP, ProtocolUDP, ProtocolSCTP:
					vs.Protocol = pr
				default:
					p.errAt(t.pos, "protocol %q: must be TCP, UDP or SCTP", t.text)
				}
			}
		case "quorum":
			p.intv(n, 1, math.MaxInt32, &vs.Quorum)
		case "hysteresis":
			p.intv(n, 0, math.MaxInt32, &vs.Hysteresis)
		case "quorum_up":
			if s, ok := p.script(n, blockOwner(b)); ok {
				vs.QuorumUp = s
			}
		case "quorum_down":
			if s, ok := p.script(n, blockOwner(b)); ok {
				vs.QuorumDown = s
			}
		case "alpha":
			p.flag(n, &vs.Alpha)
		case "omega":
			p.flag(n, &vs.Omega)
		case "inhibit_on_failure":
			p.flag(n, &vs.InhibitOnFailure)
		case "ha_suspend":
			p.flag(n, &vs.HASuspend)
		case "virtualhost":
			p.str(n, &vs.VirtualHost)
		case "nat_mask":
			p.valueOnly(n)
			p.warnAt(n.key.pos, "nat_mask is obsolete (keepalived ignores it); ignored")
		case "sorry_server":
			if !p.valueOnly(n) {
				continue
			}
			if len(n.args) < 2 {
				p.errAt(afterKey(n), "sorry_server needs \"IP PORT\"")
				continue
			}
			a, ok := p.addrTok("sorry_server", n.args[0])
			port, ok2 := p.portTok("sorry_server", n.args[1])
			if ok && ok2 {
				if vs.SorryServer == nil {
					vs.SorryServer = &SorryServer{}
				}
				vs.SorryServer.Address, vs.SorryServer.Port = a, port
			}
		case "sorry_server_inhibit":
			if vs.SorryServer == nil {
				vs.SorryServer = &SorryServer{}
			}
			p.flag(n, &vs.SorryServer.InhibitOnFailure)
		case "sorry_server_lvs_method":
			if m, ok := p.method(n); ok {
				sorryMethod, sorryMethodNode = m, n
			}
		case "real_server":
			realNodes = append(realNodes, n)
		case "drlb_bgp_announce":
			vs.BGPAnnouncePos = p.pos(n.key.pos)
			p.flag(n, &vs.BGPAnnounce)
		case "smtp_alert":
			p.optFlag(n, &vs.SMTPAlert)
		case "ip_family":
			if t, ok := p.one(n); ok {
				switch t.text {
				case "inet", "inet6":
					vs.IPFamily = t.text
				default:
					p.errAt(t.pos, "ip_family %q: must be inet or inet6", t.text)
				}
			}
		case "weight":
			p.intv(n, 1, 65535, &vs.Weight)
		case "persistence_engine":
			if t, ok := p.one(n); ok {
				// The kernel's IP_VS_PENAME_MAXLEN is 16 with the NUL;
				// keepalived truncates a longer name, drlb refuses it.
				if len(t.text) > 15 || strings.ContainsFunc(t.text, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' }) {
					p.errAt(t.pos, "persistence_engine %q: not an IPVS persistence engine name (at most 15 of a-z, 0-9, _; Linux has sip)", t.text)
					continue
				}
				vs.PersistenceEngine, vs.PersistenceEnginePos = t.text, p.pos(n.key.pos)
			}
		case "ops":
			vs.OnePacketPos = p.pos(n.key.pos)
			p.flag(n, &vs.OnePacket)
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			schedFlagNodes = append(schedFlagNodes, n) // after lvs_sched, wherever it is written
		default:
			p.unknown(n, "virtual_server", "virtual_server")
		}
	}
	if vs.PersistenceEngine != "" && vs.PersistenceTimeout == 0 && (vs.Port != 0 || vs.FWMark != 0 || vs.Group != "") {
		// IPVS consults the engine only when it schedules a persistent service.
		p.warnAt(vs.PersistenceEnginePos, "persistence_engine %s has no effect without persistence_timeout", vs.PersistenceEngine)
	}
	for _, n := range schedFlagNodes {
		p.schedFlag(n, &vs)
	}
	if vs.IPFamily != "" && vs.Address.IsValid() && (vs.IPFamily == "inet6") != vs.Address.Is6() {
		p.errAt(b.key.pos, "virtual_server %s: ip_family %s conflicts with the address's family", vs.Name(), vs.IPFamily)
	}
	if vs.SorryServer != nil && !vs.SorryServer.Address.IsValid() {
		p.errAt(b.key.pos, "sorry_server_inhibit without a sorry_server")
		vs.SorryServer = nil
	}
	switch {
	case vs.SorryServer == nil && sorryMethodNode != nil:
		p.errAt(sorryMethodNode.key.pos, "sorry_server_lvs_method without a sorry_server")
	case vs.SorryServer != nil && sorryMethod != "":
		vs.SorryServer.Method = sorryMethod
	case vs.SorryServer != nil:
		vs.SorryServer.Method = vs.Method
	}
	if vt.delayLoop != nil {
		vs.DelayLoop = *vt.delayLoop
	}
	// keepalived's defaults for what the block leaves out, with one warning
	// (keepalived reports each: check_data.c validate_check_config).
	var defaults []string
	if vs.FWMark == 0 && !protocolSet {
		defaults = append(defaults, "protocol UDP")
		vs.Protocol = ProtocolUDP
	}
	if !schedulerSet {
		defaults = append(defaults, "lvs_sched wlc")
	}
	if !methodSet && slices.ContainsFunc(realNodes, func(rn *node) bool {
		return !slices.ContainsFunc(rn.children, func(c *node) bool { return c.key.text == "lvs_method" || c.key.text == "lb_kind" })
	}) {
		defaults = append(defaults, "lvs_method NAT")
	}
	if len(defaults) > 0 && len(realNodes) > 0 { // no real server: dropped below, with its own warning
		p.warnAt(b.key.pos, "virtual_server %s does not say %s: keepalived's defaults %s are used", vs.Name(),
			strings.Join(defaultNames(defaults), ", "), strings.Join(defaults, ", "))
	}
	if vs.FWMark == 0 && vs.Group == "" && vs.Port == 0 && vs.PersistenceTimeout == 0 {
		p.warnAt(b.key.pos, "virtual_server %s has no port and no persistence_timeout: a service on every port must be persistent; persistence_timeout 360 is used, as keepalived does", vs.Name())
		vs.PersistenceTimeout = 360 * time.Second
	}
	// Real servers are parsed after the whole block so that settings written
	// after them (delay_loop, inhibit_on_failure, virtualhost) still apply.
	for _, n := range realNodes {
		if !p.needBlock(n) {
			continue
		}
		if rs, ok := p.realServer(n, &vs, vt); ok {
			vs.RealServers = append(vs.RealServers, rs)
		}
	}
	return vs, true
}

// schedFlag handles flag-1..3, sh-port, sh-fallback, mh-port and
// mh-fallback as keepalived's lbflags_handler (check_parser.c) does: the
// flag-N keywords set IP_VS_SVC_F_SCHEDN whatever the scheduler; the sh-
// and mh- ones set flag-1 (fallback) or flag-2 (port) only with their own
// scheduler, and are ignored with a warning otherwise. keepalived reads
// lvs_sched written before the flag; drlb reads the whole block first.
func (p *parser) schedFlag(n *node, vs *VirtualServer) {
	on := false
	p.flag(n, &on)
	if !on {
		return
	}
	k := n.key.text
	var bit uint8
	switch k {
	case "flag-1", "sh-fallback", "mh-fallback":
		bit = SchedFlag1
	case "flag-2", "sh-port", "mh-port":
		bit = SchedFlag2
	default:
		bit = SchedFlag3
	}
	if sched, _, named := strings.Cut(k, "-"); named && sched != "flag" && vs.Scheduler != sched {
		p.warnAt(n.key.pos, "%s applies to lvs_sched %s only (this service's is %s); ignored, as keepalived does", k, sched, vs.Scheduler)
		return
	}
	vs.SchedFlags |= bit
}

// method parses "lvs_method NAT|DR" or "lvs_method TUN [type ipip|gue port
// N|gre] [nocsum|csum|remcsum]" (and lb_kind, keepalived's old name). Both
// data planes program IPIP tunnels only: another tunnel type or a checksum
// option is an error, since the servers would not decapsulate the packets.
func (p *parser) method(n *node) (ForwardingMethod, bool) {
	if !p.valueOnly(n) {
		return "", false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a value", n.key.text)
		return "", false
	}
	t := n.args[0]
	m := ForwardingMethod(strings.ToUpper(t.text))
	switch m {
	case ForwardNAT, ForwardDR, ForwardTUN:
	default:
		p.errAt(t.pos, "%s %q: must be NAT, DR or TUN", n.key.text, t.text)
		return "", false
	}
	rest := n.args[1:]
	if m != ForwardTUN {
		if len(rest) > 0 {
			p.warnAt(rest[0].pos, "%s takes one value; extra %q ignored", n.key.text, rest[0].text)
		}
		return m, true
	}
	ok := true
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch a.text {
		case "type":
			if i+1 >= len(rest) {
				p.errAt(a.pos, "%s TUN type needs ipip, gue or gre", n.key.text)
				return m, false
			}
			i++
			switch tt := rest[i]; tt.text {
			case "ipip":
			case "gue", "gre":
				p.errAt(tt.pos, "%s TUN type %s is not supported yet: drlb programs IPIP tunnels only (type ipip, the default)", n.key.text, tt.text)
				ok = false
				if tt.text == "gue" && i+2 < len(rest) && rest[i+1].text == "port" {
					i += 2
				}
			default:
				p.errAt(tt.pos, "%s TUN type %q: must be ipip, gue or gre", n.key.text, tt.text)
				ok = false
			}
		case "nocsum":
			// The default: no checksum in the tunnel header.
		case "csum", "remcsum":
			p.errAt(a.pos, "%s TUN %s is not supported yet: it applies to GUE/GRE tunnels, and drlb programs IPIP tunnels only", n.key.text, a.text)
			ok = false
		default:
			p.errAt(a.pos, "%s TUN: unexpected %q (want type ipip|gue port N|gre, then nocsum|csum|remcsum)", n.key.text, a.text)
			ok = false
		}
	}
	return m, ok
}

// granularity parses a netmask ("255.255.255.0") or a prefix length.
func (p *parser) granularity(t token, vs *VirtualServer) {
	if strings.Contains(t.text, ".") && vs.Address.Is6() {
		// keepalived reads an IPv6 service's granularity as a prefix length only.
		p.errAt(t.pos, "persistence_granularity %q: an IPv6 virtual_server takes a prefix length 1-128, not a netmask", t.text)
		return
	}
	if strings.Contains(t.text, ".") {
		a, err := netip.ParseAddr(t.text)
		if err == nil && a.Is4() {
			b := a.As4()
			m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			ones := 0
			for m&0x80000000 != 0 {
				ones++
				m <<= 1
			}
			if m == 0 {
				vs.PersistenceGranularity = ones
				return
			}
		}
		p.errAt(t.pos, "persistence_granularity %q is not a contiguous IPv4 netmask", t.text)
		return
	}
	maxBits := 32
	if vs.Address.Is6() {
		maxBits = 128
	}
	if v, ok := p.intTok("persistence_granularity", t, 1, maxBits); ok {
		vs.PersistenceGranularity = v
	}
}

func (p *parser) realServer(b *node, vs *VirtualServer, vt timers) (RealServer, bool) {
	p.tick()
	rs := RealServer{Pos: p.pos(b.key.pos), Weight: vs.Weight, Method: vs.Method, InhibitOnFailure: vs.InhibitOnFailure, SMTPAlert: vs.SMTPAlert}
	if len(b.args) < 1 {
		p.errAt(afterKey(b), "real_server needs \"IP [PORT]\"")
		return rs, false
	}
	a, ok := p.addrTok("real_server", b.args[0])
	if !ok {
		return rs, false
	}
	rs.Address = a
	if len(b.args) >= 2 {
		port, ok := p.portTok("real_server", b.args[1])
		if !ok {
			return rs, false
		}
		rs.Port = port
	} else {
		rs.Port = vs.Port // keepalived: a fwmark service's servers may omit the port
	}
	if len(b.args) > 2 {
		p.warnAt(b.args[2].pos, "real_server: extra %q ignored", b.args[2].text)
	}
	if a.Is4() != vs.Address.Is4() && vs.Address.IsValid() {
		p.errAt(b.args[0].pos, "real_server %s and virtual_server %s are different address families", a, vs.Address)
	} else if vs.IPFamily != "" && (vs.IPFamily == "inet6") != a.Is6() {
		p.errAt(b.args[0].pos, "real_server %s is not in the virtual server's ip_family %s", a, vs.IPFamily)
	}
	// A fwmark service takes its family from its servers (keepalived's
	// check_parser.c: only tunnelled servers may differ, and drlb programs
	// no mixed-family tunnels): one IPVS service cannot hold both.
	if vs.FWMark != 0 && len(vs.RealServers) > 0 && a.Is4() != vs.RealServers[0].Address.Is4() {
		fam := "IPv4"
		if vs.RealServers[0].Address.Is6() {
			fam = "IPv6"
		}
		p.errAt(b.args[0].pos, "real_server %s is not in the address family of the earlier real servers of virtual_server %s (%s)", a, vs.Name(), fam)
	}
	var rt timers
	vhost := vs.VirtualHost
	var checkNodes []*node
	var unsupportedCheckers []token
	for _, n := range b.children {
		if p.timer(n, &rt) {
			continue
		}
		switch n.key.text {
		case "weight":
			p.intv(n, 0, 65535, &rs.Weight)
		case "inhibit_on_failure":
			p.flag(n, &rs.InhibitOnFailure)
		case "notify_up":
			if s, ok := p.script(n, blockOwner(b)); ok {
				rs.NotifyUp = s
			}
		case "notify_down":
			if s, ok := p.script(n, blockOwner(b)); ok {
				rs.NotifyDown = s
			}
		case "lb_kind", "lvs_method":
			if m, ok := p.method(n); ok {
				rs.Method = m
			}
		case "virtualhost":
			p.str(n, &vhost)
		case "alpha":
			var a bool
			p.flag(n, &a)
			rs.Alpha = &a
		case "uthreshold", "lthreshold":
			var v int
			if p.intv(n, 0, math.MaxInt32, &v) {
				if n.key.text == "uthreshold" {
					rs.UThreshold = uint32(v)
				} else {
					rs.LThreshold = uint32(v)
				}
			}
		case "smtp_alert":
			p.optFlag(n, &rs.SMTPAlert)
		default:
			if isCheckerKeyword(n.key.text) {
				checkNodes = append(checkNodes, n)
				continue
			}
			if k, ok := keywords().lookup(n.key.text, []string{"real_server"}); ok && n.hasBlock && k.Status == KeywordNotSupported && strings.ToUpper(k.Name) == k.Name {
				unsupportedCheckers = append(unsupportedCheckers, n.key)
			}
			p.unknown(n, "real_server", "real_server")
		}
	}
	if len(checkNodes) == 0 && len(unsupportedCheckers) > 0 {
		// Without its checker the server would count as always healthy.
		c := unsupportedCheckers[0]
		p.errAt(c.pos, "real_server %s: its only health checker %s is not supported yet, so the server would always count as healthy; use TCP_CHECK, HTTP_GET, SSL_GET or MISC_CHECK", a, c.text)
	}
	rt = rt.inherit(vt)
	for _, n := range checkNodes {
		if !p.needBlock(n) {
			continue
		}
		rs.Checkers = append(rs.Checkers, p.checker(n, &rs, vs, rt, vhost))
	}
	return rs, true
}

func (p *parser) checker(b *node, rs *RealServer, vs *VirtualServer, parent timers, vhost string) Checker {
	kind := CheckerKind(b.key.text)
	c := Checker{Pos: p.pos(b.key.pos), Kind: kind, ConnectIP: rs.Address, ConnectPort: rs.Port, VirtualHost: vhost}
	if len(b.args) > 0 {
		p.warnAt(b.args[0].pos, "%s takes no arguments before its block; %q ignored", b.key.text, b.args[0].text)
	}
	var ct timers
	var miscTimeout *time.Duration
	var miscNode *node
	var miscUser string
	for _, n := range b.children {
		if p.timer(n, &ct) {
			continue
		}
		switch k := n.key.text; {
		case k == "connect_ip":
			p.addr(n, &c.ConnectIP)
		case k == "connect_port":
			if t, ok := p.one(n); ok {
				if port, ok := p.portTok("connect_port", t); ok {
					c.ConnectPort = port
				}
			}
		case k == "bindto":
			p.addr(n, &c.BindTo)
		case k == "bind_port":
			if t, ok := p.one(n); ok {
				if port, ok := p.portTok("bind_port", t); ok {
					c.BindPort = port
				}
			}
		case k == "url" && (kind == CheckHTTP || kind == CheckSSL):
			if p.needBlock(n) {
				c.URLs = append(c.URLs, p.url(n))
			}
		case k == "virtualhost" && (kind == CheckHTTP || kind == CheckSSL):
			p.str(n, &c.VirtualHost)
		case k == "misc_path" && kind == CheckMisc:
			if s, ok := p.rest(n); ok && p.command("misc_path", n.args[0], s) {
				c.MiscPath, miscNode = s, n
			}
		case k == "user" && kind == CheckMisc:
			if s, ok := p.rest(n); ok {
				miscUser = s
			}
		case k == "misc_timeout" && kind == CheckMisc:
			p.durp(n, time.Millisecond, 24*time.Hour, &miscTimeout)
		case k == "misc_dynamic" && kind == CheckMisc:
			p.flag(n, &c.MiscDynamic)
		case p.checkerOption(n, kind, &c):
		default:
			p.unknown(n, string(kind), checkerBlocks(kind)...)
		}
	}
	ct = ct.inherit(parent)
	c.DelayLoop = vs.DelayLoop
	if ct.delayLoop != nil {
		c.DelayLoop = *ct.delayLoop
	}
	c.ConnectTimeout = 5 * time.Second
	if ct.connectTimeout != nil {
		c.ConnectTimeout = *ct.connectTimeout
	}
	c.Retry = 1
	if kind == CheckMisc {
		c.Retry = 0 // keepalived: MISC_CHECK does not retry by default
	}
	if ct.retry != nil {
		c.Retry = *ct.retry
	}
	c.DelayBeforeRetry = time.Second
	if kind == CheckHTTP || kind == CheckSSL {
		c.DelayBeforeRetry = 3 * time.Second
	}
	if ct.delayBeforeRetry != nil {
		c.DelayBeforeRetry = *ct.delayBeforeRetry
	}
	// keepalived: warmup defaults to delay_loop (a random first delay up to
	// one interval); 0 disables it.
	c.Warmup = c.DelayLoop
	if ct.warmup != nil {
		c.Warmup = *ct.warmup
	}
	if kind == CheckMisc {
		c.MiscTimeout = c.DelayLoop
		if miscTimeout != nil {
			c.MiscTimeout = *miscTimeout
		}
		if c.MiscPath == "" {
			p.errAt(b.key.pos, "MISC_CHECK needs a misc_path")
		} else if miscNode != nil {
			p.addScriptRef(miscNode, "MISC_CHECK of real_server "+rs.Address.String(), c.MiscPath, miscUser)
		}
	}
	p.finishChecker(b, &c, ct)
	if kind != CheckMisc && kind != CheckPing && kind != CheckFile && c.ConnectPort == 0 {
		p.errAt(b.key.pos, "%s has no port to connect to: set connect_port (real_server %s has none)", kind, rs.Address)
	}
	if (kind == CheckHTTP || kind == CheckSSL) && len(c.URLs) == 0 {
		p.errAt(b.key.pos, "%s needs at least one url { } block", kind)
	}
	if c.ConnectIP.IsValid() && rs.Address.IsValid() && c.ConnectIP.Is4() != rs.Address.Is4() {
		p.warnAt(b.key.pos, "%s connect_ip %s is not the same address family as real_server %s", kind, c.ConnectIP, rs.Address)
	}
	return c
}

func (p *parser) url(b *node) URL {
	u := URL{Pos: p.pos(b.key.pos), Path: "/"}
	var codes []StatusRange
	for _, n := range b.children {
		switch n.key.text {
		case "path":
			if t, ok := p.one(n); ok {
				switch {
				case t.text == "":
					p.errAt(t.pos, "path is empty: the request needs a path such as /")
				case strings.ContainsAny(t.text, " \t\r\n"):
					p.errAt(t.pos, "path %q contains a blank: it cannot go into the request line", t.text)
				}
				u.Path = t.text
			}
		case "digest":
			if t, ok := p.one(n); ok {
				if !isHexDigest(t.text) {
					p.errAt(t.pos, "digest %q is not an MD5 digest: need 32 hex digits (as printed by genhash), got %d characters", t.text, len([]rune(t.text)))
					continue
				}
				u.Digest = strings.ToLower(t.text)
			}
		case "status_code":
			if !p.valueOnly(n) {
				continue
			}
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "status_code needs a value")
			}
			for _, t := range n.args {
				if r, ok := p.statusRange(t); ok {
					codes = append(codes, r)
				}
			}
		case "virtualhost":
			p.str(n, &u.VirtualHost)
		default:
			if p.urlOption(n, &u) {
				continue
			}
			p.unknown(n, "url", "url")
		}
	}
	if len(codes) == 0 {
		codes = []StatusRange{{Min: 200, Max: 299}}
	}
	u.StatusCodes = codes
	return u
}

func isHexDigest(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// statusRange parses "200" or "200-299" (keepalived 2 accepts both).
func (p *parser) statusRange(t token) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(t.text, "-")
	a, err := strconv.Atoi(lo)
	b := a
	if err == nil && isRange {
		b, err = strconv.Atoi(hi)
	}
	if err != nil || a < 100 || b > 599 || a > b {
		p.errAt(t.pos, "status_code %q: must be an HTTP status 100..599 or a range like 200-299", t.text)
		return StatusRange{}, false
	}
	return StatusRange{Min: a, Max: b}, true
}

// defaultNames returns the keywords of "keyword value" defaults.
func defaultNames(defaults []string) []string {
	out := make([]string, len(defaults))
	for i, d := range defaults {
		out[i], _, _ = strings.Cut(d, " ")
	}
	return out
}

// blockOwner names a block by its keyword and arguments, for ScriptRef.Owner.
func blockOwner(b *node) string {
	parts := []string{b.key.text}
	for _, a := range b.args {
		parts = append(parts, a.text)
	}
	return strings.Join(parts, " ")
}
