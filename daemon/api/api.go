// Package api is the daemon's control interface: the JSON documents served on
// its control socket (HTTP over a unix socket, mode 0600, in the run
// directory) and a client for them. `drlb status`, `drlb reload`, drlab's
// scenario engine and operators' tools (curl --unix-socket) all speak it.
//
//	GET  /status   Status
//	POST /reload   ReloadResult (refused configs keep the running one);
//	               ?allow_empty=1 lets it remove everything (ReloadOptions)
//	GET  /events   Event per line (JSON lines), streamed until the client leaves
//
// The package is a leaf: it imports nothing of ours.
package api

import (
	"time"
)

// SocketName is the control socket's file name inside the run directory.
const SocketName = "drlb.sock"

// DefaultRunDir holds the pid file and control socket unless --run-dir or
// DRLB_RUN_DIR say otherwise.
const DefaultRunDir = "/run/drlb"

// RunDirEnv overrides the default run directory (drlab sets it per lab host).
const RunDirEnv = "DRLB_RUN_DIR"

// Status is a snapshot of a running daemon.
type Status struct {
	Version    string     `json:"version"`
	PID        int        `json:"pid"`
	ConfigFile string     `json:"config_file"`
	ConfigID   string     `json:"config_id,omitempty"`
	Started    time.Time  `json:"started"`
	Reloads    int        `json:"reloads"`
	LastReload time.Time  `json:"last_reload,omitzero"`
	Dataplane  string     `json:"dataplane"` // "ipvs", "nft" or "none" (VRRP only)
	Instances  []Instance `json:"instances"`
	Services   []Service  `json:"services"`
	// BGP is the scale-out speaker (drlb_bgp), nil without one.
	BGP *BGP `json:"bgp,omitempty"`
	// VRRPChild is the VRRP child process, nil when VRRP runs in the
	// daemon's own process or not at all.
	VRRPChild *VRRPChild `json:"vrrp_child,omitempty"`
}

// VRRPChild is the VRRP child process as the parent sees it.
type VRRPChild struct {
	// PID is the running child's process ID, 0 while none runs.
	PID int `json:"pid"`
	// State is "starting", "running", "respawning" (the child died, a new
	// one is being started; instances show the new one's INIT) or
	// "stopped".
	State string `json:"state"`
	// Restarts counts children respawned after an unexpected death
	// (drlb_vrrp_child_restarts_total).
	Restarts int `json:"restarts"`
}

// BGP is the BGP speaker's state: sessions and the routes of announced
// virtual servers.
type BGP struct {
	RouterID string       `json:"router_id"`
	LocalAS  uint32       `json:"local_as"`
	Sessions []BGPSession `json:"sessions"`
	Routes   []BGPRoute   `json:"routes"`
}

// BGPSession is one neighbor.
type BGPSession struct {
	Neighbor string `json:"neighbor"`
	RemoteAS uint32 `json:"remote_as"`
	// State is the RFC 4271 state: Idle, Connect, Active, OpenSent,
	// OpenConfirm, Established.
	State           string        `json:"state"`
	Since           time.Time     `json:"since,omitzero"` // established since
	HoldTime        time.Duration `json:"hold_time,omitempty"`
	UpdatesSent     uint64        `json:"updates_sent"`
	UpdatesReceived uint64        `json:"updates_received"`
	LastError       string        `json:"last_error,omitempty"`
}

// BGPRoute is one announced virtual server's host route.
type BGPRoute struct {
	Prefix    string `json:"prefix"`  // 172.16.100.1/32
	Service   string `json:"service"` // TCP 172.16.100.1:80
	Announced bool   `json:"announced"`
	// Reason says why the route is (not) announced: "quorum", "no
	// quorum", "draining", "data plane not ready".
	Reason string `json:"reason"`
}

// Instance is one vrrp_instance.
type Instance struct {
	Name              string            `json:"name"`
	Group             string            `json:"group,omitempty"`
	Interface         string            `json:"interface"`
	VRID              int               `json:"vrid"`
	Version           int               `json:"version"`
	State             string            `json:"state"` // INIT, BACKUP, MASTER, FAULT, STOP
	Priority          int               `json:"priority"`
	EffectivePriority int               `json:"effective_priority"`
	MasterAddr        string            `json:"master_addr,omitempty"`
	VIPs              []string          `json:"vips"`
	Since             time.Time         `json:"since"`
	AdvertsSent       uint64            `json:"adverts_sent"`
	AdvertsReceived   uint64            `json:"adverts_received"`
	Drops             map[string]uint64 `json:"drops,omitempty"` // by reason
	Transitions       uint64            `json:"transitions"`
}

// Service is one virtual_server as the data plane holds it, with health.
type Service struct {
	Protocol  string `json:"protocol"` // TCP, UDP, SCTP
	Address   string `json:"address"`  // VIP:PORT, or "FWM n"
	Scheduler string `json:"scheduler"`
	Flags     string `json:"flags,omitempty"` // e.g. "persistent 1800"
	Method    string `json:"method"`          // Route, Masq, Tunnel
	// Quorum says whether enough real servers are up (keepalived's quorum).
	Quorum      bool   `json:"quorum"`
	SorryServer string `json:"sorry_server,omitempty"` // in use when not ""
	Reals       []Real `json:"reals"`
}

// Real is one real_server: its configuration, health and data-plane counters.
type Real struct {
	Address          string        `json:"address"` // IP:PORT
	Weight           int           `json:"weight"`  // in the data plane now (0 = inhibited)
	ConfiguredWeight int           `json:"configured_weight"`
	InTable          bool          `json:"in_table"`
	Healthy          bool          `json:"healthy"`
	LastReason       string        `json:"last_reason,omitempty"`
	LastCheck        time.Time     `json:"last_check,omitzero"`
	Latency          time.Duration `json:"latency,omitempty"`
	ActiveConn       uint64        `json:"active_conn"`
	InActConn        uint64        `json:"inact_conn"`
}

// AllowEmptyParam is POST /reload's query parameter for
// ReloadOptions.AllowEmpty ("1" or "true").
const AllowEmptyParam = "allow_empty"

// ReloadOptions are an operator's choices for one reload.
type ReloadOptions struct {
	// AllowEmpty lets a reload go ahead when the file has no directives, or
	// when it would remove every VRRP instance and every virtual server
	// (`drlb reload --allow-empty`). Without it such a reload is refused:
	// a truncated deploy or a full disk must not take the service down.
	AllowEmpty bool
}

// ReloadResult answers POST /reload.
type ReloadResult struct {
	OK          bool          `json:"ok"`
	Diagnostics []string      `json:"diagnostics,omitempty"` // FILE:LINE:COL: severity: message
	Changes     []string      `json:"changes,omitempty"`     // what the reload changed, for people
	Duration    time.Duration `json:"duration"`
	// Phases splits Duration: parse, components (VRRP and checkers
	// reconciled), dataplane (desired table computed and applied).
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is one timed step of a reload.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
}

// Event kinds.
const (
	EventVRRP      = "vrrp"      // From/To are VRRP states
	EventHealth    = "health"    // Server went up or down
	EventDataplane = "dataplane" // the table changed (Detail says how)
	EventReload    = "reload"
	EventDaemon    = "daemon" // start, stop
	EventBGP       = "bgp"    // a route announced or withdrawn (Detail), Reason why
)

// Event is one thing that happened in the daemon, streamed on /events.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     string        `json:"kind"`
	Instance string        `json:"instance,omitempty"` // VRRP instance
	From     string        `json:"from,omitempty"`
	To       string        `json:"to,omitempty"`
	Service  string        `json:"service,omitempty"` // VIP:PORT
	Server   string        `json:"server,omitempty"`  // real server IP:PORT
	Up       *bool         `json:"up,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	Latency  time.Duration `json:"latency,omitempty"`
	Detail   string        `json:"detail,omitempty"`
}

// FWMark reports whether the service is a firewall-mark service.
func (s Service) FWMark() bool { return len(s.Address) > 4 && s.Address[:4] == "FWM " }
