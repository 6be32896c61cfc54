package daemon

import (
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// vrrpProtocol translates an instance's protocol tunables (its own or
// global_defs' vrrp_ forms, resolved by the parser) and the receive buffer
// sizing (kernel_rx_buf_size, vrrp_rx_bufs_policy).
func vrrpProtocol(c *config.Config, in *config.VRRPInstance, ic vrrp.InstanceConfig) vrrp.ProtocolOptions {
	g := c.Global
	p := in.Protocol
	o := vrrp.ProtocolOptions{
		HigherPrioSendAdvert:    p.HigherPrioSendAdvert != nil && *p.HigherPrioSendAdvert,
		LowerPrioNoAdvert:       p.LowerPrioNoAdvert != nil && *p.LowerPrioNoAdvert,
		DownTimerAdverts:        p.DownTimerAdverts,
		SkipCheckAdvAddr:        p.SkipCheckAdvAddr,
		UnicastTTL:              uint8(min(max(p.UnicastTTL, 0), 255)),
		V3ChecksumAsV2:          p.V3ChecksumAsV2,
		OldUnicastChecksum:      p.OldUnicastChecksum,
		OldUnicastChecksumNever: p.OldUnicastChecksumNever,
		NotifyMasterRxLowerPri:  p.NotifyMasterRxLowerPri,
		PromoteSecondaries:      p.PromoteSecondaries,
		NotifyPriorityChanges:   c.EffectiveNotifyPriorityChanges(in),
		NoPeerFault:             p.NoPeerFault,
		TrackSrcIP:              p.TrackSrcIP,
		NoVIPs:                  p.NoVirtualIPAddress,
		TimerExpiredBackup:      uint8(min(max(p.TimerExpiredBackup, 0), 254)),
	}
	if g.VRRPRxBufs.Kind == "MTU" && p.KernelRxBufSize == 0 {
		o.RxBufMTUs = g.VRRPRxBufs.Multiplier
		if o.RxBufMTUs <= 0 {
			o.RxBufMTUs = config.DefaultRxBufsMultiplier
		}
		return o
	}
	o.RxBufSize = config.RxBufSize(in, g.VRRPRxBufs, 0, advertLen(ic))
	return o
}

// advertLen is the size of ic's adverts with their IP header, for
// vrrp_rx_bufs_policy ADVERT: the IPv4 (20) or IPv6 (40) header, the VRRP
// header (8), the addresses and, for VRRPv2 over IPv4, the authentication
// data (8).
func advertLen(ic vrrp.InstanceConfig) int {
	if ic.IPv6() {
		return 40 + 8 + 16*len(ic.VIPs)
	}
	n := 20 + 8 + 4*len(ic.VIPs)
	if ic.Version != vrrp.Version3 {
		n += vrrp.AuthDataLen
	}
	return n
}
