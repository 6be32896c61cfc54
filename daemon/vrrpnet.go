package daemon

import (
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// instanceVIPs translates an instance's address lines: each on its device
// (the VMAC with use_vmac, see config.VRRPInstance.VIPDevice) and marked
// for the no_accept filter when the instance has no accept mode.
func instanceVIPs(in *config.VRRPInstance, vips []config.VirtualIP) []vrrp.VIP {
	out := make([]vrrp.VIP, 0, len(vips))
	for _, v := range vips {
		out = append(out, vrrp.VIP{Prefix: v.Prefix, Interface: in.VIPDevice(v), Label: v.Label, NoAccept: in.NoAccept})
	}
	return out
}
