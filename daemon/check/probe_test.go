package check

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func md5hex(s string) string {
	d := md5.Sum([]byte(s))
	return hex.EncodeToString(d[:])
}

func httpSpec(addr netip.AddrPort, urls ...URL) Spec {
	return Spec{Kind: KindHTTP, Addr: addr, ConnectTimeout: 2 * time.Second, HTTP: HTTPSpec{URLs: urls}}
}

func TestRequestBytes(t *testing.T) {
	tests := []struct {
		path, host string
		p          HTTPProtocol
		want       string
	}{
		{"/teste.html", "172.16.1.10:80", HTTP10, "GET /teste.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 172.16.1.10:80\r\n\r\n"},
		{"/", "example.com", HTTP10Close, "GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: example.com\r\n\r\n"},
		{"/x?y=1", "[2001:db8::1]:8080", HTTP11, "GET /x?y=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [2001:db8::1]:8080\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := string(RequestBytes(tt.path, tt.host, tt.p)); got != tt.want {
			t.Errorf("RequestBytes(%q,%q,%v) = %q, want %q", tt.path, tt.host, tt.p, got, tt.want)
		}
	}
	if got := HostHeader("", netip.MustParseAddrPort("[2001:db8::1]:8080")); got != "[2001:db8::1]:8080" {
		t.Errorf("HostHeader v6 = %q", got)
	}
}

func TestProbeHTTPSuccessAndRequest(t *testing.T) {
	srv := startRaw(t, reply("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA"))
	spec := httpSpec(srv.addr(), URL{Path: "/a", Digest: md5hex("hello")}, URL{Path: "/b", VirtualHost: "www.example.test"})
	r := Probe(context.Background(), spec)
	if !r.OK || r.Status != 200 || r.Digest != md5hex("hello") {
		t.Fatalf("probe = %+v, want OK with digest of the first 5 body bytes", r)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	want0 := "GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: " + srv.addr().String() + "\r\n\r\n"
	if string(reqs[0]) != want0 {
		t.Errorf("request 1 = %q, want %q", reqs[0], want0)
	}
	if !strings.Contains(string(reqs[1]), "Host: www.example.test\r\n") {
		t.Errorf("request 2 = %q, want the url's virtual host", reqs[1])
	}
}

func TestProbeHTTPFailures(t *testing.T) {
	big := "HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("x", 64<<10)
	tests := []struct {
		name    string
		handler func(net.Conn, []byte)
		url     URL
		limit   int64
		failure FailureKind
		reason  string
	}{
		{"digest mismatch", reply("HTTP/1.0 200 OK\r\n\r\nchanged"), URL{Path: "/", Digest: md5hex("original")}, 0, 0, "MD5 digest " + md5hex("changed") + " does not match"},
		{"404 not accepted", reply("HTTP/1.0 404 Not Found\r\n\r\nnope"), URL{Path: "/"}, 0, 0, "status 404 not in 200-299"},
		{"status outside custom range", reply("HTTP/1.0 200 OK\r\n\r\n"), URL{Path: "/", StatusCodes: []StatusRange{{301, 302}}}, 0, 0, "status 200 not in 301-302"},
		{"malformed status line", reply("SMTP ready\r\n\r\n"), URL{Path: "/"}, 0, 0, "malformed status line"},
		{"closed before headers", reply("HTTP/1.0 200 OK\r\n"), URL{Path: "/"}, 0, FailNoData, "no data received"},
		{"closed without answer", func(net.Conn, []byte) {}, URL{Path: "/"}, 0, FailNoData, "after 0 bytes"},
		{"head too large", reply("HTTP/1.0 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n"), URL{Path: "/"}, 0, FailHeadTooBig, "exceeds 4095 bytes"},
		{"response too large", reply(big), URL{Path: "/"}, 16 << 10, FailTooLarge, "exceeds the 16 KiB limit"},
		{"reset", func(c net.Conn, _ []byte) {
			_ = c.(*net.TCPConn).SetLinger(0)
		}, URL{Path: "/"}, 0, FailReset, "connection reset by peer"},
		{"reset mid-body", func(c net.Conn, _ []byte) {
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\npartial"))
			_ = c.(*net.TCPConn).SetLinger(0)
		}, URL{Path: "/"}, 0, FailReset, "reading response body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startRaw(t, tt.handler)
			spec := httpSpec(srv.addr(), tt.url)
			spec.HTTP.MaxResponseBytes = tt.limit
			r := Probe(context.Background(), spec)
			if r.OK {
				t.Fatalf("probe OK, want failure %q", tt.reason)
			}
			if r.Failure != tt.failure || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("failure=%v reason=%q; want %v containing %q", r.Failure, r.Reason, tt.failure, tt.reason)
			}
		})
	}
}

func TestProbeHTTPTimeouts(t *testing.T) {
	t.Run("accepts and never answers", func(t *testing.T) {
		srv := startRaw(t, func(c net.Conn, _ []byte) { _, _ = c.Read(make([]byte, 1)) })
		spec := httpSpec(srv.addr(), URL{Path: "/"})
		spec.ConnectTimeout = 200 * time.Millisecond
		start := time.Now()
		r := Probe(context.Background(), spec)
		if r.OK || r.Failure != FailTimeout || !strings.Contains(r.Reason, "never answered") {
			t.Fatalf("probe = %+v, want timeout, never answered", r)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("took %s, want about 200ms", el)
		}
	})
	t.Run("slow drip", func(t *testing.T) {
		srv := startRaw(t, func(c net.Conn, _ []byte) {
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n"))
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for range tick.C {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		})
		spec := httpSpec(srv.addr(), URL{Path: "/"})
		spec.ConnectTimeout = 300 * time.Millisecond
		start := time.Now()
		r := Probe(context.Background(), spec)
		if r.OK || r.Failure != FailTimeout || !strings.Contains(r.Reason, "slow server") {
			t.Fatalf("probe = %+v, want timeout, slow server", r)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("took %s, want about 300ms", el)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		srv := startRaw(t, func(c net.Conn, _ []byte) { _, _ = c.Read(make([]byte, 1)) })
		ctx, cancel := context.WithCancel(context.Background())
		spec := httpSpec(srv.addr(), URL{Path: "/"})
		spec.ConnectTimeout = 10 * time.Second
		done := make(chan Result)
		go func() { done <- Probe(ctx, spec) }()
		cancel()
		select {
		case r := <-done:
			if r.OK || r.Failure != FailCanceled {
				t.Fatalf("probe = %+v, want canceled", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("probe did not stop on cancel")
		}
	})
}

func TestProbeHTTPConnectFailures(t *testing.T) {
	addr := closedPort(t)
	r := Probe(context.Background(), httpSpec(addr, URL{Path: "/"}))
	if r.OK || r.Failure != FailConnect || !strings.Contains(r.Reason, "connection refused") {
		t.Fatalf("probe = %+v, want connection refused", r)
	}
	// bindto an address this host does not have.
	spec := httpSpec(addr, URL{Path: "/"})
	spec.BindTo = netip.MustParseAddrPort("192.0.2.1:0")
	r = Probe(context.Background(), spec)
	if r.OK || r.Failure != FailConnect {
		t.Fatalf("probe with foreign bindto = %+v, want connect failure", r)
	}
}

func TestProbeHTTPBindTo(t *testing.T) {
	var mu sync.Mutex
	var peers []string
	srv := startRaw(t, func(c net.Conn, _ []byte) {
		mu.Lock()
		peers = append(peers, c.RemoteAddr().String())
		mu.Unlock()
		_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n"))
	})
	spec := httpSpec(srv.addr(), URL{Path: "/"})
	spec.BindTo = netip.MustParseAddrPort("127.0.0.1:0")
	if r := Probe(context.Background(), spec); !r.OK {
		t.Fatalf("probe = %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(peers) != 1 || !strings.HasPrefix(peers[0], "127.0.0.1:") {
		t.Fatalf("peers = %v", peers)
	}
}

func TestProbeSSL(t *testing.T) {
	var mu sync.Mutex
	var snis []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, selfSignedTLS(t, &snis, &mu))
	srv := serveRaw(t, tln, reply("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nTLS"))
	spec := httpSpec(srv.addr(), URL{Path: "/", Digest: md5hex("TLS")})
	spec.Kind = KindSSL
	spec.HTTP.VirtualHost = "www.example.test"
	spec.HTTP.EnableSNI = true
	if r := Probe(context.Background(), spec); !r.OK {
		t.Fatalf("SSL_GET with self-signed certificate = %+v, want OK (no verification)", r)
	}
	spec.HTTP.VerifyTLS = true
	if r := Probe(context.Background(), spec); r.OK || r.Failure != FailTLS {
		t.Fatalf("SSL_GET with verification = %+v, want TLS failure", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(snis) == 0 || snis[0] != "www.example.test" {
		t.Fatalf("SNI seen = %q, want www.example.test", snis)
	}
}

func TestProbeTCP(t *testing.T) {
	srv := startRaw(t, func(net.Conn, []byte) {})
	if r := Probe(context.Background(), Spec{Kind: KindTCP, Addr: srv.addr(), ConnectTimeout: time.Second}); !r.OK {
		t.Fatalf("TCP_CHECK on open port = %+v", r)
	}
	closed := closedPort(t)
	r := Probe(context.Background(), Spec{Kind: KindTCP, Addr: closed, ConnectTimeout: time.Second})
	if r.OK || r.Failure != FailConnect || !strings.Contains(r.Reason, "refused") {
		t.Fatalf("TCP_CHECK on closed port = %+v, want refused", r)
	}
}
