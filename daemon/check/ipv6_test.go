package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
)

// listen6 listens on [::1]:0, skipping where the host has no IPv6 loopback
// (failing instead under DRLB_REQUIRE_PRIVILEGED=1).
func listen6(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("no IPv6 loopback: %v", err))
	}
	return ln
}

// TestProbeIPv6EveryChecker runs HTTP_GET, SSL_GET and TCP_CHECK against
// IPv6 real servers (issue 14 item 3): each passes against a good server
// and fails, with the right reason, against a closed port or a wrong page
// (the controls). The Host header is "[addr]:port", as keepalived sends it.
// MISC_CHECK runs a script and has no address of its own.
func TestProbeIPv6EveryChecker(t *testing.T) {
	ctx := context.Background()
	srv := serveRaw(t, listen6(t), reply("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nsix!"))
	if !srv.addr().Addr().Is6() {
		t.Fatalf("server address %s is not IPv6", srv.addr())
	}
	closedLn := listen6(t)
	closed := netip.MustParseAddrPort(closedLn.Addr().String())
	closedLn.Close()

	t.Run("HTTP_GET", func(t *testing.T) {
		if r := Probe(ctx, httpSpec(srv.addr(), URL{Path: "/teste.html", Digest: md5hex("six!")})); !r.OK || r.Status != 200 {
			t.Fatalf("probe = %+v, want OK", r)
		}
		reqs := srv.requests()
		want := "Host: [::1]:" + strings.TrimPrefix(srv.addr().String(), "[::1]:") + "\r\n"
		if len(reqs) == 0 || !strings.Contains(string(reqs[len(reqs)-1]), want) {
			t.Errorf("request %q lacks %q", reqs, want)
		}
		if r := Probe(ctx, httpSpec(srv.addr(), URL{Path: "/teste.html", Digest: md5hex("four")})); r.OK || !strings.Contains(r.Reason, "digest") {
			t.Errorf("wrong digest: %+v, want a digest failure", r)
		}
		if r := Probe(ctx, httpSpec(closed, URL{Path: "/"})); r.OK || r.Failure != FailConnect {
			t.Errorf("closed port: %+v, want a connect failure", r)
		}
	})
	t.Run("HTTP_GET bind_to", func(t *testing.T) {
		spec := httpSpec(srv.addr(), URL{Path: "/", Digest: md5hex("six!")})
		spec.BindTo = netip.MustParseAddrPort("[::1]:0")
		if r := Probe(ctx, spec); !r.OK {
			t.Fatalf("probe from ::1 = %+v, want OK", r)
		}
	})
	t.Run("SSL_GET", func(t *testing.T) {
		var mu sync.Mutex
		var snis []string
		tln := tls.NewListener(listen6(t), selfSignedTLS(t, &snis, &mu))
		tsrv := serveRaw(t, tln, reply("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nTLS"))
		spec := httpSpec(tsrv.addr(), URL{Path: "/", Digest: md5hex("TLS")})
		spec.Kind = KindSSL
		if r := Probe(ctx, spec); !r.OK {
			t.Fatalf("SSL_GET over IPv6 = %+v, want OK", r)
		}
	})
	t.Run("TCP_CHECK", func(t *testing.T) {
		if r := Probe(ctx, Spec{Kind: KindTCP, Addr: srv.addr(), ConnectTimeout: time.Second}); !r.OK {
			t.Fatalf("TCP_CHECK = %+v, want OK", r)
		}
		if r := Probe(ctx, Spec{Kind: KindTCP, Addr: closed, ConnectTimeout: time.Second}); r.OK || !strings.Contains(r.Reason, "refused") {
			t.Errorf("TCP_CHECK on a closed port = %+v, want refused", r)
		}
	})
}
