package check

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
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
			Addr: spec.Addr, BindTo: spec.BindTo, FWMark: spec.FWMark,
			Path: u.Path, VirtualHost: vhost, Protocol: spec.HTTP.Protocol,
			Timeout: spec.ConnectTimeout, MaxResponseBytes: maxBytes,
		}
		if spec.Kind == KindSSL {
			req.TLS = TLSConfig(vhost, spec.HTTP.EnableSNI, spec.HTTP.VerifyTLS, spec.Addr.Addr().String())
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
