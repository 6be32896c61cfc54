package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// RouteType is a route's kind (ip route's TYPE).
type RouteType string

// Route types drlb programs.
const (
	RouteUnicast     RouteType = ""
	RouteBlackhole   RouteType = "blackhole"
	RouteUnreachable RouteType = "unreachable"
	RouteProhibit    RouteType = "prohibit"
)

// Route is one line of virtual_routes or static_routes, keepalived's
// subset of `ip route add`: "[TYPE] [src ADDR] [to] PREFIX [via|gw ADDR]
// [dev IF] [scope SCOPE] [table N] [metric N] [onlink]".
type Route struct {
	// Pos is where the line starts.
	Pos Position `json:"pos"`
	// Type is blackhole, unreachable or prohibit; empty for a unicast route.
	Type RouteType `json:"type,omitempty"`
	// Dst is the destination ("default" is 0.0.0.0/0).
	Dst netip.Prefix `json:"to"`
	// Src is the preferred source address (src).
	Src netip.Addr `json:"src,omitzero"`
	// Via is the gateway (via or gw).
	Via netip.Addr `json:"via,omitzero"`
	// Dev is the output interface.
	Dev string `json:"dev,omitempty"`
	// Scope is the route scope as written (see AddressScope).
	Scope string `json:"scope,omitempty"`
	// Table is the routing table (0: main).
	Table int `json:"table,omitempty"`
	// Metric is metric / preference / priority.
	Metric int `json:"metric,omitempty"`
	// OnLink is onlink: the gateway is on the link even without a matching prefix.
	OnLink bool `json:"onlink,omitempty"`
}

// Rule is one line of virtual_rules or static_rules, keepalived's subset
// of `ip rule add`: "[not] [from PREFIX|all] [to PREFIX|all] [fwmark
// N[/MASK]] [iif IF] [oif IF] [priority N] table|lookup N".
type Rule struct {
	// Pos is where the line starts.
	Pos Position `json:"pos"`
	// From and To select by source and destination; zero means all.
	From netip.Prefix `json:"from,omitzero"`
	To   netip.Prefix `json:"to,omitzero"`
	// FWMark and FWMask select by firewall mark (FWMask 0: the whole mark).
	FWMark uint32 `json:"fwmark,omitempty"`
	FWMask uint32 `json:"fwmask,omitempty"`
	// Iif and Oif select by interface.
	Iif string `json:"iif,omitempty"`
	Oif string `json:"oif,omitempty"`
	// Invert is not: the rule matches what the selectors do not.
	Invert bool `json:"not,omitempty"`
	// Priority orders rules (0: the kernel chooses).
	Priority int `json:"priority,omitempty"`
	// Table is the table to look up.
	Table int `json:"table"`
}

// tableTok reads a routing table: a number or main, local, default.
func (p *parser) tableTok(key string, t token) (int, bool) {
	switch t.text {
	case "main":
		return 254, true
	case "local":
		return 255, true
	case "default":
		return 253, true
	}
	return p.intTok(key+" table", t, 1, 1<<31-1)
}

// routes parses a virtual_routes or static_routes block.
func (p *parser) routes(b *node) []Route {
	return blockLines(p, b, p.route, func(r *Route, at Position) { r.Pos = at })
}

// blockLines parses each line of a routes or rules block b with parse
// (given the block's keyword and the line's tokens), stamping each parsed
// line with where it starts; nested blocks are errors.
func blockLines[T any](p *parser, b *node, parse func(string, []token) (T, bool), setPos func(*T, Position)) []T {
	if !p.needBlock(b) {
		return nil
	}
	var out []T
	for _, n := range b.children {
		if n.hasBlock {
			p.errAt(n.open, "a block is not allowed inside %s", b.key.text)
			continue
		}
		if r, ok := parse(b.key.text, append([]token{n.key}, n.args...)); ok {
			setPos(&r, p.pos(n.key.pos))
			out = append(out, r)
		}
	}
	return out
}

func (p *parser) route(key string, toks []token) (Route, bool) {
	var r Route
	dstSet, ok := false, true
	value := func(i int) (token, bool) {
		if i+1 >= len(toks) {
			p.errAt(toks[i].pos, "%s: %s needs a value", key, toks[i].text)
			ok = false
			return token{}, false
		}
		return toks[i+1], true
	}
	for i := 0; i < len(toks) && ok; i++ {
		t := toks[i]
		switch t.text {
		case "blackhole", "unreachable", "prohibit":
			r.Type = RouteType(t.text)
		case "src", "to", "via", "gw", "dev", "scope", "table", "metric", "preference", "priority":
			v, has := value(i)
			if !has {
				break
			}
			i++
			switch t.text {
			case "src":
				r.Src, ok = p.addrTok(key+" src", v)
			case "to":
				r.Dst, ok = p.routePrefix(key, v)
				dstSet = ok
			case "via", "gw":
				r.Via, ok = p.addrTok(key+" via", v)
			case "dev":
				r.Dev = v.text
			case "scope":
				if _, known := AddressScope(v.text); !known {
					p.errAt(v.pos, "%s: scope %q: must be global, site, link, host, nowhere or a number 0..255", key, v.text)
					ok = false
				}
				r.Scope = v.text
			case "table":
				r.Table, ok = p.tableTok(key, v)
			default:
				r.Metric, ok = p.intTok(key+" "+t.text, v, 0, 1<<31-1)
			}
		case "onlink":
			r.OnLink = true
		case "or", "proto", "protocol", "mtu", "advmss", "realms", "rtt", "rttvar", "reordering", "window", "cwnd",
			"ssthresh", "initcwnd", "initrwnd", "features", "quickack", "congctl", "pref", "fastopen_no_cookie",
			"nexthop", "encap", "expires", "no_track", "ttl-propagate", "hoplimit", "rto_min", "tos", "dsfield", "weight":
			p.errAt(t.pos, "%s: route option %s is not supported yet (drlb programs src, to, via, dev, scope, table, metric, onlink and blackhole/unreachable/prohibit)", key, t.text)
			ok = false
		default:
			if dstSet {
				p.errAt(t.pos, "%s: unexpected %q (the destination is already %s)", key, t.text, r.Dst)
				ok = false
				break
			}
			r.Dst, ok = p.routePrefix(key, t)
			dstSet = ok
		}
	}
	if ok && !dstSet {
		p.errAt(toks[0].pos, "%s: the line has no destination", key)
		ok = false
	}
	if ok && r.Src.IsValid() && r.Src.Is4() != r.Dst.Addr().Is4() || ok && r.Via.IsValid() && r.Via.Is4() != r.Dst.Addr().Is4() {
		p.errAt(toks[0].pos, "%s: the addresses of the line are not all of one family", key)
		ok = false
	}
	return r, ok
}

// routePrefix reads a destination: default, or ADDR[/LEN].
func (p *parser) routePrefix(key string, t token) (netip.Prefix, bool) {
	if t.text == "default" {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	pfx, ok := p.prefixTok(key, t)
	return pfx.Masked(), ok
}

// rules parses a virtual_rules or static_rules block.
func (p *parser) rules(b *node) []Rule {
	return blockLines(p, b, p.rule, func(r *Rule, at Position) { r.Pos = at })
}

func (p *parser) rule(key string, toks []token) (Rule, bool) {
	var r Rule
	ok := true
	tableSet := false
	for i := 0; i < len(toks) && ok; i++ {
		t := toks[i]
		switch t.text {
		case "not":
			r.Invert = true
			continue
		case "from", "to", "fwmark", "iif", "oif", "priority", "preference", "pref", "table", "lookup":
		default:
			p.errAt(t.pos, "%s: rule option %q is not supported yet (drlb programs not, from, to, fwmark, iif, oif, priority and table)", key, t.text)
			return r, false
		}
		if i+1 >= len(toks) {
			p.errAt(t.pos, "%s: %s needs a value", key, t.text)
			return r, false
		}
		v := toks[i+1]
		i++
		switch t.text {
		case "from", "to":
			var pfx netip.Prefix
			if v.text != "all" {
				pfx, ok = p.prefixTok(key+" "+t.text, v)
				pfx = pfx.Masked()
			}
			if t.text == "from" {
				r.From = pfx
			} else {
				r.To = pfx
			}
		case "fwmark":
			mark, mask, hasMask := strings.Cut(v.text, "/")
			m, err := strconv.ParseUint(mark, 0, 32)
			var k uint64
			if err == nil && hasMask {
				k, err = strconv.ParseUint(mask, 0, 32)
			}
			if err != nil {
				p.errAt(v.pos, "%s: fwmark %q: want N or N/MASK (32-bit numbers)", key, v.text)
				ok = false
			}
			r.FWMark, r.FWMask = uint32(m), uint32(k)
		case "iif":
			r.Iif = v.text
		case "oif":
			r.Oif = v.text
		case "table", "lookup":
			r.Table, ok = p.tableTok(key, v)
			tableSet = ok
		default:
			r.Priority, ok = p.intTok(key+" priority", v, 0, 1<<32-1)
		}
	}
	if ok && !tableSet {
		p.errAt(toks[0].pos, "%s: the rule has no table", key)
		ok = false
	}
	if ok && r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is4() != r.To.Addr().Is4() {
		p.errAt(toks[0].pos, "%s: from and to are not of one family", key)
		ok = false
	}
	return r, ok
}
