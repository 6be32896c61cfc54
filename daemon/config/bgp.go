package config

import (
	"math"
	"net/netip"
	"time"
)

// BGP is the drlb_bgp block, a drlb extension (keepalived has no BGP):
// the BGP speaker that announces scale-out virtual servers
// (drlb_bgp_announce) to routers.
//
//	drlb_bgp {
//	    router_id 172.16.2.11      # BGP identifier (IPv4)
//	    local_as 65001
//	    drain_delay 3              # seconds between withdraw and data-plane stop on SIGTERM
//	    listen_port 0              # 0: do not listen, connect out (default)
//	    neighbor 172.16.2.1 {
//	        remote_as 65000
//	        hold_time 9            # seconds, 0 or 3..65535 (RFC 4271 §4.2)
//	        password SECRET        # TCP MD5 (RFC 2385)
//	        port 179
//	        passive                # wait for the neighbor to connect
//	    }
//	}
type BGP struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// RouterID is the BGP identifier.
	RouterID netip.Addr `json:"router_id"`
	// LocalAS is this director's AS number.
	LocalAS uint32 `json:"local_as"`
	// ListenPort accepts sessions on this TCP port (0: none).
	ListenPort uint16 `json:"listen_port,omitempty"`
	// DrainDelay is how long a stopping daemon keeps forwarding after it
	// withdrew its routes, so that routers move flows to other directors
	// before this one's data plane goes (default 3 s).
	DrainDelay time.Duration `json:"drain_delay"`
	// Neighbors are the BGP peers.
	Neighbors []BGPNeighbor `json:"neighbors"`
}

// DefaultDrainDelay is drain_delay's default: a BGP UPDATE reaches an
// upstream router and its FIB within about a second; three leave margin.
const DefaultDrainDelay = 3 * time.Second

// BGPNeighbor is one "neighbor ADDR { }" of drlb_bgp.
type BGPNeighbor struct {
	// Pos is where the neighbor block starts.
	Pos Position `json:"pos"`
	// Address is the neighbor's address.
	Address netip.Addr `json:"address"`
	// RemoteAS is the neighbor's AS number.
	RemoteAS uint32 `json:"remote_as"`
	// HoldTime is the offered hold time (0: GoBGP's default, 90 s).
	HoldTime time.Duration `json:"hold_time,omitempty"`
	// Password is the TCP MD5 password ("" for none).
	Password string `json:"password,omitempty"`
	// Port is the neighbor's TCP port (0: 179).
	Port uint16 `json:"port,omitempty"`
	// Passive waits for the neighbor to connect.
	Passive bool `json:"passive,omitempty"`
}

// bgp parses a drlb_bgp block.
func (p *parser) bgp(b *node) *BGP {
	g := &BGP{Pos: p.pos(b.key.pos), DrainDelay: DefaultDrainDelay}
	if len(b.args) > 0 {
		p.warnAt(b.args[0].pos, "drlb_bgp takes no name; %q ignored", b.args[0].text)
	}
	for _, n := range b.children {
		switch n.key.text {
		case "router_id":
			var a netip.Addr
			if p.addr(n, &a) {
				if !a.Is4() {
					p.errAt(n.args[0].pos, "drlb_bgp router_id %s: must be an IPv4 address (the BGP identifier)", a)
				} else {
					g.RouterID = a
				}
			}
		case "local_as":
			p.asn(n, &g.LocalAS)
		case "listen_port":
			var port int
			if p.intv(n, 0, math.MaxUint16, &port) {
				g.ListenPort = uint16(port)
			}
		case "drain_delay":
			p.dur(n, 0, 10*time.Minute, &g.DrainDelay)
		case "neighbor":
			if !p.needBlock(n) {
				continue
			}
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "neighbor needs an address")
				continue
			}
			a, ok := p.addrTok("neighbor", n.args[0])
			if !ok {
				continue
			}
			nb := p.bgpNeighbor(n, a)
			for _, o := range g.Neighbors {
				if o.Address == a {
					p.errAt(n.args[0].pos, "neighbor %s is listed twice (first at %s)", a, where(o.Pos))
				}
			}
			g.Neighbors = append(g.Neighbors, nb)
		default:
			p.unknown(n, "drlb_bgp", "drlb_bgp")
		}
	}
	if !g.RouterID.IsValid() {
		p.errAt(b.key.pos, "drlb_bgp needs router_id (an IPv4 address)")
	}
	if g.LocalAS == 0 {
		p.errAt(b.key.pos, "drlb_bgp needs local_as")
	}
	if len(g.Neighbors) == 0 {
		p.errAt(b.key.pos, "drlb_bgp needs at least one neighbor")
	}
	return g
}

func (p *parser) bgpNeighbor(b *node, a netip.Addr) BGPNeighbor {
	nb := BGPNeighbor{Pos: p.pos(b.key.pos), Address: a}
	for _, n := range b.children {
		switch n.key.text {
		case "remote_as":
			p.asn(n, &nb.RemoteAS)
		case "hold_time":
			var hold int
			if p.intv(n, 0, math.MaxUint16, &hold) {
				if hold > 0 && hold < 3 {
					p.errAt(n.args[0].pos, "hold_time %d: must be 0 or at least 3 seconds (RFC 4271 §4.2)", hold)
				} else {
					nb.HoldTime = time.Duration(hold) * time.Second
				}
			}
		case "password":
			p.str(n, &nb.Password)
		case "port":
			var port int
			if p.intv(n, 1, math.MaxUint16, &port) {
				nb.Port = uint16(port)
			}
		case "passive":
			p.flag(n, &nb.Passive)
		case "bfd":
			p.errAt(n.key.pos, "neighbor %s: bfd is not supported yet (a lost director is detected by the BGP hold time)", a)
		default:
			p.unknown(n, "neighbor", "neighbor")
		}
	}
	if nb.RemoteAS == 0 {
		p.errAt(b.key.pos, "neighbor %s needs remote_as", a)
	}
	return nb
}

// asn parses an AS number (1..4294967295, RFC 6793).
func (p *parser) asn(n *node, dst *uint32) {
	t, ok := p.one(n)
	if !ok {
		return
	}
	if v, ok := p.intTok(n.key.text, t, 1, math.MaxUint32); ok {
		*dst = uint32(v)
	}
}

// validateBGP checks what announced virtual servers need: a drlb_bgp
// block, one service address (not fwmark), a neighbor of the address's
// family, DR or TUN forwarding (NAT would need the replies back through the
// same director), and a hashing scheduler (mh or sh) so that every
// director picks the same real server for a flow.
func (p *parser) validateBGP(cfg *Config) {
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		if !vs.BGPAnnounce {
			continue
		}
		at := vs.BGPAnnouncePos
		if cfg.BGP == nil {
			p.errAt(at, "virtual_server %s: drlb_bgp_announce needs a drlb_bgp block", vs.Name())
			continue
		}
		// A virtual_server_group's members arrive here one address each:
		// each is announced; a fwmark (alone or as a member) cannot be.
		if vs.FWMark != 0 || !vs.Address.IsValid() {
			p.errAt(at, "virtual_server %s: drlb_bgp_announce needs a service address, not a fwmark", vs.Name())
			continue
		}
		family := false
		for _, n := range cfg.BGP.Neighbors {
			if n.Address.Is4() == vs.Address.Is4() {
				family = true
			}
		}
		if !family {
			p.errAt(at, "virtual_server %s: drlb_bgp_announce: no drlb_bgp neighbor of the address's family", vs.Name())
		}
		if vs.Scheduler != "mh" && vs.Scheduler != "sh" {
			p.errAt(at, "virtual_server %s: drlb_bgp_announce needs lb_algo mh or sh (not %s) so that every director picks the same real server for a flow", vs.Name(), vs.Scheduler)
		}
		if vs.Method == ForwardNAT {
			p.errAt(at, "virtual_server %s: drlb_bgp_announce needs lb_kind DR or TUN (NAT replies would have to come back through the same director)", vs.Name())
		}
	}
}
