package topology

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Modes of drlab serve besides the web server: the services the health
// checkers SMTP_CHECK, DNS_CHECK and UDP_CHECK probe.
const (
	ModeWeb     = "web"
	ModeDNS     = "dns"
	ModeSMTP    = "smtp"
	ModeUDPEcho = "udp-echo"
)

// Service behaviours a test can set with Lab.SetServiceMode (written to
// root/.drlab/<mode>, read on every request): "" or "ok" answers normally;
//
//	dns:      "refused" answers REFUSED, "silent" does not answer
//	smtp:     "busy" greets with 554 instead of 220
//	udp-echo: "garbage" answers "garbage" instead of the datagram, "silent" does not answer
const (
	BehaviourOK      = "ok"
	BehaviourRefused = "refused"
	BehaviourSilent  = "silent"
	BehaviourBusy    = "busy"
	BehaviourGarbage = "garbage"
)

// LabZone is the DNS zone the lab's DNS responder serves: SOA and NS at
// the apex and "<host>.lab." A records (the address the query reached).
const LabZone = "lab."

// SetServiceMode sets how host's service of mode (ModeDNS, ModeSMTP,
// ModeUDPEcho) behaves from its next request on.
func (l *Lab) SetServiceMode(host, mode, behaviour string) error {
	if err := l.checkHost(host); err != nil {
		return err
	}
	switch mode {
	case ModeDNS, ModeSMTP, ModeUDPEcho:
	default:
		return fmt.Errorf("service mode %q: want %s, %s or %s", mode, ModeDNS, ModeSMTP, ModeUDPEcho)
	}
	return writeAtomic(filepath.Join(l.WebRoot(host), controlDir, mode), []byte(behaviour))
}

func readBehaviour(root, mode string) string {
	b, err := os.ReadFile(filepath.Join(root, controlDir, mode))
	if err != nil {
		return BehaviourOK
	}
	return strings.TrimSpace(string(b))
}

// ServeMode runs the server of mode (ModeWeb, ModeDNS, ModeSMTP,
// ModeUDPEcho) for host on addr until ctx ends.
func ServeMode(ctx context.Context, mode, host, root, addr string) error {
	switch mode {
	case ModeWeb, "":
		return Serve(ctx, host, root, addr)
	case ModeDNS:
		return ServeDNS(ctx, host, root, addr)
	case ModeSMTP:
		return ServeSMTP(ctx, host, root, addr)
	case ModeUDPEcho:
		return ServeUDPEcho(ctx, host, root, addr)
	}
	return fmt.Errorf("serve mode %q: want %s, %s, %s or %s", mode, ModeWeb, ModeDNS, ModeSMTP, ModeUDPEcho)
}

// ServeDNS runs a DNS responder (github.com/miekg/dns) over UDP on addr:
// the SOA and NS of "." and of LabZone, and an A record of the server's
// address (see answerIPv4) for any name in LabZone. Other names get NXDOMAIN.
func ServeDNS(ctx context.Context, host, root, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("dns server for %s: %w", host, err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		switch readBehaviour(root, ModeDNS) {
		case BehaviourSilent:
			return
		case BehaviourRefused:
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeRefused)
			_ = w.WriteMsg(m)
			return
		}
		_ = w.WriteMsg(dnsAnswer(host, q, w.LocalAddr()))
	})}
	// Shutdown refuses a server that has not started yet; closing the
	// socket ends it in every case.
	return runUntil(ctx, "dns server for "+host, srv.ActivateAndServe, func() { _ = srv.Shutdown(); _ = pc.Close() })
}

// dnsAnswer answers q as the lab's zone does.
func dnsAnswer(host string, q *dns.Msg, local net.Addr) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if len(q.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	qs := q.Question[0]
	name := strings.ToLower(qs.Name)
	apex := name == "." || name == LabZone
	if !apex && !dns.IsSubDomain(LabZone, name) {
		m.Rcode = dns.RcodeNameError
		return m
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: qs.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
	}
	switch {
	case apex && qs.Qtype == dns.TypeSOA:
		m.Answer = append(m.Answer, &dns.SOA{Hdr: hdr(dns.TypeSOA), Ns: host + "." + LabZone, Mbox: "hostmaster." + LabZone,
			Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60})
	case apex && qs.Qtype == dns.TypeNS:
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: host + "." + LabZone})
	case qs.Qtype == dns.TypeA:
		if ip := answerIPv4(local); ip != nil {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: ip})
		}
	case qs.Qtype == dns.TypeTXT:
		m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{"drlab " + host}})
	}
	return m
}

// answerIPv4 is the address an A record of the lab zone carries: the
// server's own address, or with a wildcard listener the first global IPv4
// address of the host.
func answerIPv4(local net.Addr) net.IP {
	if ua, ok := local.(*net.UDPAddr); ok && ua.IP.To4() != nil && !ua.IP.IsUnspecified() {
		return ua.IP.To4()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.To4()
		}
	}
	return nil
}

// ServeSMTP runs an SMTP greeter on addr: "220 <host> drlab ESMTP", 250 to
// HELO/EHLO, 221 to QUIT, 502 to anything else; each connection lasts at
// most 30 s.
func ServeSMTP(ctx context.Context, host, root, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp server for %s: %w", host, err)
	}
	var conns sync.WaitGroup
	serve := func() error {
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			conns.Go(func() { smtpSession(ctx, c, host, root) })
		}
	}
	err = runUntil(ctx, "smtp server for "+host, serve, func() { _ = ln.Close() })
	conns.Wait()
	return err
}

func smtpSession(ctx context.Context, c net.Conn, host, root string) {
	defer func() { _ = c.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if readBehaviour(root, ModeSMTP) == BehaviourBusy {
		fmt.Fprintf(c, "554 %s drlab busy\r\n", host)
		return
	}
	fmt.Fprintf(c, "220 %s drlab ESMTP\r\n", host)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "HELO", "EHLO":
			fmt.Fprintf(c, "250 %s\r\n", host)
		case "QUIT":
			fmt.Fprintf(c, "221 %s bye\r\n", host)
			return
		default:
			fmt.Fprintf(c, "502 command not implemented\r\n")
		}
	}
}

// ServeUDPEcho answers every datagram on addr with the same bytes.
func ServeUDPEcho(ctx context.Context, host, root, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("udp echo for %s: %w", host, err)
	}
	serve := func() error {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return err
			}
			switch readBehaviour(root, ModeUDPEcho) {
			case BehaviourSilent:
				continue
			case BehaviourGarbage:
				_, _ = pc.WriteTo([]byte("garbage"), from)
			default:
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}
	}
	return runUntil(ctx, "udp echo for "+host, serve, func() { _ = pc.Close() })
}

// runUntil runs serve until it fails or ctx ends (then stop makes it return).
func runUntil(ctx context.Context, what string, serve func() error, stop func()) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", what, err)
	case <-ctx.Done():
		stop()
		if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("%s: stopping: %w", what, err)
		}
		return nil // a server closed on purpose reports its closed socket
	}
}
