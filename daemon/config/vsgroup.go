package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// VirtualServerGroup is a virtual_server_group block: the services that a
// "virtual_server group NAME" block programs, each with the same real
// servers and checkers (keepalived's vsg).
type VirtualServerGroup struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Name is what "virtual_server group NAME" refers to.
	Name string `json:"name"`
	// Members are the group's services in file order, ranges expanded.
	Members []GroupMember `json:"members"`
}

// GroupMember is one service of a virtual_server_group: an "IP PORT" line
// (or one address of an "A.B.C.D-E PORT" range), or a "fwmark N" line.
type GroupMember struct {
	// Pos is where the member's line starts.
	Pos Position `json:"pos"`
	// Address and Port are the service for an address line; zero for fwmark.
	Address netip.Addr `json:"address,omitzero"`
	// Port is the service port of an address line.
	Port uint16 `json:"port,omitempty"`
	// FWMark is the mark of a "fwmark N" line.
	FWMark uint32 `json:"fwmark,omitempty"`
}

// maxGroupRange bounds how many addresses one "A-B" range may expand to:
// each is a kernel service, and a typo ("1-65535" on an IPv6 group) should
// be an error rather than 65,535 services.
const maxGroupRange = 256

// maxGroupMembers bounds a whole group, for the same reason: a few lines
// of ranges must not turn into a table the data plane cannot hold.
const maxGroupMembers = 4096

// virtualServerGroup parses a virtual_server_group block. Its lines are
// "IP PORT", "IP-LAST PORT" (keepalived: the last part of the address
// counts from the first address's to LAST, both included: 10.0.0.1-10,
// 2001:db8::1-ff) and "fwmark N".
func (p *parser) virtualServerGroup(b *node, name string) VirtualServerGroup {
	g := VirtualServerGroup{Pos: p.pos(b.key.pos), Name: name}
	seen := map[GroupMember]Position{}
	add := func(m GroupMember) {
		key := m
		key.Pos = Position{}
		if first, dup := seen[key]; dup {
			p.warnAt(b.key.pos, "virtual_server_group %s: %s is listed twice (first at %s); the second is ignored", name, m.name(), where(first))
			return
		}
		seen[key] = m.Pos
		g.Members = append(g.Members, m)
	}
	for _, n := range b.children {
		p.tick()
		if n.hasBlock {
			p.errAt(n.key.pos, "virtual_server_group %s: %q takes no block", name, n.key.text)
			continue
		}
		pos := p.pos(n.key.pos)
		if n.key.text == "fwmark" {
			if len(n.args) == 0 {
				p.errAt(afterKey(n), "virtual_server_group fwmark needs a mark (1-%d)", uint32(math.MaxUint32))
				continue
			}
			v, ok := p.intTok("virtual_server_group fwmark", n.args[0], 1, math.MaxUint32)
			if !ok {
				continue
			}
			if len(n.args) > 1 {
				p.warnAt(n.args[1].pos, "virtual_server_group fwmark: extra %q ignored", n.args[1].text)
			}
			add(GroupMember{Pos: pos, FWMark: uint32(v)})
			continue
		}
		addrs, ok := p.groupAddresses(n.key)
		if !ok {
			continue
		}
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "virtual_server_group %s: %s needs a port (\"IP PORT\", \"IP-LAST PORT\" or \"fwmark N\")", name, n.key.text)
			continue
		}
		port, ok := p.portTok("virtual_server_group", n.args[0])
		if !ok {
			continue
		}
		if port == 0 {
			p.errAt(n.args[0].pos, "virtual_server_group %s: port 0 is not a service port", name)
			continue
		}
		if len(n.args) > 1 {
			p.warnAt(n.args[1].pos, "virtual_server_group %s: extra %q ignored", name, n.args[1].text)
		}
		if len(g.Members)+len(addrs) > maxGroupMembers {
			p.errAt(n.key.pos, "virtual_server_group %s has more than %d members", name, maxGroupMembers)
			break
		}
		for _, a := range addrs {
			add(GroupMember{Pos: pos, Address: a, Port: port})
		}
	}
	if len(g.Members) == 0 {
		p.warnAt(b.key.pos, "virtual_server_group %s has no members", name)
	}
	return g
}

// groupAddresses parses "IP" or keepalived's range "IP-LAST", where LAST
// replaces the address's last part (an IPv4 octet in decimal, an IPv6
// group in hex) and the range includes both ends.
func (p *parser) groupAddresses(t token) ([]netip.Addr, bool) {
	first, last, isRange := strings.Cut(t.text, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" {
		p.errAt(t.pos, "virtual_server_group: %q is not an IP address, an address range (A.B.C.D-E) or \"fwmark N\"", t.text)
		return nil, false
	}
	a = a.Unmap()
	if !isRange {
		return []netip.Addr{a}, true
	}
	b := a.AsSlice()
	var from, to uint64
	if a.Is4() {
		from = uint64(b[3])
		to, err = strconv.ParseUint(last, 10, 8)
	} else {
		from = uint64(b[14])<<8 | uint64(b[15])
		to, err = strconv.ParseUint(last, 16, 16)
	}
	if err != nil || to < from {
		p.errAt(t.pos, "virtual_server_group: range %q: the end must be a number not below the address's last part (%d)", t.text, from)
		return nil, false
	}
	if to-from+1 > maxGroupRange {
		p.errAt(t.pos, "virtual_server_group: range %q has %d addresses; at most %d per range", t.text, to-from+1, maxGroupRange)
		return nil, false
	}
	out := make([]netip.Addr, 0, to-from+1)
	for v := from; v <= to; v++ {
		if a.Is4() {
			b[3] = byte(v)
		} else {
			b[14], b[15] = byte(v>>8), byte(v)
		}
		x, _ := netip.AddrFromSlice(b)
		out = append(out, x)
	}
	return out, true
}

// name is the member as keepalived logs a service.
func (m GroupMember) name() string {
	if m.FWMark != 0 {
		return "FWM " + strconv.FormatUint(uint64(m.FWMark), 10)
	}
	return netip.AddrPortFrom(m.Address, m.Port).String()
}

// expandGroup turns a "virtual_server group NAME" block into one virtual
// server per member of the group, each with its own copy of the real
// servers and checkers: the data planes and the reload diff then see plain
// services, so a reload that adds or removes a member touches only it. The
// members share their checkers' identity (daemon.TargetOf uses Group and
// RealServer.GroupPort), so each real server is checked once per group, as
// in keepalived.
func (p *parser) expandGroup(vs VirtualServer, groups map[string]*VirtualServerGroup, at srcPos) []VirtualServer {
	g, ok := groups[vs.Group]
	if !ok {
		names := make([]string, 0, len(groups))
		for n := range groups {
			names = append(names, n)
		}
		slices.Sort(names)
		msg := "virtual_server group " + vs.Group + ": no virtual_server_group has that name"
		if s := suggest(vs.Group, names, nil); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		p.errAt(at, "%s", msg)
		return nil
	}
	out := make([]VirtualServer, 0, len(g.Members))
	for _, m := range g.Members {
		p.tick()
		c := vs
		c.Address, c.Port, c.FWMark = m.Address, m.Port, m.FWMark
		if m.FWMark != 0 {
			c.Protocol = "" // the mark selects the packets, whatever their protocol
		}
		if c.PersistenceGranularity == 0 { // not written: the member's full address
			c.PersistenceGranularity = 32
			if c.Address.Is6() {
				c.PersistenceGranularity = 128
			}
		}
		c.RealServers = make([]RealServer, len(vs.RealServers))
		for i, rs := range vs.RealServers {
			rs.Checkers = slices.Clone(rs.Checkers)
			rs.GroupPort = rs.Port
			if rs.Port == 0 && m.FWMark == 0 {
				rs.Port = m.Port // keepalived: a server without a port takes the service's
			}
			if c.Address.IsValid() && rs.Address.Is4() != c.Address.Is4() {
				p.errAt(at, "virtual_server group %s: real_server %s and member %s are different address families", vs.Group, rs.Address, m.name())
			}
			c.RealServers[i] = rs
		}
		out = append(out, c)
	}
	return out
}
