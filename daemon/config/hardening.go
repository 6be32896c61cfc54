package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// VRRP advert hardening: keepalived's auth_hmac block and check_unicast_src,
// and drlb's drlb_accept_from extension.

// HMAC key and window bounds, as keepalived (vrrp_auth_hmac.h) defines them.
const (
	// HMACKeyMin is the shortest key, in bytes.
	HMACKeyMin = 32
	// HMACKeyMax is the longest key, in bytes.
	HMACKeyMax = 64
	// HMACWindowMin is the shortest time_window.
	HMACWindowMin = time.Second
	// HMACWindowMax is the longest time_window.
	HMACWindowMax = 300 * time.Second
)

// HMAC anti_replay and mode values, keepalived's spelling.
const (
	// HMACReplayTime enforces a freshness window (synchronised clocks).
	HMACReplayTime = "time"
	// HMACReplayMonotonic only requires strictly growing sequences.
	HMACReplayMonotonic = "monotonic"
	// HMACModeEnforce requires a valid trailer on every advert.
	HMACModeEnforce = "enforce"
	// HMACModePermissive signs and also accepts adverts without a trailer.
	HMACModePermissive = "permissive"
	// HMACModeReceiveOnly verifies a trailer when present but signs nothing.
	HMACModeReceiveOnly = "receive-only"
)

// AuthHMAC is keepalived's auth_hmac block (vrrp_instance): adverts carry an
// HMAC-SHA256 trailer with a time-based sequence number against forgery and
// replay.
type AuthHMAC struct {
	// Pos is where the block starts.
	Pos Position `json:"pos"`
	// Keys are the key lines, by id.
	Keys []HMACKey `json:"keys"`
	// ActiveKey is active_key: the id used when sending.
	ActiveKey int `json:"active_key"`
	// AntiReplay is anti_replay: HMACReplayTime (default) or HMACReplayMonotonic.
	AntiReplay string `json:"anti_replay"`
	// TimeWindow is time_window (1-300 s); zero means keepalived's default,
	// max(3 × whole seconds of advert_int, 5 s).
	TimeWindow time.Duration `json:"time_window,omitempty"`
	// Mode is mode: HMACModeEnforce (default), HMACModePermissive or HMACModeReceiveOnly.
	Mode string `json:"mode"`
}

// HMACKey is one "key ID VALUE" line of auth_hmac.
type HMACKey struct {
	// ID is 1-255.
	ID int `json:"id"`
	// Key is the key material, 32-64 bytes; never dumped.
	Key []byte `json:"-"`
	// From says where the key came from: "inline" or the file of a file: value.
	From string `json:"from"`
}

// authHMAC parses an auth_hmac block.
func (p *parser) authHMAC(b *node) *AuthHMAC {
	if !p.needBlock(b) {
		return nil
	}
	a := &AuthHMAC{Pos: p.pos(b.key.pos), AntiReplay: HMACReplayTime, Mode: HMACModeEnforce}
	var activeTok token
	named := map[int]bool{} // ids of key lines, valid or not
	for _, n := range b.children {
		switch n.key.text {
		case "key":
			if !p.valueOnly(n) {
				continue
			}
			if len(n.args) < 2 {
				p.errAt(afterKey(n), "auth_hmac key needs an id and a value")
				continue
			}
			id, ok := p.intTok("auth_hmac key id", n.args[0], 1, 255)
			if !ok {
				continue
			}
			named[id] = true
			if len(n.args) > 2 {
				p.warnAt(n.args[2].pos, "auth_hmac key takes an id and one value; extra %q ignored", n.args[2].text)
			}
			k, err := readHMACKey(n.args[1].text)
			if err != nil {
				p.errAt(n.args[1].pos, "auth_hmac key %d: %v", id, err)
				continue
			}
			if k.warn != "" {
				p.warnAt(n.args[1].pos, "auth_hmac key %d: %s", id, k.warn)
			}
			if len(k.data) < HMACKeyMin || len(k.data) > HMACKeyMax {
				p.errAt(n.args[1].pos, "auth_hmac key %d is %d bytes: must be %d..%d", id, len(k.data), HMACKeyMin, HMACKeyMax)
				continue
			}
			dup := false
			for _, have := range a.Keys {
				dup = dup || have.ID == id
			}
			if dup {
				p.errAt(n.args[0].pos, "auth_hmac key id %d is defined twice", id)
				continue
			}
			a.Keys = append(a.Keys, HMACKey{ID: id, Key: k.data, From: k.from})
		case "active_key":
			if t, ok := p.one(n); ok {
				if v, ok := p.intTok("auth_hmac active_key", t, 1, 255); ok {
					a.ActiveKey, activeTok = v, t
				}
			}
		case "anti_replay":
			if t, ok := p.one(n); ok {
				switch t.text {
				case HMACReplayTime, HMACReplayMonotonic:
					a.AntiReplay = t.text
				default:
					p.errAt(t.pos, "auth_hmac anti_replay %q: must be time or monotonic", t.text)
				}
			}
		case "time_window":
			if t, ok := p.one(n); ok {
				if v, ok := p.intTok("auth_hmac time_window", t, int(HMACWindowMin/time.Second), int(HMACWindowMax/time.Second)); ok {
					a.TimeWindow = time.Duration(v) * time.Second
				}
			}
		case "mode":
			if t, ok := p.one(n); ok {
				switch t.text {
				case HMACModeEnforce, HMACModePermissive, HMACModeReceiveOnly:
					a.Mode = t.text
				default:
					p.errAt(t.pos, "auth_hmac mode %q: must be enforce, permissive or receive-only", t.text)
				}
			}
		default:
			p.unknown(n, "auth_hmac", "auth_hmac")
		}
	}
	switch {
	case a.ActiveKey == 0:
		// keepalived disables the extension then and runs unauthenticated;
		// drlb refuses rather than run without the protection asked for.
		p.errAt(b.key.pos, "auth_hmac needs an active_key naming one of its keys")
	case !hasHMACKey(a.Keys, a.ActiveKey) && !named[a.ActiveKey]: // a bad key line was reported already
		p.errAt(activeTok.pos, "auth_hmac active_key %d is not one of its keys", a.ActiveKey)
	}
	return a
}

func hasHMACKey(keys []HMACKey, id int) bool {
	for _, k := range keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

type hmacKeyValue struct {
	data []byte
	from string
	warn string
}

// readHMACKey decodes a key value as keepalived does: "hex:" raw bytes,
// "file:PATH" the same from a file (one trailing newline dropped), else
// the ASCII string itself.
func readHMACKey(v string) (hmacKeyValue, error) {
	out := hmacKeyValue{from: "inline"}
	if path, ok := strings.CutPrefix(v, "file:"); ok {
		f, err := os.Open(path)
		if err != nil {
			return out, fmt.Errorf("read key file: %w", err)
		}
		defer f.Close() //nolint:errcheck // read-only: nothing to flush
		fi, err := f.Stat()
		if err != nil {
			return out, fmt.Errorf("read key file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			out.warn = fmt.Sprintf("key file %s is readable by group or others (mode %04o)", path, fi.Mode().Perm())
		}
		buf := make([]byte, 4+2*HMACKeyMax+8)
		n, _ := f.Read(buf)
		if n == len(buf) {
			return out, fmt.Errorf("key file %s is too large", path)
		}
		v = strings.TrimRight(string(buf[:n]), "\r\n")
		out.from = path
	}
	if h, ok := strings.CutPrefix(v, "hex:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return out, fmt.Errorf("hex: value: %w", err)
		}
		out.data = b
		return out, nil
	}
	out.data = []byte(v)
	return out, nil
}

// acceptFrom parses "drlb_accept_from ADDR [ADDR…]" (repeatable).
func (p *parser) acceptFrom(n *node, in *VRRPInstance) {
	if !p.valueOnly(n) {
		return
	}
	if len(n.args) == 0 {
		p.errAt(afterKey(n), "drlb_accept_from needs at least one address")
		return
	}
	for _, t := range n.args {
		if a, ok := p.addrTok("drlb_accept_from", t); ok {
			in.AcceptFrom = append(in.AcceptFrom, a)
		}
	}
}

// checkHardening reports combinations the instance's keywords forbid.
func (p *parser) checkHardening(b *node, in *VRRPInstance) {
	for _, n := range b.children {
		switch n.key.text {
		case "auth_hmac":
			if in.AuthHMAC != nil && in.Auth.Type != AuthNone {
				// keepalived drops the authentication block then, with a
				// configuration error; drlb refuses the ambiguity.
				p.errAt(n.key.pos, "auth_hmac cannot be combined with authentication (auth_type %s): remove one", in.Auth.Type)
			}
		case "drlb_accept_from":
			for _, t := range n.args {
				if a, err := netip.ParseAddr(t.text); err == nil && !a.Unmap().Is4() {
					p.errAt(t.pos, "drlb_accept_from %s: only IPv4 VRRP is implemented", a)
				}
			}
		}
	}
}
