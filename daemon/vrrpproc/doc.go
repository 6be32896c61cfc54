// Package vrrpproc runs VRRP in a child process of its own, as keepalived
// forks a VRRP child: the parent (supervisor, health checks, data plane,
// scripts) holds a Remote with the methods the daemon uses on a
// *vrrp.Node, and the child runs the vrrp.Node with every one of its
// threads real-time (vrrp_rt_priority), its memory locked (vrrp_no_swap),
// its garbage collector mostly idle, and nothing else in it: no health
// checker goroutine, no reload's parsing, no script fork competes with an
// advert for a processor of the Go runtime.
//
// The parent starts the child by re-executing its own binary
// (/proc/self/exe) with one end of a Unix socketpair as file descriptor 3
// and ChildEnv naming it; MaybeChild, called first thing in main (and in a
// test binary's TestMain), runs the child and exits when ChildEnv is set.
// The child dies with the parent (PR_SET_PDEATHSIG SIGTERM) and stops on
// its own when the socket reaches end of file: priority-0 adverts, VIPs
// removed, as vrrp.Node.Run does when its context ends. A Keeper wraps
// the Remotes of successive children: when one dies unexpectedly it
// starts another with the last configuration (keepalived's respawn),
// within a limit (DefaultRespawnBurst deaths in DefaultRespawnInterval),
// or ends with the child (KeeperOptions.DontRespawn, keepalived's -R).
//
// The socket carries one gob stream per direction (encoding/gob of the
// standard library: it is self-delimiting, typed, and encodes netip
// addresses, durations, times and maps as they are, so no framing or
// schema library is needed; both ends are the same binary, so there is no
// version skew to handle). The parent sends Start, Update, Status and
// Stop requests and the replies to the child's requests; the child sends
// transitions, notifications, log records, script and services-checked
// requests, replies, and its exit. Scripts (notify, vrrp_script) run in
// the parent, through the daemon's script runner, so the real-time child
// never forks and script_user and script security stay where they are.
//
// Every exchange is bounded: the parent's writes time out (sendTimeout;
// a failed write closes the socket, as half a gob message leaves the
// stream unreadable), Status and Update wait for their reply only so
// long (statusTimeout, updateTimeout), and the child's queue to a parent
// that stopped reading drops log records, then anything, past a fixed
// length, and says how many it dropped.
package vrrpproc
