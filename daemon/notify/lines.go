// Package notify delivers keepalived's notifications other than scripts:
// the lines it writes to notify_fifo, vrrp_notify_fifo and lvs_notify_fifo
// (format functions and a FIFO writer that never blocks), and smtp_alert
// e-mails through smtp_server (subjects and bodies as keepalived's, sent
// with the standard library's net/smtp).
//
// The line formats follow keepalived 2.2 (vrrp/vrrp_notify.c notify_fifo,
// check/ipwrapper.c notify_fifo_vs and notify_fifo_rs):
//
//	INSTANCE "VI_1" MASTER 100
//	GROUP "VG_1" BACKUP 0
//	VS [172.16.1.1]:tcp:80 UP
//	RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 DOWN
package notify

import (
	"fmt"
	"net/netip"
	"strings"
)

// InstanceLine is the FIFO line for a vrrp_instance entering state (MASTER,
// BACKUP, FAULT or STOP) with its effective priority.
func InstanceLine(name, state string, priority int) string {
	return fmt.Sprintf("INSTANCE %q %s %d\n", name, state, priority)
}

// GroupLine is the FIFO line for a vrrp_sync_group entering state; keepalived
// writes priority 0 for a group.
func GroupLine(name, state string) string {
	return fmt.Sprintf("GROUP %q %s 0\n", name, state)
}

// Service names a virtual server the way keepalived's FMT_VS prints it:
// "[ADDR]:proto:PORT" (inet_sockaddrtotrio: protocol in lower case,
// "none" without one) or "FWM N".
type Service struct {
	// Address and Port are the service's; zero for a fwmark service.
	Address netip.Addr
	// Port is the service port.
	Port uint16
	// Protocol is TCP, UDP or SCTP (any case).
	Protocol string
	// FWMark is the mark of a fwmark service (0 otherwise).
	FWMark uint32
}

// String formats the service as keepalived's FMT_VS.
func (s Service) String() string {
	if s.FWMark != 0 {
		return fmt.Sprintf("FWM %d", s.FWMark)
	}
	return trio(s.Address, s.Protocol, s.Port)
}

// Real formats a real server of a service with protocol as keepalived 2's
// FMT_RS (format_rs): "[ADDR]:proto:PORT", the service's protocol.
func Real(addr netip.Addr, port uint16, protocol string) string {
	return trio(addr, protocol, port)
}

// trio is keepalived's inet_sockaddrtotrio.
func trio(addr netip.Addr, protocol string, port uint16) string {
	p := strings.ToLower(protocol)
	if p == "" {
		p = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", addr, p, port)
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// VSLine is the FIFO line for a virtual server gaining (up) or losing quorum.
func VSLine(vs Service, up bool) string {
	return "VS " + vs.String() + " " + upDown(up) + "\n"
}

// RSLine is the FIFO line for a real server of vs going up or down.
func RSLine(rs string, vs Service, up bool) string {
	return "RS " + rs + " " + vs.String() + " " + upDown(up) + "\n"
}
