package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"time"
)

// ProbeSMTP runs SMTP_CHECK as keepalived's check_smtp does: connect, read
// the greeting (a 2xx reply, normally 220), send "HELO helo_name", read a
// 2xx reply (normally 250), send "QUIT". Multi-line replies are read to
// their last line. The whole exchange is bounded by ConnectTimeout.
func ProbeSMTP(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	fail := func(kind FailureKind, format string, a ...any) Result {
		return Result{Reason: "SMTP_CHECK: " + fmt.Sprintf(format, a...), Latency: time.Since(start), Failure: kind}
	}
	dctx, cancel := context.WithTimeout(ctx, spec.ConnectTimeout)
	defer cancel()
	conn, err := dialIf(dctx, spec.Addr, spec.BindTo, spec.FWMark, spec.BindIf)
	if err != nil {
		fe := classifyDial(ctx, err, spec.Addr, spec.ConnectTimeout)
		return Result{Reason: "SMTP_CHECK: " + fe.Error(), Latency: time.Since(start), Failure: fe.Kind}
	}
	defer func() { _ = conn.Close() }()
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := textproto.NewReader(bufio.NewReaderSize(io.LimitReader(conn, 64<<10), 4096))
	code, msg, err := readSMTPReply(r)
	if err != nil {
		return fail(ioKind(ctx, err), "reading greeting from %s: %v", spec.Addr, err)
	}
	if code/100 != 2 {
		return fail(0, "greeting from %s is %d %s, want 2xx", spec.Addr, code, msg)
	}
	helo := spec.SMTP.HeloName
	if helo == "" {
		helo = DefaultHeloName
	}
	if _, err := conn.Write([]byte("HELO " + helo + "\r\n")); err != nil {
		return fail(ioKind(ctx, err), "sending HELO to %s: %v", spec.Addr, err)
	}
	code, msg, err = readSMTPReply(r)
	if err != nil {
		return fail(ioKind(ctx, err), "reading HELO reply from %s: %v", spec.Addr, err)
	}
	if code/100 != 2 {
		return fail(0, "HELO %s answered %d %s, want 2xx", helo, code, msg)
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return Result{OK: true, Reason: fmt.Sprintf("SMTP_CHECK: %s answered HELO with %d", spec.Addr, code), Latency: time.Since(start)}
}

// readSMTPReply reads one reply, following "250-" continuation lines.
func readSMTPReply(r *textproto.Reader) (int, string, error) {
	for {
		line, err := r.ReadLine()
		if err != nil {
			return 0, "", err
		}
		if len(line) < 3 {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 100 || code > 599 {
			return 0, "", fmt.Errorf("malformed reply %q", line)
		}
		if len(line) > 3 && line[3] == '-' {
			continue
		}
		msg := ""
		if len(line) > 4 {
			msg = line[4:]
		}
		return code, msg, nil
	}
}

// ioKind classifies a read or write error of a datagram or line probe.
func ioKind(ctx context.Context, err error) FailureKind {
	switch {
	case ctx.Err() != nil:
		return FailCanceled
	case isTimeout(err):
		return FailTimeout
	case errors.Is(err, io.EOF):
		return FailNoData
	}
	return FailReset
}
