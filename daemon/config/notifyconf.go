package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// NotifyDefs are global_defs' notification settings: the FIFOs keepalived
// writes state lines to and the smtp_alert e-mail settings.
type NotifyDefs struct {
	// FIFO is notify_fifo (every VRRP and LVS line) and notify_fifo_script.
	FIFO FIFOConf `json:"notify_fifo,omitzero"`
	// VRRPFIFO is vrrp_notify_fifo (INSTANCE and GROUP lines) and its _script.
	VRRPFIFO FIFOConf `json:"vrrp_notify_fifo,omitzero"`
	// LVSFIFO is lvs_notify_fifo (VS and RS lines) and its _script.
	LVSFIFO FIFOConf `json:"lvs_notify_fifo,omitzero"`
	// Email is notification_email, the recipients.
	Email []string `json:"notification_email,omitempty"`
	// EmailFrom is notification_email_from (empty: keepalived@HOSTNAME).
	EmailFrom string `json:"notification_email_from,omitempty"`
	// SMTPServer is smtp_server as "host:port" (port 25 when not written).
	SMTPServer string `json:"smtp_server,omitempty"`
	// SMTPHelo is smtp_helo_name (empty: the host name).
	SMTPHelo string `json:"smtp_helo_name,omitempty"`
	// SMTPTimeout is smtp_connect_timeout (default 30 s).
	SMTPTimeout time.Duration `json:"smtp_connect_timeout"`
	// SMTPAlert is smtp_alert, the default for every block; nil when unset.
	SMTPAlert *bool `json:"smtp_alert,omitempty"`
	// SMTPAlertVRRP is smtp_alert_vrrp, the default for VRRP blocks; nil when unset.
	SMTPAlertVRRP *bool `json:"smtp_alert_vrrp,omitempty"`
	// SMTPAlertChecker is smtp_alert_checker, the default for virtual and
	// real servers; nil when unset.
	SMTPAlertChecker *bool `json:"smtp_alert_checker,omitempty"`
}

// FIFOConf is one notify FIFO: its path and the script keepalived starts
// to read it (given the path as its last argument).
type FIFOConf struct {
	// Path is the FIFO's file name; empty means none.
	Path string `json:"path,omitempty"`
	// Script is the *_fifo_script command line; empty means none.
	Script string `json:"script,omitempty"`
}

// AlertVRRP reports whether a VRRP block whose own smtp_alert is own (nil:
// not written) sends e-mail: its own setting, else smtp_alert_vrrp, else
// smtp_alert, else no (keepalived's order of precedence).
func (n NotifyDefs) AlertVRRP(own *bool) bool {
	return firstSet(own, n.SMTPAlertVRRP, n.SMTPAlert)
}

// AlertChecker is AlertVRRP for virtual and real servers (smtp_alert_checker).
func (n NotifyDefs) AlertChecker(own *bool) bool {
	return firstSet(own, n.SMTPAlertChecker, n.SMTPAlert)
}

func firstSet(bs ...*bool) bool {
	for _, b := range bs {
		if b != nil {
			return *b
		}
	}
	return false
}

// LVSDefs are global_defs' IPVS housekeeping settings.
type LVSDefs struct {
	// SyncDaemon is lvs_sync_daemon; nil when unset.
	SyncDaemon *SyncDaemon `json:"lvs_sync_daemon,omitempty"`
	// Timeouts is lvs_timeouts; a zero field leaves the kernel's value.
	Timeouts LVSTimeouts `json:"lvs_timeouts,omitzero"`
	// Flush is lvs_flush: remove every IPVS service at start-up.
	Flush bool `json:"lvs_flush,omitempty"`
	// FlushOnStop is lvs_flush_on_stop: "" (no), "FULL" (every IPVS
	// service) or "VS" (the virtual servers drlb configured).
	FlushOnStop string `json:"lvs_flush_on_stop,omitempty"`
}

// LVSTimeouts are IPVS's connection timeouts (ipvsadm --set).
type LVSTimeouts struct {
	// TCP is the timeout of established TCP connections.
	TCP time.Duration `json:"tcp,omitempty"`
	// TCPFin is the timeout of TCP connections after a FIN.
	TCPFin time.Duration `json:"tcpfin,omitempty"`
	// UDP is the timeout of UDP flows.
	UDP time.Duration `json:"udp,omitempty"`
}

// SyncDaemon is "lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N] [maxlen N]
// [port N] [ttl N] [group IP]": the kernel's IPVS connection sync daemon,
// master while the instance is MASTER and backup otherwise.
type SyncDaemon struct {
	// Pos is where the keyword is.
	Pos Position `json:"pos"`
	// Interface sends and receives the sync messages.
	Interface string `json:"interface"`
	// Instance is the vrrp_instance whose state selects master or backup.
	Instance string `json:"instance"`
	// SyncID is id (0..255, default 0: the kernel's).
	SyncID int `json:"id"`
	// MaxLen is maxlen, the largest sync message (0: the kernel's default).
	MaxLen int `json:"maxlen,omitempty"`
	// Port is port, the UDP port (0: the kernel's 8848).
	Port int `json:"port,omitempty"`
	// TTL is ttl of the multicast messages (0: the kernel's 1).
	TTL int `json:"ttl,omitempty"`
	// Group is group, the multicast group (zero: the kernel's 224.0.0.81).
	Group netip.Addr `json:"group,omitzero"`
}

// notifyGlobal handles the global_defs keywords of NotifyDefs and LVSDefs;
// it returns false for other keywords.
func (p *parser) notifyGlobal(n *node, g *GlobalDefs) bool {
	nd, ld := &g.Notify, &g.LVS
	switch n.key.text {
	case "notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo":
		fc := map[string]*FIFOConf{"notify_fifo": &nd.FIFO, "vrrp_notify_fifo": &nd.VRRPFIFO, "lvs_notify_fifo": &nd.LVSFIFO}[n.key.text]
		if !p.valueOnly(n) {
			return true
		}
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "%s needs a file name", n.key.text)
			return true
		}
		if len(n.args) > 1 {
			p.warnAt(n.args[1].pos, "%s: the FIFO's owner (%q) is not supported yet; the FIFO belongs to the daemon's user", n.key.text, n.args[1].text)
		}
		if !strings.HasPrefix(n.args[0].text, "/") {
			p.errAt(n.args[0].pos, "%s %q: the FIFO needs an absolute path", n.key.text, n.args[0].text)
			return true
		}
		fc.Path = n.args[0].text
	case "notify_fifo_script", "vrrp_notify_fifo_script", "lvs_notify_fifo_script":
		fc := map[string]*FIFOConf{"notify_fifo_script": &nd.FIFO, "vrrp_notify_fifo_script": &nd.VRRPFIFO, "lvs_notify_fifo_script": &nd.LVSFIFO}[n.key.text]
		if s, ok := p.script(n, "global_defs"); ok {
			fc.Script = s
		}
	case "notification_email":
		for _, t := range p.listItems(n) {
			if !strings.Contains(t.text, "@") {
				p.warnAt(t.pos, "notification_email %q does not look like an e-mail address", t.text)
			}
			nd.Email = append(nd.Email, t.text)
		}
	case "notification_email_from":
		p.str(n, &nd.EmailFrom)
	case "smtp_server":
		if !p.valueOnly(n) {
			return true
		}
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "smtp_server needs a host (IP address or name) and an optional port")
			return true
		}
		port := 25
		if len(n.args) > 1 {
			v, ok := p.intTok("smtp_server port", n.args[1], 1, 65535)
			if !ok {
				return true
			}
			port = v
		}
		host := n.args[0].text
		if a, err := netip.ParseAddr(host); err == nil {
			host = a.String()
		}
		nd.SMTPServer = net.JoinHostPort(host, strconv.Itoa(port))
	case "smtp_helo_name":
		p.str(n, &nd.SMTPHelo)
	case "smtp_connect_timeout":
		p.dur(n, time.Second, time.Hour, &nd.SMTPTimeout)
	case "smtp_alert":
		p.optFlag(n, &nd.SMTPAlert)
	case "smtp_alert_vrrp":
		p.optFlag(n, &nd.SMTPAlertVRRP)
	case "smtp_alert_checker":
		p.optFlag(n, &nd.SMTPAlertChecker)
	case "lvs_flush":
		p.flag(n, &ld.Flush)
	case "lvs_flush_on_stop", "lvs_flush_onstop":
		if n.key.text == "lvs_flush_onstop" {
			p.warnAt(n.key.pos, "lvs_flush_onstop is deprecated (keepalived says so too); use lvs_flush_on_stop")
		}
		if !p.valueOnly(n) {
			return true
		}
		ld.FlushOnStop = "FULL"
		if len(n.args) > 0 {
			switch v := strings.ToUpper(n.args[0].text); v {
			case "VS", "FULL":
				ld.FlushOnStop = v
			default:
				p.errAt(n.args[0].pos, "lvs_flush_on_stop %q: must be VS or FULL (or nothing, meaning FULL)", n.args[0].text)
			}
		}
	case "lvs_timeouts":
		p.lvsTimeoutsPos = p.pos(n.key.pos)
		p.lvsTimeouts(n, &ld.Timeouts)
	case "lvs_sync_daemon":
		if sd, ok := p.syncDaemon(n); ok {
			ld.SyncDaemon = &sd
		}
	default:
		return false
	}
	return true
}

// optFlag is flag for a setting that may stay unset (nil).
func (p *parser) optFlag(n *node, dst **bool) {
	v := true
	if *dst != nil {
		v = **dst
	}
	p.flag(n, &v)
	*dst = &v
}

// lvsTimeouts parses "lvs_timeouts [tcp N] [tcpfin N] [udp N]" (seconds;
// keepalived's range 1..86400*31).
func (p *parser) lvsTimeouts(n *node, t *LVSTimeouts) {
	if !p.valueOnly(n) {
		return
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "lvs_timeouts needs tcp N, tcpfin N or udp N")
		return
	}
	for i := 0; i < len(n.args); i += 2 {
		k := n.args[i]
		var dst *time.Duration
		switch strings.ToLower(k.text) {
		case "tcp":
			dst = &t.TCP
		case "tcpfin":
			dst = &t.TCPFin
		case "udp":
			dst = &t.UDP
		default:
			p.errAt(k.pos, "lvs_timeouts: unexpected %q (want tcp, tcpfin or udp, each followed by seconds)", k.text)
			return
		}
		if i+1 >= len(n.args) {
			p.errAt(k.pos, "lvs_timeouts %s needs a number of seconds", k.text)
			return
		}
		if v, ok := p.intTok("lvs_timeouts "+k.text, n.args[i+1], 1, 86400*31); ok {
			*dst = time.Duration(v) * time.Second
		}
	}
}

// syncDaemon parses lvs_sync_daemon.
func (p *parser) syncDaemon(n *node) (SyncDaemon, bool) {
	sd := SyncDaemon{Pos: p.pos(n.key.pos)}
	if !p.valueOnly(n) {
		return sd, false
	}
	if len(n.args) < 2 {
		p.errAt(afterKey(n), "lvs_sync_daemon needs INTERFACE VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]")
		return sd, false
	}
	sd.Interface, sd.Instance = n.args[0].text, n.args[1].text
	ok := true
	rest := n.args[2:]
	for i := 0; i < len(rest); i += 2 {
		k := rest[i]
		if i+1 >= len(rest) {
			p.errAt(k.pos, "lvs_sync_daemon %s needs a value", k.text)
			return sd, false
		}
		v := rest[i+1]
		var good bool
		switch k.text {
		case "id":
			sd.SyncID, good = p.intTok("lvs_sync_daemon id", v, 0, 255)
		case "maxlen":
			sd.MaxLen, good = p.intTok("lvs_sync_daemon maxlen", v, 1, 65535-20-8)
		case "port":
			sd.Port, good = p.intTok("lvs_sync_daemon port", v, 1, 65535)
		case "ttl":
			sd.TTL, good = p.intTok("lvs_sync_daemon ttl", v, 1, 255)
		case "group":
			sd.Group, good = p.addrTok("lvs_sync_daemon group", v)
			if good && !sd.Group.IsMulticast() {
				p.errAt(v.pos, "lvs_sync_daemon group %s is not a multicast address", sd.Group)
				good = false
			}
		default:
			p.errAt(k.pos, "lvs_sync_daemon: unexpected %q (want id, maxlen, port, ttl or group)", k.text)
			return sd, false
		}
		ok = ok && good
	}
	return sd, ok
}

// validateLVSDefs checks lvs_sync_daemon against the instances and the
// data plane. The nftables data plane has no connection table to sync
// (it is stateless, or keeps nft's own maps): lvs_sync_daemon is refused
// there, so that an operator who relies on synced connections learns it
// at check time rather than at the first failover.
func (p *parser) validateLVSDefs(cfg *Config) {
	p.validateMail(cfg)
	if t := cfg.Global.LVS.Timeouts; (t.TCPFin != 0 || t.UDP != 0) && p.nftOnly(cfg.Global.Dataplane) != "" {
		p.warnAt(p.lvsTimeoutsPos, "lvs_timeouts tcpfin and udp are IPVS's; the nftables data plane has one idle timeout for its connection tables, set by lvs_timeouts tcp%s; ignored", p.nftOnly(cfg.Global.Dataplane))
	}
	if cfg.NetNamespaceIPVS != nil && len(cfg.VirtualServers) > 0 && p.nftOnly(cfg.Global.Dataplane) != "" {
		// nft forwards at the ingress of the interface that carries the
		// VIP, in drlb's own namespace, where VRRP puts the VIP.
		p.errAt(p.ipvsNetnsPos, "net_namespace_ipvs needs IPVS: the nftables data plane forwards on the VIP's interface in drlb's own namespace%s; use drlb_dataplane ipvs on a kernel with IPVS", p.nftOnly(cfg.Global.Dataplane))
	}
	sd := cfg.Global.LVS.SyncDaemon
	if sd == nil {
		return
	}
	found := false
	for _, in := range cfg.Instances {
		found = found || in.Name == sd.Instance
	}
	if !found {
		names := make([]string, 0, len(cfg.Instances))
		for _, in := range cfg.Instances {
			names = append(names, in.Name)
		}
		msg := "lvs_sync_daemon: vrrp_instance " + strconv.Quote(sd.Instance) + " does not exist"
		if s := suggest(sd.Instance, names, nil); s != "" {
			msg += "; did you mean " + strconv.Quote(s) + "?"
		}
		p.errAt(sd.Pos, "%s", msg)
	}
	if p.opts.HostChecks && !p.interfaceExists(sd.Interface) {
		p.warnAt(sd.Pos, "lvs_sync_daemon: interface %s does not exist on this host; the sync daemon will not start", sd.Interface)
	}
	if p.nftOnly(cfg.Global.Dataplane) != "" {
		p.errAt(sd.Pos, "lvs_sync_daemon needs IPVS: the kernel's sync daemon copies IPVS connection entries, and the nftables data plane has none%s; "+
			"without sync, a failover keeps the connections whose real server the new master picks again (lvs_sched mh or sh: Maglev, the same on every director), "+
			"use drlb_dataplane ipvs on a kernel with IPVS to sync connections", p.nftOnly(cfg.Global.Dataplane))
	}
}

// nftOnly says why only the nftables data plane will run (" (drlb_dataplane
// nft)" or the auto case), or "" when IPVS may run.
func (p *parser) nftOnly(dp Dataplane) string {
	switch {
	case dp == DataplaneNFT:
		return " (drlb_dataplane nft)"
	case dp == DataplaneAuto && p.opts.IPVSAvailable != nil && !p.opts.IPVSAvailable():
		return " (drlb_dataplane auto, and this kernel has no IPVS)"
	}
	return ""
}

// validateMail warns when smtp_alert asks for mail that cannot be sent:
// keepalived then sends nothing, silently.
func (p *parser) validateMail(cfg *Config) {
	n := cfg.Global.Notify
	wanted := n.AlertVRRP(nil) || n.AlertChecker(nil)
	for _, in := range cfg.Instances {
		wanted = wanted || n.AlertVRRP(in.SMTPAlert)
	}
	for _, vs := range cfg.VirtualServers {
		wanted = wanted || n.AlertChecker(vs.SMTPAlert)
		for _, rs := range vs.RealServers {
			wanted = wanted || n.AlertChecker(rs.SMTPAlert)
		}
	}
	if !wanted || (n.SMTPServer != "" && len(n.Email) > 0) {
		return
	}
	var missing []string
	if n.SMTPServer == "" {
		missing = append(missing, "smtp_server")
	}
	if len(n.Email) == 0 {
		missing = append(missing, "notification_email")
	}
	at := cfg.Global.Pos
	if at == (Position{}) && len(cfg.Files) > 0 {
		at = Position{File: cfg.Files[0], Line: 1, Col: 1}
	}
	if at.File != "" {
		p.warnAt(at, "smtp_alert is set but global_defs has no %s: no e-mail is sent", strings.Join(missing, " and "))
	}
}
