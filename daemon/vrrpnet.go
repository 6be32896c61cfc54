package daemon

import (
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// instanceVIPs translates an instance's address lines: each on its device
// (the VMAC with use_vmac, see config.VRRPInstance.VIPDevice) and marked
// for the no_accept filter when the instance has no accept mode.
func instanceVIPs(in *config.VRRPInstance, vips []config.VirtualIP) []vrrp.VIP {
	out := make([]vrrp.VIP, 0, len(vips))
	for _, v := range vips {
		vip := vrrp.VIP{Prefix: v.Prefix, Interface: in.VIPDevice(v), Label: v.Label, Broadcast: v.Broadcast, NoAccept: in.NoAccept}
		vip.Scope, _ = config.AddressScope(v.Scope) // validated by the parser; "" is global
		for _, f := range []struct {
			set  bool
			flag uint32
		}{{v.Home, unix.IFA_F_HOMEADDRESS}, {v.NoDAD, unix.IFA_F_NODAD}, {v.NoPrefixRoute, unix.IFA_F_NOPREFIXROUTE}} {
			if f.set {
				vip.Flags |= f.flag
			}
		}
		out = append(out, vip)
	}
	return out
}
