// Package topology builds drlb's lab: hosts as network namespaces joined by
// veth pairs to bridges in a switch namespace, with addresses, loopback VIPs,
// sysctls and real processes running inside, and tears it all down again.
//
// A lab named N has namespaces N-<host> (visible to `ip netns`) and N-sw for
// the bridges, and a state directory /run/drlab/N recording everything it
// created, so `drlab down` cleans up after a crashed run. The root namespace
// never receives a lab address, route or link: veth pairs are created inside
// the switch namespace with their peer placed directly into the host.
//
// Links and addresses are made through netlink handles opened for each
// namespace; code that must run inside a namespace (sysctls, sockets,
// starting processes) goes through Do, which enters it on a locked thread
// and restores the thread before unlocking it.
//
// Labs are dual stack: IPv6 addresses are added without duplicate address
// detection (IFA_F_NODAD, and accept_dad=0 before the interfaces exist, for
// their link-local addresses), so everything is usable once Up returns, and
// bridges do no MLD snooping. ResolveARP and ResolveNDP ask the wire who
// answers for an address (ARP, or an IPv6 neighbour solicitation).
//
// Lab web servers (`drlab serve`, see WebHandler) listen on both families and serve /teste.html with
// deterministic per-host content, /data, and /blob, and mark every answer
// with X-Real-Server; pages can be changed at run time with SetPage.
package topology
