package check

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// DefaultMaxReplyLength is keepalived's UDP_CHECK max_reply_length default.
const DefaultMaxReplyLength = 255

// ProbeUDP runs UDP_CHECK as keepalived's check_udp does: send one
// datagram (Payload, or random bytes) from a connected socket and wait up
// to ConnectTimeout. An ICMP error (port, host or network unreachable) fails
// the check. Without RequireReply, silence until the timeout passes; with
// it, a reply must arrive, its length must lie in [MinReplyLength,
// MaxReplyLength] and, when Reply is set, it must match Reply under
// ReplyMask over the shorter of the two lengths.
func ProbeUDP(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	fail := func(kind FailureKind, format string, a ...any) Result {
		return Result{Reason: "UDP_CHECK: " + fmt.Sprintf(format, a...), Latency: time.Since(start), Failure: kind}
	}
	conn, err := udpDialer(spec).DialContext(ctx, "udp", spec.Addr.String())
	if err != nil {
		return fail(FailConnect, "%v", err)
	}
	defer func() { _ = conn.Close() }()
	deadline := start.Add(spec.ConnectTimeout)
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	payload := spec.UDP.Payload
	if len(payload) == 0 {
		payload = make([]byte, 16)
		_, _ = rand.Read(payload)
	}
	if _, err := conn.Write(payload); err != nil {
		return fail(udpKind(ctx, err), "sending to %s: %v", spec.Addr, err)
	}
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		if isTimeout(err) && ctx.Err() == nil {
			if !spec.UDP.RequireReply {
				return Result{OK: true, Reason: fmt.Sprintf("UDP_CHECK: no error from %s within %s", spec.Addr, spec.ConnectTimeout), Latency: time.Since(start)}
			}
			return fail(FailTimeout, "no reply from %s within %s", spec.Addr, spec.ConnectTimeout)
		}
		return fail(udpKind(ctx, err), "%s: %v", spec.Addr, err)
	}
	if spec.UDP.RequireReply {
		if reason := checkUDPReply(spec.UDP, buf[:n]); reason != "" {
			return fail(0, "reply from %s: %s", spec.Addr, reason)
		}
	}
	return Result{OK: true, Reason: fmt.Sprintf("UDP_CHECK: %d-byte reply from %s", n, spec.Addr), Latency: time.Since(start)}
}

// checkUDPReply returns why reply does not satisfy u, or "".
func checkUDPReply(u UDPSpec, reply []byte) string {
	maxLen := u.MaxReplyLength
	if maxLen <= 0 {
		maxLen = DefaultMaxReplyLength
	}
	if len(reply) < u.MinReplyLength || len(reply) > maxLen {
		return fmt.Sprintf("length %d not in %d..%d", len(reply), u.MinReplyLength, maxLen)
	}
	for i := range min(len(reply), len(u.Reply)) {
		mask := byte(0xff)
		if i < len(u.ReplyMask) {
			mask = u.ReplyMask[i]
		}
		if (reply[i]^u.Reply[i])&mask != 0 {
			return fmt.Sprintf("byte %d is %#02x, want %#02x (mask %#02x)", i, reply[i], u.Reply[i], mask)
		}
	}
	return ""
}

func udpKind(ctx context.Context, err error) FailureKind {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ECONNREFUSED || errno == syscall.EHOSTUNREACH || errno == syscall.ENETUNREACH) {
		return FailConnect
	}
	var oe *net.OpError
	if errors.As(err, &oe) && errors.Is(oe.Err, syscall.ECONNREFUSED) {
		return FailConnect
	}
	return ioKind(ctx, err)
}
