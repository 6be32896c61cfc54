package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"
)

// Result is the outcome of one probe.
type Result struct {
	// OK is true when the check passed.
	OK bool
	// Reason explains a failure (or summarizes a success).
	Reason string
	// Latency is the probe's duration.
	Latency time.Duration
	// Status is the HTTP status of the last URL fetched (HTTP/SSL only).
	Status int
	// Digest is the hex MD5 of the last URL's body (HTTP/SSL only).
	Digest string
	// Failure classifies a transport failure (0 for check-level failures
	// such as a wrong status or digest).
	Failure FailureKind
	// Weight is the weight a misc_dynamic script asked for; valid when
	// WeightSet (exit 2..255 gives weight exit-2; exit 0 leaves it unchanged).
	Weight    int
	WeightSet bool
}

// Probe runs one check of spec (defaults applied by the caller or here).
func Probe(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	var r Result
	switch spec.Kind {
	case KindHTTP, KindSSL:
		r = ProbeHTTP(ctx, spec)
	case KindTCP:
		r = ProbeTCP(ctx, spec)
	case KindMisc:
		r = ProbeMisc(ctx, spec)
	case KindSMTP:
		r = ProbeSMTP(ctx, spec)
	case KindDNS:
		r = ProbeDNS(ctx, spec)
	case KindUDP:
		r = ProbeUDP(ctx, spec)
	case KindPing:
		r = ProbePing(ctx, spec)
	case KindFile:
		r = ProbeFile(ctx, spec)
	default:
		r = Result{Reason: fmt.Sprintf("unknown checker kind %d", int(spec.Kind))}
	}
	if r.Latency == 0 {
		r.Latency = time.Since(start)
	}
	return r
}

// ProbeHTTP runs HTTP_GET (or SSL_GET when spec.Kind is KindSSL): every URL
// must answer with an accepted status and, when a digest is configured, the
// same MD5 over its body.
func ProbeHTTP(ctx context.Context, spec Spec) Result {
	start := time.Now()
	var r Result
	maxBytes := spec.HTTP.MaxResponseBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	if len(spec.HTTP.URLs) == 0 {
		return Result{Reason: "no url configured", Latency: time.Since(start)}
	}
	for _, u := range spec.HTTP.URLs {
		vhost := u.VirtualHost
		if vhost == "" {
			vhost = spec.HTTP.VirtualHost
		}
		req := FetchRequest{
			Addr: spec.Addr, BindTo: spec.BindTo, FWMark: spec.FWMark, BindIf: spec.BindIf,
			Path: u.Path, VirtualHost: vhost, Protocol: spec.HTTP.Protocol,
			Timeout: spec.ConnectTimeout, MaxResponseBytes: maxBytes,
		}
		if spec.Kind == KindSSL {
			req.TLS = TLSConfig(vhost, spec.HTTP.EnableSNI, spec.HTTP.VerifyTLS, spec.Addr.Addr().String())
			if spec.HTTP.SNIName != "" {
				req.TLS.ServerName = spec.HTTP.SNIName
			}
			if err := withClientFiles(req.TLS, spec.HTTP.ClientCert); err != nil {
				return Result{Reason: fmt.Sprintf("%s: %v", spec.Kind, err), Latency: time.Since(start), Failure: FailTLS}
			}
		}
		var re *regexp.Regexp
		if u.Regex != "" {
			var err error
			if re, err = regexp.Compile(u.Regex); err != nil {
				return Result{Reason: fmt.Sprintf("%s %s: regex: %v", spec.Kind, u.Path, err), Latency: time.Since(start)}
			}
			req.KeepBody = true
		}
		fr, err := Fetch(ctx, req)
		r.Latency = time.Since(start)
		if err != nil {
			r.Reason = fmt.Sprintf("%s %s: %v", spec.Kind, u.Path, err)
			if fe, ok := errors.AsType[*FetchError](err); ok {
				r.Failure = fe.Kind
			}
			return r
		}
		r.Status = fr.Head.Status
		r.Digest = hex.EncodeToString(fr.Digest[:])
		if fr.Head.StatusErr != nil {
			r.Reason = fmt.Sprintf("%s %s: %v", spec.Kind, u.Path, fr.Head.StatusErr)
			return r
		}
		if !statusAccepted(fr.Head.Status, u.StatusCodes) {
			r.Reason = fmt.Sprintf("%s %s: status %d not in %s", spec.Kind, u.Path, fr.Head.Status, formatRanges(u.StatusCodes))
			return r
		}
		if u.Digest != "" {
			want, err := parseDigest(u.Digest)
			if err != nil {
				r.Reason = fmt.Sprintf("%s %s: %v", spec.Kind, u.Path, err)
				return r
			}
			if want != fr.Digest {
				r.Reason = fmt.Sprintf("%s %s: MD5 digest %s does not match %s (%d body bytes hashed)",
					spec.Kind, u.Path, r.Digest, hex.EncodeToString(want[:]), fr.HashedBytes)
				return r
			}
		}
		if re != nil && regexMatches(re, fr.Body, u) == u.RegexNoMatch {
			if u.RegexNoMatch {
				r.Reason = fmt.Sprintf("%s %s: body matches regex %q (regex_no_match)", spec.Kind, u.Path, u.Regex)
			} else {
				r.Reason = fmt.Sprintf("%s %s: body does not match regex %q", spec.Kind, u.Path, u.Regex)
			}
			return r
		}
	}
	r.OK = true
	r.Reason = fmt.Sprintf("%s: %d url(s) ok", spec.Kind, len(spec.HTTP.URLs))
	r.Latency = time.Since(start)
	return r
}

// TLSConfig returns the client configuration of SSL_GET: no verification
// unless verify, and the virtual host as server name when sni.
func TLSConfig(vhost string, sni, verify bool, fallbackName string) *tls.Config {
	c := &tls.Config{InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS10} //nolint:gosec // keepalived does not verify by default
	if sni && vhost != "" {
		c.ServerName = vhost
	} else if verify {
		c.ServerName = fallbackName
	}
	return c
}

// ProbeTCP runs TCP_CHECK: a connect within ConnectTimeout.
func ProbeTCP(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, spec.ConnectTimeout)
	defer cancel()
	conn, err := dial(dctx, spec.Addr, spec.BindTo, spec.FWMark)
	lat := time.Since(start)
	if err != nil {
		fe := classifyDial(ctx, err, spec.Addr, spec.ConnectTimeout)
		return Result{Reason: "TCP_CHECK: " + fe.Error(), Latency: lat, Failure: fe.Kind}
	}
	_ = conn.Close()
	return Result{OK: true, Reason: "TCP_CHECK: connected to " + spec.Addr.String(), Latency: lat}
}

// withClientFiles adds the top-level SSL block's files to c: the client
// certificate and key (the key decrypted with Password when it is a
// legacy encrypted PEM) and the CA bundle. keepalived loads the CA but
// never fails a check on the server's certificate, so the CA is enforced
// only when verification is on (HTTPSpec.VerifyTLS).
func withClientFiles(c *tls.Config, f TLSFiles) error {
	if f.Certificate != "" {
		certPEM, err := os.ReadFile(f.Certificate)
		if err != nil {
			return fmt.Errorf("SSL certificate: %w", err)
		}
		keyFile := f.Key
		if keyFile == "" {
			keyFile = f.Certificate
		}
		keyPEM, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("SSL key: %w", err)
		}
		if f.Password != "" {
			if keyPEM, err = decryptPEMKey(keyPEM, f.Password); err != nil {
				return fmt.Errorf("SSL key %s: %w", keyFile, err)
			}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("SSL certificate %s and key %s: %w", f.Certificate, keyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if f.CA != "" {
		caPEM, err := os.ReadFile(f.CA)
		if err != nil {
			return fmt.Errorf("SSL ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return fmt.Errorf("SSL ca %s: no PEM certificate in it", f.CA)
		}
		c.RootCAs = pool
		if !c.InsecureSkipVerify && c.ServerName == "" {
			// Verification asked for (VerifyTLS) but no name to check:
			// check the chain against the CA only.
			c.InsecureSkipVerify = true //nolint:gosec // checked by VerifyPeerCertificate
			c.VerifyPeerCertificate = verifyAgainst(pool)
		}
	}
	return nil
}

// verifyAgainst checks the chain against pool without a host name (the
// probe connects to an address, and keepalived checks the chain only).
func verifyAgainst(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
}

// decryptPEMKey decrypts a legacy "Proc-Type: 4,ENCRYPTED" PEM key, the
// form keepalived's password decrypts; other keys are returned as they are.
func decryptPEMKey(keyPEM []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if !x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // the legacy format is what keepalived's password is for
		return keyPEM, nil
	}
	der, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck // as above
	if err != nil {
		return nil, fmt.Errorf("decrypt with password: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
}

// regexMatches searches body from RegexMinOffset on for a match that starts
// no later than RegexMaxOffset (when set), as keepalived's
// regex_min_offset and regex_max_offset. The leftmost match starts
// earliest, so it alone decides.
func regexMatches(re *regexp.Regexp, body []byte, u URL) bool {
	from := min(max(u.RegexMinOffset, 0), len(body))
	loc := re.FindIndex(body[from:])
	if loc == nil {
		return false
	}
	return !u.RegexMaxOffsetSet || from+loc[0] <= u.RegexMaxOffset
}
