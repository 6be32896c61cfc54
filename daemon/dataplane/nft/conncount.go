package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// connKey groups the entries of a connection map: the service (VIP and
// port) and the real server's mark.
type connKey struct {
	vip  netip.Addr
	port uint16
	mark uint32
}

// markNumber is a real server's mark before collisions are resolved (see
// realMarks): its IPv4 address as a number, or for IPv6 an FNV-1a hash of
// its 16 bytes moved at or above firstRealMark (below are slot numbers).
func markNumber(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	h := fnv.New32a()
	b := a.As16()
	h.Write(b[:])
	m := h.Sum32()
	if m < firstRealMarkNumber {
		m += firstRealMarkNumber
	}
	return m
}

// dumpElements calls fn with the key, data and verdict ("jump chain",
// "goto chain" or "") of every element of set in table (family netdev),
// dumping them over netlink in the calling thread's namespace. A missing
// set has no elements.
func dumpElements(table, set string, fn func(key, data []byte, verdict string)) error {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return fmt.Errorf("nft: dial netfilter netlink: %w", err)
	}
	defer func() { _ = c.Close() }() // a dump: nothing to flush
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("nft: encode element dump request: %w", err)
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETSETELEM), Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{unix.NFPROTO_NETDEV, 0, 0, 0}, attrs...),
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("nft: dump map %s of netdev %s: %w", set, table, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		if err := decodeElements(m.Data[4:], fn); err != nil {
			return fmt.Errorf("nft: map %s: %w", set, err)
		}
	}
	return nil
}

// connCountsNetlink counts the entries of the connection map set (key
// `ipv4_addr . inet_service . ipv4_addr . inet_service`, value a mark) by
// service and server. It reads them over netlink: 100,000 connections
// took 2.5 s through `nft --json list map` (and still take 2.5 s in one
// map, because the kernel walks a map from its start for every message of
// a dump: hence the shards).
func connCountsNetlink(table, set string) (map[connKey]uint32, error) {
	counts := map[connKey]uint32{}
	err := dumpElements(table, set, func(key, data []byte, _ string) {
		// Registers are 4-byte aligned: VIP, port and 2 bytes of padding,
		// client address, client port and padding.
		if len(data) != 4 {
			return
		}
		var k connKey
		switch {
		case len(key) == 12:
			// IPv6: service port, client port, hash of the addresses (see
			// connHash6): the VIP is not in the key.
			k = connKey{vip: netip.IPv6Unspecified(), port: binary.BigEndian.Uint16(key[:2])}
		case len(key) >= 8:
			k = connKey{vip: netip.AddrFrom4([4]byte(key[:4])), port: binary.BigEndian.Uint16(key[4:6])}
		default:
			return
		}
		k.mark = binary.NativeEndian.Uint32(data)
		counts[k]++
	})
	return counts, err
}

// sharedElementsNetlink lists a shared map (dispatch, slots or reals) in
// the form knftables' ListElements gives, numbers in decimal: it costs a
// fifth of `nft --json list map` for 50,000 slots.
func sharedElementsNetlink(table, set string) ([]*knftables.Element, error) {
	var out []*knftables.Element
	var bad error
	err := dumpElements(table, set, func(key, data []byte, verdict string) {
		// Key: VIP, protocol (1 byte in 4), port (2 in 4) and, for slots and
		// reals, a slot number or mark (host order).
		// IPv6 keys have a 16-byte VIP: 24 or 28 bytes.
		alen := 4
		if len(key) == 24 || len(key) == 28 {
			alen = 16
		}
		if len(key) != alen+8 && len(key) != alen+12 {
			bad = fmt.Errorf("nft: map %s: unexpected key of %d bytes", set, len(key))
			return
		}
		vip, _ := netip.AddrFromSlice(key[:alen])
		parts := []string{vip.String(), protoName(key[alen]),
			strconv.Itoa(int(binary.BigEndian.Uint16(key[alen+4 : alen+6])))}
		if len(key) == alen+12 {
			parts = append(parts, strconv.FormatUint(uint64(binary.NativeEndian.Uint32(key[alen+8:alen+12])), 10))
		}
		e := &knftables.Element{Map: set, Key: parts}
		switch {
		case verdict != "":
			e.Value = []string{verdict}
		case set == realsMap && len(data) == 4:
			e.Value = []string{netip.AddrFrom4([4]byte(data)).String()}
		case set == ipv6.reals() && len(data) == 16:
			e.Value = []string{netip.AddrFrom16([16]byte(data)).String()}
		case len(data) == 4:
			e.Value = []string{strconv.FormatUint(uint64(binary.NativeEndian.Uint32(data)), 10)}
		default:
			bad = fmt.Errorf("nft: map %s: unexpected value of %d bytes", set, len(data))
			return
		}
		out = append(out, e)
	})
	return out, errors.Join(err, bad)
}

// protoName names an IP protocol number as nft prints an inet_proto.
func protoName(p byte) string {
	switch dataplane.Protocol(p) {
	case dataplane.TCP, dataplane.UDP, dataplane.SCTP:
		return strings.ToLower(dataplane.Protocol(p).String())
	}
	return strconv.Itoa(int(p))
}

// decodeElements calls fn for each element of one NFT_MSG_NEWSETELEM
// message (attributes after struct nfgenmsg).
func decodeElements(b []byte, fn func(key, data []byte, verdict string)) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return fmt.Errorf("decode elements: %w", err)
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				if list.Type() != unix.NFTA_LIST_ELEM {
					continue
				}
				list.Nested(func(elem *netlink.AttributeDecoder) error {
					fn(elementValues(elem))
					return nil
				})
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("decode elements: %w", err)
	}
	return nil
}

// elementValues returns the key and data of one set element; a verdict
// (jump or goto a chain, return) comes as text instead of data.
func elementValues(elem *netlink.AttributeDecoder) (key, data []byte, verdict string) {
	value := func(dst *[]byte) func(*netlink.AttributeDecoder) error {
		return func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch nad.Type() {
				case unix.NFTA_DATA_VALUE:
					*dst = nad.Bytes()
				case unix.NFTA_DATA_VERDICT:
					nad.Nested(func(vd *netlink.AttributeDecoder) error {
						vd.ByteOrder = binary.BigEndian
						var code int32
						var chain string
						for vd.Next() {
							switch vd.Type() {
							case unix.NFTA_VERDICT_CODE:
								code = int32(vd.Uint32())
							case unix.NFTA_VERDICT_CHAIN:
								chain = vd.String()
							}
						}
						switch code {
						case unix.NFT_JUMP:
							verdict = "jump " + chain
						case unix.NFT_GOTO:
							verdict = "goto " + chain
						case unix.NFT_RETURN:
							verdict = "return" // the alive maps' value
						}
						return nil
					})
				}
			}
			return nil
		}
	}
	for elem.Next() {
		switch elem.Type() {
		case unix.NFTA_SET_ELEM_KEY:
			elem.Nested(value(&key))
		case unix.NFTA_SET_ELEM_DATA:
			elem.Nested(value(&data))
		}
	}
	return key, data, verdict
}

// connCountsAPI counts a connection map's entries through knftables (for
// the fake; the kernel uses connCountsNetlink).
func (b *Backend) connCountsAPI(ctx context.Context, set string) (map[connKey]uint32, error) {
	elems, err := b.nft.ListElements(ctx, "map", set)
	if err != nil {
		return nil, fmt.Errorf("nft: list map %s: %w", set, err)
	}
	counts := map[connKey]uint32{}
	for _, e := range elems {
		// Key: VIP . port . client . client port (IPv6: port . client
		// port . hash); value: the mark.
		if len(e.Key) == 3 && len(e.Value) == 1 {
			port, err1 := strconv.ParseUint(e.Key[0], 0, 16)
			mark, err2 := strconv.ParseUint(e.Value[0], 0, 32)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("nft: map %s: element %v : %v: %w", set, e.Key, e.Value, err)
			}
			counts[connKey{vip: netip.IPv6Unspecified(), port: uint16(port), mark: uint32(mark)}]++
			continue
		}
		if len(e.Key) != 4 || len(e.Value) != 1 {
			continue
		}
		vip, err1 := netip.ParseAddr(e.Key[0])
		port, err2 := strconv.ParseUint(e.Key[1], 0, 16)
		mark, err3 := strconv.ParseUint(e.Value[0], 0, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("nft: map %s: element %v : %v: %w", set, e.Key, e.Value, err)
		}
		counts[connKey{vip: vip.Unmap(), port: uint16(port), mark: uint32(mark)}]++
	}
	return counts, nil
}
