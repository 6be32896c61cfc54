package vrrp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// keepalived's auth_hmac extension (keepalived 2.3+, vrrp_auth_hmac.c; Debian's
// keepalived 2.2.7 predates it): a 28-byte trailer after the VRRP message,
//
//	ext_type(1) key_id(1) reserved(2) sec(4) subsec(2) ctr(2) hmac(16)
//
// all in network order. sec is UTC seconds since the Unix epoch, subsec a
// 1/65536 s fraction, ctr a tie breaker: together a 64-bit sequence number
// compared with RFC 1982 serial arithmetic. hmac is HMAC-SHA256 truncated to
// 128 bits over a 20-byte pseudo-header (4 or 6, version, VRID, 0, the IP
// source address zero padded to 16 bytes), the message with its checksum
// field read as zero, the first 12 trailer bytes and 16 zero bytes. The IP
// header and destination are not covered, so one signed advert is valid
// for every unicast peer; the VRRP checksum covers the message only (the
// IPv4 length and v3 pseudo-header exclude the trailer).

// HMAC trailer layout.
const (
	// HMACTrailerLen is the size of the auth_hmac trailer.
	HMACTrailerLen = 28
	// HMACTypeSHA256 is the only ext_type: HMAC-SHA256 truncated to 128 bits.
	HMACTypeSHA256 = 1
	// HMACLen is the size of the truncated HMAC.
	HMACLen = 16
	// hmacPseudoLen is the pseudo-header bound into the HMAC.
	hmacPseudoLen = 20
	// hmacSignedPrefix is the part of the trailer before the HMAC.
	hmacSignedPrefix = HMACTrailerLen - HMACLen
)

// HMAC key bounds, as keepalived's.
const (
	HMACKeyMin = 32
	HMACKeyMax = 64
)

// HMACReplaySenders is how many multicast senders keep a replay mark; more
// legitimate senders per VRID than this only occur in contention, and an
// evicted sender's next advert is still checked against the time window.
const HMACReplaySenders = 4

// Sentinel errors of the HMAC check, wrapped with the detail; DropReasonOf
// maps them to DropReasons.
var (
	ErrHMACMissing    = errors.New("vrrp: auth_hmac trailer missing")
	ErrHMACMalformed  = errors.New("vrrp: auth_hmac trailer malformed")
	ErrHMACUnknownKey = errors.New("vrrp: auth_hmac unknown key id")
	ErrHMACBad        = errors.New("vrrp: auth_hmac invalid HMAC")
	ErrHMACStale      = errors.New("vrrp: auth_hmac stale timestamp")
	ErrHMACReplay     = errors.New("vrrp: auth_hmac replayed sequence")
)

// HMACTrailer is a decoded auth_hmac trailer.
type HMACTrailer struct {
	// ExtType is HMACTypeSHA256.
	ExtType uint8
	// KeyID selects the verifying key (1-255).
	KeyID uint8
	// Reserved must be zero.
	Reserved uint16
	// Seq is sec<<32 | subsec<<16 | ctr.
	Seq uint64
	// MAC is the truncated HMAC.
	MAC [HMACLen]byte
}

// Seconds returns the sequence's UTC seconds field.
func (t HMACTrailer) Seconds() uint32 { return uint32(t.Seq >> 32) }

// ParseHMACTrailer decodes a trailer of exactly HMACTrailerLen bytes.
func ParseHMACTrailer(b []byte) (HMACTrailer, error) {
	var t HMACTrailer
	if len(b) != HMACTrailerLen {
		return t, fmt.Errorf("%w: %d bytes, want %d", ErrHMACMalformed, len(b), HMACTrailerLen)
	}
	t.ExtType, t.KeyID = b[0], b[1]
	t.Reserved = binary.BigEndian.Uint16(b[2:])
	t.Seq = binary.BigEndian.Uint64(b[4:])
	copy(t.MAC[:], b[hmacSignedPrefix:])
	return t, nil
}

// AppendHMACTrailer appends t's wire form to b.
func AppendHMACTrailer(b []byte, t HMACTrailer) []byte {
	b = append(b, t.ExtType, t.KeyID)
	b = binary.BigEndian.AppendUint16(b, t.Reserved)
	b = binary.BigEndian.AppendUint64(b, t.Seq)
	return append(b, t.MAC[:]...)
}

// SplitHMACTrailer splits a received VRRP payload into the message and an
// auth_hmac trailer when its length is exactly the message's (from the
// header's address count) plus HMACTrailerLen; otherwise the trailer is nil
// and Parse judges the message. src tells a v3 message's address family.
func SplitHMACTrailer(b []byte, src netip.Addr) (msg, trailer []byte) {
	if len(b) < headerLen {
		return b, nil
	}
	count := int(b[3])
	var want int
	switch Version(b[0] >> 4) {
	case Version2:
		want = headerLen + 4*count + v2TrailerLn
	case Version3:
		addrLen := 4
		if src.Is6() && !src.Is4In6() {
			addrLen = 16
		}
		want = headerLen + addrLen*count
	default:
		return b, nil
	}
	if len(b) != want+HMACTrailerLen {
		return b, nil
	}
	return b[:want], b[want:]
}

// HMACDigest returns the truncated HMAC-SHA256 of a message (msg, the VRRP
// message without the trailer) sent from src, for a trailer whose first 12
// bytes are prefix. The checksum field of msg is read as zero.
func HMACDigest(key []byte, v Version, vrid uint8, src netip.Addr, msg []byte, prefix [hmacSignedPrefix]byte) [HMACLen]byte {
	var pseudo [hmacPseudoLen]byte
	pseudo[0] = 4
	if src.Is6() && !src.Is4In6() {
		pseudo[0] = 6
	}
	pseudo[1], pseudo[2] = uint8(v), vrid
	copy(pseudo[4:], src.Unmap().AsSlice())
	m := hmac.New(sha256.New, key)
	m.Write(pseudo[:])
	if len(msg) >= headerLen {
		m.Write(msg[:6])
		m.Write([]byte{0, 0})
		m.Write(msg[8:])
	} else {
		m.Write(msg)
	}
	m.Write(prefix[:])
	var zero [HMACLen]byte
	m.Write(zero[:])
	var out [HMACLen]byte
	copy(out[:], m.Sum(nil))
	return out
}

// SignHMAC appends a signed trailer (key keyID, sequence seq) to msg, a
// marshalled VRRP message from src.
func SignHMAC(msg []byte, v Version, vrid uint8, src netip.Addr, keyID uint8, key []byte, seq uint64) []byte {
	t := HMACTrailer{ExtType: HMACTypeSHA256, KeyID: keyID, Seq: seq}
	prefix := [hmacSignedPrefix]byte(AppendHMACTrailer(nil, t)[:hmacSignedPrefix])
	t.MAC = HMACDigest(key, v, vrid, src, msg, prefix)
	return AppendHMACTrailer(msg, t)
}

// ClockSeq packs a wall-clock reading into a sequence number with a zero counter.
func ClockSeq(now time.Time) uint64 {
	sub := uint64(now.Nanosecond()) << 16 / uint64(time.Second)
	return uint64(uint32(now.Unix()))<<32 | sub<<16
}

// SeqAfter reports whether sequence a comes after b (RFC 1982 serial arithmetic).
func SeqAfter(a, b uint64) bool { return int64(a-b) > 0 }

// NextHMACSeq returns the sequence to send after last at now: the clock,
// or last+1 when the clock has not moved past it. In time mode a last value
// stranded more than window ahead of the clock (a corrected clock step)
// restarts from the clock, as keepalived does.
func NextHMACSeq(last uint64, now time.Time, timeMode bool, window time.Duration) uint64 {
	clk := ClockSeq(now)
	if SeqAfter(clk, last) {
		return clk
	}
	ahead := int32(uint32(last>>32) - uint32(clk>>32))
	if timeMode && time.Duration(ahead)*time.Second > window {
		return clk
	}
	return last + 1
}

// HMACMode is auth_hmac's mode.
type HMACMode uint8

// auth_hmac modes.
const (
	// HMACEnforce signs and accepts only adverts with a valid trailer (default).
	HMACEnforce HMACMode = iota
	// HMACPermissive signs and also accepts adverts without a trailer.
	HMACPermissive
	// HMACReceiveOnly verifies a trailer when present and signs nothing.
	HMACReceiveOnly
)

// String returns keepalived's keyword for the mode.
func (m HMACMode) String() string {
	switch m {
	case HMACEnforce:
		return "enforce"
	case HMACPermissive:
		return "permissive"
	case HMACReceiveOnly:
		return "receive-only"
	}
	return fmt.Sprintf("HMACMode(%d)", uint8(m))
}

// HMACConfig is an instance's auth_hmac block.
type HMACConfig struct {
	// Keys are the keys by id (1-255), each HMACKeyMin-HMACKeyMax bytes.
	Keys map[uint8][]byte
	// ActiveKey is the id used when sending; it must be in Keys.
	ActiveKey uint8
	// Monotonic is anti_replay monotonic: no freshness window, only strictly
	// growing sequences per sender. The default (false) is anti_replay time.
	Monotonic bool
	// TimeWindow is time_window; zero means DefaultHMACWindow(advert_int).
	TimeWindow time.Duration
	// Mode is enforce, permissive or receive-only.
	Mode HMACMode
}

// DefaultHMACWindow is keepalived's default time_window: three times the
// whole seconds of advert_int, at least 5 s and at most 300 s.
func DefaultHMACWindow(advert time.Duration) time.Duration {
	w := 3 * (advert / time.Second) * time.Second
	return min(max(w, 5*time.Second), 300*time.Second)
}

// HMACVerifier checks received trailers for one instance and keeps the
// per-sender anti-replay marks. It is not safe for concurrent use (the
// node's loop owns it).
type HMACVerifier struct {
	cfg     HMACConfig
	window  time.Duration
	senders []replaySlot
	clock   uint64
}

type replaySlot struct {
	src     netip.Addr
	seq     uint64
	valid   bool
	lastUse uint64 // LRU rank; 0 is empty
}

// NewHMACVerifier returns a verifier for cfg keeping marks for up to
// senders sources (at least HMACReplaySenders).
func NewHMACVerifier(cfg HMACConfig, senders int) *HMACVerifier {
	w := cfg.TimeWindow
	if w == 0 {
		w = DefaultHMACWindow(time.Second)
	}
	return &HMACVerifier{cfg: cfg, window: w, senders: make([]replaySlot, max(senders, HMACReplaySenders))}
}

// Verify checks the trailer t of msg (the VRRP message) received from src
// at now, for an instance of version v and VRID vrid. A nil t is a missing
// trailer: accepted unless the mode is enforce. Only an advert whose HMAC
// verifies moves the sender's replay mark. Errors wrap the ErrHMAC* sentinels.
func (h *HMACVerifier) Verify(v Version, vrid uint8, src netip.Addr, msg, t []byte, now time.Time) error {
	if t == nil {
		if h.cfg.Mode == HMACEnforce {
			return fmt.Errorf("%w from %v", ErrHMACMissing, src)
		}
		return nil
	}
	tr, err := ParseHMACTrailer(t)
	if err != nil {
		return err
	}
	if tr.ExtType != HMACTypeSHA256 || tr.Reserved != 0 {
		return fmt.Errorf("%w: ext_type %d reserved %d from %v", ErrHMACMalformed, tr.ExtType, tr.Reserved, src)
	}
	// The timestamp is not authenticated yet: it may only reject here,
	// before the digest, so that a flood of stale captures costs no HMAC.
	if !h.cfg.Monotonic {
		skew := time.Duration(int32(uint32(now.Unix())-tr.Seconds())) * time.Second
		if skew > h.window || skew < -h.window {
			return fmt.Errorf("%w from %v: clock skew %v exceeds the %v window", ErrHMACStale, src, skew, h.window)
		}
	}
	key, ok := h.cfg.Keys[tr.KeyID]
	if !ok {
		return fmt.Errorf("%w %d from %v", ErrHMACUnknownKey, tr.KeyID, src)
	}
	want := HMACDigest(key, v, vrid, src, msg, [hmacSignedPrefix]byte(t[:hmacSignedPrefix]))
	if !hmac.Equal(want[:], tr.MAC[:]) {
		return fmt.Errorf("%w from %v (key %d)", ErrHMACBad, src, tr.KeyID)
	}
	slot := h.slot(src)
	if slot.valid && !h.cfg.Monotonic {
		// A mark outside the window only orders packets the window rejects
		// anyway: expire it, so a sender reset by a clock step recovers.
		age := time.Duration(int32(uint32(now.Unix())-uint32(slot.seq>>32))) * time.Second
		if age > h.window || age < -h.window {
			slot.valid = false
		}
	}
	if slot.valid && !SeqAfter(tr.Seq, slot.seq) {
		return fmt.Errorf("%w from %v: %#x not after %#x", ErrHMACReplay, src, tr.Seq, slot.seq)
	}
	slot.valid, slot.seq = true, tr.Seq
	return nil
}

// slot returns src's replay slot, evicting the least recently used one.
func (h *HMACVerifier) slot(src netip.Addr) *replaySlot {
	h.clock++
	var victim *replaySlot
	for i := range h.senders {
		s := &h.senders[i]
		if s.lastUse != 0 && s.src == src {
			s.lastUse = h.clock
			return s
		}
		if victim == nil || s.lastUse < victim.lastUse {
			victim = s
		}
	}
	*victim = replaySlot{src: src, lastUse: h.clock}
	return victim
}
