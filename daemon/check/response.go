package check

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// MaxHeadBytes is the largest response head (status line, headers and the
// blank line) keepalived accepts: its receive buffer holds 4095 bytes, and a
// head that does not end within them counts as "no data received".
const MaxHeadBytes = 4095

// Sentinel errors of ParseResponse, wrapped with context.
var (
	// ErrIncompleteHead means the buffer holds no "\r\n\r\n" yet.
	ErrIncompleteHead = errors.New("check: response head incomplete")
	// ErrHeadTooLarge means no "\r\n\r\n" within MaxHeadBytes.
	ErrHeadTooLarge = errors.New("check: response head too large")
	// ErrMalformedStatus means the status line is not "HTTP/x.y NNN ...".
	ErrMalformedStatus = errors.New("check: malformed status line")
)

// ResponseHead is what the checker learns from the start of a response.
type ResponseHead struct {
	// HeadLen is the length of the head including the "\r\n\r\n" terminator;
	// the body starts at this offset.
	HeadLen int
	// StatusLine is the first line without its line ending.
	StatusLine string
	// Status is the status code, or 0 when StatusErr is set.
	Status int
	// StatusErr is non-nil (wrapping ErrMalformedStatus) when the status
	// line is malformed. keepalived still hashes such a body (genhash does),
	// but a checker fails it.
	StatusErr error
	// ContentLength caps the bytes hashed; -1 means no cap.
	ContentLength int64
}

// ParseResponse parses the bytes a client holds when the head terminator
// first appears (the head plus possibly the start of the body), with
// keepalived's rules:
//
//   - the head ends at the first "\r\n\r\n", which must lie within the
//     first MaxHeadBytes bytes;
//   - Content-Length is found by a case-sensitive search for
//     "Content-Length:" in the buffer up to its first NUL byte (keepalived
//     uses strstr on the whole buffer, body bytes included), parsed like
//     strtoul and accepted only when the number is followed by CR, LF or
//     the end of the searched text; otherwise the body is not capped.
//
// The status line is parsed strictly ("HTTP/" version, space, three digits,
// then space or end of line); a malformed one sets StatusErr but is not an
// error, so the digest can still be computed as genhash does.
func ParseResponse(buf []byte) (ResponseHead, error) {
	limit := buf
	if len(limit) > MaxHeadBytes {
		limit = limit[:MaxHeadBytes]
	}
	end := bytes.Index(limit, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) >= MaxHeadBytes {
			return ResponseHead{}, fmt.Errorf("%w: no end of headers within %d bytes", ErrHeadTooLarge, MaxHeadBytes)
		}
		return ResponseHead{}, ErrIncompleteHead
	}
	h := ResponseHead{HeadLen: end + 4, ContentLength: -1}
	line := buf[:end]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	h.StatusLine = string(line)
	h.Status, h.StatusErr = parseStatusLine(line)
	h.ContentLength = keepalivedContentLength(limit)
	return h, nil
}

// parseStatusLine parses "HTTP/d.d NNN[ reason]".
func parseStatusLine(line []byte) (int, error) {
	bad := func(why string) (int, error) {
		shown := line
		if len(shown) > 64 {
			shown = shown[:64]
		}
		return 0, fmt.Errorf("%w %q: %s", ErrMalformedStatus, shown, why)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/")) {
		return bad(`does not start with "HTTP/"`)
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return bad("no status code")
	}
	version := line[len("HTTP/"):sp]
	if len(version) == 0 || !isDigits(bytes.ReplaceAll(version, []byte("."), nil)) {
		return bad("bad version")
	}
	rest := line[sp+1:]
	if len(rest) < 3 || !isDigits(rest[:3]) || (len(rest) > 3 && rest[3] != ' ') {
		return bad("status code is not three digits")
	}
	code, _ := strconv.Atoi(string(rest[:3]))
	if code < 100 {
		return bad("status code below 100")
	}
	return code, nil
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// keepalivedContentLength reproduces keepalived 2.2.7's extraction
// (checked against /usr/bin/genhash): strstr for "Content-Length:" in the
// NUL-terminated buffer, strtoul base 10 (leading white space, optional
// sign), and the number must be followed by CR, LF or NUL. Returns -1 when
// there is no usable value. A negative or overflowing value is strtoul's
// huge number, which never caps: -1 as well.
func keepalivedContentLength(buf []byte) int64 {
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	const key = "Content-Length:"
	i := bytes.Index(buf, []byte(key))
	if i < 0 {
		return -1
	}
	s := buf[i+len(key):]
	p := 0
	for p < len(s) && isCSpace(s[p]) {
		p++
	}
	neg := false
	if p < len(s) && (s[p] == '+' || s[p] == '-') {
		neg = s[p] == '-'
		p++
	}
	start := p
	var v uint64
	overflow := false
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		d := uint64(s[p] - '0')
		if v > (^uint64(0)-d)/10 {
			overflow = true
		} else {
			v = v*10 + d
		}
		p++
	}
	end := p
	if p == start {
		// strtoul converted nothing: the end pointer is the text right
		// after the key, so "Content-Length:\r\n" means 0.
		end, v, neg, overflow = 0, 0, false, false
	}
	if end < len(s) && s[end] != '\r' && s[end] != '\n' {
		return -1
	}
	if overflow || (neg && v != 0) || v > 1<<62 {
		return -1
	}
	return int64(v)
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
