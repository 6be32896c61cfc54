package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// keepalivedFrame returns the captured keepalived 2.2.7 Ethernet frame.
func keepalivedFrame(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/keepalived-2.2.7-vrrpv2-advert.hex")
	if err != nil {
		t.Fatalf("read vector: %v", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("decode vector: %v", err)
	}
	return b
}

func TestParseKeepalivedVector(t *testing.T) {
	frame := keepalivedFrame(t)
	if len(frame) != 54 {
		t.Fatalf("frame is %d bytes, want 54", len(frame))
	}
	ip := frame[14:34]
	if ip[1] != TOS || ip[8] != RequiredTTL || ip[9] != IPProtocol {
		t.Fatalf("IP header TOS %#x TTL %d proto %d, want 0xc0 255 112", ip[1], ip[8], ip[9])
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	if src != netip.MustParseAddr("172.16.1.2") || dst != MulticastIPv4 {
		t.Fatalf("IP %v -> %v", src, dst)
	}
	msg := frame[34:]
	a, err := Parse(msg, src, dst)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Advertisement{
		Version:        Version2,
		VRID:           51,
		Priority:       150,
		AdvertInterval: time.Second,
		AuthType:       AuthPass,
		AuthData:       [8]byte{'d', 'l', 'p', 'a', 's', 's', 0, 0},
		Addresses:      []netip.Addr{netip.MustParseAddr("172.16.1.1")},
		Checksum:       0x5277,
	}
	if !advertEqual(a, want) {
		t.Fatalf("Parse = %+v\nwant    %+v", a, want)
	}
	if a.AuthData != PassAuthData("dlpass") {
		t.Fatalf("auth data %q is not PassAuthData(dlpass)", a.AuthData)
	}
	out, err := Marshal(a, src, dst)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(out, msg) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", out, msg)
	}
	v := Validate(a, PacketInfo{Src: src, Dst: dst, TTL: int(ip[8])}, ValidationParams{
		Version: Version2, VRID: 51, AuthType: AuthPass, AuthData: PassAuthData("dlpass"),
		AdvertInterval: time.Second, VirtualAddresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")},
	})
	if v.Drop != DropNone || v.AddressListMismatch {
		t.Fatalf("Validate = %+v, want accepted", v)
	}
}

func advertEqual(a, b Advertisement) bool {
	return a.Version == b.Version && a.VRID == b.VRID && a.Priority == b.Priority &&
		a.AdvertInterval == b.AdvertInterval && a.AuthType == b.AuthType && a.AuthData == b.AuthData &&
		slices.Equal(a.Addresses, b.Addresses) && a.Checksum == b.Checksum
}

var (
	v4a = netip.MustParseAddr("10.0.0.1")
	v4b = netip.MustParseAddr("10.0.0.2")
	v6a = netip.MustParseAddr("fe80::1")
)

func TestMarshalParseRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		adv      Advertisement
		src, dst netip.Addr
	}{
		{"v2 no auth", Advertisement{Version: Version2, VRID: 1, Priority: 100, AdvertInterval: time.Second,
			Addresses: []netip.Addr{v4a}}, v4b, MulticastIPv4},
		{"v2 pass two addresses", Advertisement{Version: Version2, VRID: 255, Priority: 255, AdvertInterval: 255 * time.Second,
			AuthType: AuthPass, AuthData: PassAuthData("longer than eight"), Addresses: []netip.Addr{v4a, v4b}}, v4b, MulticastIPv4},
		{"v2 priority 0", Advertisement{Version: Version2, VRID: 7, Priority: 0, AdvertInterval: 3 * time.Second,
			Addresses: []netip.Addr{v4a}}, netip.Addr{}, netip.Addr{}},
		{"v3 ipv4 centiseconds", Advertisement{Version: Version3, VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
			Addresses: []netip.Addr{v4a}}, v4b, MulticastIPv4},
		{"v3 ipv4 max interval", Advertisement{Version: Version3, VRID: 51, Priority: 1, AdvertInterval: 40950 * time.Millisecond,
			Addresses: []netip.Addr{v4a, v4b}}, v4b, MulticastIPv4},
		{"v3 ipv6", Advertisement{Version: Version3, VRID: 9, Priority: 200, AdvertInterval: time.Second,
			Addresses: []netip.Addr{v6a, netip.MustParseAddr("2001:db8::1")}}, netip.MustParseAddr("fe80::2"), MulticastIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.adv, tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := Parse(b, tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got.Checksum = 0
			if !advertEqual(got, tt.adv) {
				t.Fatalf("round trip = %+v, want %+v", got, tt.adv)
			}
		})
	}
}

// v3 uses the pseudo-header: the same bytes from another source fail.
func TestV3PseudoHeaderChecksum(t *testing.T) {
	b, err := Marshal(Advertisement{Version: Version3, VRID: 1, Priority: 100, AdvertInterval: time.Second,
		Addresses: []netip.Addr{v4a}}, v4b, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b, v4a, MulticastIPv4); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Parse with other source: %v, want ErrChecksum", err)
	}
	// Computed independently (python, RFC 1071) over pseudo-header 10.0.0.2, 224.0.0.18, 0x0070, 0x000c and the message.
	if got := uint16(b[6])<<8 | uint16(b[7]); got != 0x7607 {
		t.Fatalf("checksum %#04x, want 0x7607", got)
	}
}

func TestParseErrors(t *testing.T) {
	good := keepalivedFrame(t)[34:]
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	src, dst := netip.MustParseAddr("172.16.1.2"), MulticastIPv4
	tests := []struct {
		name string
		b    []byte
		want error
		drop DropReason
	}{
		{"empty", nil, ErrTooShort, DropTooShort},
		{"7 bytes", good[:7], ErrTooShort, DropTooShort},
		{"version 1", mutate(func(b []byte) []byte { b[0] = 0x11; return b }), ErrVersion, DropVersion},
		{"version 4 bad type", mutate(func(b []byte) []byte { b[0] = 0x42; return b }), ErrVersion, DropVersion},
		{"type 2", mutate(func(b []byte) []byte { b[0] = 0x22; return b }), ErrType, DropType},
		{"checksum flipped", mutate(func(b []byte) []byte { b[7] ^= 1; return b }), ErrChecksum, DropChecksum},
		{"payload bit flipped", mutate(func(b []byte) []byte { b[2] = 151; return b }), ErrChecksum, DropChecksum},
		{"count 2 for one address", mutate(func(b []byte) []byte { b[3] = 2; return b }), ErrLength, DropLength},
		{"count 0 with one address", mutate(func(b []byte) []byte { b[3] = 0; return b }), ErrLength, DropLength},
		{"truncated auth", good[:len(good)-1], ErrLength, DropLength},
		{"trailing byte", append(slices.Clone(good), 0), ErrLength, DropLength},
		{"v3 without source", mutate(func(b []byte) []byte { b[0] = 0x31; return b[:12] }), ErrAddressFamily, DropAddressFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := src
			if tt.name == "v3 without source" {
				s = netip.Addr{}
			}
			_, err := Parse(tt.b, s, dst)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "vrrp: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			if got := DropReasonOf(err); got != tt.drop {
				t.Fatalf("DropReasonOf = %v, want %v", got, tt.drop)
			}
		})
	}
}

func TestParseZeroInterval(t *testing.T) {
	b, _ := Marshal(Advertisement{Version: Version2, VRID: 1, Priority: 1, AdvertInterval: time.Second, Addresses: []netip.Addr{v4a}}, v4b, MulticastIPv4)
	b[5] = 0
	b[6], b[7] = 0, 0
	sum, _ := checksumFor(Version2, b, netip.Addr{}, netip.Addr{})
	b[6], b[7] = byte(sum>>8), byte(sum)
	if _, err := Parse(b, v4b, MulticastIPv4); !errors.Is(err, ErrInterval) {
		t.Fatalf("Parse = %v, want ErrInterval", err)
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		adv  Advertisement
		want error
	}{
		{"v2 fractional interval", Advertisement{Version: Version2, AdvertInterval: 1500 * time.Millisecond, Addresses: []netip.Addr{v4a}}, ErrInterval},
		{"v2 zero interval", Advertisement{Version: Version2, Addresses: []netip.Addr{v4a}}, ErrInterval},
		{"v2 256 s", Advertisement{Version: Version2, AdvertInterval: 256 * time.Second, Addresses: []netip.Addr{v4a}}, ErrInterval},
		{"v3 5 ms", Advertisement{Version: Version3, AdvertInterval: 5 * time.Millisecond, Addresses: []netip.Addr{v4a}}, ErrInterval},
		{"v3 41 s", Advertisement{Version: Version3, AdvertInterval: 41 * time.Second, Addresses: []netip.Addr{v4a}}, ErrInterval},
		{"v2 ipv6", Advertisement{Version: Version2, AdvertInterval: time.Second, Addresses: []netip.Addr{v6a}}, ErrAddressFamily},
		{"mixed", Advertisement{Version: Version3, AdvertInterval: time.Second, Addresses: []netip.Addr{v4a, v6a}}, ErrAddressFamily},
		{"version 4", Advertisement{Version: 4, AdvertInterval: time.Second, Addresses: []netip.Addr{v4a}}, ErrVersion},
		{"256 addresses", Advertisement{Version: Version2, AdvertInterval: time.Second, Addresses: make([]netip.Addr, 256)}, ErrAddressCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Marshal(tt.adv, v4b, MulticastIPv4); !errors.Is(err, tt.want) {
				t.Fatalf("Marshal error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	vip := netip.MustParseAddr("172.16.1.1")
	params := ValidationParams{Version: Version2, VRID: 51, AuthType: AuthPass, AuthData: PassAuthData("dlpass"),
		AdvertInterval: time.Second, VirtualAddresses: []netip.Addr{vip}, LocalAddresses: []netip.Addr{v4a}}
	base := Advertisement{Version: Version2, VRID: 51, Priority: 100, AdvertInterval: time.Second,
		AuthType: AuthPass, AuthData: PassAuthData("dlpass"), Addresses: []netip.Addr{vip}}
	info := PacketInfo{Src: v4b, Dst: MulticastIPv4, TTL: 255}
	tests := []struct {
		name     string
		edit     func(*Advertisement, *PacketInfo, *ValidationParams)
		drop     DropReason
		mismatch bool
	}{
		{"accepted", func(*Advertisement, *PacketInfo, *ValidationParams) {}, DropNone, false},
		{"ttl 254", func(_ *Advertisement, i *PacketInfo, _ *ValidationParams) { i.TTL = 254 }, DropTTL, false},
		{"ttl unknown", func(_ *Advertisement, i *PacketInfo, _ *ValidationParams) { i.TTL = -1 }, DropNone, false},
		{"v3 advert at v2 instance", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.Version = Version3 }, DropVersion, false},
		{"other vrid", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.VRID = 52 }, DropVRID, false},
		{"own address", func(_ *Advertisement, i *PacketInfo, _ *ValidationParams) { i.Src = v4a }, DropOwnAddress, false},
		{"unknown unicast peer", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) { p.UnicastPeers = []netip.Addr{vip} }, DropUnknownPeer, false},
		{"known unicast peer", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) { p.UnicastPeers = []netip.Addr{v4b} }, DropNone, false},
		{"stranger with drlb_accept_from (multicast)", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) { p.AcceptFrom = []netip.Addr{vip} }, DropUnknownPeer, false},
		{"listed in drlb_accept_from", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) { p.AcceptFrom = []netip.Addr{vip, v4b} }, DropNone, false},
		{"unicast peer or accept_from", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) {
			p.UnicastPeers, p.AcceptFrom = []netip.Addr{vip}, []netip.Addr{v4b}
		}, DropNone, false},
		{"auth none vs pass", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.AuthType = AuthNone }, DropAuthType, false},
		{"wrong password", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.AuthData = PassAuthData("wrong") }, DropAuth, false},
		{"interval 2s v2", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.AdvertInterval = 2 * time.Second }, DropAdvertInterval, false},
		{"interval differs v3 accepted", func(a *Advertisement, _ *PacketInfo, p *ValidationParams) {
			a.Version, p.Version, a.AdvertInterval = Version3, Version3, 2*time.Second
		}, DropNone, false},
		// keepalived 2.2.7 (vrrp_check_packet) returns VRRP_PACKET_KO for an advert whose
		// addresses differ from the instance's: a stranger cannot win with another list.
		{"address list differs", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.Addresses = []netip.Addr{v4a} }, DropAddressList, true},
		{"extra address", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.Addresses = []netip.Addr{vip, v4a} }, DropAddressList, true},
		{"priority 0 list not compared", func(a *Advertisement, _ *PacketInfo, _ *ValidationParams) { a.Priority, a.Addresses = 0, nil }, DropNone, false},
		{"address list differs, strict", func(a *Advertisement, _ *PacketInfo, p *ValidationParams) {
			a.Addresses, p.Strict = []netip.Addr{v4a}, true
		}, DropAddressList, true},
		{"same list, strict", func(_ *Advertisement, _ *PacketInfo, p *ValidationParams) { p.Strict = true }, DropNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, i, p := base, info, params
			tt.edit(&a, &i, &p)
			v := Validate(a, i, p)
			if v.Drop != tt.drop || v.AddressListMismatch != tt.mismatch {
				t.Fatalf("Validate = %+v, want drop %v mismatch %v", v, tt.drop, tt.mismatch)
			}
			if (v.Drop != DropNone || v.AddressListMismatch) && v.Detail == "" {
				t.Fatalf("no detail for %+v", v)
			}
		})
	}
}

func TestDropReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range DropReasons() {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "DropReason(") || seen[s] {
			t.Fatalf("reason %d has bad or duplicate name %q", r, s)
		}
		seen[s] = true
	}
	if DropReason(200).String() != "DropReason(200)" {
		t.Fatalf("unknown reason string %q", DropReason(200).String())
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// re-encodes byte-identically (the codec has a single canonical encoding).
func FuzzParse(f *testing.F) {
	frame := keepalivedFrame(f)
	// Seed 1: the real keepalived 2.2.7 v2 advert (valid, PASS auth): the accept path.
	f.Add(frame[34:], false)
	// Seed 2: a valid v3 IPv4 advert with a 100 ms interval: the pseudo-header path.
	v3, _ := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{v4a, v4b}}, v4b, MulticastIPv4)
	f.Add(v3, false)
	// Seed 3: a valid v3 IPv6 advert: 16-byte addresses and the IPv6 pseudo-header.
	v6, _ := Marshal(Advertisement{Version: Version3, VRID: 9, Priority: 200, AdvertInterval: time.Second,
		Addresses: []netip.Addr{v6a}}, netip.MustParseAddr("fe80::2"), MulticastIPv6)
	f.Add(v6, true)
	// Seed 4: header only with a count of 255: the length check against a huge count.
	f.Add([]byte{0x21, 1, 100, 255, 1, 1, 0, 0}, false)
	// Seed 5: version 3 header, no addresses: the zero-length address list and zero checksum.
	f.Add([]byte{0x31, 1, 100, 0, 0, 100, 0, 0}, false)
	// Seed 6: a v3 advert whose checksum is 0x0000, sent as 0xffff (the other
	// one's-complement zero): it re-encodes as 0x0000.
	negZero := zeroSumAdvert(f)
	negZero[6], negZero[7] = 0xff, 0xff
	f.Add(negZero, false)
	// Seed 7: keepalived's v2 over IPv6: no authentication data, the IPv6 pseudo-header.
	v2v6, _ := Marshal(Advertisement{Version: Version2, VRID: 9, Priority: 100, AdvertInterval: time.Second,
		Addresses: []netip.Addr{v6a}}, netip.MustParseAddr("fe80::2"), MulticastIPv6)
	f.Add(v2v6, true)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		src, dst := v4b, MulticastIPv4
		if ipv6 {
			src, dst = netip.MustParseAddr("fe80::2"), MulticastIPv6
		}
		a, err := Parse(b, src, dst)
		if err != nil {
			if DropReasonOf(err) == DropNone {
				t.Fatalf("error %v maps to DropNone", err)
			}
			return
		}
		// The reserved v3 nibble is not kept, so clear it before comparing.
		want := slices.Clone(b)
		if a.Version == Version3 {
			want[4] &= 0x0f
		}
		out, err := Marshal(a, src, dst)
		if err != nil {
			// Accepted adverts with a count of zero or an interval Marshal refuses are fine to reject.
			return
		}
		if a.Version == Version3 && want[4] != b[4] {
			return // checksum covered the reserved bits
		}
		if !bytes.Equal(out, canonicalChecksum(want)) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}

// zeroSumAdvert returns a valid v3 advert (src v4b, to the IPv4 group) whose
// checksum computes to 0x0000: the one value with a second one's-complement
// representation, 0xffff.
func zeroSumAdvert(t testing.TB) []byte {
	t.Helper()
	for prio := 1; prio < 256; prio++ {
		for vrid := 1; vrid < 256; vrid++ {
			b, err := Marshal(Advertisement{Version: Version3, VRID: uint8(vrid), Priority: uint8(prio), AdvertInterval: time.Second,
				Addresses: []netip.Addr{v4a}}, v4b, MulticastIPv4)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if b[6] == 0 && b[7] == 0 {
				return b
			}
		}
	}
	t.Fatal("no advert with a zero checksum")
	return nil
}

// TestChecksumNegativeZero: RFC 1071 one's-complement arithmetic has two
// zeros. The standard computation (ours, keepalived's in_csum, the kernel's)
// emits +0 (0x0000) and can never emit 0xffff for a VRRP header, whose
// first byte is never zero; a receiver sums the whole message and accepts
// either. Parse accepts both; Marshal emits 0x0000.
func TestChecksumNegativeZero(t *testing.T) {
	b := zeroSumAdvert(t)
	for _, field := range []uint16{0x0000, 0xffff} {
		in := slices.Clone(b)
		in[6], in[7] = byte(field>>8), byte(field)
		a, err := Parse(in, v4b, MulticastIPv4)
		if err != nil {
			t.Fatalf("checksum %#04x: Parse: %v", field, err)
		}
		if a.Checksum != field {
			t.Errorf("checksum %#04x: Parse reports %#04x", field, a.Checksum)
		}
		out, err := Marshal(a, v4b, MulticastIPv4)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if out[6] != 0 || out[7] != 0 {
			t.Errorf("checksum %#04x re-encodes as %#02x%02x, want 0x0000", field, out[6], out[7])
		}
		if !bytes.Equal(canonicalChecksum(in), out) {
			t.Errorf("checksum %#04x: re-encode differs:\n in %x\nout %x", field, in, out)
		}
	}
}

// canonicalChecksum returns b with a checksum field of 0xffff (negative
// zero) rewritten as 0x0000, the form Marshal emits.
func canonicalChecksum(b []byte) []byte {
	if len(b) >= headerLen && b[6] == 0xff && b[7] == 0xff {
		b = slices.Clone(b)
		b[6], b[7] = 0, 0
	}
	return b
}
