package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// hmacTestKey is the key of keepalived's draft appendix vectors: 00..1f.
func hmacTestKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keepalived's wire vectors (test/auth_hmac_test.c, from the Internet-Draft's
// appendix): key 00..1f, VRID 51, priority 200, sequence 0x6800000080000000.
var hmacVectors = []struct {
	name string
	src  netip.Addr
	msg  string
	tr   string
}{
	{"ipv4", netip.MustParseAddr("198.51.100.10"), "3133c80100644402c0000264", "010100006800000080000000" + "1b84bc4e8e43892dc6d98448f8ee2265"},
	{"ipv6", netip.MustParseAddr("fe80::10"), "3133c8010064a2e9fe800000000000000000000000000100", "010100006800000080000000" + "c8c56146ebfd66ee10ec4d8186461b78"},
}

func TestHMACKeepalivedVectors(t *testing.T) {
	for _, v := range hmacVectors {
		t.Run(v.name, func(t *testing.T) {
			msg, tr := mustHex(t, v.msg), mustHex(t, v.tr)
			got := SignHMAC(slices.Clone(msg), Version3, 51, v.src, 1, hmacTestKey(), 0x6800000080000000)
			if want := append(slices.Clone(msg), tr...); !bytes.Equal(got, want) {
				t.Fatalf("SignHMAC:\n got %x\nwant %x", got, want)
			}
			pkt := append(slices.Clone(msg), tr...)
			m, trailer := SplitHMACTrailer(pkt, v.src)
			if !bytes.Equal(m, msg) || !bytes.Equal(trailer, tr) {
				t.Fatalf("SplitHMACTrailer = %x | %x", m, trailer)
			}
			// The fixed timestamp is outside any live window: monotonic mode.
			h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, Monotonic: true}, 0)
			if err := h.Verify(Version3, 51, v.src, m, trailer, time.Now()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := h.Verify(Version3, 51, v.src, m, trailer, time.Now()); !errors.Is(err, ErrHMACReplay) {
				t.Fatalf("replayed: %v, want ErrHMACReplay", err)
			}
		})
	}
}

// One flipped bit per field against the IPv6 vector, as keepalived's test.
func TestHMACVerifyMutations(t *testing.T) {
	v := hmacVectors[1]
	img := append(mustHex(t, v.msg), mustHex(t, v.tr)...)
	ml := len(v.msg) / 2
	cases := []struct {
		name string
		off  int
		want error
	}{
		{"priority", 2, ErrHMACBad},
		{"advert interval", 5, ErrHMACBad},
		{"checksum (not covered)", 6, nil},
		{"vip", headerLen + 15, ErrHMACBad},
		{"ext type", ml, ErrHMACMalformed},
		{"key id", ml + 1, ErrHMACUnknownKey},
		{"reserved", ml + 2, ErrHMACMalformed},
		{"seconds", ml + 4, ErrHMACBad},
		{"counter", ml + 10, ErrHMACBad},
		{"hmac", ml + 12, ErrHMACBad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(img)
			b[c.off] ^= 1
			h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, Monotonic: true}, 0)
			err := h.Verify(Version3, 51, v.src, b[:ml], b[ml:], time.Now())
			if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	// The pseudo-header binds the source and the VRID.
	h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, Monotonic: true}, 0)
	if err := h.Verify(Version3, 51, netip.MustParseAddr("fe80::20"), img[:ml], img[ml:], time.Now()); !errors.Is(err, ErrHMACBad) {
		t.Fatalf("other source: %v", err)
	}
	if err := h.Verify(Version3, 52, v.src, img[:ml], img[ml:], time.Now()); !errors.Is(err, ErrHMACBad) {
		t.Fatalf("other VRID: %v", err)
	}
	if err := h.Verify(Version2, 51, v.src, img[:ml], img[ml:], time.Now()); !errors.Is(err, ErrHMACBad) {
		t.Fatalf("other version: %v", err)
	}
}

func TestHMACTimeWindowAndModes(t *testing.T) {
	src := netip.MustParseAddr("172.16.1.2")
	now := time.Unix(1_800_000_000, 250_000_000)
	msg, err := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 150, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}, src, MulticastIPv4)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[uint8][]byte{7: hmacTestKey()}
	signed := func(at time.Time) []byte {
		return SignHMAC(slices.Clone(msg), Version3, 51, src, 7, hmacTestKey(), ClockSeq(at))
	}
	split := func(b []byte) ([]byte, []byte) { return SplitHMACTrailer(b, src) }
	cfg := HMACConfig{Keys: keys, ActiveKey: 7, TimeWindow: 5 * time.Second}
	tests := []struct {
		name string
		cfg  HMACConfig
		pkts [][]byte // verified in order at now
		want []error
	}{
		{"fresh, then a newer one, then the first again", cfg, [][]byte{signed(now), signed(now.Add(time.Second)), signed(now)}, []error{nil, nil, ErrHMACReplay}},
		{"stale", cfg, [][]byte{signed(now.Add(-6 * time.Second))}, []error{ErrHMACStale}},
		{"future", cfg, [][]byte{signed(now.Add(6 * time.Second))}, []error{ErrHMACStale}},
		{"edge of the window", cfg, [][]byte{signed(now.Add(-5 * time.Second))}, []error{nil}},
		{"monotonic ignores the clock", HMACConfig{Keys: keys, ActiveKey: 7, Monotonic: true}, [][]byte{signed(now.Add(-time.Hour))}, []error{nil}},
		{"enforce: missing trailer", cfg, [][]byte{msg}, []error{ErrHMACMissing}},
		{"permissive: missing trailer accepted", HMACConfig{Keys: keys, ActiveKey: 7, TimeWindow: 5 * time.Second, Mode: HMACPermissive}, [][]byte{msg}, []error{nil}},
		{"receive-only still verifies a trailer", HMACConfig{Keys: keys, ActiveKey: 7, TimeWindow: 5 * time.Second, Mode: HMACReceiveOnly}, [][]byte{msg, signed(now.Add(-time.Minute))}, []error{nil, ErrHMACStale}},
		{"unknown key", HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, TimeWindow: 5 * time.Second}, [][]byte{signed(now)}, []error{ErrHMACUnknownKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHMACVerifier(tt.cfg, 0)
			for i, p := range tt.pkts {
				m, tr := split(p)
				err := h.Verify(Version3, 51, src, m, tr, now)
				if (tt.want[i] == nil) != (err == nil) || (tt.want[i] != nil && !errors.Is(err, tt.want[i])) {
					t.Fatalf("packet %d: Verify = %v, want %v", i, err, tt.want[i])
				}
			}
		})
	}
}

func TestHMACReplayMarksPerSender(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, TimeWindow: 5 * time.Second}, 0)
	pkt := func(src netip.Addr, seq uint64) ([]byte, []byte) {
		msg, _ := Marshal(Advertisement{Version: Version2, VRID: 9, Priority: 100, AdvertInterval: time.Second, Addresses: []netip.Addr{src}}, src, MulticastIPv4)
		return SplitHMACTrailer(SignHMAC(msg, Version2, 9, src, 1, hmacTestKey(), seq), src)
	}
	base := ClockSeq(now)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i, step := range []struct {
		src  netip.Addr
		seq  uint64
		want error
	}{
		{a, base + 5, nil}, {b, base + 1, nil}, // independent marks
		{a, base + 5, ErrHMACReplay}, {a, base + 4, ErrHMACReplay}, {a, base + 6, nil}, {b, base + 2, nil},
	} {
		m, tr := pkt(step.src, step.seq)
		if err := h.Verify(Version2, 9, step.src, m, tr, now); (step.want == nil) != (err == nil) || (step.want != nil && !errors.Is(err, step.want)) {
			t.Fatalf("step %d: %v, want %v", i, err, step.want)
		}
	}
}

func TestNextHMACSeq(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	clk := ClockSeq(now)
	if clk != uint64(1_800_000_000)<<32|0x8000<<16 {
		t.Fatalf("ClockSeq = %#x", clk)
	}
	tests := []struct {
		name     string
		last     uint64
		timeMode bool
		want     uint64
	}{
		{"clock moved on", clk - 1, true, clk},
		{"same instant: count", clk, true, clk + 1},
		{"stranded an hour ahead (time): back to the clock", clk + 3600<<32, true, clk},
		{"stranded an hour ahead (monotonic): keep growing", clk + 3600<<32, false, clk + 3600<<32 + 1},
	}
	for _, tt := range tests {
		if got := NextHMACSeq(tt.last, now, tt.timeMode, 5*time.Second); got != tt.want {
			t.Errorf("%s: NextHMACSeq = %#x, want %#x", tt.name, got, tt.want)
		}
	}
	if !SeqAfter(1, ^uint64(0)) || SeqAfter(^uint64(0), 1) {
		t.Error("SeqAfter does not wrap as serial arithmetic")
	}
}

func TestDefaultHMACWindow(t *testing.T) {
	for _, c := range []struct{ advert, want time.Duration }{
		{100 * time.Millisecond, 5 * time.Second}, {time.Second, 5 * time.Second}, {2 * time.Second, 6 * time.Second},
		{3500 * time.Millisecond, 9 * time.Second}, {255 * time.Second, 300 * time.Second},
	} {
		if got := DefaultHMACWindow(c.advert); got != c.want {
			t.Errorf("DefaultHMACWindow(%v) = %v, want %v", c.advert, got, c.want)
		}
	}
}

// FuzzHMACTrailer checks that splitting and verifying arbitrary payloads
// never panics, that only a correctly signed trailer verifies, and that a
// trailer re-encodes byte for byte.
func FuzzHMACTrailer(f *testing.F) {
	// Seeds: keepalived's two appendix vectors (valid: the accept path).
	for _, v := range hmacVectors {
		f.Add(append(mustHex(f, v.msg), mustHex(f, v.tr)...), v.src.Is6())
	}
	// A v2 message with a trailer of zeros: malformed ext_type.
	msg, _ := Marshal(Advertisement{Version: Version2, VRID: 51, Priority: 100, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}, netip.Addr{}, netip.Addr{})
	f.Add(append(msg, make([]byte, HMACTrailerLen)...), false)
	// A bare header: too short to split.
	f.Add([]byte{0x31, 51, 200, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		src := netip.MustParseAddr("198.51.100.10")
		if ipv6 {
			src = netip.MustParseAddr("fe80::10")
		}
		m, tr := SplitHMACTrailer(b, src)
		if tr == nil {
			if !bytes.Equal(m, b) {
				t.Fatal("no trailer but the message changed")
			}
			return
		}
		if len(tr) != HMACTrailerLen || len(m)+len(tr) != len(b) {
			t.Fatalf("split %d + %d of %d", len(m), len(tr), len(b))
		}
		pt, err := ParseHMACTrailer(tr)
		if err != nil {
			t.Fatalf("ParseHMACTrailer: %v", err)
		}
		if !bytes.Equal(AppendHMACTrailer(nil, pt), tr) {
			t.Fatal("trailer does not re-encode")
		}
		h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, Monotonic: true}, 0)
		err = h.Verify(Version(b[0]>>4), b[1], src, m, tr, time.Now())
		signed := SignHMAC(slices.Clone(m), Version(b[0]>>4), b[1], src, pt.KeyID, hmacTestKey(), pt.Seq)
		valid := pt.KeyID == 1 && pt.ExtType == HMACTypeSHA256 && pt.Reserved == 0 && bytes.Equal(signed[len(m):], tr)
		if valid != (err == nil) {
			t.Fatalf("Verify = %v but correctly signed = %v", err, valid)
		}
	})
}

// BenchmarkHMACSignVerify is the auth_hmac cost of one advert: signing on
// the sender plus verifying on one receiver.
func BenchmarkHMACSignVerify(b *testing.B) {
	src := netip.MustParseAddr("172.16.1.2")
	msg, _ := Marshal(Advertisement{Version: Version3, VRID: 51, Priority: 150, AdvertInterval: time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("172.16.1.1")}}, src, MulticastIPv4)
	h := NewHMACVerifier(HMACConfig{Keys: map[uint8][]byte{1: hmacTestKey()}, ActiveKey: 1, Monotonic: true}, 0)
	b.ReportAllocs()
	for i := range b.N {
		pkt := SignHMAC(slices.Clone(msg), Version3, 51, src, 1, hmacTestKey(), uint64(i+1))
		m, tr := SplitHMACTrailer(pkt, src)
		if err := h.Verify(Version3, 51, src, m, tr, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
