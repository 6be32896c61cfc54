package check

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
)

// FailureKind classifies why a fetch failed, for reasons and tests.
type FailureKind int

// Failure kinds of Fetch.
const (
	FailConnect    FailureKind = iota + 1 // connection refused, unreachable, bind failure
	FailTimeout                           // connect, request or response exceeded the deadline
	FailTLS                               // TLS handshake failed
	FailReset                             // connection reset or other read/write error
	FailNoData                            // connection closed before the end of the headers
	FailHeadTooBig                        // no end of headers within MaxHeadBytes
	FailTooLarge                          // response larger than the limit
	FailCanceled                          // the caller's context ended
)

// String names the failure kind.
func (k FailureKind) String() string {
	switch k {
	case FailConnect:
		return "connect"
	case FailTimeout:
		return "timeout"
	case FailTLS:
		return "tls"
	case FailReset:
		return "reset"
	case FailNoData:
		return "no-data"
	case FailHeadTooBig:
		return "head-too-large"
	case FailTooLarge:
		return "too-large"
	case FailCanceled:
		return "canceled"
	}
	return "FailureKind(" + strconv.Itoa(int(k)) + ")"
}

// FetchError is a failed Fetch. Its message is the probe's reason.
type FetchError struct {
	Kind FailureKind
	// Msg says what happened, with the object and the numbers that matter.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error returns the reason, with the underlying error when there is one.
func (e *FetchError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying error.
func (e *FetchError) Unwrap() error { return e.Err }

// FetchRequest is one keepalived-style GET.
type FetchRequest struct {
	// Addr is the server to connect to.
	Addr netip.AddrPort
	// BindTo is the local address (zero: any).
	BindTo netip.AddrPort
	// FWMark sets SO_MARK when non-zero.
	FWMark uint32
	// Path is the request target.
	Path string
	// VirtualHost is the Host header value; empty means "ip:port" of Addr
	// ("[ip]:port" for IPv6), as keepalived does.
	VirtualHost string
	// Protocol selects the request line version and Connection header.
	Protocol HTTPProtocol
	// TLS, when non-nil, wraps the connection (SSL_GET).
	TLS *tls.Config
	// Timeout bounds the whole exchange (connect, request, response).
	Timeout time.Duration
	// MaxResponseBytes bounds head plus body; 0 or negative means unlimited.
	MaxResponseBytes int64
	// BindIf binds the socket to an interface (bind_if) when not empty.
	BindIf string
	// KeepBody keeps the hashed body bytes in FetchResult.Body (for regex).
	KeepBody bool
	// OnHead, if set, is called with the raw head bytes (genhash -v).
	OnHead func(head []byte)
}

// FetchResult is a completed exchange. The status is not judged here.
type FetchResult struct {
	Head ResponseHead
	// BodyBytes counts all body bytes received (past Content-Length too).
	BodyBytes int64
	// HashedBytes counts the body bytes that went into Digest.
	HashedBytes int64
	// Digest is the MD5 over the body, capped at Content-Length.
	Digest [16]byte
	// Body is the hashed body when FetchRequest.KeepBody was set.
	Body []byte
	// Connect, FirstByte and Total are durations since the start.
	Connect, FirstByte, Total time.Duration
}

// RequestBytes returns the exact request keepalived sends.
func RequestBytes(path, host string, p HTTPProtocol) []byte {
	b := make([]byte, 0, 96+len(path)+len(host))
	b = append(b, "GET "...)
	b = append(b, path...)
	if p == HTTP11 {
		b = append(b, " HTTP/1.1\r\n"...)
	} else {
		b = append(b, " HTTP/1.0\r\n"...)
	}
	b = append(b, "User-Agent: KeepAliveClient\r\n"...)
	if p == HTTP10Close || p == HTTP11 {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "Host: "...)
	b = append(b, host...)
	b = append(b, "\r\n\r\n"...)
	return b
}

// HostHeader returns keepalived's Host value: the virtual host if set,
// otherwise "ip:port" ("[ip]:port" for IPv6).
func HostHeader(vhost string, addr netip.AddrPort) string {
	if vhost != "" {
		return vhost
	}
	return addr.String()
}

// Fetch performs one GET exactly as keepalived does and hashes the body.
// Every failure is a *FetchError whose message is a human-readable reason.
func Fetch(ctx context.Context, req FetchRequest) (FetchResult, error) {
	var res FetchResult
	start := time.Now()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		// The caller's deadline comes first: hitting it is a cancellation,
		// not the server's fault. The socket deadline can fire before the
		// context notices, so judge by the clock.
		deadline = d
		ctx = withClockDeadline(ctx, d)
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	conn, err := dialIf(dctx, req.Addr, req.BindTo, req.FWMark, req.BindIf)
	if err != nil {
		return res, classifyDial(ctx, err, req.Addr, timeout)
	}
	defer func() { _ = conn.Close() }()
	res.Connect = time.Since(start)
	// The deadline bounds every later step; closing on cancel unblocks reads.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rw := conn
	if req.TLS != nil {
		tc := tls.Client(conn, req.TLS)
		if err := tc.HandshakeContext(dctx); err != nil {
			if ctx.Err() != nil {
				return res, &FetchError{Kind: FailCanceled, Msg: fmt.Sprintf("TLS handshake with %s canceled", req.Addr), Err: ctx.Err()}
			}
			if dctx.Err() != nil || isTimeout(err) {
				return res, &FetchError{Kind: FailTimeout, Msg: fmt.Sprintf("TLS handshake with %s timed out after %s", req.Addr, timeout)}
			}
			return res, &FetchError{Kind: FailTLS, Msg: fmt.Sprintf("TLS handshake with %s failed", req.Addr), Err: err}
		}
		rw = tc
	}

	if _, err := rw.Write(RequestBytes(req.Path, HostHeader(req.VirtualHost, req.Addr), req.Protocol)); err != nil {
		return res, ioFailure(ctx, err, "sending request to", req.Addr, timeout, 0, false)
	}

	// One buffer the size of keepalived's serves the head and then the body.
	buf := make([]byte, MaxHeadBytes)
	n := 0
	var total int64
	limit := req.MaxResponseBytes
	// Head phase: accumulate like keepalived's 4095-byte buffer.
	for {
		m, err := rw.Read(buf[n:])
		if m > 0 && n == 0 {
			res.FirstByte = time.Since(start)
		}
		n += m
		total += int64(m)
		if limit > 0 && total > limit {
			return res, tooLarge(req.Addr, limit)
		}
		if m > 0 {
			h, perr := ParseResponse(buf[:n])
			if perr == nil {
				res.Head = h
				break
			}
			if errors.Is(perr, ErrHeadTooLarge) {
				return res, &FetchError{Kind: FailHeadTooBig, Msg: fmt.Sprintf("response head from %s exceeds %d bytes", req.Addr, MaxHeadBytes)}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return res, &FetchError{Kind: FailNoData, Msg: fmt.Sprintf("no data received from %s: connection closed after %d bytes, before the end of the headers", req.Addr, n)}
			}
			return res, ioFailure(ctx, err, "reading response head from", req.Addr, timeout, int64(n), true)
		}
	}
	if req.OnHead != nil {
		req.OnHead(buf[:res.Head.HeadLen])
	}
	h := md5.New()
	if req.KeepBody {
		h = &keepHash{Hash: h, res: &res}
	}
	hashBody(h, &res, buf[res.Head.HeadLen:n])
	// Body phase: read until EOF (keepalived reads past Content-Length too).
	for {
		m, err := rw.Read(buf)
		total += int64(m)
		if limit > 0 && total > limit {
			return res, tooLarge(req.Addr, limit)
		}
		hashBody(h, &res, buf[:m])
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, ioFailure(ctx, err, "reading response body from", req.Addr, timeout, res.BodyBytes, false)
		}
	}
	copy(res.Digest[:], h.Sum(nil))
	res.Total = time.Since(start)
	// The server has closed its side (we saw EOF): abort ours instead of a
	// FIN exchange, which spares the server a TIME_WAIT socket per check.
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return res, nil
}

// hashBody feeds p to h, stopping at Content-Length.
func hashBody(h hash.Hash, res *FetchResult, p []byte) {
	if len(p) == 0 {
		return
	}
	res.BodyBytes += int64(len(p))
	take := int64(len(p))
	if cl := res.Head.ContentLength; cl >= 0 {
		take = max(0, min(take, cl-res.HashedBytes))
	}
	h.Write(p[:take])
	res.HashedBytes += take
}

func tooLarge(addr netip.AddrPort, limit int64) error {
	return &FetchError{Kind: FailTooLarge, Msg: fmt.Sprintf("response from %s exceeds the %s limit", addr, formatBytes(limit))}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func classifyDial(parent context.Context, err error, addr netip.AddrPort, timeout time.Duration) *FetchError {
	if parent.Err() != nil {
		return &FetchError{Kind: FailCanceled, Msg: fmt.Sprintf("connect to %s canceled", addr), Err: parent.Err()}
	}
	if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return &FetchError{Kind: FailTimeout, Msg: fmt.Sprintf("connect to %s timed out after %s", addr, timeout)}
	}
	return &FetchError{Kind: FailConnect, Msg: fmt.Sprintf("connect to %s failed", addr), Err: unwrapSyscall(err)}
}

func ioFailure(parent context.Context, err error, what string, addr netip.AddrPort, timeout time.Duration, got int64, head bool) error {
	if parent.Err() != nil {
		return &FetchError{Kind: FailCanceled, Msg: fmt.Sprintf("%s %s canceled", what, addr), Err: parent.Err()}
	}
	if isTimeout(err) {
		msg := fmt.Sprintf("%s %s: no complete response within %s (%d bytes received", what, addr, timeout, got)
		if head && got == 0 {
			msg += "; server accepted but never answered)"
		} else {
			msg += "; slow server)"
		}
		return &FetchError{Kind: FailTimeout, Msg: msg}
	}
	return &FetchError{Kind: FailReset, Msg: fmt.Sprintf("%s %s failed after %d bytes", what, addr, got), Err: unwrapSyscall(err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unwrapSyscall shortens "dial tcp a->b: connect: connection refused" to the errno.
func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// withClockDeadline returns ctx whose Err reports DeadlineExceeded once the
// clock passes at, even before ctx's own timer has fired.
func withClockDeadline(ctx context.Context, at time.Time) context.Context {
	return canceledAt{ctx, at}
}

// canceledAt reports the parent's deadline as reached by the clock, even
// before the parent context's own timer has fired.
type canceledAt struct {
	context.Context
	at time.Time
}

// Err is the parent's error, or DeadlineExceeded once the clock passed at.
func (c canceledAt) Err() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.at) {
		return context.DeadlineExceeded
	}
	return nil
}

// keepHash is an MD5 that also keeps what it hashed in the result's Body.
type keepHash struct {
	hash.Hash
	res *FetchResult
}

func (k *keepHash) Write(p []byte) (int, error) {
	k.res.Body = append(k.res.Body, p...)
	return k.Hash.Write(p)
}
