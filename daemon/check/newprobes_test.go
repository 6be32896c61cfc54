package check

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/miekg/dns"
)

func startSMTP(t *testing.T, greeting, heloReply string) (netip.AddrPort, chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	helos := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write([]byte(greeting))
				r := bufio.NewReader(c)
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				helos <- strings.TrimRight(line, "\r\n")
				_, _ = c.Write([]byte(heloReply))
				_, _ = r.ReadString('\n')
				_, _ = c.Write([]byte("221 bye\r\n"))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), helos
}

func TestProbeSMTP(t *testing.T) {
	tests := []struct {
		name, greeting, helo string
		ok                   bool
	}{
		{"220 and 250", "220 mx ESMTP\r\n", "250 hello\r\n", true},
		{"multi-line greeting", "220-mx\r\n220 ESMTP\r\n", "250-mx\r\n250 SIZE 1\r\n", true},
		{"busy greeting", "554 go away\r\n", "250 hello\r\n", false},
		{"HELO refused", "220 mx\r\n", "501 bad helo\r\n", false},
		{"garbage", "hello\r\n", "250 hi\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, helos := startSMTP(t, tt.greeting, tt.helo)
			r := Probe(context.Background(), Spec{Kind: KindSMTP, Addr: addr, ConnectTimeout: 2 * time.Second, SMTP: SMTPSpec{HeloName: "lb1.example"}})
			if r.OK != tt.ok {
				t.Fatalf("probe = %+v, want OK=%v", r, tt.ok)
			}
			if tt.ok {
				if h := <-helos; h != "HELO lb1.example" {
					t.Errorf("server got %q, want HELO lb1.example", h)
				}
			}
		})
	}
	r := Probe(context.Background(), Spec{Kind: KindSMTP, Addr: closedPort(t), ConnectTimeout: time.Second})
	if r.OK || r.Failure != FailConnect {
		t.Errorf("closed port: %+v, want a connect failure", r)
	}
}

// startDNS serves SOA for "." and A for a.example. with rcode, on loopback UDP.
func startDNS(t *testing.T, rcode int) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		if rcode == dns.RcodeSuccess && q.Question[0].Qtype == dns.TypeA && q.Question[0].Name == "a.example." {
			rr, _ := dns.NewRR("a.example. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		}
		if rcode == dns.RcodeSuccess && q.Question[0].Qtype == dns.TypeSOA {
			rr, _ := dns.NewRR(". 60 IN SOA ns. host. 1 2 3 4 5")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestProbeDNS(t *testing.T) {
	ok := startDNS(t, dns.RcodeSuccess)
	refused := startDNS(t, dns.RcodeRefused)
	tests := []struct {
		name string
		addr netip.AddrPort
		dns  DNSSpec
		want bool
	}{
		{"default SOA .", ok, DNSSpec{}, true},
		{"A a.example", ok, DNSSpec{Type: dns.TypeA, Name: "a.example"}, true},
		{"no answer", ok, DNSSpec{Type: dns.TypeA, Name: "b.example"}, false},
		{"refused", refused, DNSSpec{}, false},
		{"nobody listening", netip.MustParseAddrPort(closedPort(t).String()), DNSSpec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Probe(context.Background(), Spec{Kind: KindDNS, Addr: tt.addr, ConnectTimeout: time.Second, DNS: tt.dns})
			if r.OK != tt.want {
				t.Fatalf("probe = %+v, want OK=%v", r, tt.want)
			}
		})
	}
	for _, s := range []string{"a", "AAAA", "soa", "Mx"} {
		if _, err := ParseDNSType(s); err != nil {
			t.Errorf("ParseDNSType(%q): %v", s, err)
		}
	}
	if _, err := ParseDNSType("SRV"); err == nil {
		t.Error("ParseDNSType(SRV) accepted a type keepalived refuses")
	}
}

// startUDP replies to each datagram with reply(datagram), or stays silent when it returns nil.
func startUDP(t *testing.T, reply func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestProbeUDP(t *testing.T) {
	echo := startUDP(t, func(b []byte) []byte { return append([]byte(nil), b...) })
	silent := startUDP(t, func([]byte) []byte { return nil })
	closed := func() netip.AddrPort {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		a := netip.MustParseAddrPort(pc.LocalAddr().String())
		pc.Close()
		return a
	}()
	tests := []struct {
		name string
		addr netip.AddrPort
		udp  UDPSpec
		want bool
	}{
		{"echo, reply not required", echo, UDPSpec{Payload: []byte("hi")}, true},
		{"echo, reply required", echo, UDPSpec{Payload: []byte("hi"), RequireReply: true}, true},
		{"echo matches pattern", echo, UDPSpec{Payload: []byte{0xab, 0x12}, RequireReply: true, Reply: []byte{0xab, 0x10}, ReplyMask: []byte{0xff, 0xf0}}, true},
		{"echo differs from pattern", echo, UDPSpec{Payload: []byte{0xab, 0x12}, RequireReply: true, Reply: []byte{0xab, 0x22}, ReplyMask: []byte{0xff, 0xf0}}, false},
		{"reply too short", echo, UDPSpec{Payload: []byte{1}, RequireReply: true, MinReplyLength: 2}, false},
		{"silent, reply not required", silent, UDPSpec{}, true},
		{"silent, reply required", silent, UDPSpec{RequireReply: true}, false},
		{"port unreachable", closed, UDPSpec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Probe(context.Background(), Spec{Kind: KindUDP, Addr: tt.addr, ConnectTimeout: 300 * time.Millisecond, UDP: tt.udp})
			if r.OK != tt.want {
				t.Fatalf("probe = %+v, want OK=%v", r, tt.want)
			}
		})
	}
}

func TestProbePing(t *testing.T) {
	testenv.Privileged(t)
	r := Probe(context.Background(), Spec{Kind: KindPing, Addr: netip.MustParseAddrPort("127.0.0.1:0"), ConnectTimeout: time.Second})
	if !r.OK {
		t.Fatalf("ping 127.0.0.1: %+v", r)
	}
	// 127.0.0.1 answers only for itself: a TEST-NET address on no route does not.
	r = Probe(context.Background(), Spec{Kind: KindPing, Addr: netip.MustParseAddrPort("[::1]:0"), ConnectTimeout: time.Second})
	if !r.OK {
		t.Fatalf("ping ::1: %+v", r)
	}
}

func TestFileVerdict(t *testing.T) {
	tests := []struct {
		name   string
		f      FileSpec
		value  int64
		up     bool
		weight int
	}{
		{"weight 0, zero is up", FileSpec{BaseWeight: 5}, 0, true, 5},
		{"weight 0, non-zero is down", FileSpec{BaseWeight: 5}, 3, false, 5},
		{"weight 0 reverse, zero is down", FileSpec{Reverse: true, BaseWeight: 5}, 0, false, 5},
		{"weight 0 reverse, non-zero is up", FileSpec{Reverse: true, BaseWeight: 5}, 1, true, 5},
		{"dynamic adds value×weight", FileSpec{Weight: 2, Dynamic: true, BaseWeight: 5}, 3, true, 11},
		{"dynamic reverse subtracts", FileSpec{Weight: 2, Reverse: true, Dynamic: true, BaseWeight: 5}, 2, true, 1},
		{"negative total is down", FileSpec{Weight: 2, Dynamic: true, BaseWeight: 5}, -3, false, 0},
		{"not dynamic keeps weight", FileSpec{Weight: 2, BaseWeight: 5}, 3, true, 5},
	}
	for _, tt := range tests {
		up, w, _ := FileVerdict(tt.f, tt.value)
		if up != tt.up || w != tt.weight {
			t.Errorf("%s: FileVerdict = %v, %d; want %v, %d", tt.name, up, w, tt.up, tt.weight)
		}
	}
	for in, want := range map[string]int64{"": 0, "12\n": 12, "  -7 x": -7, "abc": 0, "+3": 3, "99999999999": 1<<31 - 1} {
		if got := ParseTrackValue(in); got != want {
			t.Errorf("ParseTrackValue(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestProbeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weight")
	spec := Spec{Kind: KindFile, File: FileSpec{Path: path, Weight: 1, Dynamic: true, BaseWeight: 1}}
	if r := Probe(context.Background(), spec); r.OK {
		t.Fatalf("missing file: %+v, want a failure", r)
	}
	if err := os.WriteFile(path, []byte("4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := Probe(context.Background(), spec); !r.OK || !r.WeightSet || r.Weight != 5 {
		t.Fatalf("value 4: %+v, want up with weight 5", r)
	}
}

func TestProbeHTTPRegex(t *testing.T) {
	srv := startRaw(t, reply("HTTP/1.0 200 OK\r\n\r\nstatus: green\n"))
	tests := []struct {
		re      string
		noMatch bool
		want    bool
	}{
		{"status: (green|amber)", false, true},
		{"status: red", false, false},
		{"status: red", true, true},
		{"gr[e]+n", true, false},
	}
	for _, tt := range tests {
		r := Probe(context.Background(), httpSpec(srv.addr(), URL{Path: "/", Regex: tt.re, RegexNoMatch: tt.noMatch}))
		if r.OK != tt.want {
			t.Errorf("regex %q no_match=%v: %+v, want OK=%v", tt.re, tt.noMatch, r, tt.want)
		}
	}
	bad := httpSpec(srv.addr(), URL{Path: "/", Regex: `(?<=x)y`})
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "not an RE2 pattern") {
		t.Errorf("Validate of a look-behind = %v, want an RE2 error", err)
	}
}

// TestProbeSSLClientCertificate: the top-level SSL block's certificate is
// presented to a server that requires one; without it the check fails.
func TestProbeSSLClientCertificate(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drlb test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	clKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lb1"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	clDER, err := x509.CreateCertificate(rand.Reader, clTmpl, ca, &clKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(clKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile, keyFile := write("c.pem", "CERTIFICATE", clDER), write("k.pem", "EC PRIVATE KEY", keyDER)
	caFile := write("ca.pem", "CERTIFICATE", caDER)

	var sni []string
	var mu sync.Mutex
	cfg := selfSignedTLS(t, &sni, &mu)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveRaw(t, ln, reply("HTTP/1.0 200 OK\r\n\r\nok"))
	spec := httpSpec(srv.addr(), URL{Path: "/"})
	spec.Kind = KindSSL
	if r := Probe(context.Background(), spec); r.OK {
		t.Fatalf("without a client certificate: %+v, want a failure", r)
	}
	// The server's own certificate is not signed by ca: as keepalived, that
	// alone does not fail the check.
	spec.HTTP.ClientCert = TLSFiles{CA: caFile, Certificate: certFile, Key: keyFile}
	if r := Probe(context.Background(), spec); !r.OK {
		t.Fatalf("with the SSL block's certificate: %+v", r)
	}
	spec.HTTP.ClientCert.Key = filepath.Join(dir, "missing.pem")
	if r := Probe(context.Background(), spec); r.OK || !strings.Contains(r.Reason, "SSL key") {
		t.Fatalf("missing key: %+v, want a failure naming the key", r)
	}
}

// FuzzParseTrackValue: any file content reads as a number in int32's
// range, without a panic.
func FuzzParseTrackValue(f *testing.F) {
	for _, s := range []string{"", "12\n", " -7x", "+", "-", "99999999999999999999", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v := ParseTrackValue(s); v < -1<<31 || v > 1<<31-1 {
			t.Fatalf("ParseTrackValue(%q) = %d, outside int32", s, v)
		}
	})
}

// FuzzCheckUDPReply: any reply against any pattern and mask is judged
// without a panic, and a reply equal to the pattern within bounds passes.
func FuzzCheckUDPReply(f *testing.F) {
	f.Add([]byte("ab"), []byte("a"), []byte{0xff}, 0, 255)
	f.Add([]byte{}, []byte{1, 2}, []byte{}, 3, 0)
	f.Fuzz(func(t *testing.T, reply, want, mask []byte, minLen, maxLen int) {
		u := UDPSpec{RequireReply: true, Reply: want, ReplyMask: mask, MinReplyLength: minLen, MaxReplyLength: maxLen}
		_ = checkUDPReply(u, reply)
		if len(want) > 0 && len(want) <= DefaultMaxReplyLength {
			if r := checkUDPReply(UDPSpec{Reply: want, ReplyMask: mask}, want); r != "" {
				t.Fatalf("the pattern itself fails: %s", r)
			}
		}
	})
}

func TestRegexOffsets(t *testing.T) {
	re := regexp.MustCompile("ok")
	body := []byte("xx ok yy ok")
	tests := []struct {
		u    URL
		want bool
	}{
		{URL{}, true},
		{URL{RegexMinOffset: 4}, true},                           // the second "ok" at 9
		{URL{RegexMinOffset: 10}, false},                         // only "k" left
		{URL{RegexMaxOffset: 3, RegexMaxOffsetSet: true}, true},  // first match starts at 3
		{URL{RegexMaxOffset: 2, RegexMaxOffsetSet: true}, false}, // too late
		{URL{RegexMinOffset: 4, RegexMaxOffset: 8, RegexMaxOffsetSet: true}, false},
		{URL{RegexMinOffset: 99}, false},
	}
	for _, tt := range tests {
		if got := regexMatches(re, body, tt.u); got != tt.want {
			t.Errorf("regexMatches(min %d, max %d/%v) = %v, want %v", tt.u.RegexMinOffset, tt.u.RegexMaxOffset, tt.u.RegexMaxOffsetSet, got, tt.want)
		}
	}
}

// TestBindPortAlone: a bind_port without bindto sets the source port of
// TCP and UDP probes (the address stays the kernel's choice).
func TestBindPortAlone(t *testing.T) {
	freePort := func(network string) uint16 {
		addr := freeLoopback(t, network)
		return netip.MustParseAddrPort(addr).Port()
	}
	peers := make(chan string, 4)
	srv := startRaw(t, func(c net.Conn, _ []byte) {
		select {
		case peers <- c.RemoteAddr().String():
		default:
		}
	})
	port := freePort("tcp")
	spec := Spec{Kind: KindTCP, Addr: srv.addr(), ConnectTimeout: time.Second, BindTo: netip.AddrPortFrom(netip.Addr{}, port)}
	if r := Probe(context.Background(), spec); !r.OK {
		t.Fatalf("TCP probe: %+v", r)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	echo := netip.MustParseAddrPort(pc.LocalAddr().String())
	udpFrom := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		udpFrom <- from.String()
		_, _ = pc.WriteTo(buf[:n], from)
	}()
	uport := freePort("udp")
	uspec := Spec{Kind: KindUDP, Addr: echo, ConnectTimeout: 500 * time.Millisecond, BindTo: netip.AddrPortFrom(netip.Addr{}, uport),
		UDP: UDPSpec{RequireReply: true, Payload: []byte("x")}}
	if r := Probe(context.Background(), uspec); !r.OK {
		t.Fatalf("UDP probe: %+v", r)
	}
	if f := <-udpFrom; !strings.HasSuffix(f, ":"+strconv.Itoa(int(uport))) {
		t.Errorf("UDP datagram from %s, want source port %d", f, uport)
	}
	// The probe's connect can finish before the server's accept runs its
	// handler: wait for it (bounded).
	var got string
	select {
	case got = <-peers:
	case <-time.After(2 * time.Second):
	}
	if !strings.HasSuffix(got, ":"+strconv.Itoa(int(port))) {
		t.Fatalf("TCP peer = %q, want source port %d", got, port)
	}
}

// freeLoopback is a loopback address free for network at the moment.
func freeLoopback(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
