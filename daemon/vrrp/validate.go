package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// DropReason says why a received packet was not given to the state machine.
// The zero value DropNone means the packet was accepted.
type DropReason uint8

// Reasons for dropping a received packet (keepalived counts most of them in
// its stats as well).
const (
	DropNone DropReason = iota
	DropTooShort
	DropVersion
	DropType
	DropChecksum
	DropLength
	DropAddressCount
	DropAddressFamily
	DropInterval
	DropTTL
	DropVRID
	DropAuthType
	DropAuth
	DropAdvertInterval
	DropOwnAddress
	DropUnknownPeer
	DropHMACMissing
	DropHMACMalformed
	DropHMACUnknownKey
	DropHMACBad
	DropHMACStale
	DropHMACReplay
	// DropAddressList: the advert's addresses differ from the instance's
	// virtual_ipaddress (keepalived's "ip address associated with VRID not
	// present in MASTER advert").
	DropAddressList
	dropReasonCount
)

var dropReasonNames = [...]string{
	DropNone:           "none",
	DropTooShort:       "too_short",
	DropVersion:        "bad_version",
	DropType:           "bad_type",
	DropChecksum:       "bad_checksum",
	DropLength:         "bad_length",
	DropAddressCount:   "bad_address_count",
	DropAddressFamily:  "bad_address_family",
	DropInterval:       "bad_interval",
	DropTTL:            "bad_ttl",
	DropVRID:           "other_vrid",
	DropAuthType:       "auth_type_mismatch",
	DropAuth:           "auth_failure",
	DropAdvertInterval: "advert_interval_mismatch",
	DropOwnAddress:     "own_address",
	DropUnknownPeer:    "unknown_peer",
	DropHMACMissing:    "hmac_missing",
	DropHMACMalformed:  "hmac_malformed",
	DropHMACUnknownKey: "hmac_unknown_key",
	DropHMACBad:        "hmac_invalid",
	DropHMACStale:      "hmac_stale",
	DropHMACReplay:     "hmac_replay",
	DropAddressList:    "address_list_mismatch",
}

// String returns a stable snake_case name, suitable as a metric label.
func (r DropReason) String() string {
	if int(r) < len(dropReasonNames) {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler (JSON map keys, status output).
func (r DropReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// DropReasons lists every reason except DropNone, in order (for metrics).
func DropReasons() []DropReason {
	out := make([]DropReason, 0, dropReasonCount-1)
	for r := DropNone + 1; r < dropReasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// DropReasonOf maps an error returned by Parse or HMACVerifier.Verify to its DropReason
// (DropNone for nil, DropLength for errors it does not know).
func DropReasonOf(err error) DropReason {
	switch {
	case err == nil:
		return DropNone
	case errors.Is(err, ErrTooShort):
		return DropTooShort
	case errors.Is(err, ErrVersion):
		return DropVersion
	case errors.Is(err, ErrType):
		return DropType
	case errors.Is(err, ErrChecksum):
		return DropChecksum
	case errors.Is(err, ErrAddressCount):
		return DropAddressCount
	case errors.Is(err, ErrAddressFamily):
		return DropAddressFamily
	case errors.Is(err, ErrInterval):
		return DropInterval
	case errors.Is(err, ErrHMACMissing):
		return DropHMACMissing
	case errors.Is(err, ErrHMACMalformed):
		return DropHMACMalformed
	case errors.Is(err, ErrHMACUnknownKey):
		return DropHMACUnknownKey
	case errors.Is(err, ErrHMACBad):
		return DropHMACBad
	case errors.Is(err, ErrHMACStale):
		return DropHMACStale
	case errors.Is(err, ErrHMACReplay):
		return DropHMACReplay
	default:
		return DropLength
	}
}

// ValidationParams is what Validate checks an advertisement against: the
// receiving instance's configuration.
type ValidationParams struct {
	// Version of the instance; adverts of the other version are dropped.
	Version Version
	// VRID of the instance.
	VRID uint8
	// AuthType and AuthData are the instance's v2 authentication.
	AuthType AuthType
	AuthData [AuthDataLen]byte
	// AdvertInterval of the instance. VRRPv2 drops a mismatch (as keepalived
	// does); VRRPv3 accepts it, a backup uses the master's interval (RFC 5798).
	AdvertInterval time.Duration
	// VirtualAddresses configured for the instance (compared as a set: an
	// advert with another list is dropped, as keepalived 2.2.7 does).
	VirtualAddresses []netip.Addr
	// Strict is strict mode (vrrp_strict). An advert whose address list
	// differs from VirtualAddresses is dropped with or without it.
	Strict bool
	// LocalAddresses are the instance's own source addresses: adverts from
	// them are our own looped back.
	LocalAddresses []netip.Addr
	// UnicastPeers, when not empty, are the only accepted sources (with AcceptFrom).
	UnicastPeers []netip.Addr
	// AcceptFrom (drlb_accept_from), when not empty, are the only accepted
	// sources (with UnicastPeers), multicast included.
	AcceptFrom []netip.Addr
	// SkipCheckAdvAddr is skip_check_adv_addr: an advert from
	// CurrentMaster is not checked against VirtualAddresses (keepalived
	// checks only when the master changes).
	SkipCheckAdvAddr bool
	// CurrentMaster is the master a backup follows (zero otherwise); set
	// per packet by the runtime.
	CurrentMaster netip.Addr
}

// PacketInfo is the IP-layer metadata of a received packet, as delivered by a Conn.
type PacketInfo struct {
	// Src is the IP source address.
	Src netip.Addr
	// Dst is the IP destination address (multicast group or our unicast address).
	Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit; negative when unknown (not checked).
	TTL int
	// IfIndex is the receiving interface, 0 when unknown.
	IfIndex int
}

// Verdict is the result of Validate.
type Verdict struct {
	// Drop is DropNone when the advertisement must go to the state machine.
	Drop DropReason
	// Detail explains the drop or the warning for the log.
	Detail string
	// AddressListMismatch is set (with Drop DropAddressList) when the
	// advert's address list differs from ours. keepalived 2.2.7 drops such
	// an advert (vrrp_check_packet: VRRP_PACKET_KO), in MASTER and BACKUP
	// alike (skip_check_adv_addr spares only the followed master's
	// adverts), so a stranger announcing other addresses cannot take the
	// VRID over.
	AddressListMismatch bool
}

// Validate checks a parsed advertisement received with info against the
// instance p, in keepalived's order. Checks that do not depend on the
// instance (checksum, length) were done by Parse.
func Validate(a Advertisement, info PacketInfo, p ValidationParams) Verdict {
	// keepalived checks the TTL of multicast adverts only: a unicast peer
	// may be routed (unicast_ttl), and its source is checked below.
	if info.TTL >= 0 && info.TTL != RequiredTTL && len(p.UnicastPeers) == 0 {
		return Verdict{Drop: DropTTL, Detail: fmt.Sprintf("TTL %d from %v, want %d", info.TTL, info.Src, RequiredTTL)}
	}
	if a.Version != p.Version {
		return Verdict{Drop: DropVersion, Detail: fmt.Sprintf("version %d from %v, instance uses %d", a.Version, info.Src, p.Version)}
	}
	if a.VRID != p.VRID {
		return Verdict{Drop: DropVRID, Detail: fmt.Sprintf("VRID %d from %v, instance has %d", a.VRID, info.Src, p.VRID)}
	}
	if slices.Contains(p.LocalAddresses, info.Src) {
		return Verdict{Drop: DropOwnAddress, Detail: fmt.Sprintf("advert from our own address %v", info.Src)}
	}
	if (len(p.UnicastPeers) > 0 || len(p.AcceptFrom) > 0) && !slices.Contains(p.UnicastPeers, info.Src) && !slices.Contains(p.AcceptFrom, info.Src) {
		return Verdict{Drop: DropUnknownPeer, Detail: fmt.Sprintf("advert from %v, a stranger: not a unicast_peer or drlb_accept_from source (priority %d)", info.Src, a.Priority)}
	}
	if a.Version == Version2 {
		if a.AuthType != p.AuthType {
			return Verdict{Drop: DropAuthType, Detail: fmt.Sprintf("auth type %v from %v, instance uses %v", a.AuthType, info.Src, p.AuthType)}
		}
		if p.AuthType == AuthPass && a.AuthData != p.AuthData {
			return Verdict{Drop: DropAuth, Detail: fmt.Sprintf("auth_pass from %v does not match", info.Src)}
		}
		if a.AdvertInterval != p.AdvertInterval {
			return Verdict{Drop: DropAdvertInterval, Detail: fmt.Sprintf("advert interval %v from %v, instance uses %v", a.AdvertInterval, info.Src, p.AdvertInterval)}
		}
	}
	skip := p.SkipCheckAdvAddr && p.CurrentMaster.IsValid() && info.Src == p.CurrentMaster
	if a.Priority != 0 && !skip && !sameAddressSet(a.Addresses, p.VirtualAddresses) {
		return Verdict{Drop: DropAddressList, AddressListMismatch: true, Detail: fmt.Sprintf("address list %v from %v differs from ours %v", a.Addresses, info.Src, p.VirtualAddresses)}
	}
	return Verdict{}
}

// sameAddressSet reports whether a and b hold the same addresses, ignoring order and duplicates.
func sameAddressSet(a, b []netip.Addr) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}
