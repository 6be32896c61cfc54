package dataplane

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// FormatIPVSADM writes o in the layout of `ipvsadm -ln`, so operators read
// `drlb status` as they read ipvsadm for either data plane.
func FormatIPVSADM(w io.Writer, o Observation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "IP Virtual Server version %s\n", o.Version)
	b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
	b.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	for _, s := range o.Services {
		if s.FWMark != 0 {
			fmt.Fprintf(&b, "FWM  %d %s", s.FWMark, s.EffectiveScheduler())
		} else {
			fmt.Fprintf(&b, "%s  %s %s", s.Protocol, hostPort(s.VIP, s.Port), s.EffectiveScheduler())
		}
		if names := s.Flags.schedNames(s.EffectiveScheduler()); names != "" {
			fmt.Fprintf(&b, " (%s)", names)
		}
		if s.PersistenceTimeout > 0 {
			fmt.Fprintf(&b, " persistent %d", int64(s.PersistenceTimeout.Seconds()))
			if bits := s.EffectivePersistenceBits(); s.addrBits() == 32 && bits != 32 {
				fmt.Fprintf(&b, " mask %s", net.IP(net.CIDRMask(bits, 32)))
			} else if s.addrBits() == 128 && bits != 128 {
				fmt.Fprintf(&b, " mask %d", bits)
			}
		}
		if s.Flags&OnePacket != 0 {
			b.WriteString(" ops")
		}
		if s.PersistenceEngine != "" {
			fmt.Fprintf(&b, " pe %s", s.PersistenceEngine)
		}
		b.WriteString("\n")
		for _, r := range s.Observed {
			fmt.Fprintf(&b, "  -> %-28s %-7s %-6d %-10d %-10d\n", hostPort(r.Addr, r.Port), s.RealMethod(r.Real).IPVSName(),
				r.Weight, r.ActiveConn, r.InActConn)
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("dataplane: write status: %w", err)
	}
	return nil
}

func hostPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}
