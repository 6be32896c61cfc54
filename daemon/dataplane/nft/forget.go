package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// connEntry is one element of a connection map: what it belongs to (service
// and server, as connCounts groups them) and its key as nft writes it, to
// delete it.
type connEntry struct {
	owner connKey
	key   string
}

// goneReal is a real server that a service had in the kernel and no longer
// has after an Apply: the connection entries that still point at it.
type goneReal struct {
	proto dataplane.Protocol
	conn  connKey // IPv6: VIP unspecified, as in the IPv6 connection keys
}

// realsOf returns the real servers of the services' entries in the reals
// maps (as rendered or as read back: "VIP . proto . port . mark"), keyed as
// the connection maps key them; nil services are skipped.
func realsOf(services ...*serviceParts) map[goneReal]bool {
	out := map[goneReal]bool{}
	for _, sp := range services {
		if sp == nil {
			continue
		}
		for _, m := range []string{ipv4.reals(), ipv6.reals()} {
			for _, e := range sp.elements[m] {
				if g, ok := parseRealKey(e[0]); ok {
					out[g] = true
				}
			}
		}
	}
	return out
}

// parseRealKey reads a reals-map key "VIP . proto . port . mark" (marks and
// ports in any base, the protocol by name or number).
func parseRealKey(key string) (goneReal, bool) {
	parts := strings.Split(key, " . ")
	if len(parts) != 4 {
		return goneReal{}, false
	}
	vip, err1 := netip.ParseAddr(parts[0])
	port, err2 := strconv.ParseUint(parts[2], 0, 16)
	mark, err3 := strconv.ParseUint(parts[3], 0, 32)
	if errors.Join(err1, err2, err3) != nil {
		return goneReal{}, false
	}
	var proto dataplane.Protocol
	switch parts[1] {
	case "tcp":
		proto = dataplane.TCP
	case "udp":
		proto = dataplane.UDP
	case "sctp":
		proto = dataplane.SCTP
	default:
		n, err := strconv.ParseUint(parts[1], 0, 8)
		if err != nil {
			return goneReal{}, false
		}
		proto = dataplane.Protocol(n)
	}
	vip = vip.Unmap()
	if vip.Is6() {
		vip = netip.IPv6Unspecified()
	}
	return goneReal{proto: proto, conn: connKey{vip: vip, port: uint16(port), mark: uint32(mark)}}, true
}

// goneReals are the real servers of cur that want no longer has (removed
// from their service, or their service removed). An IPv6 server counts as
// gone only if no IPv6 service on its port and protocol keeps a server with
// its mark: IPv6 connection keys hold no VIP (see connHash6). Services
// whose fingerprint is unchanged since our last Apply are skipped, so a
// one-server change on a large table reads one service.
func goneReals(cur current, want ruleset) map[goneReal]bool {
	if want.empty {
		return nil // the connection maps go with the table
	}
	wantByID := make(map[string]*serviceParts, len(want.services))
	for _, s := range want.services {
		wantByID[s.id] = s
	}
	gone := map[goneReal]bool{}
	six := false
	for id, have := range cur.services {
		w := wantByID[id]
		if w != nil && have.fingerprint != "" && have.fingerprint == w.fingerprint {
			continue
		}
		keep := realsOf(w)
		for g := range realsOf(have) {
			if !keep[g] {
				gone[g] = true
				six = six || g.conn.vip.Is6()
			}
		}
	}
	if six {
		var v6 []*serviceParts
		for _, s := range want.services {
			if len(s.elements[ipv6.reals()]) > 0 {
				v6 = append(v6, s)
			}
		}
		for g := range realsOf(v6...) {
			delete(gone, g)
		}
	}
	return gone
}

// goneAffinities returns, for each persistent service of want whose real
// servers changed since cur, its affinity map and the marks of the
// servers it lost. A service whose persistence changed has a new map (see
// persistenceMap), so nothing in it can be stale.
func goneAffinities(cur current, want ruleset) map[string]map[uint32]bool {
	out := map[string]map[uint32]bool{}
	for _, w := range want.services {
		have := cur.services[w.id]
		if have == nil || len(w.maps) == 0 || have.fingerprint != "" && have.fingerprint == w.fingerprint {
			continue
		}
		keep := map[uint32]bool{}
		for g := range realsOf(w) {
			keep[g.conn.mark] = true
		}
		gone := map[uint32]bool{}
		for g := range realsOf(have) {
			if !keep[g.conn.mark] {
				gone[g.conn.mark] = true
			}
		}
		if len(gone) == 0 {
			continue
		}
		for _, m := range w.maps {
			if m.timeout > 0 {
				out[m.name] = gone
			}
		}
	}
	return out
}

// affinityEntry is one element of a persistent service's affinity map:
// its key (the client address under the mask) as nft writes it, and the
// mark of the client's server.
type affinityEntry struct {
	key  string
	mark uint32
}

// affinityEntriesNetlink lists an affinity map's entries over netlink.
func affinityEntriesNetlink(table, set string) ([]affinityEntry, error) {
	var out []affinityEntry
	err := dumpElements(table, set, func(key, data []byte, _ string) {
		addr, ok := netip.AddrFromSlice(key)
		if !ok || len(data) != 4 {
			return
		}
		out = append(out, affinityEntry{key: addr.String(), mark: binary.NativeEndian.Uint32(data)})
	})
	return out, err
}

// affinityEntriesAPI lists an affinity map's entries through knftables
// (for the fake; the kernel uses affinityEntriesNetlink).
func (b *Backend) affinityEntriesAPI(ctx context.Context, set string) ([]affinityEntry, error) {
	elems, err := b.nft.ListElements(ctx, "map", set)
	if err != nil {
		if knftables.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("nft: list map %s: %w", set, err)
	}
	var out []affinityEntry
	for _, e := range elems {
		if len(e.Value) != 1 {
			continue
		}
		mark, err := strconv.ParseUint(e.Value[0], 0, 32)
		if err != nil {
			return nil, fmt.Errorf("nft: map %s: element %v : %v: %w", set, e.Key, e.Value, err)
		}
		out = append(out, affinityEntry{key: strings.Join(e.Key, " . "), mark: uint32(mark)})
	}
	return out, nil
}

// forgetGoneReals deletes the connection entries that point at a real
// server the Apply just removed, so that the flow's next packet is
// scheduled once and recorded with its new server. Without it the entry
// kept the removed server (nft's update does not replace an element's
// value and the packet path cannot delete one): every packet of the flow
// was scheduled again (rr and wrr moved it on each packet) and the flow
// went back to its old server if that returned, breaking the connection a
// second time. IPVS keeps a connection whose destination was deleted and
// drops its packets until it times out (expire_nodest_conn=0, the
// default), or expires it at its next packet (=1); drlb does the latter
// and schedules the packet.
//
// Entries can expire between the dump and the delete, which fails the
// whole transaction; it is retried with a fresh dump (Apply only warns
// when it still fails). It runs in the back end's namespace, after the new
// table is committed, so no new entry can point at a removed server.
//
// The affinity maps of persistent services (see goneAffinities) lose the
// entries of removed servers the same way, in the same transaction:
// otherwise a client's affinity kept the removed server, every new
// connection of the client was scheduled afresh (rr: to another server
// each time) and the affinity, refreshed by the client's packets, never
// expired while the client was active.
func (b *Backend) forgetGoneReals(ctx context.Context, gone map[goneReal]bool, affinities map[string]map[uint32]bool, tableMaps map[string]bool) error {
	if len(gone) == 0 && len(affinities) == 0 {
		return nil
	}
	var last error
	for range 3 {
		tx := b.nft.NewTransaction()
		for _, m := range slices.Sorted(maps.Keys(affinities)) {
			entries, err := b.affinityEntries(ctx, m)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if affinities[m][e.mark] {
					tx.Delete(&knftables.Element{Map: m, Key: []string{e.key}})
				}
			}
		}
		for _, p := range protocols {
			for _, f := range []family{ipv4, ipv6} {
				if !goneIn(gone, p, f) {
					continue
				}
				for k := 0; tableMaps[f.connMap(p, k)]; k++ {
					m := f.connMap(p, k)
					entries, err := b.connEntries(ctx, m)
					if err != nil {
						return err
					}
					for _, e := range entries {
						if gone[goneReal{proto: p, conn: e.owner}] {
							tx.Delete(&knftables.Element{Map: m, Key: []string{e.key}})
						}
					}
				}
			}
		}
		if tx.NumOperations() == 0 {
			return nil
		}
		if last = b.nft.Run(ctx, tx); last == nil {
			return nil
		}
	}
	return fmt.Errorf("nft: forget the connections of removed real servers in table netdev %s (the new table is in force): %w", b.table, last)
}

// goneIn reports whether gone has a server of protocol p in family f.
func goneIn(gone map[goneReal]bool, p dataplane.Protocol, f family) bool {
	for g := range gone {
		if g.proto == p && familyOf(g.conn.vip) == f {
			return true
		}
	}
	return false
}

// connEntriesNetlink lists a connection map's entries over netlink (see
// connCountsNetlink for the key layout).
func connEntriesNetlink(table, set string) ([]connEntry, error) {
	var out []connEntry
	err := dumpElements(table, set, func(key, data []byte, _ string) {
		if len(data) != 4 {
			return
		}
		mark := binary.NativeEndian.Uint32(data)
		switch len(key) {
		case 12: // IPv6: port, client port, hash of the addresses
			port, cport, h := binary.BigEndian.Uint16(key[:2]), binary.BigEndian.Uint16(key[4:6]), binary.NativeEndian.Uint32(key[8:12])
			out = append(out, connEntry{
				owner: connKey{vip: netip.IPv6Unspecified(), port: port, mark: mark},
				key:   fmt.Sprintf("%d . %d . %d", port, cport, h),
			})
		case 16: // IPv4: VIP, port, client, client port
			vip, port := netip.AddrFrom4([4]byte(key[:4])), binary.BigEndian.Uint16(key[4:6])
			client, cport := netip.AddrFrom4([4]byte(key[8:12])), binary.BigEndian.Uint16(key[12:14])
			out = append(out, connEntry{
				owner: connKey{vip: vip, port: port, mark: mark},
				key:   fmt.Sprintf("%s . %d . %s . %d", vip, port, client, cport),
			})
		}
	})
	return out, err
}

// connEntriesAPI lists a connection map's entries through knftables (for
// the fake; the kernel uses connEntriesNetlink).
func (b *Backend) connEntriesAPI(ctx context.Context, set string) ([]connEntry, error) {
	elems, err := b.nft.ListElements(ctx, "map", set)
	if err != nil {
		if knftables.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("nft: list map %s: %w", set, err)
	}
	var out []connEntry
	for _, e := range elems {
		key := strings.Split(strings.Join(e.Key, " . "), " . ")
		if len(e.Value) != 1 || (len(key) != 3 && len(key) != 4) {
			continue
		}
		mark, err := strconv.ParseUint(e.Value[0], 0, 32)
		if err != nil {
			return nil, fmt.Errorf("nft: map %s: element %v : %v: %w", set, e.Key, e.Value, err)
		}
		owner := connKey{vip: netip.IPv6Unspecified(), mark: uint32(mark)}
		portText := key[0]
		if len(key) == 4 {
			vip, err := netip.ParseAddr(key[0])
			if err != nil {
				return nil, fmt.Errorf("nft: map %s: element %v: %w", set, e.Key, err)
			}
			owner.vip, portText = vip.Unmap(), key[1]
		}
		port, err := strconv.ParseUint(portText, 0, 16)
		if err != nil {
			return nil, fmt.Errorf("nft: map %s: element %v: %w", set, e.Key, err)
		}
		owner.port = uint16(port)
		out = append(out, connEntry{owner: owner, key: strings.Join(key, " . ")})
	}
	return out, nil
}
