package config

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Checker kinds added by "keepalived.conf parity II".
const (
	CheckSMTP CheckerKind = "SMTP_CHECK"
	CheckDNS  CheckerKind = "DNS_CHECK"
	CheckUDP  CheckerKind = "UDP_CHECK"
	CheckPing CheckerKind = "PING_CHECK"
	CheckFile CheckerKind = "FILE_CHECK"
)

// isCheckerKeyword reports whether kw opens a health checker drlb runs.
func isCheckerKeyword(kw string) bool {
	switch CheckerKind(kw) {
	case CheckHTTP, CheckSSL, CheckTCP, CheckMisc, CheckSMTP, CheckDNS, CheckUDP, CheckPing, CheckFile:
		return true
	}
	return false
}

// dnsTypes are the DNS_CHECK types keepalived accepts.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// checkerOption parses the keywords of the parity II checkers and the
// options every checker gained (bind_if, fwmark, alpha); it returns false
// for keywords it does not know.
func (p *parser) checkerOption(n *node, kind CheckerKind, c *Checker) bool {
	k := n.key.text
	httpLike := kind == CheckHTTP || kind == CheckSSL
	switch {
	case k == "bind_if":
		p.str(n, &c.BindIf)
	case k == "fwmark":
		if t, ok := p.one(n); ok {
			if v, ok := p.intTok("fwmark", t, 0, math.MaxInt32); ok {
				c.FWMark = uint32(v)
			}
		}
	case k == "log_all_failures":
		var b bool
		p.flag(n, &b)
		c.LogAllFailures = &b
	case k == "alpha":
		var a bool
		p.flag(n, &a)
		c.Alpha, c.AlphaSet = a, true
	case k == "http_protocol" && httpLike:
		if t, ok := p.one(n); ok {
			switch t.text {
			case "1.0", "1.1":
				c.HTTPProtocol = t.text
			case "1.0C", "1.0c":
				c.HTTPProtocol = "1.0C"
			default:
				p.errAt(t.pos, "http_protocol %q: must be 1.0, 1.0C or 1.1", t.text)
			}
		}
	case k == "fast_recovery" && httpLike:
		p.flag(n, &c.FastRecovery)
	case k == "enable_sni" && kind == CheckSSL:
		p.flag(n, &c.EnableSNI)
	case k == "sni_name" && kind == CheckSSL:
		p.str(n, &c.SNIName)
	case k == "tls_compliant" && kind == CheckSSL:
		p.flag(n, &c.TLSCompliant)
	case k == "helo_name" && kind == CheckSMTP:
		if s, ok := p.rest(n); ok {
			c.HeloName = s
		}
	case k == "type" && kind == CheckDNS:
		if t, ok := p.one(n); ok {
			up := strings.ToUpper(t.text)
			for _, d := range dnsTypes {
				if up == d {
					c.DNSType = d
				}
			}
			if c.DNSType != up {
				p.errAt(t.pos, "DNS_CHECK type %q: must be one of %s", t.text, strings.Join(dnsTypes, ", "))
			}
		}
	case k == "name" && kind == CheckDNS:
		p.str(n, &c.DNSName)
	case k == "payload" && kind == CheckUDP:
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "payload needs a hex string")
			break
		}
		if b, _, ok := p.hexArgs(n, false); ok {
			c.UDPPayload = b
		}
	case k == "require_reply" && kind == CheckUDP:
		c.UDPRequireReply = true
		if len(n.args) > 0 {
			if b, mask, ok := p.hexArgs(n, true); ok {
				c.UDPReply, c.UDPReplyMask = b, mask
			}
		}
	case k == "min_reply_length" && kind == CheckUDP:
		p.intv(n, 0, 65535, &c.UDPMinReplyLength)
	case k == "max_reply_length" && kind == CheckUDP:
		p.intv(n, 0, 65535, &c.UDPMaxReplyLength)
	case k == "track_file" && kind == CheckFile:
		if t, ok := p.one(n); ok {
			c.TrackFile, c.trackFilePos = t.text, t.pos
		}
	case k == "weight" && kind == CheckFile:
		if len(n.args) == 0 {
			p.errAt(afterKey(n), "weight needs a value")
			break
		}
		if v, ok := p.intTok("FILE_CHECK weight", n.args[0], -math.MaxInt32, math.MaxInt32); ok {
			c.FileWeight, c.FileWeightSet = v, true
		}
		if len(n.args) > 1 {
			if n.args[1].text == "reverse" {
				c.FileReverse = true
			} else {
				p.warnAt(n.args[1].pos, "FILE_CHECK weight: expected \"weight N [reverse]\"; %q ignored", n.args[1].text)
			}
		}
	case k == "dynamic" && kind == CheckFile:
		p.flag(n, &c.FileDynamic)
	default:
		return false
	}
	return true
}

// finishChecker applies the parity II checkers' defaults (keepalived's):
// DNS_CHECK retries 3 times, delay_before_retry defaults to delay_loop, and
// type SOA of "."; UDP_CHECK's max_reply_length is 255; FILE_CHECK and
// PING_CHECK need no port.
func (p *parser) finishChecker(b *node, c *Checker, ct timers) {
	switch c.Kind {
	case CheckDNS:
		if ct.retry == nil {
			c.Retry = 3
		}
		if ct.delayBeforeRetry == nil {
			c.DelayBeforeRetry = c.DelayLoop
		}
		if c.DNSType == "" {
			c.DNSType = "SOA"
		}
		if c.DNSName == "" {
			c.DNSName = "."
		}
	case CheckUDP:
		if c.UDPMaxReplyLength == 0 {
			c.UDPMaxReplyLength = 255
		}
		if c.UDPMinReplyLength > c.UDPMaxReplyLength {
			p.errAt(b.key.pos, "UDP_CHECK min_reply_length %d is above max_reply_length %d", c.UDPMinReplyLength, c.UDPMaxReplyLength)
		}
	case CheckSMTP:
		if c.HeloName == "" {
			c.HeloName = "localhost"
		}
	case CheckFile:
		if c.TrackFile == "" {
			p.errAt(b.key.pos, "FILE_CHECK needs a track_file naming a track_file block")
		}
		// keepalived watches the file; drlb reads it every second.
		c.DelayLoop, c.Retry, c.Warmup, c.DelayBeforeRetry = time.Second, 0, 0, time.Second
	}
}

// hexArgs parses keepalived's free-format HEX_STR: each argument is split
// into pairs of digits from the left, a last single digit standing for one
// byte ("Ab12f 3" is AB 12 0F 03). With wild, x or X is a digit whose 4
// bits are not compared: mask has those bits clear.
func (p *parser) hexArgs(n *node, wild bool) (data, mask []byte, ok bool) {
	for _, t := range n.args {
		s := t.text
		for i := 0; i < len(s); i += 2 {
			pair := s[i:min(i+2, len(s))]
			if len(pair) == 1 {
				pair = "0" + pair
			}
			var b, m byte
			for _, ch := range []byte(pair) {
				b, m = b<<4, m<<4
				switch {
				case ch >= '0' && ch <= '9':
					b, m = b|(ch-'0'), m|0xf
				case ch >= 'a' && ch <= 'f':
					b, m = b|(ch-'a'+10), m|0xf
				case ch >= 'A' && ch <= 'F':
					b, m = b|(ch-'A'+10), m|0xf
				case wild && (ch == 'x' || ch == 'X'):
				default:
					p.errAt(t.pos, "%s: %q is not a hex string (digits 0-9, a-f%s)", n.key.text, t.text, map[bool]string{true: ", or x for any"}[wild])
					return nil, nil, false
				}
			}
			data, mask = append(data, b), append(mask, m)
		}
	}
	return data, mask, true
}

// urlOption parses a url block's regex keywords; false for others.
func (p *parser) urlOption(n *node, u *URL) bool {
	switch n.key.text {
	case "regex":
		if t, ok := p.one(n); ok {
			if _, err := regexp.Compile(t.text); err != nil {
				p.errAt(t.pos, "regex %q cannot be compiled by Go's RE2 (keepalived uses PCRE2; RE2 has no look-around or back-references): %v", t.text, err)
				return true
			}
			u.Regex = t.text
		}
	case "regex_no_match":
		p.flag(n, &u.RegexNoMatch)
	case "regex_options":
		p.regexOptions(n, u)
	case "regex_stack":
		// RE2 does not backtrack, so it needs no PCRE2 JIT stack.
		for _, t := range n.args {
			p.intTok("regex_stack", t, 0, math.MaxInt32)
		}
	case "regex_min_offset":
		p.intv(n, 0, math.MaxInt32, &u.RegexMinOffset)
	case "regex_max_offset":
		p.intp(n, 0, math.MaxInt32, &u.RegexMaxOffset)
	case "tls_compliant":
		var b bool
		p.flag(n, &b) // Go's TLS always closes with close_notify
	default:
		return false
	}
	return true
}

// resolveTrackFiles checks that every FILE_CHECK's track_file names a
// track_file block (keepalived refuses the checker otherwise).
func (p *parser) resolveTrackFiles(cfg *Config) {
	names := make([]string, 0, len(cfg.TrackFiles))
	known := map[string]bool{}
	for _, tf := range cfg.TrackFiles {
		names = append(names, tf.Name)
		known[tf.Name] = true
	}
	for vi := range cfg.VirtualServers {
		for ri := range cfg.VirtualServers[vi].RealServers {
			rs := &cfg.VirtualServers[vi].RealServers[ri]
			for ci := range rs.Checkers {
				c := &rs.Checkers[ci]
				if c.Kind == CheckFile && c.TrackFile != "" && !known[c.TrackFile] {
					msg := "FILE_CHECK track_file %q: no track_file block has that name"
					if s := suggest(c.TrackFile, names, nil); s != "" {
						p.errAt(c.trackFilePos, msg+"; did you mean %q?", c.TrackFile, s)
					} else {
						p.errAt(c.trackFilePos, msg, c.TrackFile)
					}
				}
			}
		}
	}
}

// regexFlags maps the PCRE2 options of regex_options that RE2 has to its
// flags; pcreNoOps lists those that change nothing for RE2 (optimisation
// hints, callouts, UTF handling RE2 does anyway).
var (
	regexFlags = map[string]string{"caseless": "i", "multiline": "m", "dotall": "s", "ungreedy": "U"}
	pcreNoOps  = []string{"auto_callout", "dupnames", "never_backslash_c", "no_auto_capture", "no_auto_possess",
		"no_dotstar_anchor", "no_start_optimize", "use_offset_limit", "utf"}
)

// regexOptions parses "regex_options OPT ...": options with an RE2
// equivalent become flags, hints are accepted, the rest are located errors
// (they change what a pattern matches, and RE2 cannot do that).
func (p *parser) regexOptions(n *node, u *URL) {
	if !p.valueOnly(n) {
		return
	}
	for _, t := range n.args {
		opt := strings.ToLower(t.text)
		switch {
		case regexFlags[opt] != "":
			if !strings.Contains(u.RegexFlags, regexFlags[opt]) {
				u.RegexFlags += regexFlags[opt]
			}
		case slices.Contains(pcreNoOps, opt):
		default:
			p.errAt(t.pos, "regex_options %s: Go's RE2 has no such option (it has caseless, multiline, dotall and ungreedy)", t.text)
		}
	}
}
