package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HousekeepingDefs are global_defs' process housekeeping settings: the
// start-up and shutdown scripts, the umask, supplementary groups of
// scripts, notification filters, netlink receive buffers, the SIGUSR1 /
// SIGUSR2 / SIGRTMIN+2 dump files and reload_check_config.
type HousekeepingDefs struct {
	// StartupScript is startup_script's command line, run once before
	// anything else starts (empty: none). Its user is in the ScriptRef.
	StartupScript string `json:"startup_script,omitempty"`
	// StartupScriptTimeout is startup_script_timeout (1-1000 s, default 10 s).
	StartupScriptTimeout time.Duration `json:"startup_script_timeout"`
	// ShutdownScript is shutdown_script's command line, run once after
	// everything else stopped (empty: none).
	ShutdownScript string `json:"shutdown_script,omitempty"`
	// ShutdownScriptTimeout is shutdown_script_timeout (1-1000 s, default 10 s).
	ShutdownScriptTimeout time.Duration `json:"shutdown_script_timeout"`
	// Umask is umask: the process umask (permission bits 0-0777); nil
	// keeps the umask drlb was started with.
	Umask *uint32 `json:"umask,omitempty"`
	// SetSupplementaryGroups is set_supplementary_groups: every script
	// runs with its user's supplementary groups, as if its group were
	// written ":GROUP".
	SetSupplementaryGroups bool `json:"set_supplementary_groups,omitempty"`
	// NoEmailFaults is no_email_faults: no smtp_alert mail when a VRRP
	// instance or sync group enters FAULT.
	NoEmailFaults bool `json:"no_email_faults,omitempty"`
	// RSInitNotifies is rs_init_notifies: at start-up, the notify_up
	// script and RS UP FIFO line of every real server that starts up.
	RSInitNotifies bool `json:"rs_init_notifies,omitempty"`
	// FIFOWriteVRRPStatesOnReload is fifo_write_vrrp_states_on_reload:
	// after a reload, every instance's and sync group's state is written
	// to the VRRP FIFOs again.
	FIFOWriteVRRPStatesOnReload bool `json:"fifo_write_vrrp_states_on_reload,omitempty"`
	// VRRPNetlinkCmd is vrrp_netlink_cmd_rcv_bufs[_force]: the receive
	// buffer of the VRRP's netlink command socket (addresses, links).
	VRRPNetlinkCmd RcvBuf `json:"vrrp_netlink_cmd_rcv_bufs,omitzero"`
	// VRRPNetlinkMonitor is vrrp_netlink_monitor_rcv_bufs[_force]: the
	// receive buffer of the sockets VRRP watches interfaces with.
	VRRPNetlinkMonitor RcvBuf `json:"vrrp_netlink_monitor_rcv_bufs,omitzero"`
	// StateFile, StatsFile and JSONFile are state_file_location,
	// stats_file_location and json_file_location (keepalived's source also
	// reads them as state_dump_file, stats_dump_file, json_dump_file): a
	// path ending in '/' is a directory for the default name, another
	// path the file itself; empty means the default in TMPDIR or /tmp
	// (see DumpFile).
	StateFile string `json:"state_file_location,omitempty"`
	StatsFile string `json:"stats_file_location,omitempty"`
	JSONFile  string `json:"json_file_location,omitempty"`
	// DataUseInstance is data_use_instance: the dump files' names carry
	// the network namespace and the configuration id.
	DataUseInstance bool `json:"data_use_instance,omitempty"`
	// JSONVersion is json_version, 1 (default: a JSON array of instances)
	// or 2 (an object whose "vrrp" member is that array).
	JSONVersion int `json:"json_version"`
	// ReloadCheckConfig is reload_check_config: a reload validates the new
	// file first (drlb always does) and writes the diagnostics to
	// ReloadCheckConfigLog when it is set.
	ReloadCheckConfig bool `json:"reload_check_config,omitempty"`
	// ReloadCheckConfigLog is reload_check_config's optional LOG_FILE.
	ReloadCheckConfigLog string `json:"reload_check_config_log,omitempty"`
	// ReloadFile is reload_file [FILE]: created (or truncated) before a
	// reload reads the configuration and removed once it has been read,
	// so that an update process can wait for it to go. A relative name
	// (DefaultReloadFile, the keyword alone) is in the run directory.
	ReloadFile string `json:"reload_file,omitempty"`
	// NFTTable is nftables [TABLENAME]: the no_accept table's name
	// (keepalived's default with the keyword alone: "keepalived"; empty
	// without the keyword: drlb's drlb_vrrp).
	NFTTable string `json:"nftables,omitempty"`
	// NFTPriority is nftables_priority: the no_accept chains' priority
	// (nil: -1, keepalived's default).
	NFTPriority *int `json:"nftables_priority,omitempty"`
	// NFTCounters is nftables_counters: a counter on every no_accept rule.
	NFTCounters bool `json:"nftables_counters,omitempty"`
}

// nftName is an nftables identifier, as nft's scanner reads one.
var nftName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,63}$`)

// RcvBuf is a netlink socket's receive buffer: Size bytes (0 keeps the
// kernel's net.core.rmem_default); Force uses SO_RCVBUFFORCE, which may
// exceed net.core.rmem_max (root only).
type RcvBuf struct {
	Size  int  `json:"size,omitempty"`
	Force bool `json:"force,omitempty"`
}

// Default start-up and shutdown script timeouts (keepalived's).
const (
	DefaultStartupScriptTimeout  = 10 * time.Second
	DefaultShutdownScriptTimeout = 10 * time.Second
)

// DefaultReloadFile is reload_file's default name, in the run directory
// (keepalived's PID directory).
const DefaultReloadFile = "keepalived.reload"

// Default dump file names: keepalived's SIGUSR1, SIGUSR2 and SIGRTMIN+2
// files of its VRRP process.
const (
	DefaultStateFile = "keepalived.data"
	DefaultStatsFile = "keepalived.stats"
	DefaultJSONFile  = "keepalived.json"
)

func defaultHousekeeping() HousekeepingDefs {
	return HousekeepingDefs{StartupScriptTimeout: DefaultStartupScriptTimeout, ShutdownScriptTimeout: DefaultShutdownScriptTimeout, JSONVersion: 1}
}

// DumpFile is where a dump goes, as keepalived's make_tmp_filename and
// open_dump_file name it: location is *_file_location ("" for the
// default, a path ending in '/' for a directory), def the default file
// name, tmpDir keepalived's tmp dir ($TMPDIR if absolute, else /tmp).
// With data_use_instance, ".NETNS_ID" (or the one that is set) goes
// before the name's extension.
func (h HousekeepingDefs) DumpFile(location, def, tmpDir, netns, configID string) string {
	dir, name := tmpDir, def
	if strings.HasPrefix(location, "/") {
		if strings.HasSuffix(location, "/") {
			dir = strings.TrimSuffix(location, "/")
		} else {
			i := strings.LastIndexByte(location, '/')
			dir, name = location[:i], location[i+1:]
		}
	} else if location != "" {
		name = location
		if i := strings.LastIndexByte(location, '/'); i >= 0 {
			name = location[i+1:]
		}
	}
	if h.DataUseInstance && (netns != "" || configID != "") {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name, ext = name[:i], name[i:]
		}
		suffix := netns
		if netns != "" && configID != "" {
			suffix += "_"
		}
		name += "." + suffix + configID + ext
	}
	if dir == "" {
		dir = "/"
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// umaskBits are keepalived's umask bit names (umask_handler).
var umaskBits = map[string]uint32{
	"IRUSR": 0o400, "IWUSR": 0o200, "IXUSR": 0o100, "IRWXU": 0o700,
	"IRGRP": 0o040, "IWGRP": 0o020, "IXGRP": 0o010, "IRWXG": 0o070,
	"IROTH": 0o004, "IWOTH": 0o002, "IXOTH": 0o001, "IRWXO": 0o007,
}

// ParseUmask reads umask's value as keepalived does: one number (C
// syntax: 0x hex, leading-0 octal or decimal) of permission bits only, or
// bit names I{R,W,X}{USR,GRP,OTH} and IRWX{U,G,O} joined by '|' (spaces
// around the '|' allowed: words holds the keyword's arguments).
func ParseUmask(words []string) (uint32, error) {
	if len(words) == 0 {
		return 0, fmt.Errorf("umask needs a value")
	}
	if c := words[0][0]; c >= '0' && c <= '9' {
		if len(words) > 1 {
			return 0, fmt.Errorf("umask: extra parameter %q to umask", words[1])
		}
		// strtol's base 0: 0x hex, a leading 0 octal, else decimal (Go's
		// base 0 would also take 0o, 0b and underscores).
		digits, base := words[0], 10
		if rest, ok := strings.CutPrefix(strings.ToLower(digits), "0x"); ok {
			digits, base = rest, 16
		} else if len(digits) > 1 && digits[0] == '0' {
			digits, base = digits[1:], 8
		}
		v, err := strconv.ParseInt(digits, base, 32)
		if strings.ContainsAny(digits, "+-_") {
			err = strconv.ErrSyntax
		}
		if err != nil || v < 0 || v&^0o777 != 0 {
			return 0, fmt.Errorf("umask: invalid value %s: want permission bits (0-0777)", words[0])
		}
		return uint32(v), nil
	}
	var bits uint32
	needOr := false
	for _, w := range words {
		for w != "" {
			if needOr {
				if w[0] != '|' {
					return 0, fmt.Errorf("umask: invalid syntax %q: bits are separated by '|'", w)
				}
				w, needOr = w[1:], false
				continue
			}
			if len(w) < 5 {
				return 0, fmt.Errorf("umask: unknown bit %q", w)
			}
			b, ok := umaskBits[w[:5]]
			if !ok {
				return 0, fmt.Errorf("umask: unknown bit %q (want I{R,W,X}{USR,GRP,OTH} or IRWX{U,G,O})", w)
			}
			bits |= b
			w, needOr = w[5:], true
		}
	}
	if !needOr {
		return 0, fmt.Errorf("umask: missing bit value after '|'")
	}
	return bits, nil
}

// housekeepingGlobal handles the global_defs keywords of HousekeepingDefs;
// it returns false for other keywords.
func (p *parser) housekeepingGlobal(n *node, g *GlobalDefs) bool {
	// A keyword whose row is not implemented yet keeps its "not supported
	// yet" warning: its row flips when the daemon acts on it.
	if k, ok := keywords().lookup(n.key.text, []string{"global_defs"}); ok && k.Status != KeywordImplemented {
		return false
	}
	h := &g.Housekeeping
	switch n.key.text {
	case "startup_script":
		if s, ok := p.script(n, "global_defs"); ok {
			h.StartupScript = s
		}
	case "shutdown_script":
		if s, ok := p.script(n, "global_defs"); ok {
			h.ShutdownScript = s
		}
	case "startup_script_timeout", "shutdown_script_timeout":
		var secs int
		if p.intv(n, 1, 1000, &secs) {
			d := time.Duration(secs) * time.Second
			if n.key.text == "startup_script_timeout" {
				h.StartupScriptTimeout = d
			} else {
				h.ShutdownScriptTimeout = d
			}
		}
	case "umask":
		if !p.valueOnly(n) {
			return true
		}
		words := make([]string, len(n.args))
		for i, a := range n.args {
			words[i] = a.text
		}
		at := afterKey(n)
		if len(n.args) > 0 {
			at = n.args[0].pos
		}
		if v, err := ParseUmask(words); err != nil {
			p.errAt(at, "%v", err)
		} else {
			h.Umask = &v
		}
	case "set_supplementary_groups":
		p.flag(n, &h.SetSupplementaryGroups)
	case "no_email_faults":
		p.flag(n, &h.NoEmailFaults)
	case "rs_init_notifies":
		p.flag(n, &h.RSInitNotifies)
	case "fifo_write_vrrp_states_on_reload":
		p.flag(n, &h.FIFOWriteVRRPStatesOnReload)
	case "vrrp_netlink_cmd_rcv_bufs":
		p.intv(n, 1, 1<<30, &h.VRRPNetlinkCmd.Size)
	case "vrrp_netlink_cmd_rcv_bufs_force":
		p.flag(n, &h.VRRPNetlinkCmd.Force)
	case "vrrp_netlink_monitor_rcv_bufs":
		p.intv(n, 1, 1<<30, &h.VRRPNetlinkMonitor.Size)
	case "vrrp_netlink_monitor_rcv_bufs_force":
		p.flag(n, &h.VRRPNetlinkMonitor.Force)
	case "state_file_location", "stats_file_location", "json_file_location":
		dst := map[string]*string{"state_file_location": &h.StateFile, "stats_file_location": &h.StatsFile, "json_file_location": &h.JSONFile}[n.key.text]
		if t, ok := p.one(n); ok {
			if strings.HasSuffix(t.text, "/") && !strings.HasPrefix(t.text, "/") {
				p.errAt(t.pos, "%s %q: a directory needs an absolute path", n.key.text, t.text)
				return true
			}
			*dst = t.text
		}
	case "reload_file":
		if v, ok := p.optionalOne(n, DefaultReloadFile, absolutePath("")); ok {
			h.ReloadFile = v
		}
	case "random_seed":
		// The lexer seeded ${_RANDOM} when it read the line; here it is
		// checked as keepalived reads it (an unsigned 32-bit number).
		if t, ok := p.one(n); ok {
			if _, err := strconv.ParseUint(t.text, 10, 32); err != nil {
				p.errAt(t.pos, "random_seed %q: want an unsigned number (0-4294967295)", t.text)
			}
		}
	case "nftables":
		if v, ok := p.optionalOne(n, "keepalived", func(v string) string {
			if !nftName.MatchString(v) {
				return "a table name is a letter followed by letters, digits or '_' (at most 64)"
			}
			return ""
		}); ok {
			h.NFTTable = v
		}
	case "nftables_priority":
		p.intp(n, -1<<31, 1<<31-1, &h.NFTPriority)
	case "nftables_counters":
		p.flag(n, &h.NFTCounters)
	case "data_use_instance":
		p.flag(n, &h.DataUseInstance)
	case "json_version":
		p.intv(n, 1, 2, &h.JSONVersion)
	case "reload_check_config":
		if v, ok := p.optionalOne(n, "", absolutePath("the log file ")); ok {
			h.ReloadCheckConfig, h.ReloadCheckConfigLog = true, v
		}
	default:
		return false
	}
	return true
}

// lvsSyncDaemonInterface reads vrrp_instance's lvs_sync_daemon_interface
// INTERFACE, keepalived's pre-1.2.20 form of global_defs lvs_sync_daemon
// INTERFACE INSTANCE: it still sets the sync daemon to run on INTERFACE
// following this instance, with keepalived's deprecation warning, and is
// ignored when a sync daemon is already configured (lvs_sync_daemon is
// read first: global_defs is parsed before the instances).
func (p *parser) lvsSyncDaemonInterface(n *node, instance string, g *GlobalDefs) {
	t, ok := p.one(n)
	if !ok {
		return
	}
	if sd := g.LVS.SyncDaemon; sd != nil {
		p.warnAt(n.key.pos, "(%s) lvs_sync_daemon_interface is deprecated and lvs_sync_daemon has already been specified as %s - ignoring", instance, sd.Interface)
		return
	}
	p.warnAt(n.key.pos, "(%s) specifying lvs_sync_daemon_interface against a vrrp is deprecated: please use global lvs_sync_daemon %s %s", instance, t.text, instance)
	g.LVS.SyncDaemon = &SyncDaemon{Pos: p.pos(n.key.pos), Interface: t.text, Instance: instance}
}

// optionalOne reads a keyword whose one value may be left out (then it
// is def): ok is false when the line has a block or the value fails
// check, which returns what is wrong ("" for nothing), both reported at
// the value's FILE:LINE:COL. Extra values are warned about and ignored,
// as keepalived reads only the first.
func (p *parser) optionalOne(n *node, def string, check func(string) string) (string, bool) {
	if !p.valueOnly(n) {
		return "", false
	}
	if len(n.args) == 0 {
		return def, true
	}
	v := n.args[0]
	if msg := check(v.text); msg != "" {
		p.errAt(v.pos, "%s %q: %s", n.key.text, v.text, msg)
		return "", false
	}
	if len(n.args) > 1 {
		p.warnAt(n.args[1].pos, "%s takes one value; extra %q ignored", n.key.text, n.args[1].text)
	}
	return v.text, true
}

// absolutePath is an optionalOne check: what (say "the log file ")
// needs an absolute path.
func absolutePath(what string) func(string) string {
	return func(v string) string {
		if !strings.HasPrefix(v, "/") {
			return what + "needs an absolute path"
		}
		return ""
	}
}
