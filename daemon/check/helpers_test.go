package check

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// rawServer is a loopback TCP server whose handler sees the raw request.
type rawServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	reqs [][]byte
}

// startRaw serves handler on 127.0.0.1; the server stops at test cleanup.
func startRaw(t testing.TB, handler func(c net.Conn, req []byte)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return serveRaw(t, ln, handler)
}

func serveRaw(t testing.TB, ln net.Listener, handler func(c net.Conn, req []byte)) *rawServer {
	s := &rawServer{ln: ln}
	done := make(chan struct{})
	var conns sync.Map
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			s.wg.Go(func() {
				defer conns.Delete(c)
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req := readRequest(c)
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				s.mu.Unlock()
				select {
				case <-done:
					return
				default:
				}
				handler(c, req)
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		s.wg.Wait()
	})
	return s
}

func readRequest(c net.Conn) []byte {
	r := bufio.NewReader(c)
	var buf bytes.Buffer
	for {
		line, err := r.ReadBytes('\n')
		buf.Write(line)
		if err != nil || bytes.Equal(line, []byte("\r\n")) {
			return buf.Bytes()
		}
	}
}

func (s *rawServer) addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.ln.Addr().String())
}

func (s *rawServer) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.reqs...)
}

// reply returns a handler that writes resp and closes.
func reply(resp string) func(net.Conn, []byte) {
	return func(c net.Conn, _ []byte) { _, _ = c.Write([]byte(resp)) }
}

// selfSignedTLS returns a server config with a fresh self-signed certificate
// that records the SNI names it sees.
func selfSignedTLS(t testing.TB, sni *[]string, mu *sync.Mutex) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "drlb-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"www.example.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			*sni = append(*sni, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
}

// closedPort is a loopback address with no listener: connects are refused.
func closedPort(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}
