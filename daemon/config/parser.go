package config

import (
	"cmp"
	"fmt"
	"math"
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
	// globalGarp records which vrrp_garp_lower_prio_* keywords global_defs set.
	globalGarp garpSet
}

type instanceMeta struct {
	vridPos, ifacePos, advertPos srcPos
	vridSet, ifaceSet            bool
	trackScripts                 []token
	vipPos                       []Position
}

type groupMeta struct {
	members []token
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
	st := &lexState{defs: map[string]string{}}
	p.expandBudget = 1<<20 + 4*len(data)
	// Roughly one token per five bytes in real files: size once, not by doubling.
	toks := p.lexFile(name, data, st, make([]token, 0, len(data)/5+16))
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

// unknown reports a keyword the block does not implement: either a known
// keepalived keyword drlb does not support yet, or an unknown one with a
// "did you mean" suggestion.
func (p *parser) unknown(n *node, block string, known, unsupported []string) {
	kw := n.key.text
	if slices.Contains(unsupported, kw) {
		p.warnAt(n.key.pos, "%s in %s is not supported yet; ignored", kw, block)
		return
	}
	msg := fmt.Sprintf("unknown keyword %q in %s", kw, block)
	if s := suggest(kw, known, unsupported); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if n.hasBlock {
		msg += " (its block is skipped)"
	}
	p.warnAt(n.key.pos, "%s", msg)
}

// --- top level ---------------------------------------------------------------

func topKeywords() []string {
	return []string{"global_defs", "vrrp_sync_group", "vrrp_instance", "vrrp_script", "virtual_server", "drlb_bgp"}
}

func topUnsupported() []string {
	return []string{"static_ipaddress", "static_routes", "static_rules", "virtual_server_group",
		"linkbeat_interfaces", "garp_group", "vrrp_track_process", "vrrp_track_file", "track_file",
		"net_namespace", "bfd_instance", "instance", "use_pid_dir", "vrrp_script_timeout", "track_process"}
}

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
	if !p.globalGarp.lowerDelay {
		cfg.Global.VRRPGarp.LowerPrioDelay = cfg.Global.VRRPGarp.MasterDelay
	}
	if !p.globalGarp.lowerRepeat {
		cfg.Global.VRRPGarp.LowerPrioRepeat = cfg.Global.VRRPGarp.MasterRepeat
	}
	for _, n := range top {
		p.tick()
		switch n.key.text {
		case "global_defs":
			// done above
		case "vrrp_script":
			if name, ok := p.blockName(n); ok {
				cfg.Scripts = append(cfg.Scripts, p.vrrpScript(n, name))
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
				if vs, ok := p.virtualServer(n); ok {
					cfg.VirtualServers = append(cfg.VirtualServers, vs)
				}
			}
		default:
			if n.key.text == "" {
				continue // a stray '{', already reported
			}
			p.unknown(n, "the top level", topKeywords(), topUnsupported())
		}
	}
	cfg.Files = slices.Clone(p.files)
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
	return Garp{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefreshRepeat: 1}
}

func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		SMTPConnectTimeout: 30 * time.Second,
		VRRPVersion:        2,
		VRRPGarp:           defaultGarp(),
		VRRPMcastGroup4:    netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6:    netip.MustParseAddr("ff02::12"),
		Dataplane:          DataplaneAuto,
	}
}

func globalKeywords() []string {
	return []string{"router_id", "lvs_id", "notification_email", "notification_email_from", "smtp_server",
		"smtp_helo_name", "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker",
		"no_email_faults", "vrrp_version", "vrrp_garp_master_delay", "vrrp_garp_master_repeat",
		"vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_interval",
		"vrrp_gna_interval", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
		"vrrp_mcast_group4", "vrrp_mcast_group6", "enable_script_security", "script_user",
		"vrrp_skip_check_adv_addr", "drlb_dataplane"}
}

func globalUnsupported() []string {
	return []string{"vrrp_strict", "vrrp_iptables", "vrrp_ipsets", "vrrp_nftables", "enable_traps",
		"enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2",
		"enable_snmp_rfcv3", "snmp_socket", "enable_dbus", "lvs_sync_daemon", "lvs_timeouts", "lvs_flush",
		"lvs_flush_onstop", "dynamic_interfaces", "vrrp_no_swap", "checker_no_swap", "max_auto_priority",
		"vrrp_garp_extra_if", "vrrp_min_garp", "vrrp_check_unicast_src", "vrrp_priority",
		"checker_priority", "bfd_priority", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier",
		"process_names", "process_name", "vrrp_process_name", "checker_process_name",
		"vrrp_startup_delay", "umask", "notify_fifo", "notify_fifo_script", "vrrp_notify_fifo",
		"vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script", "script_timeout",
		"vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "vrrp_netlink_cmd_rcv_bufs",
		"vrrp_netlink_monitor_rcv_bufs", "net_namespace", "namespace_with_ipsets", "instance",
		"local_name", "startup_script", "shutdown_script", "linkbeat_use_polling", "vrrp_mcast_group4_ttl",
		"random_seed", "reload_check_config", "config_save_dir", "vrrp_track_process", "vrrp_dont_track_primary",
		"child_wait_time", "default_interface", "dbus_service_name", "vrrp_rt_priority", "checker_rt_priority",
		"bfd_rt_priority", "vrrp_rlimit_rtime", "checker_rlimit_rtime", "bfd_rlimit_rtime", "bfd_no_swap",
		"enable_snmp_keepalived", "smtp_alert_bfd"}
}

func (p *parser) globalDefs(b *node, g *GlobalDefs) {
	if len(b.args) > 0 {
		p.warnAt(b.args[0].pos, "global_defs takes no name; %q ignored", b.args[0].text)
	}
	for _, n := range b.children {
		switch n.key.text {
		case "router_id":
			p.str(n, &g.RouterID)
		case "lvs_id":
			p.warnAt(n.key.pos, "lvs_id is keepalived 1.x's name for router_id (keepalived 2 rejects it); read as router_id")
			p.str(n, &g.RouterID)
		case "notification_email":
			for _, t := range p.listItems(n) {
				g.NotificationEmail = append(g.NotificationEmail, t.text)
			}
		case "notification_email_from":
			p.str(n, &g.NotificationEmailFrom)
		case "smtp_server":
			if s, ok := p.rest(n); ok {
				g.SMTPServer = s
			}
		case "smtp_connect_timeout":
			p.dur(n, 0, time.Hour, &g.SMTPConnectTimeout)
		case "smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "no_email_faults":
			// Notification settings: accepted, e-mail is not sent by drlb.
			p.valueOnly(n)
		case "vrrp_version":
			p.intv(n, 2, 3, &g.VRRPVersion)
		case "vrrp_skip_check_adv_addr":
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
				if !a.Is6() || !a.IsMulticast() {
					p.errAt(n.args[0].pos, "vrrp_mcast_group6 %s is not an IPv6 multicast address", a)
				} else {
					g.VRRPMcastGroup6 = a
				}
			}
		case "enable_script_security":
			p.flag(n, &g.EnableScriptSecurity)
		case "script_user":
			if s, ok := p.rest(n); ok {
				g.ScriptUser = s
			}
		default:
			if strings.HasPrefix(n.key.text, "vrrp_garp_") || n.key.text == "vrrp_gna_interval" {
				if p.garp(n, strings.TrimPrefix(n.key.text, "vrrp_"), &g.VRRPGarp, &p.globalGarp) {
					continue
				}
			}
			p.unknown(n, "global_defs", globalKeywords(), globalUnsupported())
		}
	}
}

// garpSet records which garp fields an instance set, for lower_prio defaults.
type garpSet struct{ lowerDelay, lowerRepeat bool }

// garp handles garp_* (instance) and vrrp_garp_* (global) keywords, with
// the "vrrp_" prefix removed. It returns false for an unknown keyword.
func (p *parser) garp(n *node, kw string, g *Garp, set *garpSet) bool {
	switch kw {
	case "garp_master_delay":
		p.dur(n, 0, time.Hour, &g.MasterDelay)
	case "garp_master_repeat":
		p.intv(n, 1, 255, &g.MasterRepeat)
	case "garp_master_refresh":
		p.dur(n, 0, 24*time.Hour, &g.MasterRefresh)
	case "garp_master_refresh_repeat":
		p.intv(n, 1, 255, &g.MasterRefreshRepeat)
	case "garp_interval":
		p.dur(n, 0, time.Minute, &g.Interval)
	case "gna_interval":
		p.dur(n, 0, time.Minute, &g.NAInterval)
	case "garp_lower_prio_delay":
		if p.dur(n, 0, time.Hour, &g.LowerPrioDelay) {
			set.lowerDelay = true
		}
	case "garp_lower_prio_repeat":
		if p.intv(n, 0, 255, &g.LowerPrioRepeat) {
			set.lowerRepeat = true
		}
	default:
		return false
	}
	return true
}

// --- vrrp_script -------------------------------------------------------------

func scriptKeywords() []string {
	return []string{"script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"}
}

func (p *parser) vrrpScript(b *node, name string) VRRPScript {
	s := VRRPScript{Pos: p.pos(b.key.pos), Name: name, Interval: time.Second, Rise: 1, Fall: 1}
	var timeout *time.Duration
	for _, n := range b.children {
		switch n.key.text {
		case "script":
			if v, ok := p.rest(n); ok {
				s.Script = v
			}
		case "interval":
			p.dur(n, time.Millisecond, 24*time.Hour, &s.Interval)
		case "timeout":
			p.durp(n, time.Millisecond, 24*time.Hour, &timeout)
		case "weight":
			p.intv(n, -253, 253, &s.Weight)
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
			p.unknown(n, "vrrp_script", scriptKeywords(), nil)
		}
	}
	s.Timeout = s.Interval
	if timeout != nil {
		s.Timeout = *timeout
	}
	if s.Script == "" {
		p.errAt(b.key.pos, "vrrp_script %s has no script", name)
	}
	return s
}

// --- vrrp_sync_group ---------------------------------------------------------

func groupKeywords() []string {
	return []string{"group", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
		"smtp_alert", "track_script"}
}

func groupUnsupported() []string {
	return []string{"global_tracking", "track_interface", "track_file", "track_process", "track_bfd",
		"sync_group_tracking_weight", "notify_master_rx_lower_pri"}
}

func (p *parser) notify(n *node, nt *Notify) bool {
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
	if v, ok := p.script(n); ok {
		*dst = v
	}
	return true
}

// script reads "KEYWORD COMMAND [username [groupname]]": the command is one
// word, or a quoted string when it has arguments.
func (p *parser) script(n *node) (string, bool) {
	if !p.valueOnly(n) {
		return "", false
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "%s needs a script", n.key.text)
		return "", false
	}
	if len(n.args) > 1 {
		p.warnAt(n.args[1].pos, "%s: running the script as user %q is not supported yet; ignored (quote the command if %q is an argument)", n.key.text, n.args[1].text, n.args[1].text)
	}
	return n.args[0].text, true
}

func (p *parser) syncGroup(b *node, name string) (VRRPSyncGroup, groupMeta) {
	g := VRRPSyncGroup{Pos: p.pos(b.key.pos), Name: name}
	var m groupMeta
	for _, n := range b.children {
		if p.notify(n, &g.Notify) {
			continue
		}
		switch n.key.text {
		case "group":
			for _, t := range p.listItems(n) {
				g.Group = append(g.Group, t.text)
				m.members = append(m.members, t)
			}
		case "smtp_alert":
			p.flag(n, &g.SMTPAlert)
		case "track_script":
			ts, _ := p.trackScripts(n)
			g.TrackScripts = append(g.TrackScripts, ts...)
		default:
			p.unknown(n, "vrrp_sync_group", groupKeywords(), groupUnsupported())
		}
	}
	if len(g.Group) == 0 {
		p.errAt(b.key.pos, "vrrp_sync_group %s has no group { } of instances", name)
	}
	return g, m
}

func (p *parser) trackScripts(n *node) ([]TrackScript, []token) {
	if !p.needBlock(n) {
		return nil, nil
	}
	var out []TrackScript
	var names []token
	for _, c := range n.children {
		if c.hasBlock {
			p.errAt(c.open, "a block is not allowed inside track_script")
			continue
		}
		ts := TrackScript{Name: c.key.text}
		if len(c.args) >= 2 && c.args[0].text == "weight" {
			if v, ok := p.intTok("track_script weight", c.args[1], -254, 254); ok {
				ts.Weight, ts.WeightSet = v, true
			}
		} else if len(c.args) > 0 {
			p.warnAt(c.args[0].pos, "track_script line: expected \"NAME [weight N]\"; %q ignored", c.args[0].text)
		}
		out = append(out, ts)
		names = append(names, c.key)
	}
	return out, names
}

// --- vrrp_instance -----------------------------------------------------------

func instanceKeywords() []string {
	return []string{"state", "interface", "virtual_router_id", "priority", "advert_int", "version",
		"authentication", "virtual_ipaddress", "virtual_ipaddress_excluded", "unicast_src_ip",
		"unicast_peer", "mcast_src_ip", "nopreempt", "preempt_delay", "track_interface", "track_script",
		"dont_track_primary", "preempt", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
		"smtp_alert", "garp_master_delay", "garp_master_repeat", "garp_master_refresh",
		"garp_master_refresh_repeat", "garp_interval", "gna_interval", "garp_lower_prio_delay",
		"garp_lower_prio_repeat"}
}

func instanceUnsupported() []string {
	return []string{"use_vmac", "vmac_xmit_base", "native_ipv6", "virtual_routes", "virtual_rules",
		"track_file", "track_process", "track_bfd", "lvs_sync_daemon_interface", "accept", "no_accept",
		"strict_mode", "skip_check_adv_addr", "check_unicast_src", "unicast_ttl", "garp_extra_if",
		"notify_master_rx_lower_pri", "notify_deleted", "kernel_rx_buf_size", "debug", "track_src_ip",
		"linkbeat_use_polling", "unicast_fault_no_peer", "vrrp_version", "old_unicast_checksum",
		"mcast_dst_ip", "no_accept", "lower_prio_no_advert", "higher_prio_send_advert", "promote_secondaries",
		"unicast_src_port"}
}

func (p *parser) vrrpInstance(b *node, name string, g *GlobalDefs) (VRRPInstance, instanceMeta) {
	in := VRRPInstance{
		Pos: p.pos(b.key.pos), Name: name, State: StateBackup, Priority: 100,
		AdvertInterval: time.Second, Auth: Authentication{Type: AuthNone}, Garp: g.VRRPGarp,
	}
	var version *int
	var m instanceMeta
	var gs garpSet
	for _, n := range b.children {
		if p.notify(n, &in.Notify) {
			continue
		}
		if strings.HasPrefix(n.key.text, "garp_") || n.key.text == "gna_interval" {
			if p.garp(n, n.key.text, &in.Garp, &gs) {
				continue
			}
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
		case "authentication":
			p.authentication(n, &in.Auth)
		case "virtual_ipaddress":
			in.VirtualIPs = append(in.VirtualIPs, p.vips(n)...)
		case "virtual_ipaddress_excluded":
			in.ExcludedVIPs = append(in.ExcludedVIPs, p.vips(n)...)
		case "unicast_src_ip":
			p.addr(n, &in.UnicastSrcIP)
		case "mcast_src_ip":
			p.addr(n, &in.McastSrcIP)
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
		case "smtp_alert":
			p.flag(n, &in.SMTPAlert)
		case "track_interface":
			if !p.needBlock(n) {
				continue
			}
			for _, c := range n.children {
				if c.hasBlock {
					p.errAt(c.open, "a block is not allowed inside track_interface")
					continue
				}
				ti := TrackInterface{Name: c.key.text}
				if len(c.args) >= 2 && c.args[0].text == "weight" {
					if v, ok := p.intTok("track_interface weight", c.args[1], -254, 254); ok {
						ti.Weight = v
					}
				} else if len(c.args) > 0 {
					p.warnAt(c.args[0].pos, "track_interface line: expected \"IF [weight N]\"; %q ignored", c.args[0].text)
				}
				in.TrackInterfaces = append(in.TrackInterfaces, ti)
			}
		case "track_script":
			ts, names := p.trackScripts(n)
			in.TrackScripts = append(in.TrackScripts, ts...)
			m.trackScripts = append(m.trackScripts, names...)
		default:
			p.unknown(n, "vrrp_instance", instanceKeywords(), instanceUnsupported())
		}
	}
	in.Version = g.VRRPVersion
	if version != nil {
		in.Version = *version
	}
	if !gs.lowerDelay && !p.globalGarp.lowerDelay {
		in.Garp.LowerPrioDelay = in.Garp.MasterDelay
	}
	if !gs.lowerRepeat && !p.globalGarp.lowerRepeat {
		in.Garp.LowerPrioRepeat = in.Garp.MasterRepeat
	}
	for _, v := range in.VirtualIPs {
		m.vipPos = append(m.vipPos, v.Pos)
	}
	return in, m
}

func (p *parser) authentication(b *node, a *Authentication) {
	if !p.needBlock(b) {
		return
	}
	var passTok token
	typeSeen := false
	for _, n := range b.children {
		switch n.key.text {
		case "auth_type":
			typeSeen = true
			if t, ok := p.one(n); ok {
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
			p.unknown(n, "authentication", []string{"auth_type", "auth_pass"}, nil)
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
}

func vipOptions() []string { return []string{"brd", "broadcast", "dev", "scope", "label", "no_track"} }

func vipUnsupported() []string {
	return []string{"home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "track_group", "preferred_lft"}
}

// vips parses virtual_ipaddress lines: "ADDR[/MASK] [brd B] [dev IF] [scope S] [label L] [no_track]".
func (p *parser) vips(b *node) []VirtualIP {
	if !p.needBlock(b) {
		return nil
	}
	var out []VirtualIP
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
			if opt.text == "no_track" {
				v.NoTrack = true
				continue
			}
			if slices.Contains(vipUnsupported(), opt.text) {
				p.warnAt(opt.pos, "address option %s is not supported yet; ignored", opt.text)
				continue
			}
			if !slices.Contains(vipOptions(), opt.text) {
				msg := fmt.Sprintf("unknown address option %q", opt.text)
				if s := suggest(opt.text, vipOptions(), nil); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
					if s != "no_track" && i+1 < len(args) {
						i++ // a misspelt option that takes a value: skip the value too
						msg += fmt.Sprintf(" (%q ignored with it)", args[i].text)
					}
				}
				p.warnAt(opt.pos, "%s", msg)
				continue
			}
			if i+1 >= len(args) {
				p.errAt(opt.pos, "address option %s needs a value", opt.text)
				break
			}
			val := args[i+1]
			i++
			switch opt.text {
			case "brd", "broadcast":
				if val.text == "+" || val.text == "-" {
					p.warnAt(val.pos, "brd %s (set/clear host bits) is not supported yet; ignored", val.text)
					continue
				}
				if a, ok := p.addrTok("brd", val); ok {
					v.Broadcast = a
				}
			case "dev":
				v.Dev = val.text
			case "scope":
				v.Scope = val.text
			case "label":
				v.Label = val.text
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
