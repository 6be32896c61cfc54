package nft

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
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

// mapSpec is a map we own. Dynamic maps (connection and persistence
// tables, timeout > 0) are created once and never rewritten; the others
// (dispatch, slots, reals) hold the entries of every service, keyed by the
// service first, and are reconciled element by element.
//
// Why a few shared maps, looked up from the base chain only: the kernel
// finds a map by name with a linear walk of the table's maps, and checks
// every new element against every rule that reads data from its map. With
// maps per service (3,500 for 1,000 services) a transaction spent its time
// comparing map names; with shared maps read by every service chain it
// spent it checking 100,000 elements against 1,000 rules each.
type mapSpec struct {
	name    string
	typ     string // for "type"
	timeout time.Duration
	size    uint64
}

// Names and keys of the shared maps.
const (
	// slotsMap maps service . slot to the chosen real server's mark: the
	// Maglev table of hashing services, the weighted round-robin sequence of
	// rr/wrr services. Slots count from 1.
	slotsMap = "slots"
	// realsMap maps service . mark to the real server's address; its keys are
	// also the set of servers a service still has.
	realsMap = "reals"
	// aliveMap maps service . mark of a persistent service's real servers to
	// "return": its schedule chain keeps a client's affinity only while the
	// server is there. A vmap, not a set lookup of the reals map: Debian
	// 12's kernel (6.1) refuses a map used as a set with EINVAL.
	aliveMap = "alive"
	// firstRealMark is the lowest mark of a real server (1.0.0.0): marks
	// below it are slot numbers chosen by a service chain.
	firstRealMark = "0x01000000"
)

// family is what differs between IPv4 and IPv6 services: the payload
// keyword, the address type of maps, the names of the shared maps and
// chains (each family has its own, since a map's key type is fixed), and
// the width of a full persistence mask. IPv4 keeps the names it always
// had, so an IPv4 table renders exactly as before IPv6 existed.
type family struct {
	ip       string // "ip" or "ip6": payload keyword, and fwd's family
	addrType string // "ipv4_addr" or "ipv6_addr"
	suffix   string // "" or "6", appended to shared map and chain prefixes
	bits     int    // 32 or 128
}

var (
	ipv4 = family{ip: "ip", addrType: "ipv4_addr", bits: 32}
	ipv6 = family{ip: "ip6", addrType: "ipv6_addr", suffix: "6", bits: 128}
)

// familyOf returns the family of a (VIP) address.
func familyOf(a netip.Addr) family {
	if a.Unmap().Is4() {
		return ipv4
	}
	return ipv6
}

// serviceKey is the packet's service (VIP . protocol . port), the first part
// of every key of the shared maps.
func (f family) serviceKey() string {
	return f.ip + " daddr . meta l4proto . th dport"
}

// connKey keys the per-protocol IPv4 connection maps (16 bytes). nft 1.0.6
// cannot update a dynamic map with a five-part key, hence maps per protocol.
const connKey4 = "ip daddr . th dport . ip saddr . th sport"

// connHash6 is the IPv6 connection maps' stand-in for the two addresses: nft
// 1.0.6 cannot update a dynamic map whose key is longer than 16 bytes (it
// aborts: "dreg < ctx->reg_low"), and an IPv6 four-tuple has 36. The key is
// `th dport . th sport . connHash6`: 12 bytes, exact ports, a 32-bit hash of
// the addresses. Two live flows share a key only with the same ports and a
// hash collision (about 0.004 pairs among a million flows); the "gone"
// rule then reschedules one of them.
func connHash6(seed uint32) string {
	return fmt.Sprintf("jhash ip6 daddr . ip6 saddr mod 4294967295 seed 0x%x", seed)
}

// connMapType is the type of the family's connection maps.
func (f family) connMapType() string {
	if f == ipv6 {
		return "inet_service . inet_service . mark : mark"
	}
	return "ipv4_addr . inet_service . ipv4_addr . inet_service : mark"
}

// connLookup is the rules of a connection-lookup chain: mark ← the flow's
// server from map m, or 0. A flow found goes on to record, the chain that
// refreshes its timeout (update keeps the element's server), so an
// established flow walks one shard dispatch, not two. For IPv6 the hash
// goes through the mark first, since a map lookup will not take jhash's
// plain integer for a mark.
func (f family) connLookup(m, record string, seed uint32) []rule {
	if f == ipv6 {
		return []rule{
			mkRule("", "meta mark set "+connHash6(seed), ""),
			mkRule("", fmt.Sprintf("meta mark set th dport . th sport . meta mark map @%s goto %s", m, record), ""),
			mkRule("", "meta mark set 0x0", ""),
		}
	}
	return []rule{mkRule("", fmt.Sprintf("meta mark set %s map @%s goto %s", connKey4, m, record), "")}
}

// connRecord is the rule that records (or refreshes) the flow in map m.
func (f family) connRecord(m string, seed uint32) rule {
	if f == ipv6 {
		return mkRule("", fmt.Sprintf("update @%s { th dport . th sport . %s : meta mark }", m, connHash6(seed)), "")
	}
	return mkRule("", fmt.Sprintf("update @%s { %s : meta mark }", m, connKey4), "")
}

func (f family) slots() string { return slotsMap + f.suffix }
func (f family) reals() string { return realsMap + f.suffix }
func (f family) alive() string { return aliveMap + f.suffix }

// protocols are the transport protocols a service can have; each has its
// own (sharded) connection map.
var protocols = [...]dataplane.Protocol{dataplane.TCP, dataplane.UDP, dataplane.SCTP}

// connMap names shard k of protocol p's connection map of the family.
func (f family) connMap(p dataplane.Protocol, k int) string {
	return fmt.Sprintf("conn%s_%s_%d", f.suffix, strings.ToLower(p.String()), k)
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
	chains []chainSpec // creation order: service chains, connection-shard chains, flow chains, base chains
	maps   []mapSpec
	// services are the parts of each service, in table order.
	services []*serviceParts
	// empty says the table should not exist at all.
	empty bool
}

// settings are the knobs of rendering taken from dataplane.Options.
type settings struct {
	connTimeout time.Duration
	connSize    uint64
	connShards  int
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

// maskExpr is the persistence key: the source address under the
// granularity mask (a dotted netmask for IPv4, an IPv6 mask such as
// ffff:ffff:ffff:ffff:: for a /64).
func (f family) maskExpr(bits int) string {
	if bits >= f.bits {
		return f.ip + " saddr"
	}
	mask, _ := netip.AddrFromSlice(net.CIDRMask(bits, f.bits))
	return fmt.Sprintf("%s saddr & %s", f.ip, mask)
}

// serviceDesc is the comment of a service chain's last rule; Observe reads it back.
func serviceDesc(s dataplane.Service) string {
	d := fmt.Sprintf("svc %s %s sched=%s method=%s persist=%d bits=%d dev=%s", s.Protocol, netip.AddrPortFrom(s.VIP, s.Port),
		s.Scheduler, s.Method, int64(s.PersistenceTimeout/time.Second), s.PersistenceBits, s.Interface)
	if s.Flags != 0 {
		d += fmt.Sprintf(" flags=0x%x", uint32(s.Flags))
	}
	return d
}

// realsDesc describes real servers in comments of at most maxDescLen
// characters ("real 10.0.0.1:80 w=1 10.0.0.2:80 w=3"); Observe reads them
// back. A few comments per service instead of a rule per real server keep
// a large table quick to load.
func realsDesc(reals []dataplane.Real) []string {
	var out []string
	var b strings.Builder
	for _, r := range reals {
		item := fmt.Sprintf(" %s w=%d", r.AddrPort(), r.Weight)
		if b.Len() > 0 && b.Len()+len(item) > maxDescLen {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString("real")
		}
		b.WriteString(item)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// maxDescLen bounds a description so that it and the rule hash fit nft's
// 128-character comments.
const maxDescLen = 110

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

// realMarks gives every real server of a service its mark (see
// markNumber): the IPv4 address, or for IPv6 (128 bits do not fit a mark)
// a hash of the address at or above firstRealMark, moved to the next free
// value in the rare case two servers of one service collide (servers in
// address order, so every balancer assigns the same marks). Marks only
// need to be unique within a service: every map keys them by service.
func realMarks(reals []dataplane.Real) map[netip.Addr]uint32 {
	out := make(map[netip.Addr]uint32, len(reals))
	used := make(map[uint32]bool, len(reals))
	addrs := make([]netip.Addr, 0, len(reals))
	for _, r := range reals {
		addrs = append(addrs, r.Addr.Unmap())
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range addrs {
		if _, done := out[a]; done {
			continue
		}
		m := markNumber(a)
		for a.Is6() && used[m] {
			m++
			if m < firstRealMarkNumber {
				m = firstRealMarkNumber
			}
		}
		used[m] = true
		out[a] = m
	}
	return out
}

// firstRealMarkNumber is firstRealMark as a number.
const firstRealMarkNumber = 0x01000000

// render turns a validated, canonical table into the ruleset.
//
// The base chain of each device (the ingress hook) only sorts packets: it
// returns unless the frame is addressed to this host (ingress also sees
// unicast frames flooded to other hosts), and sends each family to its
// flow chain. The flow chain of a device and family does everything that
// reads the shared maps; the chains of a service only compute what depends
// on the service. The packet mark carries the chosen real server, as its
// IPv4 address (an IPv6 server: a hash of its address, see realMarks).
// Each family has its own flow chain, on its own maps (see family). An
// established flow walks steps 1-3 only:
//
//  1. mark ← connection map[VIP . port . client addr . port] (IPv6: [port .
//     client port . hash of both addresses], see connHash6; in the shard
//     chosen by the protocol and a hash of the client address and port, one
//     anonymous vmap), and a flow found refreshes its timeout there;
//  2. jump to the service's chain (dispatch map): the real servers'
//     descriptions and the service's own (comments of counters, read back
//     by Observe; the last counts every packet of the service); persistent
//     services refresh the client's affinity to the flow's server;
//  3. fwd ip (ip6) to reals map[service . mark]: done, unless the flow is new (no
//     real server has mark 0) or its server is gone;
//  4. mark ← 0: a flow whose server is gone is scheduled again. nft's
//     update keeps an existing element's value and the packet path cannot
//     delete from a map, so Apply deletes the entries of the servers it
//     removes (see forgetGoneReals) and the flow's next packet records its
//     new server; until then (the moment between the commit and that
//     delete) a packet is scheduled here;
//  5. jump to the service's schedule chain (schedule map): persistent
//     services look the client up in their affinity map (mark ← server,
//     unless that server is gone); then, if mark is still 0, mark ← slot: a
//     seeded jhash of the client address and port (mh, sh, and every
//     scheduler nft cannot express), or numgen (rr, wrr), counted from 1;
//  6. a slot becomes a server: mark ← slots map[service . slot];
//  7. persistent services record the client's server (after-dispatch map);
//  8. record the flow in the connection map;
//  9. fwd ip (ip6) to reals map[service . mark] device <interface>.
//
// A service without a real server that takes new flows drops, in its
// schedule chain, a flow that found no server (step 5).
//
// Measured with 64-byte UDP through the VIP, the earlier single chain
// (three rules per protocol for each connection step, every packet through
// dispatch, slots, persistence and record, IPv4 packets past every IPv6
// rule) added about 1.5 times as much sender CPU per packet over a lone
// fwd rule as this one (README, Performance).
//
// The Maglev table depends only on the servers and weights, so every
// balancer hashes a flow to the same server: a connection survives a
// director failover. Forwarded packets leave with the mark set to the real
// server's mark; netdev ingress runs before anything else could have
// used the mark.
func render(t dataplane.Table, cfg settings) (ruleset, error) {
	return renderMemo(t, cfg, nil, nil)
}

// serviceParts is the rendering of one service.
type serviceParts struct {
	// id is the service as the shared maps' keys start ("VIP . proto . port").
	id string
	// fingerprint identifies the service's full content (see fingerprint).
	fingerprint string
	// chains are the service's chain and, for persistent services, the chain
	// that records the client's server.
	chains []chainSpec
	// maps are the service's own (persistence) maps.
	maps []mapSpec
	// elements are the service's entries in the shared maps, by map name.
	elements map[string][][2]string
}

// renderMemo is render reusing the parts of services that are unchanged
// since the previous call (prev, keyed by the service's fingerprint) and
// recording this call's parts in next; either may be nil.
func renderMemo(t dataplane.Table, cfg settings, prev, next map[string]*serviceParts) (ruleset, error) {
	rs := ruleset{empty: len(t.Services) == 0}
	if rs.empty {
		return rs, nil
	}
	var devices []string
	devFams := map[string]map[family]bool{}
	fams := map[family]bool{}
	fwdDev := map[string]string{} // hook device -> device fwd sends out of
	for _, s := range t.Services {
		fp := fingerprint(s)
		parts, ok := prev[fp]
		if !ok {
			var err error
			if parts, err = renderService(s, cfg); err != nil {
				return ruleset{}, err
			}
			parts.fingerprint = fp
		}
		if next != nil {
			next[fp] = parts
		}
		rs.services = append(rs.services, parts)
		rs.chains = append(rs.chains, parts.chains...)
		rs.maps = append(rs.maps, parts.maps...)
		f := familyOf(s.VIP)
		fams[f] = true
		if devFams[s.Interface] == nil {
			devFams[s.Interface] = map[family]bool{}
			devices = append(devices, s.Interface)
			fwdDev[s.Interface] = s.Interface
			if s.ForwardInterface != "" {
				fwdDev[s.Interface] = s.ForwardInterface
			}
		}
		devFams[s.Interface][f] = true
	}
	flows := map[family]func(dev, fwd string) chainSpec{}
	for _, f := range []family{ipv4, ipv6} {
		if fams[f] {
			flows[f] = renderFamily(&rs, f, cfg)
		}
	}
	var bases []chainSpec
	for _, dev := range devices {
		rules := []rule{
			// Ingress also sees unicast frames flooded to other hosts; forwarding
			// those would duplicate the master's work.
			mkRule("", "meta pkttype != host return", "guard"),
		}
		// Each family's rules live in a chain of their own, so a packet
		// walks only its family's rules.
		for _, f := range []family{ipv4, ipv6} {
			if devFams[dev][f] {
				flow := flows[f](dev, fwdDev[dev])
				rs.chains = append(rs.chains, flow)
				rules = append(rules, mkRule("", fmt.Sprintf("meta protocol %s goto %s", f.ip, flow.name), f.ip))
			}
		}
		base := contentChain(baseChainName(dev), rules)
		base.device = dev
		bases = append(bases, base)
	}
	rs.chains = append(rs.chains, bases...)
	return rs, nil
}

// renderFamily adds the connection maps, shared maps and their chains of
// family f to rs, and returns the function that renders a device's flow
// chain for f (and adds that device's dispatch maps); fwd is the device it
// forwards out of.
//
// The flow chain puts an established flow on its way after as few
// lookups as its behaviour allows (connection map, its refresh, the
// service's counters, the reals map); scheduling, persistence and
// recording are walked only by a flow that has no live server yet.
func renderFamily(rs *ruleset, f family, cfg settings) func(dev, fwd string) chainSpec {
	// Connection maps, sharded by a hash of the client address and port:
	// the kernel restarts its walk of a map for every netlink message of a
	// dump, so listing one map of n entries costs n²/400 steps (2.5 s for
	// 100,000), and Observe lists them all. One anonymous vmap keyed by
	// protocol . shard picks the chain, for every protocol at once.
	var lookup, record []string
	for _, p := range protocols {
		proto := strings.ToLower(p.String())
		for k := range cfg.connShards {
			m := f.connMap(p, k)
			rs.maps = append(rs.maps, mapSpec{name: m, typ: f.connMapType(), timeout: cfg.connTimeout, size: cfg.connSize})
			cu := contentChain(fmt.Sprintf("cu%s_%s_%d", f.suffix, proto, k), []rule{f.connRecord(m, cfg.seed)})
			cl := contentChain(fmt.Sprintf("cl%s_%s_%d", f.suffix, proto, k), f.connLookup(m, cu.name, cfg.seed))
			rs.chains = append(rs.chains, cl, cu)
			lookup = append(lookup, fmt.Sprintf("%s . %d : jump %s", proto, k, cl.name))
			record = append(record, fmt.Sprintf("%s . %d : jump %s", proto, k, cu.name))
		}
	}
	shard := fmt.Sprintf("meta l4proto . jhash %s saddr . th sport mod %d seed 0x%x", f.ip, cfg.connShards, cfg.seed)
	rs.maps = append(rs.maps,
		mapSpec{name: f.slots(), typ: f.addrType + " . inet_proto . inet_service . mark : mark"},
		mapSpec{name: f.reals(), typ: f.addrType + " . inet_proto . inet_service . mark : " + f.addrType},
		mapSpec{name: f.alive(), typ: f.addrType + " . inet_proto . inet_service . mark : verdict"})
	key := f.serviceKey()
	return func(dev, fwd string) chainSpec {
		// The dispatch maps keep their names and are edited element by
		// element, so a change to one service does not rewrite the flow chain.
		dm, sm, am := f.dispatchMap(dev), f.scheduleMap(dev), f.afterMap(dev)
		rs.maps = append(rs.maps,
			mapSpec{name: dm, typ: f.addrType + " . inet_proto . inet_service : verdict"},
			mapSpec{name: sm, typ: f.addrType + " . inet_proto . inet_service : verdict"},
			mapSpec{name: am, typ: f.addrType + " . inet_proto . inet_service : verdict"})
		fwdRule := fmt.Sprintf("fwd %s to %s . meta mark map @%s device %q", f.ip, key, f.reals(), fwd)
		rules := []rule{
			mkRule("", fmt.Sprintf("%s vmap { %s }", shard, strings.Join(lookup, " , ")), "connection"),
			mkRule("", fmt.Sprintf("%s vmap @%s", key, dm), "dispatch"),
			// No real server has mark 0, so a new flow misses the map here.
			mkRule("", fwdRule, "established"),
			// A flow whose server is gone is scheduled again (Apply
			// deletes its stale entry, see render).
			mkRule("", "meta mark != 0x0 meta mark set 0x0", "gone"),
			mkRule("", fmt.Sprintf("%s vmap @%s", key, sm), "schedule"),
			mkRule("", fmt.Sprintf("meta mark != 0x0 meta mark < %s meta mark set %s . meta mark map @%s", firstRealMark, key, f.slots()), "slot"),
			mkRule("", fmt.Sprintf("%s vmap @%s", key, am), "persistence"),
			mkRule("", fmt.Sprintf("meta mark != 0x0 %s vmap { %s }", shard, strings.Join(record, " , ")), "record"),
			mkRule("", fwdRule, "forward"),
		}
		return contentChain("flow"+f.suffix+"_"+ident(dev), rules)
	}
}

// fingerprint identifies everything about a canonical service that its
// rendering depends on (fmt's %+v took 8 ms for 1,000 services).
func fingerprint(s dataplane.Service) string {
	b := make([]byte, 0, 64+24*len(s.Reals))
	b = s.VIP.AppendTo(b)
	for _, n := range []uint64{uint64(s.FWMark), uint64(s.Port), uint64(s.Protocol), uint64(s.Method),
		uint64(s.PersistenceTimeout), uint64(s.PersistenceBits), uint64(s.HashTableSize), uint64(s.Flags)} {
		b = append(b, ' ')
		b = strconv.AppendUint(b, n, 10)
	}
	b = append(b, ' ')
	b = append(b, s.Scheduler...)
	b = append(b, ' ')
	b = append(b, s.Interface...)
	for _, r := range s.Reals {
		b = append(b, ' ')
		b = r.Addr.AppendTo(b)
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(r.Port), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(r.Weight), 10)
	}
	return string(b)
}

// persistenceMap names a persistent service's affinity map after the
// service, its timeout and its granularity (a change makes a new map).
func persistenceMap(s dataplane.Service) string {
	return fmt.Sprintf("p_%s_%ds_%d", serviceID(s), int64(s.PersistenceTimeout/time.Second), s.PersistenceBits)
}

// dispatchMap names a device's map from service to service chain ("d_eth1", "d6_eth1").
func (f family) dispatchMap(device string) string { return "d" + f.suffix + "_" + ident(device) }

// scheduleMap names a device's map from service to the chain that chooses
// a new flow's server ("s_eth1", "s6_eth1").
func (f family) scheduleMap(device string) string { return "s" + f.suffix + "_" + ident(device) }

// afterMap names a device's map from persistent service to its recording chain.
func (f family) afterMap(device string) string { return "a" + f.suffix + "_" + ident(device) }

// elementID is a service as the shared maps' keys start.
func elementID(s dataplane.Service) string {
	return fmt.Sprintf("%s . %s . %d", s.VIP, strings.ToLower(s.Protocol.String()), s.Port)
}

// renderService renders one service's chains, maps and shared-map entries.
func renderService(s dataplane.Service, cfg settings) (*serviceParts, error) {
	sid := serviceID(s)
	id := elementID(s)
	f := familyOf(s.VIP)
	markNums := realMarks(s.Reals)
	parts := &serviceParts{id: id, elements: map[string][][2]string{}}

	var reals, slots [][2]string
	var marks []string
	var weights []uint32
	var ids []maglev.Backend
	for _, r := range s.Reals {
		m := fmt.Sprintf("0x%08x", markNums[r.Addr.Unmap()])
		reals = append(reals, [2]string{id + " . " + m, r.Addr.String()})
		marks = append(marks, m)
		weights = append(weights, r.Weight)
		ids = append(ids, maglev.Backend{ID: r.AddrPort().String(), Weight: r.Weight})
	}
	var descs []rule
	for _, d := range realsDesc(s.Reals) {
		descs = append(descs, mkRule("", "counter", d))
	}
	active := 0
	for _, w := range weights {
		if w > 0 {
			active++
		}
	}
	var slotExpr string // "" when no server takes new connections
	switch {
	case active == 0:
	case classOf(s.Scheduler) == classRoundRobin:
		seq := smoothWRR(weights, maxRRSlots)
		for i, idx := range seq {
			slots = append(slots, [2]string{fmt.Sprintf("%s . %d", id, i+1), marks[idx]})
		}
		slotExpr = fmt.Sprintf("numgen inc mod %d offset 1", len(seq))
	default:
		hkey := f.ip + " saddr . th sport"
		if s.PersistenceTimeout > 0 {
			hkey = f.maskExpr(s.PersistenceBits)
		} else if s.Scheduler == "sh" && s.Flags&dataplane.HashPort == 0 {
			// IPVS's sh hashes the client's address, and its port too
			// with sh-port (flag-2). mh always hashes both here (see README).
			hkey = f.ip + " saddr"
		}
		// Sized by every server, inhibited ones included, so that inhibiting
		// one keeps the table size and moves only that server's slots.
		size := s.HashTableSize
		if size == 0 {
			size = maglev.SizeFor(len(ids))
		}
		table, err := maglev.Build(ids, size)
		if err != nil {
			return nil, fmt.Errorf("nft: service %s: build hash table: %w", s.Key(), err)
		}
		markByID := map[string]string{}
		for i, b := range ids {
			markByID[b.ID] = marks[i]
		}
		for i, bid := range table {
			slots = append(slots, [2]string{fmt.Sprintf("%s . %d", id, i+1), markByID[bid]})
		}
		slotExpr = fmt.Sprintf("jhash %s mod %d seed 0x%x offset 1", hkey, size, cfg.seed)
	}
	if len(reals) > 0 {
		parts.elements[f.reals()] = reals
	}
	if len(slots) > 0 {
		parts.elements[f.slots()] = slots
	}

	// The service chain is walked by every packet of the service: it
	// carries the descriptions Observe reads back, counts the packets and
	// keeps a persistent client's affinity alive while its flows are. The
	// schedule chain is walked only by a flow without a live server.
	var rules, sched []rule
	if s.PersistenceTimeout > 0 && len(reals) > 0 {
		pm := persistenceMap(s)
		key := f.maskExpr(s.PersistenceBits)
		parts.maps = append(parts.maps, mapSpec{name: pm, typ: f.addrType + " : mark", timeout: s.PersistenceTimeout, size: cfg.connSize})
		// The client's server, if it has one and that is still there;
		// otherwise a slot below.
		sched = append(sched,
			mkRule("", fmt.Sprintf("meta mark set %s map @%s", key, pm), ""),
			mkRule("", fmt.Sprintf("meta mark != 0x0 %s . meta mark vmap @%s", f.serviceKey(), f.alive()), ""),
			mkRule("", "meta mark set 0x0", ""))
		alive := make([][2]string, len(reals))
		for i, r := range reals {
			alive[i] = [2]string{r[0], "return"}
		}
		parts.elements[f.alive()] = alive
		record := mkRule("", fmt.Sprintf("meta mark != 0x0 update @%s { %s : meta mark }", pm, key), "")
		rules = append(rules, record)
		after := contentChain("svp_"+sid, []rule{record})
		parts.chains = append(parts.chains, after)
		parts.elements[f.afterMap(s.Interface)] = [][2]string{{id, "jump " + after.name}}
	}
	rules = append(rules, descs...)
	if slotExpr != "" {
		sched = append(sched, mkRule("", "meta mark 0x0 meta mark set "+slotExpr, ""))
	} else {
		// No real server takes new flows: drop what found none (a
		// persistent client may still have one). The service's chain says
		// so, not a lookup of the dispatch map in the flow chain: kernels
		// before 6.x refuse a verdict map used as a set there (EINVAL).
		sched = append(sched, mkRule("", "meta mark 0x0 drop", "no server"))
	}
	sch := contentChain("sch_"+sid, sched)
	parts.chains = append(parts.chains, sch)
	parts.elements[f.scheduleMap(s.Interface)] = [][2]string{{id, "jump " + sch.name}}
	// The description Observe reads back; it also counts the service's packets.
	rules = append(rules, mkRule("", "counter", serviceDesc(s)))
	svc := contentChain("svc_"+sid, rules)
	parts.chains = append([]chainSpec{svc}, parts.chains...)
	parts.elements[f.dispatchMap(s.Interface)] = [][2]string{{id, "jump " + svc.name}}
	return parts, nil
}
