package daemon

import (
	"slices"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// translateHardening carries an instance's advert hardening (drlb_accept_from,
// auth_hmac) into ic. The config package has validated both.
func translateHardening(in config.VRRPInstance, ic *vrrp.InstanceConfig) error {
	ic.AcceptFrom = slices.Clone(in.AcceptFrom)
	if a := in.AuthHMAC; a != nil {
		h := &vrrp.HMACConfig{Keys: map[uint8][]byte{}, ActiveKey: uint8(a.ActiveKey),
			Monotonic: a.AntiReplay == config.HMACReplayMonotonic, TimeWindow: a.TimeWindow}
		for _, k := range a.Keys {
			h.Keys[uint8(k.ID)] = slices.Clone(k.Key)
		}
		switch a.Mode {
		case config.HMACModePermissive:
			h.Mode = vrrp.HMACPermissive
		case config.HMACModeReceiveOnly:
			h.Mode = vrrp.HMACReceiveOnly
		default:
			h.Mode = vrrp.HMACEnforce
		}
		ic.AuthHMAC = h
	}
	return nil
}
