// Package vrrp implements VRRP (RFC 3768 version 2 with keepalived's PASS
// authentication, RFC 5798/9568 version 3 over IPv4 and IPv6, and
// keepalived's version 2 over IPv6) so that drlb can share virtual IP
// addresses with other drlb daemons or with keepalived. An instance is
// IPv4 or IPv6 by its first virtual address (InstanceConfig.IPv6).
//
// The package is layered so that almost everything is pure and testable
// without root:
//
//   - codec.go: Marshal and Parse of advertisements; Validate checks a parsed
//     advertisement against an instance and returns a countable DropReason.
//   - hmac.go: keepalived's auth_hmac trailer (HMAC-SHA256, anti-replay):
//     SignHMAC, SplitHMACTrailer and HMACVerifier.
//   - stranger.go: the rules that keep one forged advert from moving the
//     master or stretching a backup's timer (Suspect actions, the bound on
//     the interval a backup adopts).
//   - fsm.go: the RFC state machine as a step function
//     Step(Machine, Event, now) -> (Machine, []Action); the clock is the
//     caller's, so tests drive time explicitly.
//   - syncgroup.go: vrrp_sync_group coordination (members move together).
//   - transport.go, transport6.go: the raw IP protocol 112 sockets behind
//     the Conn interface: IPv4 (224.0.0.18 or unicast peers) and IPv6
//     (ff02::12 or unicast peers, link-local source, hop limit 255).
//   - vip.go, garp.go, na.go, notify.go, track.go: the side effects
//     (netlink addresses, IPv6 ones without DAD and deprecated for a /128,
//     gratuitous ARP, unsolicited neighbour advertisements, notify scripts,
//     track_interface and track_script).
//   - config.go: InstanceConfig, SyncGroupConfig and Config, with
//     keepalived's defaults (the supervisor translates daemon/config).
//   - node.go: Node, the runtime that ties the parts together for a set of
//     instances and sync groups, with Run, Status and transition callbacks.
//   - interfaces.go: each instance's socket follows its interface: opened
//     once the interface exists and has an address, FAULT meanwhile, learnt
//     from netlink notifications; preemption held after the interface
//     comes back until Options.ServicesChecked reports the services checked.
//   - update.go: Node.Update applies a new Config in place, instance by
//     instance; PlanUpdate and ClassifyInstance (pure) decide what restarts.
//
// Sockets belong to the network namespace they were created in. Node creates
// its sockets in Options.NetNS when it is set, otherwise in the namespace of
// the calling thread.
package vrrp
