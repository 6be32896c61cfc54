package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IPProtocol is the IP protocol number of VRRP.
const IPProtocol = 112

// Multicast groups VRRP advertisements are sent to.
var (
	// MulticastIPv4 is the IPv4 VRRP group 224.0.0.18.
	MulticastIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	// MulticastIPv6 is the IPv6 VRRP group ff02::12.
	MulticastIPv6 = netip.MustParseAddr("ff02::12")
)

// RequiredTTL is the TTL (IPv4) or hop limit (IPv6) every multicast
// advertisement must carry; anything else may come from off-link and is
// dropped. Unicast adverts are sent with unicast_ttl (default this) and
// their TTL is not checked, as keepalived does.
const RequiredTTL = 255

// TOS is the IPv4 type of service (DSCP CS6, "internetwork control") used by
// keepalived for adverts.
const TOS = 0xc0

// Version is the VRRP protocol version.
type Version uint8

// VRRP protocol versions.
const (
	// Version2 is RFC 3768 (IPv4 only, authentication field, seconds).
	Version2 Version = 2
	// Version3 is RFC 5798/9568 (IPv4 and IPv6, centiseconds, pseudo-header checksum).
	Version3 Version = 3
)

// String returns "v2" or "v3".
func (v Version) String() string { return fmt.Sprintf("v%d", uint8(v)) }

// AuthType is the VRRPv2 authentication type.
type AuthType uint8

// VRRPv2 authentication types. keepalived supports none and PASS (simple text).
const (
	// AuthNone carries no authentication data (all zero).
	AuthNone AuthType = 0
	// AuthPass is keepalived's PASS: up to 8 bytes of clear text, NUL padded.
	AuthPass AuthType = 1
	// AuthAH is IPsec AH (deprecated by RFC 3768); parsed but never accepted by Validate unless configured.
	AuthAH AuthType = 2
)

// String returns keepalived's keyword for the type.
func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "NONE"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	default:
		return fmt.Sprintf("AuthType(%d)", uint8(a))
	}
}

// AuthDataLen is the size of the VRRPv2 authentication data field.
const AuthDataLen = 8

// typeAdvertisement is the only VRRP message type.
const typeAdvertisement = 1

// Header sizes.
const (
	headerLen   = 8
	v2TrailerLn = AuthDataLen
)

// Sentinel errors returned (wrapped with the detail) by Parse and Marshal.
// Test them with errors.Is; DropReasonOf maps them to a DropReason.
var (
	ErrTooShort      = errors.New("vrrp: packet too short")
	ErrVersion       = errors.New("vrrp: unsupported version")
	ErrType          = errors.New("vrrp: unknown message type")
	ErrChecksum      = errors.New("vrrp: bad checksum")
	ErrLength        = errors.New("vrrp: length does not match address count")
	ErrAddressCount  = errors.New("vrrp: bad address count")
	ErrAddressFamily = errors.New("vrrp: address family mismatch")
	ErrInterval      = errors.New("vrrp: advertisement interval out of range")
)

// Advertisement is a decoded VRRP advertisement (v2 or v3).
type Advertisement struct {
	// Version is 2 or 3.
	Version Version
	// VRID is the virtual router identifier (1-255).
	VRID uint8
	// Priority is the sender's priority; 0 means "I am leaving", 255 "I own the addresses".
	Priority uint8
	// AdvertInterval is the (maximum) advertisement interval: whole seconds
	// in v2, centiseconds in v3.
	AdvertInterval time.Duration
	// AuthType is the v2 authentication type (zero in v3).
	AuthType AuthType
	// AuthData is the v2 authentication data, NUL padded (zero in v3).
	AuthData [AuthDataLen]byte
	// Addresses are the virtual addresses, IPv4 or (v3 only) IPv6, never mixed.
	Addresses []netip.Addr
	// Checksum is the checksum found by Parse; Marshal computes its own.
	Checksum uint16
}

// PassAuthData returns keepalived's PASS authentication data for password:
// the first 8 bytes, NUL padded.
func PassAuthData(password string) [AuthDataLen]byte {
	var d [AuthDataLen]byte
	copy(d[:], password)
	return d
}

// Marshal encodes a as a VRRP message (the IP payload). src and dst are the
// IP source and destination; they are only used by the pseudo-header
// checksum of v3 and of v2 over IPv6, and may be zero for v2 over IPv4.
//
// Version 2 with IPv6 addresses is keepalived's VRRPv2 over IPv6 (an IPv6
// instance configured "version 2" without vrrp_strict; RFC 3768 is IPv4
// only): the v2 header (authentication type, whole-second interval), the
// IPv6 addresses, no authentication data, and the checksum over the IPv6
// pseudo-header as for v3 (keepalived lets the kernel compute it,
// IPV6_CHECKSUM).
func Marshal(a Advertisement, src, dst netip.Addr) ([]byte, error) {
	if len(a.Addresses) > 255 {
		return nil, fmt.Errorf("%w: %d addresses (max 255)", ErrAddressCount, len(a.Addresses))
	}
	is6 := len(a.Addresses) > 0 && a.Addresses[0].Is6() && !a.Addresses[0].Is4In6()
	if len(a.Addresses) == 0 {
		is6 = src.Is6() && !src.Is4In6() // the family of an empty list is the packet's
	}
	addrLen := 4
	if is6 {
		addrLen = 16
	}
	for _, addr := range a.Addresses {
		if addr.Is4() == is6 || !addr.IsValid() {
			return nil, fmt.Errorf("%w: %v in a list of IPv%d addresses", ErrAddressFamily, addr, map[bool]int{false: 4, true: 6}[is6])
		}
	}
	size := headerLen + addrLen*len(a.Addresses)
	var intervalField uint16
	switch a.Version {
	case Version2:
		if is6 && a.AuthType != AuthNone {
			return nil, fmt.Errorf("%w: VRRPv2 over IPv6 carries no authentication data", ErrAddressFamily)
		}
		secs := a.AdvertInterval / time.Second
		if secs < 1 || secs > 255 || a.AdvertInterval%time.Second != 0 {
			return nil, fmt.Errorf("%w: v2 needs whole seconds 1-255, got %v", ErrInterval, a.AdvertInterval)
		}
		intervalField = uint16(secs)
		if !is6 {
			size += v2TrailerLn
		} else if !src.Is6() || src.Is4In6() {
			return nil, fmt.Errorf("%w: VRRPv2 over IPv6 needs the IPv6 source for its checksum, got %v", ErrAddressFamily, src)
		}
	case Version3:
		cs := a.AdvertInterval / (10 * time.Millisecond)
		if cs < 1 || cs > 0xfff || a.AdvertInterval%(10*time.Millisecond) != 0 {
			return nil, fmt.Errorf("%w: v3 needs centiseconds 1-4095, got %v", ErrInterval, a.AdvertInterval)
		}
		intervalField = uint16(cs)
	default:
		return nil, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	b := make([]byte, size)
	b[0] = uint8(a.Version)<<4 | typeAdvertisement
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = uint8(len(a.Addresses))
	if a.Version == Version2 {
		b[4] = uint8(a.AuthType)
		b[5] = uint8(intervalField)
	} else {
		binary.BigEndian.PutUint16(b[4:], intervalField) // reserved nibble stays zero
	}
	off := headerLen
	for _, addr := range a.Addresses {
		off += copy(b[off:], addr.AsSlice())
	}
	if a.Version == Version2 && !is6 {
		copy(b[off:], a.AuthData[:])
	}
	sum, err := checksumFor(a.Version, b, src, dst)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(b[6:], sum)
	return b, nil
}

// Parse decodes and checks a VRRP message (the IP payload). src and dst are
// the IP source and destination, needed for the pseudo-header checksum (v3,
// and v2 over IPv6 as keepalived sends it; see Marshal) and to tell the
// address family of the message. Every error wraps one of the package's
// sentinel errors with the reason.
func Parse(b []byte, src, dst netip.Addr) (Advertisement, error) {
	var a Advertisement
	if len(b) < headerLen {
		return a, fmt.Errorf("%w: %d bytes, need at least %d", ErrTooShort, len(b), headerLen)
	}
	a.Version = Version(b[0] >> 4)
	if typ := b[0] & 0x0f; typ != typeAdvertisement {
		if a.Version != Version2 && a.Version != Version3 {
			return a, fmt.Errorf("%w: %d", ErrVersion, a.Version)
		}
		return a, fmt.Errorf("%w: %d", ErrType, typ)
	}
	a.VRID = b[1]
	a.Priority = b[2]
	count := int(b[3])
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	addrLen := 4
	is6 := src.Is6() && !src.Is4In6()
	if is6 {
		addrLen = 16
	}
	want := 0
	switch a.Version {
	case Version2:
		a.AuthType = AuthType(b[4])
		a.AdvertInterval = time.Duration(b[5]) * time.Second
		want = headerLen + addrLen*count
		if !is6 {
			want += v2TrailerLn
		}
	case Version3:
		a.AdvertInterval = time.Duration(binary.BigEndian.Uint16(b[4:])&0x0fff) * 10 * time.Millisecond
		want = headerLen + addrLen*count
	default:
		return a, fmt.Errorf("%w: %d", ErrVersion, a.Version)
	}
	if len(b) < want {
		return a, fmt.Errorf("%w: %d bytes for %d addresses, need %d", ErrLength, len(b), count, want)
	}
	if len(b) > want {
		return a, fmt.Errorf("%w: %d bytes for %d addresses, expected %d", ErrLength, len(b), count, want)
	}
	sum, err := checksumFor(a.Version, b, src, dst)
	if err != nil {
		return a, err
	}
	if sum != 0 {
		return a, fmt.Errorf("%w: 0x%04x does not verify", ErrChecksum, a.Checksum)
	}
	if a.AdvertInterval == 0 {
		return a, fmt.Errorf("%w: zero advertisement interval", ErrInterval)
	}
	a.Addresses = make([]netip.Addr, count)
	off := headerLen
	for i := range count {
		if addrLen == 4 {
			a.Addresses[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
		} else {
			a.Addresses[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
		}
		off += addrLen
	}
	if a.Version == Version2 && !is6 {
		copy(a.AuthData[:], b[off:])
	}
	return a, nil
}

// checksumFor returns the Internet checksum of b (with its checksum field as
// it is), over the VRRP message alone for v2 over IPv4 and with the IP
// pseudo-header for v3 and for v2 over IPv6 (src is IPv6). Over a packet with a correct checksum field it returns 0; over one
// whose field is zero it returns the value to store.
//
// One's-complement arithmetic (RFC 1071) has two zeros, 0x0000 and 0xffff.
// Marshal stores what the standard computation yields, as keepalived's
// in_csum and the kernel do: 0x0000 when the message sums to 0xffff (a VRRP
// header is never all zero, so 0xffff is never computed). Parse verifies by
// summing the whole message and so accepts a field of either form; it
// reports the field as received in Advertisement.Checksum.
func checksumFor(v Version, b []byte, src, dst netip.Addr) (uint16, error) {
	var sum uint32
	if v == Version3 || (src.Is6() && !src.Is4In6()) {
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return 0, fmt.Errorf("%w: the pseudo-header checksum needs source and destination of one family (got %v, %v)", ErrAddressFamily, src, dst)
		}
		sum = sumWords(sum, src.AsSlice())
		sum = sumWords(sum, dst.AsSlice())
		if src.Is4() {
			sum += IPProtocol + uint32(len(b))
		} else {
			// IPv6 pseudo-header: 32-bit length, 24 zero bits, next header.
			sum += uint32(len(b)>>16) + uint32(len(b)&0xffff) + IPProtocol
		}
	}
	sum = sumWords(sum, b)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum), nil
}

// sumWords adds b as big-endian 16-bit words (odd trailing byte padded) to sum.
func sumWords(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}
