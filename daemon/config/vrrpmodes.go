package config

import (
	"bytes"
	"cmp"
	"net"
	"strconv"
	"strings"
	"time"
)

// modeMeta records where an instance's strict, accept and VMAC keywords
// are, for the strict-mode diagnostics.
type modeMeta struct {
	strictSet, strict bool
	// acceptSet says whether accept or no_accept was written (acceptPos).
	acceptSet  bool
	acceptPos  srcPos
	xmitPos    srcPos
	delayPos   srcPos
	statePos   srcPos
	authPos    srcPos
	peerPos    srcPos
	vmacName   srcPos
	vmacNameOK bool
	// vmacPos is use_vmac's keyword.
	vmacPos srcPos
	// garpIntervalSet says the instance has its own garp_interval.
	garpIntervalSet bool
	// gnaIntervalSet says the instance has its own gna_interval.
	gnaIntervalSet bool
}

// VMACPrefix is the prefix of a VMAC interface's default name (keepalived's
// "vrrp", giving vrrp.VRID).
const VMACPrefix = "vrrp"

// VMACName returns the interface name keepalived gives the VMAC of
// virtual router vrid when use_vmac names none: "vrrp.VRID", or with a
// global vmac_prefix (prefix not ""), "PREFIX.VRID".
func VMACName(prefix string, vrid int) string {
	if prefix == "" {
		prefix = VMACPrefix
	}
	return prefix + "." + strconv.Itoa(vrid)
}

// vmacPrefix parses global_defs vmac_prefix STRING: with ".255" appended
// it must still name an interface (at most 15 characters). keepalived
// keeps the first one; so does drlb, with a warning for the others.
func (p *parser) vmacPrefix(n *node, g *GlobalDefs) {
	t, ok := p.one(n)
	if !ok {
		return
	}
	kw, set := n.key.text, &g.VMACPrefix
	if kw == "vmac_addr_prefix" {
		set = &g.VMACAddrPrefix
	}
	switch {
	case *set != "":
		p.warnAt(n.key.pos, "%s has already been specified; %q ignored (as keepalived does)", kw, t.text)
	case len(t.text) > 11:
		p.errAt(t.pos, "%s %q: PREFIX.VRID must fit in an interface name (15 characters): at most 11", kw, t.text)
	case !validIfName(t.text + ".1"):
		p.errAt(t.pos, "%s %q cannot start an interface name", kw, t.text)
	default:
		*set = t.text
	}
}

// AddressVMAC is a VMAC made for addresses that are not on the
// instance's own VMAC (use_vmac_addr, or the address option use_vmac):
// a macvlan Name on Base with the virtual MAC of the instance's VRID for
// the addresses' family (IPv6: 00:00:5e:00:02:VRID).
type AddressVMAC struct {
	Name string `json:"name"`
	Base string `json:"base"`
	IPv6 bool   `json:"ipv6,omitempty"`
}

// v6 reports whether in is an IPv6 instance (its first address).
func (in *VRRPInstance) v6() bool {
	return len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6()
}

// onVMAC says whether v lives on in's own VMAC: use_vmac, v on the
// instance's interface and of its family (keepalived 2.2's
// vrrp_complete_instance; an address of the other family stays on the
// interface unless an address VMAC takes it).
func (in *VRRPInstance) onVMAC(v VirtualIP) bool {
	return in.UseVMAC && (v.Dev == "" || v.Dev == in.Interface) && v.Prefix.Addr().Is6() == in.v6()
}

// addressVMACBase is the interface whose address VMAC v lives on, or ""
// when v needs none: with the address option use_vmac or use_vmac_addr,
// an address on another interface, or on the instance's of the other
// family.
func (in *VRRPInstance) addressVMACBase(v VirtualIP) string {
	if in.onVMAC(v) || (!v.UseVMAC && !in.UseVMACAddr) {
		return ""
	}
	if v.Dev != "" && v.Dev != in.Interface {
		return v.Dev
	}
	if v.UseVMAC || v.Prefix.Addr().Is6() != in.v6() {
		return in.Interface
	}
	return ""
}

// addressVMAC is the name of the address VMAC v lives on, or "".
func (in *VRRPInstance) addressVMAC(v VirtualIP) string {
	base := in.addressVMACBase(v)
	if base == "" {
		return ""
	}
	for _, a := range in.AddressVMACs {
		if a.Base == base && a.IPv6 == v.Prefix.Addr().Is6() {
			return a.Name
		}
	}
	return ""
}

// VMACBase is the interface under the VMAC named dev of in (its own or an
// address VMAC), or "" when dev is none of them.
func (in *VRRPInstance) VMACBase(dev string) string {
	if in.UseVMAC && dev == in.VMACName {
		return in.Interface
	}
	for _, a := range in.AddressVMACs {
		if a.Name == dev {
			return a.Base
		}
	}
	return ""
}

// vmacNameFor is keepalived's create_vmac_name: PREFIX.VRID, or when a
// VMAC of this configuration already has that name, PREFIX6.VRID first
// for IPv6, then PREFIX1.VRID, PREFIX2.VRID ... (never PREFIX6 twice).
func vmacNameFor(prefix string, vrid int, v6 bool, used map[string]bool) string {
	name := VMACName(prefix, vrid)
	for num := 0; used[name] && num < 100; {
		switch {
		case v6 && num == 0:
			num = 6
		case v6 && num == 6:
			num = 1
		default:
			if num++; num == 6 && v6 {
				num++
			}
		}
		name = prefix + strconv.Itoa(num) + "." + strconv.Itoa(vrid)
	}
	return name
}

// nameVMACs names in's VMACs after applyModes: its own one (use_vmac
// without a name; another instance's VMAC name moves it on, as keepalived
// does) and the address VMACs its addresses need, one per base interface
// and family, named from vmac_addr_prefix (else vmac_prefix). used holds
// the VMAC names of the instances before.
func (p *parser) nameVMACs(g GlobalDefs, in *VRRPInstance, m modeMeta, used map[string]bool) {
	if in.UseVMAC {
		if !m.vmacNameOK {
			in.VMACName = vmacNameFor(cmp.Or(g.VMACPrefix, VMACPrefix), in.VirtualRouterID, in.v6(), used)
		}
		used[in.VMACName] = true
	}
	for _, list := range [][]VirtualIP{in.VirtualIPs, in.ExcludedVIPs} {
		for _, v := range list {
			if v.UseVMAC && in.onVMAC(v) {
				p.warnAt(v.Pos, "vrrp_instance %s: use_vmac for %v, which is on the instance's VMAC anyway", in.Name, v.Prefix)
			}
			base := in.addressVMACBase(v)
			if base == "" || in.addressVMAC(v) != "" {
				continue
			}
			v6 := v.Prefix.Addr().Is6()
			name := vmacNameFor(cmp.Or(g.VMACAddrPrefix, g.VMACPrefix, VMACPrefix), in.VirtualRouterID, v6, used)
			used[name] = true
			in.AddressVMACs = append(in.AddressVMACs, AddressVMAC{Name: name, Base: base, IPv6: v6})
		}
	}
}

// VMACAddress returns the VRRP virtual MAC of vrid for IPv4,
// 00:00:5e:00:01:VRID (RFC 5798 section 7.3), as six bytes.
func VMACAddress(vrid int) [6]byte { return [6]byte{0x00, 0x00, 0x5e, 0x00, 0x01, byte(vrid)} }

// VMACAddress6 returns the VRRP virtual MAC of vrid for IPv6,
// 00:00:5e:00:02:VRID (RFC 5798 section 7.3), as six bytes.
func VMACAddress6(vrid int) [6]byte { return [6]byte{0x00, 0x00, 0x5e, 0x00, 0x02, byte(vrid)} }

// VMAC returns the virtual MAC of in's VMAC: IPv6's when its addresses
// are IPv6, else IPv4's.
func (in *VRRPInstance) VMAC() [6]byte {
	if len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6() {
		return VMACAddress6(in.VirtualRouterID)
	}
	return VMACAddress(in.VirtualRouterID)
}

// VIPDevice is the interface v lives on: with use_vmac, the VMAC for an
// address of the instance's family without dev or with the instance's own
// interface as dev (keepalived moves only those); an address VMAC
// (use_vmac_addr, the address option use_vmac); else its dev, or the
// instance's interface.
func (in *VRRPInstance) VIPDevice(v VirtualIP) string {
	if in.onVMAC(v) {
		return in.VMACName
	}
	if name := in.addressVMAC(v); name != "" {
		return name
	}
	if v.Dev != "" {
		return v.Dev
	}
	return in.Interface
}

// note records where the keywords strict mode may override are.
func (m *modeMeta) note(n *node) {
	switch n.key.text {
	case "state":
		m.statePos = n.key.pos
	case "authentication":
		m.authPos = n.key.pos
	case "preempt_delay":
		m.delayPos = n.key.pos
	case "unicast_peer":
		m.peerPos = n.key.pos
	case "garp_interval":
		m.garpIntervalSet = true
	case "gna_interval":
		m.gnaIntervalSet = true
	}
}

// instanceMode parses the vrrp_instance keywords of strict mode, accept
// mode and VMACs (strict_mode, accept, no_accept, use_vmac,
// vmac_xmit_base). It reports whether n was one of them.
func (p *parser) instanceMode(n *node, in *VRRPInstance, m *modeMeta) bool {
	switch n.key.text {
	case "strict_mode":
		m.strictSet = true
		p.flag(n, &m.strict)
	case "accept", "no_accept":
		if p.valueOnly(n) {
			if len(n.args) > 0 {
				p.warnAt(n.args[0].pos, "%s takes no value; %q ignored", n.key.text, n.args[0].text)
			}
			m.acceptSet, m.acceptPos = true, n.key.pos
			in.NoAccept = n.key.text == "no_accept"
		}
	case "use_vmac":
		if !p.valueOnly(n) {
			return true
		}
		in.UseVMAC, m.vmacPos = true, n.key.pos
		if len(n.args) > 0 {
			name := n.args[0]
			switch {
			case len(name.text) > 15:
				p.errAt(name.pos, "use_vmac %q: an interface name has at most 15 characters", name.text)
			case !validIfName(name.text):
				p.errAt(name.pos, "use_vmac %q is not a valid interface name", name.text)
			default:
				in.VMACName, m.vmacName, m.vmacNameOK = name.text, name.pos, true
			}
			if len(n.args) > 1 {
				p.warnAt(n.args[1].pos, "use_vmac takes at most an interface name; extra %q ignored", n.args[1].text)
			}
		}
	case "virtual_routes":
		in.VirtualRoutes = append(in.VirtualRoutes, p.routes(n)...)
	case "virtual_rules":
		in.VirtualRules = append(in.VirtualRules, p.rules(n)...)
	case "vmac_xmit_base":
		if p.valueOnly(n) {
			in.VMACXmitBase, m.xmitPos = true, n.key.pos
		}
	case "use_vmac_addr":
		if p.valueOnly(n) {
			in.UseVMACAddr = true
		}
	default:
		return false
	}
	return true
}

// validIfName reports whether s can name a Linux interface.
func validIfName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r == ':' || r > '~' {
			return false
		}
	}
	return true
}

// applyModes resolves strict mode, accept mode and the VMAC of in after
// the whole file is read, following keepalived's vrrp_complete_instance
// (2.2.x): strict mode (strict_mode, else global_defs vrrp_strict)
// refuses unicast peers and clears authentication, a state MASTER that is
// not the address owner, preempt_delay and vmac_xmit_base; accept defaults
// to on, except in strict mode where only the address owner (priority 255)
// accepts, and an explicit accept on a VRRPv2 non-owner is reset (RFC 3768
// has no accept mode).
func (p *parser) applyModes(g GlobalDefs, in *VRRPInstance, m modeMeta) {
	in.StrictMode = g.VRRPStrict
	if m.strictSet {
		in.StrictMode = m.strict
	}
	at := func(pos srcPos) positioner {
		if pos.line == 0 {
			return in.Pos
		}
		return pos
	}
	if in.UseVMAC && !m.vmacNameOK {
		in.VMACName = VMACName(g.VMACPrefix, in.VirtualRouterID)
	}
	if in.VMACXmitBase && !in.UseVMAC {
		p.warnAt(m.xmitPos, "vrrp_instance %s: vmac_xmit_base is only valid with use_vmac; ignored (as keepalived does)", in.Name)
		in.VMACXmitBase = false
	}
	owner := in.Priority == 255
	v6 := len(in.VirtualIPs) > 0 && in.VirtualIPs[0].Prefix.Addr().Is6()
	if in.StrictMode && v6 && in.Version == 2 {
		p.warnAt(in.Pos, "vrrp_instance %s: strict mode cannot use IPv6 with VRRP version 2; version 3 (as keepalived does)", in.Name)
		in.Version = 3
	}
	if !m.acceptSet {
		in.NoAccept = in.StrictMode && !owner
	}
	if !in.StrictMode {
		return
	}
	if len(in.UnicastPeers) > 0 {
		p.errAt(at(m.peerPos), "vrrp_instance %s: unicast peers are not supported in strict mode (vrrp_strict / strict_mode); keepalived disables such an instance: remove unicast_peer or strict mode", in.Name)
	}
	if in.Auth.Type != AuthNone {
		p.warnAt(at(m.authPos), "vrrp_instance %s: strict mode does not support authentication; ignored (as keepalived does)", in.Name)
		in.Auth = Authentication{Type: AuthNone}
	}
	if (in.State == StateMaster) != owner {
		p.warnAt(at(m.statePos), "vrrp_instance %s: in strict mode state MASTER must match being the address owner (priority 255); state %s", in.Name,
			map[bool]string{true: "MASTER", false: "BACKUP"}[owner])
		in.State = StateBackup
		if owner {
			in.State = StateMaster
		}
	}
	if in.PreemptDelay != 0 {
		p.warnAt(at(m.delayPos), "vrrp_instance %s: preempt_delay is incompatible with strict mode; reset to 0 (as keepalived does)", in.Name)
		in.PreemptDelay = 0
	}
	if m.acceptSet && !in.NoAccept && !owner && in.Version == 2 {
		p.warnAt(m.acceptPos, "vrrp_instance %s: accept mode for VRRP version 2 does not comply with RFC 3768; no_accept in strict mode (as keepalived does)", in.Name)
		in.NoAccept = true
	}
	if in.VMACXmitBase {
		p.warnAt(m.xmitPos, "vrrp_instance %s: vmac_xmit_base is incompatible with strict mode; ignored (as keepalived does)", in.Name)
		in.VMACXmitBase = false
	}
	p.applyGarpModes(in)
}

// AddressScope returns the number of an address scope as iproute2 names
// them (/etc/iproute2/rt_scopes: global 0, site 200, link 253, host 254,
// nowhere 255) or as a number 0..255.
func AddressScope(name string) (uint8, bool) {
	switch name {
	case "global", "universe":
		return 0, true
	case "site":
		return 200, true
	case "link":
		return 253, true
	case "host":
		return 254, true
	case "nowhere":
		return 255, true
	}
	n, err := strconv.ParseUint(name, 10, 8)
	return uint8(n), err == nil
}

// garpRefresh handles the lower-priority and refresh GARP keywords
// (instance names; the global ones without their "vrrp_" prefix).
func (p *parser) garpRefresh(n *node, kw string, g *Garp) bool {
	switch kw {
	case "garp_lower_prio_delay":
		d := new(time.Duration)
		if p.dur(n, 0, time.Hour, d) {
			g.LowerPrioDelay = d
		}
	case "garp_lower_prio_repeat":
		r := new(int)
		if p.intv(n, 0, 255, r) {
			g.LowerPrioRepeat = r
		}
	case "garp_master_refresh":
		p.dur(n, 0, 24*time.Hour, &g.MasterRefresh)
	case "garp_master_refresh_repeat":
		p.intv(n, 1, 255, &g.MasterRefreshRepeat)
	case "garp_extra_if", "vmac_garp_intvl":
		p.garpExtraIf(n, kw, g)
	default:
		return false
	}
	return true
}

// garpExtraIf parses garp_extra_if [all] SECONDS (and its deprecated
// name vmac_garp_intvl; the global ones without "vrrp_"), as keepalived's
// vrrp_garp_extra_if_handler: "all" anywhere, seconds 0-86400 (0 turns it
// off), a missing time is an error.
func (p *parser) garpExtraIf(n *node, kw string, g *Garp) {
	if !p.valueOnly(n) {
		return
	}
	if kw == "vmac_garp_intvl" {
		p.warnAt(n.key.pos, "%s is deprecated; use %s", n.key.text, strings.Replace(n.key.text, "vmac_garp_intvl", "garp_extra_if", 1))
	}
	all, secs, haveSecs := false, uint64(0), false
	for _, a := range n.args {
		if a.text == "all" {
			all = true
			continue
		}
		v, err := strconv.ParseUint(a.text, 10, 32)
		if err != nil || v > 86400 {
			p.errAt(a.pos, "%s %q: want all and/or seconds 0-86400", n.key.text, a.text)
			return
		}
		secs, haveSecs = v, true
	}
	if !haveSecs {
		p.errAt(n.key.pos, "%s needs a time in seconds", n.key.text)
		return
	}
	g.ExtraIf, g.ExtraIfAll = time.Duration(secs)*time.Second, all
}

// applyGarpModes resolves the lower-priority GARP settings: unset, they
// follow the master's (keepalived's default); in strict mode keepalived
// sends none and refuses a non-zero setting, resetting it.
func (p *parser) applyGarpModes(in *VRRPInstance) {
	if !in.StrictMode {
		return
	}
	if (in.Garp.LowerPrioRepeat != nil && *in.Garp.LowerPrioRepeat != 0) || (in.Garp.LowerPrioDelay != nil && *in.Garp.LowerPrioDelay != 0) {
		p.warnAt(in.Pos, "vrrp_instance %s: strict mode requires no lower-priority gratuitous ARPs (garp_lower_prio_repeat/delay); reset to 0 (as keepalived does)", in.Name)
	}
	zero, none := time.Duration(0), 0
	in.Garp.LowerPrioDelay, in.Garp.LowerPrioRepeat = &zero, &none
}

// GarpGroup is a garp_group block: the gap between gratuitous ARPs on its
// interfaces.
type GarpGroup struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Interval is garp_interval.
	Interval time.Duration `json:"garp_interval"`
	// NAInterval is gna_interval, the same for unsolicited neighbour
	// advertisements (IPv6).
	NAInterval time.Duration `json:"gna_interval,omitempty"`
	// Interfaces are interface and interfaces { } entries.
	Interfaces []string `json:"interfaces"`
}

// garpGroup parses a garp_group block.
func (p *parser) garpGroup(b *node) (GarpGroup, bool) {
	g := GarpGroup{Pos: p.pos(b.key.pos)}
	if !p.needBlock(b) {
		return g, false
	}
	for _, n := range b.children {
		switch n.key.text {
		case "garp_interval":
			p.dur(n, 0, time.Minute, &g.Interval)
		case "gna_interval":
			p.dur(n, 0, time.Minute, &g.NAInterval)
		case "interface":
			if t, ok := p.one(n); ok {
				g.Interfaces = append(g.Interfaces, t.text)
			}
		case "interfaces":
			for _, t := range p.listItems(n) {
				g.Interfaces = append(g.Interfaces, t.text)
			}
		default:
			p.unknown(n, "garp_group", "garp_group")
		}
	}
	if len(g.Interfaces) == 0 {
		p.errAt(b.key.pos, "garp_group has no interface")
		return g, false
	}
	return g, true
}

// applyGarpGroup gives in the garp_interval and gna_interval of the
// garp_group that holds its interface (its VMAC's base with use_vmac),
// unless the instance sets them itself (which wins).
func (p *parser) applyGarpGroup(groups []GarpGroup, in *VRRPInstance, m modeMeta) {
	for _, g := range groups {
		for _, ifname := range g.Interfaces {
			if ifname != in.Interface {
				continue
			}
			if !m.garpIntervalSet {
				in.Garp.Interval = g.Interval
			}
			if !m.gnaIntervalSet {
				in.Garp.NAInterval = g.NAInterval
			}
			return
		}
	}
}

// checkVMAC reports, under host checks, a VMAC name taken by an interface
// that is not that VMAC: drlb run refuses to start then (keepalived picks
// another name).
func (p *parser) checkVMAC(in *VRRPInstance, m modeMeta) {
	macOf := func(name string) net.HardwareAddr {
		if p.opts.InterfaceMAC != nil {
			return p.opts.InterfaceMAC(name)
		}
		if ifi, err := net.InterfaceByName(name); err == nil {
			return ifi.HardwareAddr
		}
		return nil
	}
	if in.UseVMAC && in.VMACName != "" {
		want := in.VMAC()
		if mac := macOf(in.VMACName); mac != nil && !bytes.Equal(mac, want[:]) {
			pos := m.vmacPos
			if m.vmacNameOK {
				pos = m.vmacName
			}
			p.errAt(pos, "use_vmac: interface %s exists on this host with MAC %v, so it is not the VMAC %v of vrrp_instance %s; name the VMAC otherwise (use_vmac NAME)",
				in.VMACName, mac, net.HardwareAddr(want[:]), in.Name)
		}
	}
	for _, a := range in.AddressVMACs {
		want := VMACAddress(in.VirtualRouterID)
		if a.IPv6 {
			want = VMACAddress6(in.VirtualRouterID)
		}
		if mac := macOf(a.Name); mac != nil && !bytes.Equal(mac, want[:]) {
			p.errAt(in.Pos, "vrrp_instance %s: the address VMAC %s (on %s) exists on this host with MAC %v, not %v; set vmac_addr_prefix to another name",
				in.Name, a.Name, a.Base, mac, net.HardwareAddr(want[:]))
		}
	}
}
