package daemon

import (
	"fmt"
	"slices"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// translateHardening carries an instance's advert hardening (drlb_accept_from,
// auth_hmac) into ic.
func translateHardening(in config.VRRPInstance, ic *vrrp.InstanceConfig) error {
	ic.AcceptFrom = slices.Clone(in.AcceptFrom)
	if in.AuthHMAC != nil {
		return fmt.Errorf("%s:%d: vrrp_instance %s: auth_hmac is not implemented yet", in.AuthHMAC.Pos.File, in.AuthHMAC.Pos.Line, in.Name)
	}
	return nil
}
