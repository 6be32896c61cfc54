// Package daemon is drlb's supervisor: the one package that wires the
// parts together. It loads a keepalived.conf (daemon/config), runs its VRRP
// instances (daemon/vrrp), health-checks its real servers (daemon/check),
// and keeps the data plane (daemon/dataplane) equal to the table that the
// configuration and the current health call for. With Options.VRRPChild
// (drlb run) the VRRP instances run in a child process of their own
// (daemon/vrrpproc), as keepalived's VRRP child; scripts stay here.
//
// Data flows one way: configuration → components → events → supervisor →
// data plane. One goroutine, the supervisor loop, owns the daemon's state;
// VRRP and health transitions, reload and status requests reach it as
// events, and what may block (parsing, data-plane applies, starting and
// stopping components) runs outside it and reports back as events. The
// loop decides the desired table with a pure function (Desired, after
// EvaluateServices) and hands the data plane the difference.
//
// Reload (SIGHUP or POST /reload) keeps what did not change: VRRP keeps
// running when its instances are unchanged (no flap), unchanged real
// servers keep their health and their checkers run on undisturbed (a failed
// server is not re-added; a new one joins after its first good check), and
// the data plane receives only the difference. A
// configuration with errors is refused and the running one stays.
//
// Quorum follows keepalived's ipwrapper.c (quorum.go, translate.go): when a
// virtual server loses quorum and has a sorry_server, the sorry server
// replaces the pool (poolOf); quorum_up/quorum_down run on transitions
// (QuorumScripts), omega's scripts at shutdown (OmegaScripts) and removed
// live servers' notify_down on reload (ReloadScripts), all decided by pure
// functions and run outside the decision.
//
// Scale-out (bgp.go): with a drlb_bgp block the supervisor runs a BGP
// speaker (daemon/bgp) and, after each decision, announces the address of
// every drlb_bgp_announce service that has quorum while the data plane is
// ready (BGPRoutes, a pure function); withdrawals go before a data-plane
// change, announcements after. On stop the routes are withdrawn first and
// the data plane stays for drain_delay.
//
// The control socket (package daemon/api) serves status, reload and a
// stream of events; Prometheus metrics are served on a loopback address.
package daemon
