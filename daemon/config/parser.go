package config

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parser holds one parse run's state: options, files read and diagnostics.
type parser struct {
	opts  Options
	files []string
	diags Diagnostics
	work  int // units of work done, for Options.Yield

	// Source positions kept for cross-block validation, parallel to the
	// Config slices.
	instMeta  []instanceMeta
	groupMeta []groupMeta
	// expandBudget is how many bytes $NAME expansion may still produce.
	expandBudget   int
	expandReported bool
	// nodeSlab is the free part of the current node slab.
	nodeSlab []node
	// rng and pcg draw ${_RANDOM} once global_defs random_seed was read
	// (nil before: the global source).
	rng *rand.Rand
	pcg *rand.PCG
	// scriptRefs are the scripts found so far (Config.ScriptRefs).
	scriptRefs []ScriptRef
	// directives counts top-level keywords known to keepalived (supported
	// or not): a file without any is empty, whatever bytes it holds.
	directives int
	// netnsPos is where net_namespace's value is.
	netnsPos srcPos
	// ipvsNetnsPos is where net_namespace_ipvs is written.
	ipvsNetnsPos srcPos
	// lvsTimeoutsPos is where lvs_timeouts is, for validateLVSDefs.
	lvsTimeoutsPos Position
	// scriptless are the vrrp_script blocks removed for having no script,
	// so that a track_script naming one says why it is ignored.
	scriptless map[string]bool
}

type instanceMeta struct {
	vridPos, ifacePos, advertPos srcPos
	vridSet, ifaceSet            bool
	trackRefs
	vipPos []Position
	// authTypePos is auth_type's value (zero without one).
	authTypePos srcPos
	// srcIPPos are unicast_src_ip's and mcast_src_ip's values, peerPos
	// unicast_peer's lines, for the IPv4-only transport check.
	unicastSrcPos, mcastSrcPos srcPos
	peerPos                    []srcPos
	// modes locates the strict, accept and VMAC keywords (vrrpmodes.go).
	modes modeMeta
	// versionSet is set when the instance has its own "version" (at
	// versionPos): only then may an IPv6 instance run version 2.
	versionSet bool
	versionPos srcPos
}

type groupMeta struct {
	members []token
	trackRefs
}

// trackRefs locates the names an instance's or sync group's track_script,
// track_file and track_process lines reference.
type trackRefs struct {
	trackScripts, trackFiles, trackProcs []token
}

func newParser(opts Options) *parser {
	return &parser{opts: opts}
}

// tick counts a unit of work and calls Options.Yield every YieldEvery.
func (p *parser) tick() {
	p.work++
	if p.work%YieldEvery == 0 && p.opts.Yield != nil {
		p.opts.Yield()
	}
}

func (p *parser) errAt(at positioner, format string, args ...any) {
	pos := at.resolve(p.files)
	p.diags = append(p.diags, Diagnostic{File: pos.File, Line: pos.Line, Col: pos.Col, Severity: SeverityError, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) warnAt(at positioner, format string, args ...any) {
	pos := at.resolve(p.files)
	p.diags = append(p.diags, Diagnostic{File: pos.File, Line: pos.Line, Col: pos.Col, Severity: SeverityWarning, Message: fmt.Sprintf(format, args...)})
}

// diagnostics returns the diagnostics ordered by file (in reading order),
// line and column.
func (p *parser) diagnostics() Diagnostics {
	order := make(map[string]int, len(p.files))
	for i, f := range p.files {
		order[f] = i
	}
	ds := slices.Clone(p.diags)
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return ds
}

func (p *parser) parseFile(name string, data []byte) []*node {
	st := &lexState{defs: map[string]string{"_INSTANCE": p.instanceName()}}
	p.expandBudget = 1<<20 + 4*len(data)
	// Roughly one token per five bytes in real files: size once, not by doubling.
	toks := p.lexFile(name, data, st, make([]token, 0, len(data)/5+16))
	restoreComment(toks)
	return p.parseTree(toks)
}

// --- argument helpers -------------------------------------------------------

// valueOnly reports an error when a value keyword was given a block.
func (p *parser) valueOnly(n *node) bool {
	if n.hasBlock {
		p.errAt(n.open, "%s takes a value, not a block", n.key.text)
		return false
	}
	return true
}

// needBlock reports an error when a block keyword has no block.
func (p *parser) needBlock(n *node) bool {
	if !n.hasBlock {
		p.errAt(n.key.pos, "%s needs a { } block", n.key.text)
		return false
	}
	return true
}

// afterKey is the position just after the keyword, for "missing value" errors.
func afterKey(n *node) srcPos {
	pos := n.key.pos
	pos.col += int32(len([]rune(n.key.text))) + 1
	return pos
}

// pos resolves a token position for the model.
func (p *parser) pos(s srcPos) Position { return s.resolve(p.files) }

// one returns the single argument of a value keyword.
func (p *parser) one(n *node) (token, bool) {
	if !p.valueOnly(n) {
		return token{}, false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a value", n.key.text)
		return token{}, false
	}
	if len(n.args) > 1 {
		p.warnAt(n.args[1].pos, "%s takes one value; extra %q ignored", n.key.text, n.args[1].text)
	}
	return n.args[0], true
}

// rest joins all arguments (command lines, e-mail addresses with spaces).
func (p *parser) rest(n *node) (string, bool) {
	if !p.valueOnly(n) {
		return "", false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a value", n.key.text)
		return "", false
	}
	parts := make([]string, len(n.args))
	for i, a := range n.args {
		parts[i] = a.text
	}
	return strings.Join(parts, " "), true
}

func (p *parser) intTok(key string, t token, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(t.text)
	if err != nil {
		p.errAt(t.pos, "%s: %q is not a whole number", key, t.text)
		return 0, false
	}
	if v < lo || v > hi {
		p.errAt(t.pos, "%s %d is out of range: must be %d..%d", key, v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *parser) intv(n *node, lo, hi int, dst *int) bool {
	t, ok := p.one(n)
	if !ok {
		return false
	}
	v, ok := p.intTok(n.key.text, t, lo, hi)
	if ok {
		*dst = v
	}
	return ok
}

// parseSeconds parses a non-negative decimal number of seconds with up to
// microsecond precision ("1", "0.1", "1.5") without float rounding.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && (!hasFrac || frac == "") {
		return 0, false
	}
	if len(whole) > 9 || len(frac) > 6 {
		return 0, false
	}
	var d time.Duration
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, false
		}
		d = d*10 + time.Duration(c-'0')
	}
	d *= time.Second
	unit := 100 * time.Millisecond
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		d += time.Duration(c-'0') * unit
		unit /= 10
	}
	return d, true
}

func (p *parser) durTok(key string, t token, lo, hi time.Duration) (time.Duration, bool) {
	d, ok := parseSeconds(t.text)
	if !ok {
		p.errAt(t.pos, "%s: %q is not a number of seconds", key, t.text)
		return 0, false
	}
	if d < lo || d > hi {
		p.errAt(t.pos, "%s %s is out of range: must be %s..%s seconds", key, t.text, secs(lo), secs(hi))
		return 0, false
	}
	return d, true
}

// secs prints a duration as keepalived writes it: plain seconds.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func (p *parser) dur(n *node, lo, hi time.Duration, dst *time.Duration) bool {
	t, ok := p.one(n)
	if !ok {
		return false
	}
	d, ok := p.durTok(n.key.text, t, lo, hi)
	if ok {
		*dst = d
	}
	return ok
}

// durp is dur into an optional value.
func (p *parser) durp(n *node, lo, hi time.Duration, dst **time.Duration) {
	var d time.Duration
	if p.dur(n, lo, hi, &d) {
		*dst = &d
	}
}

func (p *parser) intp(n *node, lo, hi int, dst **int) {
	var v int
	if p.intv(n, lo, hi, &v) {
		*dst = &v
	}
}

// flag handles a boolean keyword: alone it means true; an optional argument
// may be true/false/on/off/yes/no.
func (p *parser) flag(n *node, dst *bool) {
	if !p.valueOnly(n) {
		return
	}
	if len(n.args) == 0 {
		*dst = true
		return
	}
	switch strings.ToLower(n.args[0].text) {
	case "true", "on", "yes", "1":
		*dst = true
	case "false", "off", "no", "0":
		*dst = false
	default:
		p.errAt(n.args[0].pos, "%s: %q is not true or false", n.key.text, n.args[0].text)
	}
}

func (p *parser) str(n *node, dst *string) {
	if t, ok := p.one(n); ok {
		*dst = t.text
	}
}

func (p *parser) addrTok(key string, t token) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" {
		p.errAt(t.pos, "%s: %q is not an IP address", key, t.text)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (p *parser) addr(n *node, dst *netip.Addr) bool {
	t, ok := p.one(n)
	if !ok {
		return false
	}
	a, ok := p.addrTok(n.key.text, t)
	if ok {
		*dst = a
	}
	return ok
}

func (p *parser) portTok(key string, t token) (uint16, bool) {
	v, ok := p.intTok(key+" port", t, 0, 65535)
	return uint16(v), ok
}

// listItems returns the words of a list block ("group { A B }" or one per line).
func (p *parser) listItems(n *node) []token {
	if !p.needBlock(n) {
		return nil
	}
	if len(n.args) > 0 {
		p.warnAt(n.args[0].pos, "%s takes no arguments before its block; %q ignored", n.key.text, n.args[0].text)
	}
	var out []token
	for _, c := range n.children {
		if c.hasBlock {
			p.errAt(c.open, "a block is not allowed inside %s", n.key.text)
			continue
		}
		out = append(out, c.key)
		out = append(out, c.args...)
	}
	return out
}

// unknown reports a keyword the block does not implement, using the
// keyword status table (keywords.tsv): a keepalived keyword drlb does not
// support yet gets a "not supported yet" warning (its block is skipped), any
// other word an "unknown keyword" warning with a "did you mean" suggestion
// among the current keyword names of blocks. label names the block in the
// message.
func (p *parser) unknown(n *node, label string, blocks ...string) {
	kw := n.key.text
	t := keywords()
	if k, ok := t.lookup(kw, blocks); ok && k.Status == KeywordNotSupported {
		msg := fmt.Sprintf("%s in %s is not supported yet; ignored", kw, label)
		if k.Source == SourceDeprecated && k.Note != "" {
			msg += fmt.Sprintf(" (a deprecated spelling: %s)", k.Note)
		}
		if n.hasBlock {
			msg += " with its block"
		}
		p.warnAt(n.key.pos, "%s", msg)
		return
	}
	msg := fmt.Sprintf("unknown keyword %q in %s", kw, label)
	if s := suggest(kw, t.suggestions(blocks)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if n.hasBlock {
		msg += " (its block is skipped)"
	}
	p.warnAt(n.key.pos, "%s", msg)
}

// --- top level ---------------------------------------------------------------

// build turns the statement tree into a Config with defaults.
func (p *parser) build(top []*node) *Config {
	cfg := &Config{Global: defaultGlobal()}
	// global_defs first: instances inherit its defaults wherever it is written.
	seenGlobal := false
	for _, n := range top {
		if n.key.text != "global_defs" || !p.needBlock(n) {
			continue
		}
		if seenGlobal {
			p.warnAt(n.key.pos, "second global_defs block: its values are merged into the first")
		} else {
			cfg.Global.Pos = p.pos(n.key.pos)
		}
		seenGlobal = true
		p.globalDefs(n, &cfg.Global)
	}
	// virtual_server_group blocks next: "virtual_server group NAME" may
	// come before the group it names.
	groups := map[string]*VirtualServerGroup{}
	for _, n := range top {
		if n.key.text != "virtual_server_group" {
			continue
		}
		if name, ok := p.blockName(n); ok {
			if g, dup := groups[name]; dup {
				p.errAt(n.key.pos, "virtual_server_group %s is defined twice (first at %s)", name, where(g.Pos))
				continue
			}
			g := p.virtualServerGroup(n, name)
			cfg.VirtualServerGroups = append(cfg.VirtualServerGroups, g)
			groups[name] = &cfg.VirtualServerGroups[len(cfg.VirtualServerGroups)-1]
		}
	}
	for _, n := range top {
		p.tick()
		if _, known := keywords().lookup(n.key.text, []string{"top"}); known {
			p.directives++
		}
		switch n.key.text {
		case "global_defs", "virtual_server_group":
			// done above
		case "vrrp_script":
			if name, ok := p.blockName(n); ok {
				if s := p.vrrpScript(n, name); s.Script != "" {
					cfg.Scripts = append(cfg.Scripts, s)
				}
			}
		case "vrrp_sync_group":
			if name, ok := p.blockName(n); ok {
				g, m := p.syncGroup(n, name)
				cfg.SyncGroups = append(cfg.SyncGroups, g)
				p.groupMeta = append(p.groupMeta, m)
			}
		case "vrrp_instance":
			if name, ok := p.blockName(n); ok {
				in, m := p.vrrpInstance(n, name, &cfg.Global)
				cfg.Instances = append(cfg.Instances, in)
				p.instMeta = append(p.instMeta, m)
			}
		case "drlb_bgp":
			if p.needBlock(n) {
				if cfg.BGP != nil {
					p.errAt(n.key.pos, "second drlb_bgp block (first at %s)", where(cfg.BGP.Pos))
					continue
				}
				cfg.BGP = p.bgp(n)
			}
		case "virtual_server":
			if p.needBlock(n) {
				if vs, ok := p.virtualServer(n); ok && vs.Group != "" {
					cfg.VirtualServers = append(cfg.VirtualServers, p.expandGroup(vs, groups, n.args[1].pos)...)
				} else if ok {
					cfg.VirtualServers = append(cfg.VirtualServers, vs)
				}
			}
		case "track_file", "vrrp_track_file":
			if n.key.text == "vrrp_track_file" {
				p.warnAt(n.key.pos, "vrrp_track_file is deprecated (as in keepalived); use track_file")
			}
			if name, ok := p.blockName(n); ok {
				cfg.TrackFiles = append(cfg.TrackFiles, p.trackFileBlock(n, name))
			}
		case "vrrp_track_process":
			if name, ok := p.blockName(n); ok {
				cfg.TrackProcesses = append(cfg.TrackProcesses, p.trackProcessBlock(n, name))
			}
		case "SSL":
			if p.needBlock(n) {
				if cfg.SSL == nil {
					cfg.SSL = &SSLFiles{}
				}
				p.sslBlock(n, cfg.SSL)
			}
		case "net_namespace":
			if t, ok := p.one(n); ok {
				if !validIfName(t.text) {
					p.errAt(t.pos, "net_namespace %q is not a valid namespace name", t.text)
				} else {
					cfg.NetNamespace, p.netnsPos = t.text, t.pos
				}
			}
		case "net_namespace_ipvs":
			if !p.valueOnly(n) {
				continue
			}
			name := ""
			if len(n.args) > 0 {
				name = n.args[0].text
				if !validIfName(name) {
					p.errAt(n.args[0].pos, "net_namespace_ipvs %q is not a valid namespace name", name)
					continue
				}
			}
			cfg.NetNamespaceIPVS, p.ipvsNetnsPos = &name, n.key.pos
		case "garp_group":
			if g, ok := p.garpGroup(n); ok {
				cfg.GarpGroups = append(cfg.GarpGroups, g)
			}
		case "static_ipaddress":
			for _, v := range p.vips(n) {
				if v.Dev == "" {
					v.Dev = cfg.Global.DefaultInterface
				}
				if v.Dev == "" {
					p.errAt(v.Pos, "static_ipaddress %s needs dev IF or global_defs default_interface (drlb does not assume eth0)", v.Prefix)
					continue
				}
				cfg.StaticAddresses = append(cfg.StaticAddresses, v)
			}
		case "static_routes":
			cfg.StaticRoutes = append(cfg.StaticRoutes, p.routes(n)...)
		case "static_rules":
			cfg.StaticRules = append(cfg.StaticRules, p.rules(n)...)
		default:
			if n.key.text == "" {
				continue // a stray '{', already reported
			}
			p.unknown(n, "the top level", "top")
		}
	}
	for i := range cfg.Instances {
		cfg.Instances[i].TrackFiles = p.keepKnownTrackFiles(cfg, cfg.Instances[i].TrackFiles, p.instMeta[i].trackFiles)
		cfg.Instances[i].TrackProcesses = p.keepKnownTrackProcesses(cfg, cfg.Instances[i].TrackProcesses, p.instMeta[i].trackProcs)
	}
	for i := range cfg.SyncGroups {
		cfg.SyncGroups[i].TrackFiles = p.keepKnownTrackFiles(cfg, cfg.SyncGroups[i].TrackFiles, p.groupMeta[i].trackFiles)
		cfg.SyncGroups[i].TrackProcesses = p.keepKnownTrackProcesses(cfg, cfg.SyncGroups[i].TrackProcesses, p.groupMeta[i].trackProcs)
	}
	p.resolveTrackFiles(cfg)
	cfg.Files = slices.Clone(p.files)
	cfg.ScriptRefs = p.scriptRefs
	return cfg
}

// blockName checks "KEYWORD NAME { ... }".
func (p *parser) blockName(n *node) (string, bool) {
	if !p.needBlock(n) {
		return "", false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a name", n.key.text)
		return "", false
	}
	if len(n.args) > 1 {
		p.warnAt(n.args[1].pos, "%s takes one name; extra %q ignored", n.key.text, n.args[1].text)
	}
	return n.args[0].text, true
}

// --- global_defs -------------------------------------------------------------

func defaultGarp() Garp {
	return Garp{MasterDelay: 5 * time.Second, MasterRepeat: 5}
}

func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		VRRPVersion:     2,
		VRRPGarp:        defaultGarp(),
		VRRPMcastGroup4: netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6: netip.MustParseAddr("ff02::12"),
		Dataplane:       DataplaneAuto,
		Notify:          NotifyDefs{SMTPTimeout: 30 * time.Second},
		Housekeeping:    defaultHousekeeping(),
	}
}

func (p *parser) globalDefs(b *node, g *GlobalDefs) {
	if len(b.args) > 0 {
		p.warnAt(b.args[0].pos, "global_defs takes no name; %q ignored", b.args[0].text)
	}
	for _, n := range b.children {
		switch n.key.text {
		case "checker_log_all_failures":
			p.flag(n, &g.CheckerLogAllFailures)
		case "router_id":
			p.str(n, &g.RouterID)
		case "vmac_prefix", "vmac_addr_prefix":
			p.vmacPrefix(n, g)
		case "lvs_id":
			p.warnAt(n.key.pos, "lvs_id is keepalived 1.x's name for router_id (keepalived 2 rejects it); read as router_id")
			p.str(n, &g.RouterID)
		case "vrrp_version":
			p.intv(n, 2, 3, &g.VRRPVersion)
		case "vrrp_check_unicast_src":
			// drlb always checks unicast sources against unicast_peer.
			p.valueOnly(n)
		case "drlb_dataplane":
			if t, ok := p.one(n); ok {
				switch d := Dataplane(t.text); d {
				case DataplaneAuto, DataplaneIPVS, DataplaneNFT:
					g.Dataplane = d
				default:
					p.errAt(t.pos, "drlb_dataplane %q: must be auto, ipvs or nft", t.text)
				}
			}
		case "vrrp_mcast_group4":
			var a netip.Addr
			if p.addr(n, &a) {
				if !a.Is4() || !a.IsMulticast() {
					p.errAt(n.args[0].pos, "vrrp_mcast_group4 %s is not an IPv4 multicast address", a)
				} else {
					g.VRRPMcastGroup4 = a
				}
			}
		case "vrrp_mcast_group6":
			var a netip.Addr
			if p.addr(n, &a) {
				if !a.Is6() || a.Is4In6() || !a.IsMulticast() {
					p.errAt(n.args[0].pos, "vrrp_mcast_group6 %s is not an IPv6 multicast address", a)
				} else {
					g.VRRPMcastGroup6 = a
				}
			}
		case "enable_script_security":
			p.flag(n, &g.EnableScriptSecurity)
		case "vrrp_strict":
			p.flag(n, &g.VRRPStrict)
		case "dynamic_interfaces":
			g.DynamicInterfaces = true
			if len(n.args) > 1 || (len(n.args) == 1 && n.args[0].text != "allow_if_changes") {
				p.errAt(n.args[0].pos, "dynamic_interfaces takes no argument but allow_if_changes")
			}
		case "script_user":
			if s, ok := p.rest(n); ok {
				g.ScriptUser = s
			}
		case "process_names":
			p.flag(n, &g.ProcessNames)
		case "process_name", "vrrp_process_name":
			if t, ok := p.one(n); ok {
				name := t.text
				if len(name) > 15 {
					p.warnAt(t.pos, "%s %q: the kernel keeps the first 15 bytes of a process name", n.key.text, name)
				}
				if n.key.text == "process_name" {
					g.ProcessName = name
				} else {
					g.VRRPProcessName = name
				}
			}
		case "vrrp_rt_priority", "vrrp_priority", "vrrp_cpu_affinity", "vrrp_rlimit_rttime", "vrrp_rlimit_rtime", "vrrp_no_swap":
			if g.VRRPProcess == nil {
				g.VRRPProcess = &ProcessSched{}
			}
			p.processSched(n, strings.TrimPrefix(n.key.text, "vrrp_"), g.VRRPProcess)
		case "checker_rt_priority", "checker_priority", "checker_cpu_affinity", "checker_rlimit_rttime", "checker_rlimit_rtime", "checker_no_swap":
			if g.CheckerProcess == nil {
				g.CheckerProcess = &ProcessSched{}
			}
			kw := strings.TrimPrefix(n.key.text, "checker_")
			if kw != "no_swap" {
				p.warnAt(n.key.pos, "%s is accepted but not applied: drlb's health checks are goroutines on the Go runtime's shared threads, "+
					"which cannot be scheduled apart; VRRP gets its own process instead (vrrp_rt_priority)", n.key.text)
			}
			p.processSched(n, kw, g.CheckerProcess)
		default:
			if p.notifyGlobal(n, g) || p.housekeepingGlobal(n, g) {
				continue
			}
			if p.vrrpGlobalKnob(n, g) {
				continue
			}
			if strings.HasPrefix(n.key.text, "vrrp_garp_") || n.key.text == "vrrp_gna_interval" || n.key.text == "vrrp_vmac_garp_intvl" {
				if p.garp(n, strings.TrimPrefix(n.key.text, "vrrp_"), &g.VRRPGarp) {
					continue
				}
			}
			p.unknown(n, "global_defs", "global_defs")
		}
	}
}

// garp handles the garp_* (instance) and vrrp_garp_* (global) keywords
// drlb implements, with the "vrrp_" prefix removed. It returns false for
// others (the caller reports them from the keyword table).
func (p *parser) garp(n *node, kw string, g *Garp) bool {
	switch kw {
	case "garp_master_delay":
		p.dur(n, 0, time.Hour, &g.MasterDelay)
	case "garp_master_repeat":
		p.intv(n, 1, 255, &g.MasterRepeat)
	case "garp_interval":
		p.dur(n, 0, time.Minute, &g.Interval)
	case "gna_interval":
		p.dur(n, 0, time.Minute, &g.NAInterval)
	default:
		return p.garpRefresh(n, kw, g)
	}
	return true
}

// processSched reads one of the vrrp_*/checker_* scheduling keywords (kw
// without its prefix) into ps, with keepalived's ranges.
func (p *parser) processSched(n *node, kw string, ps *ProcessSched) {
	switch kw {
	case "rt_priority":
		var v int
		if p.intv(n, 0, 99, &v) {
			ps.RTPriority = &v
		}
	case "priority":
		var v int
		if p.intv(n, -20, 19, &v) {
			ps.Nice = &v
		}
	case "rlimit_rtime", "rlimit_rttime":
		if kw == "rlimit_rtime" {
			p.warnAt(n.key.pos, "%s is deprecated (keepalived 2.1): read as its _rlimit_rttime", n.key.text)
		}
		var v int
		if p.intv(n, 1, 1<<30, &v) {
			d := time.Duration(v) * time.Microsecond
			ps.RLimitRTTime = &d
		}
	case "no_swap":
		p.flag(n, &ps.NoSwap)
	case "cpu_affinity":
		if !p.valueOnly(n) {
			return
		}
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "%s needs CPU numbers", n.key.text)
			return
		}
		ps.CPUs = nil
		for _, a := range n.args {
			lo, hi, isRange := strings.Cut(a.text, "-")
			if !isRange {
				hi = lo
			}
			from, err1 := strconv.Atoi(lo)
			to, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || from < 0 || to < from || to >= 1024 {
				p.errAt(a.pos, "%s: %q is not a CPU number or range (0-1023)", n.key.text, a.text)
				return
			}
			for c := from; c <= to; c++ {
				ps.CPUs = append(ps.CPUs, c)
			}
		}
	}
}

// --- vrrp_script -------------------------------------------------------------

func (p *parser) vrrpScript(b *node, name string) VRRPScript {
	s := VRRPScript{Pos: p.pos(b.key.pos), Name: name, Interval: time.Second, Rise: 1, Fall: 1}
	var timeout *time.Duration
	var scriptNode *node
	for _, n := range b.children {
		switch n.key.text {
		case "script":
			if v, ok := p.rest(n); ok {
				p.command("script", n.args[0], v)
				s.Script, scriptNode = v, n
			}
		case "interval":
			p.dur(n, time.Millisecond, 24*time.Hour, &s.Interval)
		case "timeout":
			p.durp(n, time.Millisecond, 24*time.Hour, &timeout)
		case "weight":
			// "weight N [reverse]"
			if !p.valueOnly(n) {
				continue
			}
			var ok bool
			s.Weight, ok, s.Reverse = p.trackWeight("vrrp_script", "weight N [reverse]", append([]token{n.key}, n.args...), false)
			if !ok && len(n.args) == 0 {
				p.errAt(afterKey(n), "weight needs a value")
			}
		case "rise":
			p.intv(n, 1, math.MaxInt32, &s.Rise)
		case "fall":
			p.intv(n, 1, math.MaxInt32, &s.Fall)
		case "user":
			if v, ok := p.rest(n); ok {
				s.User = v
			}
		case "init_fail":
			p.flag(n, &s.InitFail)
		default:
			p.unknown(n, "vrrp_script", "vrrp_script")
		}
	}
	s.Timeout = s.Interval
	if timeout != nil {
		s.Timeout = *timeout
	}
	if s.Script == "" {
		// keepalived: "No script set for vrrp_script NAME - removing"; it
		// runs on, ignoring the track_script lines that name it.
		p.warnAt(b.key.pos, "vrrp_script %s has no script: removed, as keepalived does", name)
		if p.scriptless == nil {
			p.scriptless = map[string]bool{}
		}
		p.scriptless[name] = true
	} else if scriptNode != nil {
		p.addScriptRef(scriptNode, "vrrp_script "+name, s.Script, s.User)
	}
	return s
}

// --- vrrp_sync_group ---------------------------------------------------------

func (p *parser) notify(n *node, nt *Notify, owner string) bool {
	var dst *string
	switch n.key.text {
	case "notify_master":
		dst = &nt.Master
	case "notify_backup":
		dst = &nt.Backup
	case "notify_fault":
		dst = &nt.Fault
	case "notify_stop":
		dst = &nt.Stop
	case "notify":
		dst = &nt.Any
	default:
		return false
	}
	if v, ok := p.script(n, owner); ok {
		*dst = v
	}
	return true
}

// script reads "KEYWORD COMMAND [username [groupname]]": the command is one
// word, or a quoted string when it has arguments. The script and its user
// are recorded as a ScriptRef of owner (the block, for messages).
func (p *parser) script(n *node, owner string) (string, bool) {
	if !p.valueOnly(n) {
		return "", false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a script", n.key.text)
		return "", false
	}
	var user []string
	for _, a := range n.args[1:] {
		user = append(user, a.text)
	}
	if len(user) > 2 {
		p.warnAt(n.args[3].pos, "%s: extra %q ignored: the command is followed by at most a user and a group (quote the command if these are its arguments)", n.key.text, n.args[3].text)
		user = user[:2]
	}
	if !p.command(n.key.text, n.args[0], n.args[0].text) {
		return "", false
	}
	p.addScriptRef(n, owner, n.args[0].text, strings.Join(user, " "))
	return n.args[0].text, true
}

func (p *parser) syncGroup(b *node, name string) (VRRPSyncGroup, groupMeta) {
	g := VRRPSyncGroup{Pos: p.pos(b.key.pos), Name: name}
	var m groupMeta
	for _, n := range b.children {
		if p.notify(n, &g.Notify, "vrrp_sync_group "+name) {
			continue
		}
		if p.trackRef(n, &g.TrackScripts, &g.TrackFiles, &g.TrackProcesses, &m.trackRefs) {
			continue
		}
		switch n.key.text {
		case "group":
			for _, t := range p.listItems(n) {
				g.Group = append(g.Group, t.text)
				m.members = append(m.members, t)
			}
		case "track_interface":
			g.TrackInterfaces = append(g.TrackInterfaces, p.trackInterfaces(n)...)
		case "sync_group_tracking_weight":
			p.flag(n, &g.TrackingWeight)
		case "notify_priority_changes":
			v := true
			p.flag(n, &v)
			g.NotifyPriorityChanges = &v
		case "smtp_alert":
			p.optFlag(n, &g.SMTPAlert)
		default:
			p.unknown(n, "vrrp_sync_group", "vrrp_sync_group")
		}
	}
	if len(g.Group) == 0 {
		p.errAt(b.key.pos, "vrrp_sync_group %s has no group { } of instances", name)
	}
	return g, m
}

// trackRef parses an instance's or sync group's track_script, track_file or
// track_process line into scripts, files or procs and notes the names it
// references in m; it reports false for any other keyword.
func (p *parser) trackRef(n *node, scripts, files, procs *[]TrackScript, m *trackRefs) bool {
	var dst *[]TrackScript
	var names *[]token
	var refs []TrackScript
	var toks []token
	switch n.key.text {
	case "track_script":
		refs, toks = p.trackLines(n, "NAME [weight N [reverse|noreverse]]", true)
		dst, names = scripts, &m.trackScripts
	case "track_file":
		refs, toks = p.trackLines(n, "NAME [weight N [reverse]]", false)
		dst, names = files, &m.trackFiles
	case "track_process":
		refs, toks = p.trackLines(n, "NAME [weight N [reverse]]", false)
		dst, names = procs, &m.trackProcs
	default:
		return false
	}
	*dst = append(*dst, refs...)
	*names = append(*names, toks...)
	return true
}

// trackWeight reads a track line's "weight N [reverse]" (and, on
// track_script lines, "noreverse", which keeps a weight's usual direction
// when the vrrp_script says reverse). The weight is -253..253 as in
// keepalived.
func (p *parser) trackWeight(what, syntax string, args []token, noreverse bool) (weight int, set, reverse bool) {
	if len(args) == 0 {
		return 0, false, false
	}
	if args[0].text != "weight" || len(args) < 2 {
		p.warnAt(args[0].pos, "%s line: expected \"%s\"; %q ignored", what, syntax, args[0].text)
		return 0, false, false
	}
	v, ok := p.intTok(what+" weight", args[1], -253, 253)
	if !ok {
		return 0, false, false
	}
	if len(args) > 2 {
		switch {
		case args[2].text == "reverse":
			reverse = true
		case args[2].text == "noreverse" && noreverse:
		default:
			p.warnAt(args[2].pos, "%s line: expected \"%s\"; %q ignored", what, syntax, args[2].text)
		}
		if len(args) > 3 {
			p.warnAt(args[3].pos, "%s line: extra %q ignored", what, args[3].text)
		}
	}
	return v, true, reverse
}

// --- vrrp_instance -----------------------------------------------------------

func (p *parser) vrrpInstance(b *node, name string, g *GlobalDefs) (VRRPInstance, instanceMeta) {
	in := VRRPInstance{
		Pos: p.pos(b.key.pos), Name: name, State: StateBackup, Priority: 100,
		AdvertInterval: time.Second, Auth: Authentication{Type: AuthNone}, Garp: g.VRRPGarp,
		Protocol: g.VRRPProtocol,
	}
	// The instance's own or its sync group's, else the global one
	// (resolved by the translation).
	in.Protocol.NotifyPriorityChanges = nil
	var version *int
	var m instanceMeta
	for _, n := range b.children {
		if p.notify(n, &in.Notify, "vrrp_instance "+name) {
			continue
		}
		if p.trackRef(n, &in.TrackScripts, &in.TrackFiles, &in.TrackProcesses, &m.trackRefs) {
			continue
		}
		m.modes.note(n)
		if p.instanceMode(n, &in, &m.modes) {
			continue
		}
		if strings.HasPrefix(n.key.text, "garp_") || n.key.text == "gna_interval" || n.key.text == "vmac_garp_intvl" {
			if p.garp(n, n.key.text, &in.Garp) {
				continue
			}
		}
		if p.vrrpProtocol(n, n.key.text, &in.Protocol, "vrrp_instance "+name) {
			continue
		}
		switch n.key.text {
		case "state":
			if t, ok := p.one(n); ok {
				switch strings.ToUpper(t.text) {
				case "MASTER":
					in.State = StateMaster
				case "BACKUP":
					in.State = StateBackup
				default:
					p.warnAt(t.pos, "state %q is not MASTER or BACKUP; treated as BACKUP (as keepalived does)", t.text)
				}
			}
		case "interface":
			if t, ok := p.one(n); ok {
				in.Interface, m.ifacePos, m.ifaceSet = t.text, t.pos, true
			}
		case "virtual_router_id":
			m.vridSet = true
			m.vridPos = n.key.pos
			if len(n.args) > 0 {
				m.vridPos = n.args[0].pos
			}
			p.intv(n, 1, 255, &in.VirtualRouterID)
		case "priority":
			p.intv(n, 1, 255, &in.Priority)
		case "advert_int":
			m.advertPos = n.key.pos
			if len(n.args) > 0 {
				m.advertPos = n.args[0].pos
			}
			p.dur(n, 0, 255*time.Second, &in.AdvertInterval)
		case "version":
			p.intp(n, 2, 3, &version)
			m.versionPos = n.key.pos
		case "authentication":
			m.authTypePos = p.authentication(n, &in.Auth)
		case "auth_hmac":
			in.AuthHMAC = p.authHMAC(n)
		case "check_unicast_src":
			p.flag(n, &in.CheckUnicastSrc)
		case "drlb_accept_from":
			p.acceptFrom(n, &in)
		case "virtual_ipaddress":
			in.VirtualIPs = append(in.VirtualIPs, p.vips(n)...)
		case "virtual_ipaddress_excluded":
			in.ExcludedVIPs = append(in.ExcludedVIPs, p.vips(n)...)
		case "unicast_src_ip":
			if p.addr(n, &in.UnicastSrcIP) {
				m.unicastSrcPos = n.args[0].pos
			}
		case "mcast_src_ip":
			if p.addr(n, &in.McastSrcIP) {
				m.mcastSrcPos = n.args[0].pos
			}
		case "unicast_peer":
			if !p.needBlock(n) {
				continue
			}
			for _, c := range n.children {
				if c.hasBlock {
					p.errAt(c.open, "a block is not allowed inside unicast_peer")
					continue
				}
				if a, ok := p.addrTok("unicast_peer", c.key); ok {
					in.UnicastPeers = append(in.UnicastPeers, a)
					m.peerPos = append(m.peerPos, c.key.pos)
				}
				if len(c.args) > 0 {
					p.warnAt(c.args[0].pos, "unicast_peer options (%q) are not supported yet; ignored", c.args[0].text)
				}
			}
		case "nopreempt":
			p.flag(n, &in.NoPreempt)
		case "preempt":
			// keepalived keeps it for backwards compatibility: preempting is the default.
			if p.valueOnly(n) {
				in.NoPreempt = false
			}
		case "preempt_delay":
			p.dur(n, 0, time.Hour, &in.PreemptDelay)
		case "dont_track_primary":
			p.flag(n, &in.DontTrackPrimary)
		case "lvs_sync_daemon_interface":
			p.lvsSyncDaemonInterface(n, name, g)
		case "track_interface":
			in.TrackInterfaces = append(in.TrackInterfaces, p.trackInterfaces(n)...)
		case "smtp_alert":
			p.optFlag(n, &in.SMTPAlert)
		default:
			p.unknown(n, "vrrp_instance", "vrrp_instance")
		}
	}
	in.Version = g.VRRPVersion
	if version != nil {
		in.Version = *version
		m.versionSet = true
	}
	p.checkHardening(b, &in)
	for _, v := range in.VirtualIPs {
		m.vipPos = append(m.vipPos, v.Pos)
	}
	return in, m
}

// authentication parses the authentication block and returns where its
// auth_type value is (zero without one).
func (p *parser) authentication(b *node, a *Authentication) (typePos srcPos) {
	if !p.needBlock(b) {
		return typePos
	}
	var passTok token
	typeSeen := false
	for _, n := range b.children {
		switch n.key.text {
		case "auth_type":
			typeSeen = true
			if t, ok := p.one(n); ok {
				typePos = t.pos
				switch strings.ToUpper(t.text) {
				case "PASS":
					a.Type = AuthPass
				case "AH":
					a.Type = AuthAH
				default:
					p.errAt(t.pos, "auth_type %q: must be PASS or AH", t.text)
				}
			}
		case "auth_pass":
			if t, ok := p.one(n); ok {
				passTok = t
				a.Password = t.text
			}
		default:
			p.unknown(n, "authentication", "authentication")
		}
	}
	if len(a.Password) > 8 {
		used := a.Password[:8]
		p.warnAt(passTok.pos, "auth_pass %q is longer than 8 characters; only %q is used (keepalived truncates it too)", a.Password, used)
		a.Password = used
	}
	if a.Type == AuthNone && a.Password != "" && !typeSeen {
		p.warnAt(b.key.pos, "authentication has auth_pass but no auth_type; treated as PASS")
		a.Type = AuthPass
	}
	if a.Type != AuthNone && a.Password == "" {
		p.errAt(b.key.pos, "authentication %s needs an auth_pass", a.Type)
	}
	return typePos
}

// vipOptions are the address options drlb implements, each with whether
// it takes a value (keepalived.conf(5)'s virtual_ipaddress line).
func vipOptions() map[string]bool {
	return map[string]bool{"dev": true, "label": true, "brd": true, "broadcast": true, "scope": true,
		"no_track": false, "home": false, "-nodad": false, "nodad": false, "noprefixroute": false, "use_vmac": false}
}

// vipUnsupported are the other address options of keepalived.conf(5)'s
// virtual_ipaddress line, each with whether it takes a value.
func vipUnsupported() map[string]bool {
	return map[string]bool{"mngtmpaddr": false, "autojoin": false, "track_group": true, "preferred_lft": true}
}

// vips parses virtual_ipaddress lines: "ADDR[/MASK] [dev IF] [label L]
// [brd ADDR] [scope SCOPE] [no_track] [home] [nodad] [noprefixroute]"
// and keepalived's other options, which are reported as not supported yet.
func (p *parser) vips(b *node) []VirtualIP {
	if !p.needBlock(b) {
		return nil
	}
	var out []VirtualIP
	supported, unsupported := vipOptions(), vipUnsupported()
	var known []string
	for o := range supported {
		known = append(known, o)
	}
	for o := range unsupported {
		known = append(known, o)
	}
	slices.Sort(known)
	for _, n := range b.children {
		if n.hasBlock {
			p.errAt(n.open, "a block is not allowed inside %s", b.key.text)
			continue
		}
		v := VirtualIP{Pos: p.pos(n.key.pos)}
		pfx, ok := p.prefixTok(b.key.text, n.key)
		if !ok {
			continue
		}
		v.Prefix = pfx
		args := n.args
		for i := 0; i < len(args); i++ {
			opt := args[i]
			if takesValue, ok := unsupported[opt.text]; ok {
				msg := fmt.Sprintf("address option %s is not supported yet; ignored", opt.text)
				if takesValue && i+1 < len(args) {
					i++
					msg = fmt.Sprintf("address option %s %s is not supported yet; ignored", opt.text, args[i].text)
				}
				p.warnAt(opt.pos, "%s", msg)
				continue
			}
			takesValue, ok := supported[opt.text]
			if !ok {
				msg := fmt.Sprintf("unknown address option %q", opt.text)
				if s := suggest(opt.text, known); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
					if (supported[s] || unsupported[s]) && i+1 < len(args) {
						i++ // a misspelt option that takes a value: skip the value too
						msg += fmt.Sprintf(" (%q ignored with it)", args[i].text)
					}
				}
				p.warnAt(opt.pos, "%s", msg)
				continue
			}
			if !takesValue {
				switch opt.text {
				case "no_track":
					v.NoTrack = true
				case "home":
					v.Home = true
				case "nodad", "-nodad":
					v.NoDAD = true
				case "noprefixroute":
					v.NoPrefixRoute = true
				case "use_vmac":
					v.UseVMAC = true
				}
				continue
			}
			if i+1 >= len(args) {
				p.errAt(opt.pos, "address option %s needs a value", opt.text)
				break
			}
			val := args[i+1]
			i++
			switch opt.text {
			case "dev":
				v.Dev = val.text
			case "label":
				v.Label = val.text
			case "brd", "broadcast":
				if a, ok := p.addrTok("address option "+opt.text, val); ok {
					if a.Is4() != pfx.Addr().Is4() {
						p.errAt(val.pos, "address option %s %s: not the family of %s", opt.text, a, pfx)
					} else {
						v.Broadcast = a
					}
				}
			case "scope":
				if _, ok := AddressScope(val.text); ok {
					v.Scope = val.text
				} else {
					p.errAt(val.pos, "address option scope %q: must be global, site, link, host, nowhere or a number 0..255", val.text)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// prefixTok parses "ADDR" or "ADDR/LEN"; a bare address is a host prefix.
func (p *parser) prefixTok(key string, t token) (netip.Prefix, bool) {
	addrText, lenText, hasLen := strings.Cut(t.text, "/")
	a, err := netip.ParseAddr(addrText)
	if err != nil || a.Zone() != "" {
		p.errAt(t.pos, "%s: %q is not an IP address", key, addrText)
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := a.BitLen()
	if hasLen {
		n, err := strconv.Atoi(lenText)
		if err != nil || n < 0 || n > a.BitLen() {
			pos := t.pos
			pos.col += int32(len([]rune(addrText))) + 1
			p.errAt(pos, "%s: bad mask /%s for %s (must be 0..%d)", key, lenText, addrText, a.BitLen())
			return netip.Prefix{}, false
		}
		bits = n
	}
	return netip.PrefixFrom(a, bits), true
}

// trackInterfaces parses "track_interface { IF [weight N [reverse]] }".
func (p *parser) trackInterfaces(n *node) []TrackInterface {
	if !p.needBlock(n) {
		return nil
	}
	var out []TrackInterface
	for _, c := range n.children {
		if c.hasBlock {
			p.errAt(c.open, "a block is not allowed inside track_interface")
			continue
		}
		ti := TrackInterface{Name: c.key.text}
		ti.Weight, _, ti.Reverse = p.trackWeight("track_interface", "IF [weight N [reverse]]", c.args, false)
		out = append(out, ti)
	}
	return out
}
