package check

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ProbePing runs PING_CHECK: one ICMP (or ICMPv6) echo request to the
// connect address; an echo reply from it with our identifier and sequence
// within ConnectTimeout passes. It uses a raw socket (root or CAP_NET_RAW),
// else an unprivileged ICMP datagram socket (net.ipv4.ping_group_range),
// which keepalived prefers.
func ProbePing(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	fail := func(kind FailureKind, format string, a ...any) Result {
		return Result{Reason: "PING_CHECK: " + fmt.Sprintf(format, a...), Latency: time.Since(start), Failure: kind}
	}
	dst := spec.Addr.Addr().Unmap()
	v6 := dst.Is6()
	lc := net.ListenConfig{Control: sockControl(spec.FWMark, spec.BindIf)}
	local := ""
	if spec.BindTo.Addr().IsValid() {
		local = spec.BindTo.Addr().String()
	}
	nets := []string{"ip4:icmp", "udp4"}
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if v6 {
		nets = []string{"ip6:ipv6-icmp", "udp6"}
		reqType, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	var pc net.PacketConn
	var err error
	raw := true
	for i, network := range nets {
		pc, err = lc.ListenPacket(ctx, network, local)
		if err == nil {
			raw = i == 0
			break
		}
	}
	if err != nil {
		return fail(FailConnect, "open ICMP socket: %v", err)
	}
	defer func() { _ = pc.Close() }()
	_ = pc.SetDeadline(start.Add(spec.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var idb [4]byte
	_, _ = rand.Read(idb[:])
	id, seq := int(binary.BigEndian.Uint16(idb[:2])), int(binary.BigEndian.Uint16(idb[2:]))
	msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("drlb PING_CHECK")}}
	wb, err := msg.Marshal(nil)
	if err != nil {
		return fail(0, "marshal echo: %v", err)
	}
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice()}
	if !raw {
		to = &net.UDPAddr{IP: dst.AsSlice()}
	}
	if _, err := pc.WriteTo(wb, to); err != nil {
		return fail(FailConnect, "send echo to %s: %v", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return fail(FailCanceled, "canceled waiting for %s", dst)
			}
			if isTimeout(err) {
				return fail(FailTimeout, "no echo reply from %s within %s", dst, spec.ConnectTimeout)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fail(FailTimeout, "no echo reply from %s", dst)
			}
			return fail(FailReset, "reading echo reply: %v", err)
		}
		if addrOf(from) != dst {
			continue
		}
		rm, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || rm.Type != replyType {
			continue
		}
		echo, ok := rm.Body.(*icmp.Echo)
		// An ICMP datagram socket rewrites the identifier to its port.
		if !ok || echo.Seq != seq || (raw && echo.ID != id) {
			continue
		}
		return Result{OK: true, Reason: fmt.Sprintf("PING_CHECK: echo reply from %s", dst), Latency: time.Since(start)}
	}
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	out, _ := netip.AddrFromSlice(ip)
	return out.Unmap()
}
