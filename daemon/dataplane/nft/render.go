package nft

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/maglev"
)

// rule is one rule of a chain we own; comment ends with a hash of the rule,
// so comparing comments compares rules.
type rule struct {
	text    string
	comment string
}

// chainSpec is a chain we own with its rules in order.
type chainSpec struct {
	name   string
	device string // non-empty for the ingress base chain of a device
	rules  []rule
}

// mapSpec is a map we own: a dynamic one (connection or persistence
// table, timeout > 0) kept across applies, or a static verdict map whose
// name ends with a hash of its elements, so a changed map gets a new name
// and an unchanged one is never rewritten.
type mapSpec struct {
	name     string
	typ      string // for "type"
	typeOf   string // for "typeof"
	timeout  time.Duration
	size     uint64
	elements [][2]string // key, value
	mutable  bool        // elements are reconciled in place (the dispatch map)
}

// contentChain names a chain by prefix and a hash of its rules, so an
// existing chain of that name already holds exactly these rules: Apply
// never rewrites a chain, it adds the new one and deletes the old.
func contentChain(prefix string, rules []rule) chainSpec {
	parts := make([]string, 0, 2*len(rules))
	for _, r := range rules {
		parts = append(parts, r.text, r.comment)
	}
	return chainSpec{name: prefix + "_" + hashText(parts...), rules: rules}
}

// ruleset is everything the nft back end wants in its table.
type ruleset struct {
	chains []chainSpec // creation order: real chains, service chains, base chains
	maps   []mapSpec
}

// verdictMap names a static map (verdict or data) by prefix and content.
func verdictMap(prefix, typ, typeOf string, elements [][2]string) mapSpec {
	parts := []string{typ, typeOf}
	for _, e := range elements {
		parts = append(parts, e[0], e[1])
	}
	return mapSpec{name: prefix + "_" + hashText(parts...), typ: typ, typeOf: typeOf, elements: elements}
}

// settings are the knobs of rendering taken from dataplane.Options.
type settings struct {
	connTimeout time.Duration
	connSize    uint64
	seed        uint32
}

func hashText(parts ...string) string {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%08x", h.Sum32())
}

func mkRule(chain, text, desc string) rule {
	c := "h=" + hashText(chain, text, desc)
	if desc != "" {
		c = desc + " " + c
	}
	return rule{text: text, comment: c}
}

// ident turns an address, device or port into characters nft accepts in a name.
func ident(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func serviceID(s dataplane.Service) string {
	return fmt.Sprintf("%s_%s_%d", strings.ToLower(s.Protocol.String()), ident(s.VIP.String()), s.Port)
}

func realID(svcID string, r dataplane.Real) string {
	return fmt.Sprintf("%s_%s_%d", svcID, ident(r.Addr.String()), r.Port)
}

func baseChainName(device string) string { return "ingress_" + ident(device) }

// schedulerClass says how the nft back end chooses a real server.
type schedulerClass int

const (
	classHash       schedulerClass = iota // consistent hash (mh, sh, and every scheduler nft cannot express)
	classRoundRobin                       // rr, wrr: numgen on the first packet of a connection
)

func classOf(sched string) schedulerClass {
	switch sched {
	case "rr", "wrr":
		return classRoundRobin
	}
	return classHash
}

// maskExpr is the persistence key: the source address under the granularity mask.
func maskExpr(bits int) string {
	if bits >= 32 {
		return "ip saddr"
	}
	return fmt.Sprintf("ip saddr & %s", net.IP(net.CIDRMask(bits, 32)))
}

// serviceDesc is the comment of a service chain's last rule; Observe reads it back.
func serviceDesc(s dataplane.Service) string {
	return fmt.Sprintf("svc %s %s sched=%s method=%s persist=%d bits=%d dev=%s", s.Protocol, netip.AddrPortFrom(s.VIP, s.Port),
		s.Scheduler, s.Method, int64(s.PersistenceTimeout/time.Second), s.PersistenceBits, s.Interface)
}

func realDesc(r dataplane.Real) string {
	return fmt.Sprintf("real %s w=%d", r.AddrPort(), r.Weight)
}

// smoothWRR returns a weighted round-robin sequence (nginx's smooth
// weighted round robin) with one entry per unit of weight, so consecutive
// connections interleave servers. Weights are reduced by their gcd and
// scaled down to at most maxSlots entries in total.
func smoothWRR(weights []uint32, maxSlots uint64) []int {
	var g, total uint64
	for _, w := range weights {
		g = gcd(g, uint64(w))
	}
	if g == 0 {
		return nil
	}
	ws := make([]uint64, len(weights))
	for i, w := range weights {
		ws[i] = uint64(w) / g
		total += ws[i]
	}
	if total > maxSlots {
		scaled := uint64(0)
		for i, w := range ws {
			if w > 0 {
				ws[i] = max(1, w*maxSlots/total)
			}
			scaled += ws[i]
		}
		total = scaled
	}
	current := make([]int64, len(ws))
	seq := make([]int, 0, total)
	for range total {
		best := -1
		for i, w := range ws {
			if w == 0 {
				continue
			}
			current[i] += int64(w)
			if best < 0 || current[i] > current[best] {
				best = i
			}
		}
		current[best] -= int64(total)
		seq = append(seq, best)
	}
	return seq
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// maxRRSlots bounds the numgen map of one service.
const maxRRSlots = 1024

// markOf is the value a real server has in a connection map: its IPv4
// address as a 32-bit number, stable while the server stays.
func markOf(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("0x%02x%02x%02x%02x", b[0], b[1], b[2], b[3])
}

// render turns a validated, canonical table into the ruleset.
//
// Per service, one chain (evaluated top to bottom; the packet mark is the
// register that carries the chosen real server, as its IPv4 address):
//
//  1. mark ← connection map[client addr . port] (persistence map[masked
//     client addr] for persistent services): the server this flow already has;
//  2. if that server is gone (not in the service's address map), mark ←
//     consistent hash: the flow moves, the same way on every packet;
//  3. if there is no entry (mark 0), mark ← scheduler choice (numgen over a
//     smooth weighted round-robin map for rr/wrr, else the Maglev map);
//  4. record the choice, or refresh the entry's timeout;
//  5. one counting rule per real server (its packet counter, and the
//     description Observe reads back);
//  6. fwd ip to address map[mark] device <interface>;
//  7. drop: no real server can take the packet.
//
// Forwarded packets leave with the mark set to the real server's address;
// netdev ingress runs before anything else could have used the mark.
func render(t dataplane.Table, cfg settings) (ruleset, error) {
	return renderMemo(t, cfg, nil, nil)
}

// serviceParts is the rendering of one service.
type serviceParts struct {
	chain chainSpec
	maps  []mapSpec
}

// renderMemo is render reusing the parts of services that are unchanged
// since the previous call (prev, keyed by the service's fingerprint) and
// recording this call's parts in next; either may be nil.
func renderMemo(t dataplane.Table, cfg settings, prev, next map[string]serviceParts) (ruleset, error) {
	var rs ruleset
	dispatch := map[string][][2]string{} // device -> vmap entries
	var devices []string
	for _, s := range t.Services {
		fp := fmt.Sprintf("%+v", s)
		parts, ok := prev[fp]
		if !ok {
			var err error
			if parts, err = renderService(s, cfg); err != nil {
				return ruleset{}, err
			}
		}
		if next != nil {
			next[fp] = parts
		}
		rs.chains = append(rs.chains, parts.chain)
		rs.maps = append(rs.maps, parts.maps...)
		if _, ok := dispatch[s.Interface]; !ok {
			devices = append(devices, s.Interface)
		}
		dispatch[s.Interface] = append(dispatch[s.Interface], [2]string{
			fmt.Sprintf("%s . %s . %d", s.VIP, strings.ToLower(s.Protocol.String()), s.Port), "goto " + parts.chain.name})
	}
	for _, dev := range devices {
		// The dispatch map keeps its name and is edited element by element, so
		// a change to one service does not rewrite the base chain.
		dm := mapSpec{name: "d_" + ident(dev), typ: "ipv4_addr . inet_proto . inet_service : verdict", elements: dispatch[dev], mutable: true}
		rs.maps = append(rs.maps, dm)
		base := contentChain(baseChainName(dev), []rule{
			// Ingress also sees unicast frames flooded to other hosts; forwarding
			// those would duplicate the master's work.
			mkRule("", "meta pkttype != host return", "guard"),
			mkRule("", "ip daddr . meta l4proto . th dport vmap @"+dm.name, "dispatch"),
		})
		base.device = dev
		rs.chains = append(rs.chains, base)
	}
	return rs, nil
}

// renderService renders one service's chain and maps.
func renderService(s dataplane.Service, cfg settings) (serviceParts, error) {
	var rs serviceParts
	{
		sid := serviceID(s)
		var conn mapSpec
		var key string
		if s.PersistenceTimeout > 0 {
			key = maskExpr(s.PersistenceBits)
			conn = mapSpec{name: fmt.Sprintf("p_%s_%ds_%d", sid, int64(s.PersistenceTimeout/time.Second), s.PersistenceBits),
				typ: "ipv4_addr : mark", timeout: s.PersistenceTimeout, size: cfg.connSize}
		} else {
			key = "ip saddr . th sport"
			conn = mapSpec{name: "c_" + sid, typ: "ipv4_addr . inet_service : mark", timeout: cfg.connTimeout, size: cfg.connSize}
		}
		rs.maps = append(rs.maps, conn)

		var addrs [][2]string
		var marks []string
		var weights []uint32
		var ids []maglev.Backend
		var counters []rule
		for _, r := range s.Reals {
			m := markOf(r.Addr)
			addrs = append(addrs, [2]string{m, r.Addr.String()})
			marks = append(marks, m)
			weights = append(weights, r.Weight)
			ids = append(ids, maglev.Backend{ID: r.AddrPort().String(), Weight: r.Weight})
			counters = append(counters, mkRule("", fmt.Sprintf("meta mark %s counter", m), realDesc(r)))
		}
		markByID := map[string]string{}
		for i, b := range ids {
			markByID[b.ID] = marks[i]
		}

		hkey := "ip saddr . th sport"
		if s.PersistenceTimeout > 0 {
			hkey = key
		} else if s.Scheduler == "sh" {
			hkey = "ip saddr"
		}
		var hashRule string // "jhash … map @h…", or "" when no server is weighted
		active := 0
		for _, w := range weights {
			if w > 0 {
				active++
			}
		}
		if active > 0 {
			size := maglev.SizeFor(active)
			if classOf(s.Scheduler) == classRoundRobin {
				// Only flows whose server is gone use it: consistency matters, not balance.
				size = maglev.NextPrime(active)
			}
			table, err := maglev.Build(ids, size)
			if err != nil {
				return serviceParts{}, fmt.Errorf("nft: service %s: build hash table: %w", s.Key(), err)
			}
			entries := make([][2]string, len(table))
			for i, id := range table {
				entries[i] = [2]string{fmt.Sprint(i), markByID[id]}
			}
			hm := verdictMap("h_"+sid, "", fmt.Sprintf("numgen inc mod %d : meta mark", size), entries)
			rs.maps = append(rs.maps, hm)
			hashRule = fmt.Sprintf("jhash %s mod %d seed 0x%x map @%s", hkey, size, cfg.seed, hm.name)
		}

		var rules []rule
		if len(addrs) > 0 {
			am := verdictMap("a_"+sid, "mark : ipv4_addr", "", addrs)
			rs.maps = append(rs.maps, am)
			rules = append(rules, mkRule("", fmt.Sprintf("meta mark set %s map @%s", key, conn.name), ""))
			if hashRule != "" {
				rules = append(rules, mkRule("", fmt.Sprintf("meta mark != 0x0 meta mark != @%s meta mark set %s", am.name, hashRule), ""))
			}
			choice := hashRule
			if classOf(s.Scheduler) == classRoundRobin {
				choice = ""
				if seq := smoothWRR(weights, maxRRSlots); len(seq) > 0 {
					entries := make([][2]string, len(seq))
					for i, idx := range seq {
						entries[i] = [2]string{fmt.Sprint(i), marks[idx]}
					}
					rm := verdictMap("r_"+sid, "", fmt.Sprintf("numgen inc mod %d : meta mark", len(seq)), entries)
					rs.maps = append(rs.maps, rm)
					choice = fmt.Sprintf("numgen inc mod %d map @%s", len(seq), rm.name)
				}
			}
			if choice != "" {
				rules = append(rules, mkRule("", "meta mark 0x0 meta mark set "+choice, ""))
			}
			rules = append(rules, mkRule("", fmt.Sprintf("update @%s { %s : meta mark }", conn.name, key), ""))
			rules = append(rules, counters...)
			rules = append(rules, mkRule("", fmt.Sprintf("fwd ip to meta mark map @%s device %q", am.name, s.Interface), ""))
		}
		// Reached only when no real server can take the packet.
		rules = append(rules, mkRule("", "drop", serviceDesc(s)))
		rs.chain = contentChain("svc_"+sid, rules)
	}
	return rs, nil
}
