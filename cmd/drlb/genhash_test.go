package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
)

const keepalivedGenhash = "/usr/bin/genhash"

// parityServer serves the test pages on 127.0.0.1: net/http for ordinary
// pages and a raw listener for a hand-written chunked response.
func parityServer(t *testing.T) (httpPort, rawPort int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	binary := make([]byte, 70000) // several reads, NUL bytes included
	for i := range binary {
		binary[i] = byte(rng.UintN(256))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/teste.html", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html><body>rs1 172.16.1.10</body></html>\n")
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(binary)
	})
	mux.HandleFunc("/empty", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "host=%s proto=%s\n", r.Host, r.Proto) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				got := 0
				for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) && got < len(buf) {
					n, err := c.Read(buf[got:])
					if err != nil {
						return
					}
					got += n
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
					"7\r\nchunked\r\n6\r\n page\n\r\n0\r\n\r\n"))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, raw.Addr().(*net.TCPAddr).Port
}

// tlsServer serves /teste.html over TLS with a fresh self-signed certificate.
func tlsServer(t *testing.T) int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drlb-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html>over TLS</html>\n")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func runDrlbGenhash(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cmdGenhash(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestGenhashParity asserts that drlb genhash and keepalived's genhash print
// the same line for plain, chunked, binary, empty and 404 pages.
func TestGenhashParity(t *testing.T) {
	if _, err := os.Stat(keepalivedGenhash); err != nil {
		testenv.Unavailable(t, keepalivedGenhash+" missing: install Debian package keepalived to compare digests")
	}
	httpPort, rawPort := parityServer(t)
	hp, rp := strconv.Itoa(httpPort), strconv.Itoa(rawPort)
	tp := strconv.Itoa(tlsServer(t))
	cases := []struct {
		name string
		args []string
	}{
		{"plain", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/teste.html"}},
		{"chunked", []string{"-s", "127.0.0.1", "-p", rp, "-u", "/chunked"}},
		{"binary", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/binary"}},
		{"empty", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/empty"}},
		{"404", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/missing"}},
		{"virtual host", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/host", "-V", "www.example.test"}},
		{"http 1.1", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/host", "-P", "1.1"}},
		{"tls", []string{"-S", "-s", "127.0.0.1", "-p", tp, "-u", "/teste.html"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			want, err := exec.CommandContext(ctx, keepalivedGenhash, tc.args...).Output()
			if err != nil {
				t.Fatalf("%s %v: %v", keepalivedGenhash, tc.args, err)
			}
			got, stderr, code := runDrlbGenhash(t, tc.args...)
			if code != 0 {
				t.Fatalf("drlb genhash exit %d: %s", code, stderr)
			}
			if got != string(want) {
				t.Fatalf("drlb genhash printed %q, keepalived's genhash %q", got, want)
			}
			if len(got) != 33 || strings.ToLower(got) != got {
				t.Fatalf("output %q is not 32 lowercase hex digits and a newline", got)
			}
		})
	}
}

func TestGenhashOutputAndErrors(t *testing.T) {
	httpPort, rawPort := parityServer(t)
	hp := strconv.Itoa(httpPort)
	sum := md5.Sum([]byte("<html><body>rs1 172.16.1.10</body></html>\n"))
	out, _, code := runDrlbGenhash(t, "-s", "127.0.0.1", "-p", hp, "-u", "/teste.html")
	if code != 0 || out != hex.EncodeToString(sum[:])+"\n" {
		t.Fatalf("genhash = %q (exit %d), want %x", out, code, sum)
	}
	// The chunked body is hashed raw, chunk sizes included.
	raw := md5.Sum([]byte("7\r\nchunked\r\n6\r\n page\n\r\n0\r\n\r\n"))
	out, _, _ = runDrlbGenhash(t, "-s", "127.0.0.1", "-p", strconv.Itoa(rawPort), "-u", "/")
	if out != hex.EncodeToString(raw[:])+"\n" {
		t.Fatalf("chunked genhash = %q, want raw-body digest %x", out, raw)
	}

	out, _, code = runDrlbGenhash(t, "-v", "-s", "127.0.0.1", "-p", hp, "-u", "/teste.html")
	for _, want := range []string{"GET /teste.html HTTP/1.0", "User-Agent: KeepAliveClient", "response headers", "Content-Length: 42", "body: 42 bytes received, 42 bytes hashed", "timing: connect"} {
		if !strings.Contains(out, want) {
			t.Errorf("-v output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 || !strings.HasSuffix(out, hex.EncodeToString(sum[:])+"\n") {
		t.Errorf("-v output does not end with the digest:\n%s", out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close() // accepts (backlog) and never answers
	silentPort := strconv.Itoa(silent.Addr().(*net.TCPAddr).Port)

	errCases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"refused", []string{"-s", "127.0.0.1", "-p", closedPort, "-u", "/"}, 1, "connection refused"},
		{"timeout", []string{"-s", "127.0.0.1", "-p", silentPort, "-u", "/", "-t", "0.2"}, 1, "no complete response within 200ms"},
		{"missing flags", []string{"-s", "127.0.0.1"}, 2, "required"},
		{"bad server", []string{"-s", "lb1", "-p", "80", "-u", "/"}, 2, "IP address"},
		{"bad protocol", []string{"-s", "127.0.0.1", "-p", "80", "-u", "/", "-P", "2"}, 2, "invalid HTTP protocol"},
		{"bad port", []string{"-s", "127.0.0.1", "-p", "70000", "-u", "/"}, 2, "invalid port"},
	}
	for _, tc := range errCases {
		out, stderr, code := runDrlbGenhash(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: exit %d stdout %q stderr %q; want exit %d, stderr with %q", tc.name, code, out, stderr, tc.code, tc.stderr)
		}
	}
}

// TestGenhashParityIPv6 asserts that `drlb genhash -s IPv6` prints what
// keepalived's genhash prints for a server on ::1, the Host header
// ("[::1]:port") included, since /host echoes it into the hashed body.
func TestGenhashParityIPv6(t *testing.T) {
	if _, err := os.Stat(keepalivedGenhash); err != nil {
		testenv.Unavailable(t, keepalivedGenhash+" missing: install Debian package keepalived to compare digests")
	}
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("no IPv6 loopback here: %v", err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/teste.html", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html><body>rs1 fd00:172:16:1::10</body></html>\n")
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "host=%s proto=%s\n", r.Host, r.Proto) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, path := range []string{"/teste.html", "/host"} {
		args := []string{"-s", "::1", "-p", port, "-u", path}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		want, err := exec.CommandContext(ctx, keepalivedGenhash, args...).Output()
		cancel()
		if err != nil {
			t.Fatalf("%s %v: %v", keepalivedGenhash, args, err)
		}
		got, stderr, code := runDrlbGenhash(t, args...)
		if code != 0 {
			t.Fatalf("drlb genhash %v exit %d: %s", args, code, stderr)
		}
		if got != string(want) {
			t.Errorf("drlb genhash %v printed %q, keepalived's genhash %q", args, got, want)
		}
	}
	// Control: the digest is that of the page, so a wrong server cannot pass.
	sum := md5.Sum([]byte("<html><body>rs1 fd00:172:16:1::10</body></html>\n"))
	if got, _, _ := runDrlbGenhash(t, "-s", "::1", "-p", port, "-u", "/teste.html"); got != hex.EncodeToString(sum[:])+"\n" {
		t.Errorf("drlb genhash -s ::1 = %q, want %x", got, sum)
	}
}
