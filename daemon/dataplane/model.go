// Package dataplane holds the desired table of virtual services that the
// balancer forwards (a pure model), its validation, canonical ordering and
// diff, the Dataplane interface that the IPVS and nftables back ends
// implement, and the ipvsadm-style formatter used by `drlb status`.
//
// The back ends live in sub-packages: dataplane/ipvs (kernel IPVS through
// github.com/cloudflare/ipvs), dataplane/nft (netdev ingress rules through
// sigs.k8s.io/knftables) and dataplane/backend (New with "auto" selection).
package dataplane

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Protocol is the transport protocol of a virtual service.
type Protocol uint8

// Protocols a virtual service can carry (IANA numbers, as IPVS uses them).
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// String returns the protocol as ipvsadm prints it ("TCP", "UDP", "SCTP").
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// ParseProtocol parses "tcp", "udp" or "sctp" (any case).
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	}
	return 0, fmt.Errorf("dataplane: unknown protocol %q (want tcp, udp or sctp)", s)
}

// Method is how a packet reaches a real server (keepalived's lb_kind).
type Method uint8

// Forwarding methods. DR is the zero value because it is what drlb is for.
const (
	DR Method = iota
	NAT
	TUN
)

// String returns the keepalived name of the method ("DR", "NAT", "TUN").
func (m Method) String() string {
	switch m {
	case DR:
		return "DR"
	case NAT:
		return "NAT"
	case TUN:
		return "TUN"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// IPVSName returns the method as ipvsadm prints it in the Forward column
// ("Route", "Masq", "Tunnel").
func (m Method) IPVSName() string {
	switch m {
	case DR:
		return "Route"
	case NAT:
		return "Masq"
	case TUN:
		return "Tunnel"
	}
	return m.String()
}

// ParseMethod parses a keepalived lb_kind ("DR", "NAT", "TUN", any case).
func ParseMethod(s string) (Method, error) {
	switch strings.ToUpper(s) {
	case "DR":
		return DR, nil
	case "NAT":
		return NAT, nil
	case "TUN":
		return TUN, nil
	}
	return 0, fmt.Errorf("dataplane: unknown forwarding method %q (want DR, NAT or TUN)", s)
}

// DefaultScheduler is the scheduler used when Service.Scheduler is empty
// (ipvsadm's default).
const DefaultScheduler = "wlc"

// Schedulers lists every IPVS scheduler name drlb accepts.
var Schedulers = []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}

// KnownScheduler reports whether name is an IPVS scheduler name.
func KnownScheduler(name string) bool { return slices.Contains(Schedulers, name) }

// Real is one real server of a virtual service.
type Real struct {
	// Addr is the real server's address (same family as the VIP).
	Addr netip.Addr
	// Port is the real server's port; 0 means the service port. With DR the
	// port cannot differ from the service port (packets are not rewritten).
	Port uint16
	// Weight is the scheduling weight; 0 means inhibited: existing
	// connections stay, no new ones are sent.
	Weight uint32
	// UpperThreshold and LowerThreshold are keepalived's uthreshold and
	// lthreshold: IPVS sends no new connections while the server has more
	// than UpperThreshold, and again once it is below LowerThreshold (0:
	// none). The nftables data plane, which counts no connections per
	// server, ignores them.
	UpperThreshold, LowerThreshold uint32
	// Method is this server's own forwarding method when OwnMethod is set
	// (a real_server's lvs_method, a sorry server's
	// sorry_server_lvs_method); without OwnMethod the service's Method
	// applies (see Service.RealMethod). IPVS keeps a method per destination.
	Method Method
	// OwnMethod says Method is set.
	OwnMethod bool
}

// AddrPort returns the real server's address and port.
func (r Real) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Addr, r.Port) }

// Service is one virtual service and its real servers.
type Service struct {
	// VIP is the virtual address; invalid (zero) for a firewall-mark service.
	VIP netip.Addr
	// FWMark identifies a firewall-mark service (VIP must then be zero).
	FWMark uint32
	// Port is the virtual port (ignored with FWMark; 0 for a port-less persistent service).
	Port uint16
	// Protocol is the transport protocol (ignored for firewall-mark services).
	Protocol Protocol
	// Scheduler is an IPVS scheduler name (see Schedulers); "" means DefaultScheduler.
	Scheduler string
	// Method is the forwarding method for every real server of the service.
	Method Method
	// PersistenceTimeout makes a client stick to one real server for this
	// long after its last packet; 0 disables persistence.
	PersistenceTimeout time.Duration
	// PersistenceBits is the persistence granularity as a prefix length
	// (keepalived's persistence_granularity mask); 0 means a full-length
	// prefix (one client address).
	PersistenceBits int
	// Interface is the device that carries the VIP (the nftables back end
	// attaches its ingress chain there; IPVS ignores it).
	Interface string
	// ForwardInterface is the device the nftables back end forwards out of;
	// empty means Interface. A VIP on a VMAC (use_vmac) arrives on the
	// macvlan but is forwarded out of its base interface: the VMAC's only
	// address is the VIP, and real servers ignore ARP from an address that
	// is their own (the VIP on their loopback). IPVS ignores it.
	ForwardInterface string
	// Reals are the real servers.
	Reals []Real
	// Flags are IPVS's scheduler and one-packet flags (keepalived's ops,
	// flag-1..3, sh-/mh-port and sh-/mh-fallback); see ServiceFlags.
	Flags ServiceFlags
	// PersistenceEngine is keepalived's persistence_engine: the name of an
	// IPVS persistence engine module ("sip" for ip_vs_pe_sip, the only one
	// Linux has), or "" for none. Only IPVS has them.
	PersistenceEngine string
	// HashTableSize is the size (a prime) of the consistent-hash lookup
	// table the nftables back end builds for hashing schedulers (mh, sh);
	// 0 means maglev.SizeFor(len(Reals)). Scale-out services announced by
	// BGP use maglev.ScaleOutSize so that a real server's loss moves few
	// other flows. IPVS ignores it (its mh table size is a kernel option).
	HashTableSize int
}

// ServiceFlags are the IPVS service flags drlb sets, with the kernel's
// values (linux/ip_vs.h IP_VS_SVC_F_*), so that they go to IPVS as they
// are. IP_VS_SVC_F_PERSISTENT follows PersistenceTimeout and
// IP_VS_SVC_F_HASHED is the kernel's own (it sets it on every service), so
// neither is one of these.
type ServiceFlags uint32

// Service flags. The scheduler flags mean what the scheduler makes of
// them: for sh and mh, SchedFlag1 is "fallback" (a new connection whose
// server is inhibited or overloaded goes to another one) and SchedFlag2
// "port" (the client's port is hashed too); other in-tree schedulers ignore
// them.
const (
	OnePacket  ServiceFlags = 0x0004 // IP_VS_SVC_F_ONEPACKET: UDP packets are scheduled one by one
	SchedFlag1 ServiceFlags = 0x0008 // IP_VS_SVC_F_SCHED1 (sh/mh: fallback)
	SchedFlag2 ServiceFlags = 0x0010 // IP_VS_SVC_F_SCHED2 (sh/mh: port)
	SchedFlag3 ServiceFlags = 0x0020 // IP_VS_SVC_F_SCHED3

	// FlagsMask is every flag drlb sets.
	FlagsMask = OnePacket | SchedFlag1 | SchedFlag2 | SchedFlag3
	// Fallback and HashPort name SchedFlag1 and SchedFlag2 for sh and mh.
	Fallback = SchedFlag1
	HashPort = SchedFlag2
)

// String lists the flags as ipvsadm -ln prints a service's ("ops",
// "flag-1", ... joined by ","; "" for none).
func (f ServiceFlags) String() string {
	var out []string
	for _, n := range []struct {
		f    ServiceFlags
		name string
	}{{OnePacket, "ops"}, {SchedFlag1, "flag-1"}, {SchedFlag2, "flag-2"}, {SchedFlag3, "flag-3"}} {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	if rest := f &^ FlagsMask; rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", uint32(rest)))
	}
	return strings.Join(out, ",")
}

// schedNames names the scheduler flags as ipvsadm -ln does for sched:
// "sh-fallback,sh-port" for sh, "mh-..." for mh, "flag-1,..." otherwise.
func (f ServiceFlags) schedNames(sched string) string {
	one, two := "flag-1", "flag-2"
	if sched == "sh" || sched == "mh" {
		one, two = sched+"-fallback", sched+"-port"
	}
	var out []string
	for _, n := range []struct {
		f    ServiceFlags
		name string
	}{{SchedFlag1, one}, {SchedFlag2, two}, {SchedFlag3, "flag-3"}} {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// ServiceKey identifies a virtual service.
type ServiceKey struct {
	FWMark   uint32
	VIP      netip.Addr
	Protocol Protocol
	Port     uint16
}

// String renders the key as ipvsadm does ("TCP 172.16.1.1:80", "FWM 5").
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.VIP, k.Port))
}

// Compare orders keys: VIP services first by address, protocol and port,
// then firewall-mark services by mark.
func (k ServiceKey) Compare(o ServiceKey) int {
	if (k.FWMark != 0) != (o.FWMark != 0) {
		if k.FWMark == 0 {
			return -1
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(k.FWMark, o.FWMark),
		k.VIP.Compare(o.VIP),
		cmp.Compare(k.Protocol, o.Protocol),
		cmp.Compare(k.Port, o.Port),
	)
}

// Key returns the service's identity.
func (s Service) Key() ServiceKey {
	if s.FWMark != 0 {
		// IPVS identifies a firewall-mark service by its mark alone.
		return ServiceKey{FWMark: s.FWMark}
	}
	return ServiceKey{FWMark: s.FWMark, VIP: s.VIP, Protocol: s.Protocol, Port: s.Port}
}

// RealMethod returns r's forwarding method: its own, else the service's.
func (s Service) RealMethod(r Real) Method {
	if r.OwnMethod {
		return r.Method
	}
	return s.Method
}

// EffectiveScheduler returns Scheduler, or DefaultScheduler when it is empty.
func (s Service) EffectiveScheduler() string {
	if s.Scheduler == "" {
		return DefaultScheduler
	}
	return s.Scheduler
}

// Family returns the address family width (32 or 128) of the service.
func (s Service) addrBits() int {
	if s.FWMark != 0 {
		if len(s.Reals) > 0 && s.Reals[0].Addr.Is6() {
			return 128
		}
		return 32
	}
	return s.VIP.BitLen()
}

// EffectivePersistenceBits returns PersistenceBits, or the full address
// length when it is 0.
func (s Service) EffectivePersistenceBits() int {
	if s.PersistenceBits == 0 {
		return s.addrBits()
	}
	return s.PersistenceBits
}

// Table is the desired (or observed) set of virtual services.
type Table struct {
	Services []Service
}

// Canonical returns a deep copy of t with services sorted by key and real
// servers sorted by address and port, real ports defaulted to the service
// port, and the scheduler defaulted, so that equal tables compare equal.
func (t Table) Canonical() Table {
	out := Table{Services: make([]Service, 0, len(t.Services))}
	for _, s := range t.Services {
		c := s
		c.Scheduler = s.EffectiveScheduler()
		c.PersistenceBits = s.EffectivePersistenceBits()
		if s.PersistenceTimeout == 0 {
			c.PersistenceBits = s.addrBits()
		}
		c.VIP = s.VIP.Unmap()
		if s.FWMark != 0 {
			c.Protocol, c.Port = 0, 0
		}
		c.Reals = make([]Real, len(s.Reals))
		for i, r := range s.Reals {
			r.Addr = r.Addr.Unmap()
			if r.Port == 0 {
				r.Port = s.Port
			}
			// A server's own method that is the service's is no own method.
			if !r.OwnMethod || r.Method == s.Method {
				r.Method, r.OwnMethod = 0, false
			}
			c.Reals[i] = r
		}
		slices.SortFunc(c.Reals, compareReal)
		out.Services = append(out.Services, c)
	}
	slices.SortFunc(out.Services, func(a, b Service) int { return a.Key().Compare(b.Key()) })
	return out
}

func compareReal(a, b Real) int {
	return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid desired table")

// Validate checks t for problems every back end would reject and returns
// all of them joined, each wrapping ErrInvalid and naming the service.
func (t Table) Validate() error {
	var errs []error
	bad := func(k ServiceKey, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: service %s: %s", ErrInvalid, k, fmt.Sprintf(format, args...)))
	}
	seen := map[ServiceKey]bool{}
	for _, s := range t.Services {
		k := s.Key()
		if seen[k] {
			bad(k, "defined twice")
		}
		seen[k] = true
		switch {
		case s.FWMark != 0 && s.VIP.IsValid():
			bad(k, "has both a firewall mark and a VIP %s", s.VIP)
		case s.FWMark == 0 && !s.VIP.IsValid():
			bad(k, "has neither a VIP nor a firewall mark")
		case s.FWMark == 0 && (s.VIP.IsUnspecified() || s.VIP.IsMulticast()):
			bad(k, "VIP %s is not a unicast address", s.VIP)
		}
		switch {
		case s.FWMark != 0, s.Protocol == TCP, s.Protocol == UDP, s.Protocol == SCTP:
		default:
			bad(k, "unsupported protocol %d (want tcp, udp or sctp)", s.Protocol)
		}
		if s.FWMark == 0 && s.Port == 0 && s.PersistenceTimeout == 0 {
			bad(k, "port 0 is only allowed for a persistent service")
		}
		if s.Flags&^FlagsMask != 0 {
			bad(k, "unknown service flags 0x%x", uint32(s.Flags&^FlagsMask))
		}
		if s.Flags&OnePacket != 0 && s.FWMark == 0 && s.Protocol != UDP {
			bad(k, "one-packet scheduling (ops) needs UDP")
		}
		if pe := s.PersistenceEngine; pe != "" && (len(pe) > 15 || strings.ContainsFunc(pe, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' })) {
			bad(k, "persistence engine %q is not a module name (at most 15 of a-z, 0-9, _)", pe)
		}
		if !KnownScheduler(s.EffectiveScheduler()) {
			bad(k, "unknown scheduler %q (known: %s)", s.Scheduler, strings.Join(Schedulers, ", "))
		}
		if s.Method > TUN {
			bad(k, "unknown forwarding method %d", s.Method)
		}
		if s.PersistenceTimeout < 0 || s.PersistenceTimeout%time.Second != 0 || s.PersistenceTimeout > time.Duration(1<<32-1)*time.Second {
			bad(k, "persistence timeout %s must be a whole number of seconds between 0 and 2^32-1", s.PersistenceTimeout)
		}
		if s.PersistenceBits < 0 || s.PersistenceBits > s.addrBits() {
			bad(k, "persistence granularity /%d is out of range for the address family (0..%d)", s.PersistenceBits, s.addrBits())
		}
		if s.Interface != "" && (len(s.Interface) > 15 || strings.ContainsAny(s.Interface, "/ \t\"")) {
			bad(k, "interface name %q is not a valid Linux interface name", s.Interface)
		}
		if s.ForwardInterface != "" && (len(s.ForwardInterface) > 15 || strings.ContainsAny(s.ForwardInterface, "/ \t\"")) {
			bad(k, "interface name %q is not a valid Linux interface name", s.ForwardInterface)
		}
		reals := map[netip.AddrPort]bool{}
		for _, r := range s.Reals {
			if !r.Addr.IsValid() {
				bad(k, "real server without an address")
				continue
			}
			if r.OwnMethod && r.Method > TUN {
				bad(k, "real server %s: unknown forwarding method %d", r.Addr, r.Method)
			}
			rp := r.Port
			if rp == 0 {
				rp = s.Port
			}
			ap := netip.AddrPortFrom(r.Addr.Unmap(), rp)
			if reals[ap] {
				bad(k, "real server %s listed twice", ap)
			}
			reals[ap] = true
			if s.FWMark == 0 && r.Addr.Unmap().Is4() != s.VIP.Unmap().Is4() {
				bad(k, "real server %s is not in the VIP's address family", r.Addr)
			}
			// A firewall-mark service is one IPVS service of one family.
			if s.FWMark != 0 && r.Addr.Unmap().Is4() != s.Reals[0].Addr.Unmap().Is4() {
				bad(k, "real server %s is not in the address family of real server %s", r.Addr, s.Reals[0].Addr)
			}
		}
	}
	return errors.Join(errs...)
}
