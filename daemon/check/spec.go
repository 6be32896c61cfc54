package check

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a health checker.
type Kind int

// Checker kinds, named after their keepalived keywords.
const (
	KindHTTP Kind = iota + 1 // HTTP_GET
	KindSSL                  // SSL_GET
	KindTCP                  // TCP_CHECK
	KindMisc                 // MISC_CHECK
	KindSMTP                 // SMTP_CHECK
	KindDNS                  // DNS_CHECK
	KindUDP                  // UDP_CHECK
	KindPing                 // PING_CHECK
	KindFile                 // FILE_CHECK
)

// String returns the keepalived keyword of the kind.
func (k Kind) String() string {
	switch k {
	case KindHTTP:
		return "HTTP_GET"
	case KindSSL:
		return "SSL_GET"
	case KindTCP:
		return "TCP_CHECK"
	case KindMisc:
		return "MISC_CHECK"
	case KindSMTP:
		return "SMTP_CHECK"
	case KindDNS:
		return "DNS_CHECK"
	case KindUDP:
		return "UDP_CHECK"
	case KindPing:
		return "PING_CHECK"
	case KindFile:
		return "FILE_CHECK"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// HTTPProtocol is the request line version and connection header of an
// HTTP_GET/SSL_GET request (keepalived's http_protocol).
type HTTPProtocol int

// HTTP protocols. HTTP10 is keepalived's default.
const (
	HTTP10      HTTPProtocol = iota // "GET p HTTP/1.0", no Connection header
	HTTP10Close                     // "GET p HTTP/1.0" plus "Connection: close" (keepalived "1.0C")
	HTTP11                          // "GET p HTTP/1.1" plus "Connection: close"
)

// ParseHTTPProtocol parses "1.0", "1.0C"/"1.0c" or "1.1".
func ParseHTTPProtocol(s string) (HTTPProtocol, error) {
	switch s {
	case "1.0":
		return HTTP10, nil
	case "1.0C", "1.0c":
		return HTTP10Close, nil
	case "1.1":
		return HTTP11, nil
	}
	return 0, fmt.Errorf("check: invalid HTTP protocol %q (want 1.0, 1.0C or 1.1)", s)
}

// DefaultMaxResponseBytes bounds the bytes read for one URL (head and body).
const DefaultMaxResponseBytes = 16 << 20

// Keepalived's defaults, applied by Spec.WithDefaults.
const (
	DefaultConnectTimeout       = 5 * time.Second
	DefaultDelayLoop            = 60 * time.Second
	DefaultRetry                = 1
	DefaultHTTPDelayBeforeRetry = 3 * time.Second
	DefaultDelayBeforeRetry     = 1 * time.Second
)

// Target names the real server a checker belongs to. The supervisor chooses
// the identifiers (for example "172.16.1.1:80/TCP" and "172.16.1.10:80").
type Target struct {
	VirtualServer string
	RealServer    string
}

// String returns "vs/rs".
func (t Target) String() string { return t.VirtualServer + "/" + t.RealServer }

// StatusRange is an inclusive range of accepted HTTP status codes.
type StatusRange struct {
	Min, Max int
}

// URL is one url block of an HTTP_GET/SSL_GET checker.
type URL struct {
	// Path is the request target, sent verbatim.
	Path string
	// Digest is the expected MD5 of the body as 32 hex digits; empty means
	// the body is not checked.
	Digest string
	// StatusCodes are the accepted codes; empty means 200-299.
	StatusCodes []StatusRange
	// VirtualHost overrides HTTPSpec.VirtualHost for this URL.
	VirtualHost string
	// Regex, when set, is an RE2 pattern the body must contain (keepalived's
	// regex, which is PCRE2: patterns RE2 cannot compile are refused by the
	// config). The whole body up to MaxResponseBytes is searched.
	Regex string
	// RegexNoMatch inverts Regex: a match fails the check.
	RegexNoMatch bool
	// RegexMinOffset is where in the body the search starts (regex_min_offset).
	RegexMinOffset int
	// RegexMaxOffset, when RegexMaxOffsetSet, is the last body offset a
	// match may start at (regex_max_offset).
	RegexMaxOffset    int
	RegexMaxOffsetSet bool
}

// HTTPSpec configures HTTP_GET and SSL_GET.
type HTTPSpec struct {
	// URLs are fetched in order; all must pass.
	URLs []URL
	// VirtualHost is the Host header (without port) when a URL has none.
	// The supervisor resolves keepalived's fallback chain (checker, real
	// server, virtual server). Empty: "ip:port" of the connect address.
	VirtualHost string
	// Protocol selects the request version (default HTTP/1.0).
	Protocol HTTPProtocol
	// EnableSNI sends the virtual host as TLS server name (SSL_GET).
	EnableSNI bool
	// SNIName is sni_name: the TLS server name to send instead of the
	// virtual host (implies EnableSNI).
	SNIName string
	// ClientCert is the top-level SSL block: the CA and the client
	// certificate SSL_GET presents. Zero means none.
	ClientCert TLSFiles
	// VerifyTLS verifies the server certificate (off by default, as keepalived).
	VerifyTLS bool
	// MaxResponseBytes bounds the bytes read per URL; 0 means
	// DefaultMaxResponseBytes, negative means unlimited.
	MaxResponseBytes int64
}

// TLSFiles are the files of keepalived's top-level SSL { } block: PEM
// paths of the CA bundle (enforced only with HTTPSpec.VerifyTLS, since
// keepalived does not fail a check on it), the client certificate and its
// key, and the key's password (legacy PEM encryption).
type TLSFiles struct {
	CA, Certificate, Key, Password string
}

// SMTPSpec configures SMTP_CHECK.
type SMTPSpec struct {
	// HeloName is helo_name, sent as "HELO name" (default DefaultHeloName).
	HeloName string
}

// DefaultHeloName is keepalived's SMTP_CHECK helo_name default.
const DefaultHeloName = "localhost"

// DNSSpec configures DNS_CHECK.
type DNSSpec struct {
	// Type is the query type (dns.TypeA, ...); 0 means SOA, keepalived's default.
	Type uint16
	// Name is the name queried; empty means ".", keepalived's default.
	Name string
}

// UDPSpec configures UDP_CHECK.
type UDPSpec struct {
	// Payload is sent as the datagram; empty means a few random bytes, as keepalived.
	Payload []byte
	// RequireReply: a reply datagram is needed; without it the check only
	// fails on an ICMP error (port or host unreachable) within the timeout.
	RequireReply bool
	// Reply and ReplyMask: when Reply is set, the reply must equal Reply on
	// the bits ReplyMask sets, over min(len(reply), len(Reply)) bytes
	// (keepalived's require_reply HEX_STR, where an x ignores 4 bits). A
	// byte beyond ReplyMask is compared whole.
	Reply, ReplyMask []byte
	// MinReplyLength and MaxReplyLength bound the reply's length (keepalived:
	// 0 and 255 by default) when RequireReply is set.
	MinReplyLength, MaxReplyLength int
}

// FileSpec configures FILE_CHECK: the number in a track_file.
type FileSpec struct {
	// Path is the tracked file's path.
	Path string
	// Weight multiplies the value read; 0 means "non-zero is a failure".
	Weight int
	// Reverse negates Weight (with weight 0: zero is a failure).
	Reverse bool
	// Dynamic: the real server's weight becomes BaseWeight + value×weight.
	Dynamic bool
	// BaseWeight is the real server's configured weight.
	BaseWeight int
}

// MiscSpec configures MISC_CHECK.
type MiscSpec struct {
	// Path is misc_path, a command line split like keepalived does (spaces,
	// single and double quotes); it is executed without a shell.
	Path string
	// Timeout is misc_timeout; 0 means the checker's DelayLoop.
	Timeout time.Duration
	// Dynamic is misc_dynamic: exit 2..255 means up with weight exit-2.
	Dynamic bool
}

// Spec is one health checker with every default resolved.
type Spec struct {
	Kind Kind
	// Addr is connect_ip:connect_port (for MISC_CHECK only informative).
	Addr netip.AddrPort
	// BindTo is the source address (bindto/bind_port); zero means any.
	BindTo netip.AddrPort
	// FWMark sets SO_MARK on the probe socket when non-zero (needs CAP_NET_ADMIN).
	FWMark uint32
	// BindIf is bind_if: the probe socket is bound to this interface
	// (SO_BINDTODEVICE); empty means any.
	BindIf string
	// ConnectTimeout bounds one whole attempt per URL: connect, request and
	// response. keepalived applies it per read; we also bound the total so
	// that a slow-drip server fails.
	ConnectTimeout time.Duration
	// DelayLoop is the interval between checks.
	DelayLoop time.Duration
	// Retry is how many failed attempts are retried before the checker is
	// declared down (so retry+1 consecutive failures).
	Retry int
	// DelayBeforeRetry is the delay between a failure and its retry.
	DelayBeforeRetry time.Duration
	// Warmup is the upper bound of a random delay before the first check.
	Warmup time.Duration
	// Alpha starts the checker down; otherwise it starts up.
	Alpha bool
	// LogAllFailures is log_all_failures: every failed probe is logged, not
	// only the transitions (the runner of the probes logs it).
	LogAllFailures bool
	// HTTP configures KindHTTP and KindSSL.
	HTTP HTTPSpec
	// Misc configures KindMisc.
	Misc MiscSpec
	// SMTP configures KindSMTP.
	SMTP SMTPSpec
	// DNS configures KindDNS.
	DNS DNSSpec
	// UDP configures KindUDP.
	UDP UDPSpec
	// File configures KindFile.
	File FileSpec
}

// WithDefaults returns s with keepalived's defaults in place of zero values.
func (s Spec) WithDefaults() Spec {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.DelayLoop <= 0 {
		s.DelayLoop = DefaultDelayLoop
	}
	if s.Retry < 0 {
		s.Retry = 0
	}
	if s.DelayBeforeRetry <= 0 {
		if s.Kind == KindHTTP || s.Kind == KindSSL {
			s.DelayBeforeRetry = DefaultHTTPDelayBeforeRetry
		} else {
			s.DelayBeforeRetry = DefaultDelayBeforeRetry
		}
	}
	if s.Kind == KindMisc && s.Misc.Timeout <= 0 {
		s.Misc.Timeout = s.DelayLoop
	}
	return s
}

// Validate reports configuration errors that would make every probe fail.
func (s Spec) Validate() error {
	var errs []error
	switch s.Kind {
	case KindHTTP, KindSSL:
		if len(s.HTTP.URLs) == 0 {
			errs = append(errs, errors.New("no url"))
		}
		for i, u := range s.HTTP.URLs {
			if u.Path == "" {
				errs = append(errs, fmt.Errorf("url %d: empty path", i+1))
			}
			if strings.ContainsAny(u.Path, " \r\n") {
				errs = append(errs, fmt.Errorf("url %d: path %q contains space or newline", i+1, u.Path))
			}
			if u.Digest != "" {
				if _, err := parseDigest(u.Digest); err != nil {
					errs = append(errs, fmt.Errorf("url %d: %w", i+1, err))
				}
			}
			if u.Regex != "" {
				if _, err := regexp.Compile(u.Regex); err != nil {
					errs = append(errs, fmt.Errorf("url %d: regex %q is not an RE2 pattern: %w", i+1, u.Regex, err))
				}
			}
			for _, r := range u.StatusCodes {
				if r.Min < 100 || r.Max > 999 || r.Min > r.Max {
					errs = append(errs, fmt.Errorf("url %d: invalid status range %d-%d", i+1, r.Min, r.Max))
				}
			}
		}
		if !s.Addr.IsValid() {
			errs = append(errs, errors.New("no connect address"))
		}
	case KindTCP, KindSMTP, KindDNS, KindUDP:
		if !s.Addr.IsValid() {
			errs = append(errs, errors.New("no connect address"))
		}
	case KindPing:
		if !s.Addr.Addr().IsValid() {
			errs = append(errs, errors.New("no connect address"))
		}
	case KindFile:
		if s.File.Path == "" {
			errs = append(errs, errors.New("no track_file path"))
		}
	case KindMisc:
		if len(SplitCommand(s.Misc.Path)) == 0 {
			errs = append(errs, errors.New("empty misc_path"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown kind %d", int(s.Kind)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("check: invalid %s spec: %w", s.Kind, err)
	}
	return nil
}

// parseDigest decodes 32 hex digits (either case).
func parseDigest(s string) ([16]byte, error) {
	var d [16]byte
	if len(s) != 32 {
		return d, fmt.Errorf("digest %q: want 32 hex digits, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("digest %q: %w", s, err)
	}
	return d, nil
}

// statusAccepted reports whether code is in ranges (default 200-299).
func statusAccepted(code int, ranges []StatusRange) bool {
	if len(ranges) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// formatRanges prints ranges as "200-299,302".
func formatRanges(ranges []StatusRange) string {
	if len(ranges) == 0 {
		return "200-299"
	}
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		if r.Min == r.Max {
			parts[i] = strconv.Itoa(r.Min)
		} else {
			parts[i] = strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
		}
	}
	return strings.Join(parts, ",")
}

// Equal reports whether s and o describe the same check, field by field (a
// nil and an empty list are equal). TestEqualCoversEveryField fails when a
// field is added here but not compared.
func (s Spec) Equal(o Spec) bool {
	return s.Kind == o.Kind && s.Addr == o.Addr && s.BindTo == o.BindTo && s.FWMark == o.FWMark &&
		s.ConnectTimeout == o.ConnectTimeout && s.DelayLoop == o.DelayLoop && s.Retry == o.Retry &&
		s.DelayBeforeRetry == o.DelayBeforeRetry && s.Warmup == o.Warmup && s.Alpha == o.Alpha &&
		s.HTTP.equal(o.HTTP) && s.Misc == o.Misc && s.BindIf == o.BindIf && s.SMTP == o.SMTP &&
		s.DNS == o.DNS && s.UDP.equal(o.UDP) && s.File == o.File && s.LogAllFailures == o.LogAllFailures
}

func (u UDPSpec) equal(o UDPSpec) bool {
	return bytes.Equal(u.Payload, o.Payload) && u.RequireReply == o.RequireReply &&
		bytes.Equal(u.Reply, o.Reply) && bytes.Equal(u.ReplyMask, o.ReplyMask) &&
		u.MinReplyLength == o.MinReplyLength && u.MaxReplyLength == o.MaxReplyLength
}

func (h HTTPSpec) equal(o HTTPSpec) bool {
	return h.VirtualHost == o.VirtualHost && h.Protocol == o.Protocol && h.EnableSNI == o.EnableSNI &&
		h.VerifyTLS == o.VerifyTLS && h.MaxResponseBytes == o.MaxResponseBytes &&
		h.SNIName == o.SNIName && h.ClientCert == o.ClientCert &&
		slices.EqualFunc(h.URLs, o.URLs, URL.equal)
}

func (u URL) equal(o URL) bool {
	return u.Path == o.Path && u.Digest == o.Digest && u.VirtualHost == o.VirtualHost &&
		u.Regex == o.Regex && u.RegexNoMatch == o.RegexNoMatch && u.RegexMinOffset == o.RegexMinOffset &&
		u.RegexMaxOffset == o.RegexMaxOffset && u.RegexMaxOffsetSet == o.RegexMaxOffsetSet &&
		slices.Equal(u.StatusCodes, o.StatusCodes)
}
