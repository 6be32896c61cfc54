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
//   - accept.go: without accept mode, a MASTER's VIPs go into the drop set of
//     our nftables table inet drlb_vrrp (VIPFilter, NFTFilter), keepalived's
//     layout; vmac.go: use_vmac's macvlan with 00:00:5e:00:01:VRID (IPv6: 02),
//     use_vmac_addr's address VMACs and garp_extra_if's periodic ARPs, with
//     a chain per VMAC in the nftables tables ip/ip6 drlb_vmac (VMACTable)
//     that sends its MLD/IGMP reports from the base interface;
//     routes.go: virtual_routes/virtual_rules (while MASTER) and the
//     static_* entries (from start to stop) over netlink (RouteManager).
//   - config.go: InstanceConfig, SyncGroupConfig and Config, with
//     keepalived's defaults (the supervisor translates daemon/config).
//   - knobs.go: ProtocolOptions, keepalived's per-instance protocol knobs
//     (higher_prio_send_advert, lower_prio_no_advert, down_timer_adverts,
//     unicast_ttl, the v3 checksum variants, receive buffers,
//     promote_secondaries, timer_expired_backup, ...), the startup delay
//     (vrrp_startup_delay, vrrp_delay_after_boot) and the instance events
//     of the notify FIFO that are not states.
//   - node.go: Node, the runtime that ties the parts together for a set of
//     instances and sync groups, with Run, Status and transition callbacks.
//   - interfaces.go: each instance's socket follows its interface: opened
//     once the interface exists and has an address, FAULT meanwhile, learnt
//     from netlink notifications; preemption held after the interface
//     comes back until Options.ServicesChecked reports the services checked.
//   - update.go: Node.Update applies a new Config in place, instance by
//     instance; PlanUpdate and ClassifyInstance (pure) decide what restarts.
//   - thread.go: Run's goroutine is locked to its own OS thread for good,
//     scheduled per Config.Thread (keepalived's vrrp_rt_priority,
//     vrrp_priority, vrrp_cpu_affinity, vrrp_rlimit_rttime, vrrp_no_swap);
//     ReadThreadSched reads it back from /proc.
//   - timing.go: per-instance lateness histograms (adverts sent, master-down
//     timers seen, gaps between the master's adverts) and the rate-limited
//     warnings that tell a starved daemon from a dead peer. A MASTER's advert
//     timer does not allocate (Machine.AdvertTimer, the advert cache,
//     IPv4Conn.Write); a BACKUP reads the adverts already received before
//     it acts on its master-down timer (PendingReader).
//
// Sockets belong to the network namespace they were created in. Node creates
// its sockets in Options.NetNS when it is set, otherwise in the namespace of
// the calling thread.
package vrrp
