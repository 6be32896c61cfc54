package topology

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// freeAddr returns a loopback address free for network ("tcp" or "udp").
func freeAddr(t *testing.T, network string) string {
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

// startMode runs ServeMode in the background and stops it at the end.
func startMode(t *testing.T, mode, root, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMode(ctx, mode, "rs1", root, addr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s server: %v", mode, err)
		}
	})
}

func setBehaviour(t *testing.T, root, mode, b string) {
	t.Helper()
	if err := writeAtomic(filepath.Join(root, controlDir, mode), []byte(b)); err != nil {
		t.Fatal(err)
	}
}

func TestServeDNS(t *testing.T) {
	root, addr := t.TempDir(), freeAddr(t, "udp")
	startMode(t, ModeDNS, root, addr)
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	ask := func(name string, qt uint16) (*dns.Msg, error) {
		q := new(dns.Msg)
		q.SetQuestion(name, qt)
		var r *dns.Msg
		var err error
		for range 20 { // the server may still be starting
			if r, _, err = c.Exchange(q, addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // refused (not listening yet) returns at once
		}
		return r, err
	}
	r, err := ask(".", dns.TypeSOA)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("SOA of .: %v %v", r, err)
	}
	r, err = ask("rs1.lab.", dns.TypeA)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
		t.Fatalf("A rs1.lab.: %v %v", r, err)
	}
	if r, _ = ask("example.com.", dns.TypeA); r == nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("outside the zone: %v, want NXDOMAIN", r)
	}
	setBehaviour(t, root, ModeDNS, BehaviourRefused)
	if r, _ = ask(".", dns.TypeSOA); r == nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("refused mode: %v", r)
	}
	setBehaviour(t, root, ModeDNS, BehaviourSilent)
	q := new(dns.Msg)
	q.SetQuestion(".", dns.TypeSOA)
	if _, _, err := c.Exchange(q, addr); err == nil {
		t.Fatal("silent mode answered")
	}
}

func TestServeSMTP(t *testing.T) {
	root, addr := t.TempDir(), freeAddr(t, "tcp")
	startMode(t, ModeSMTP, root, addr)
	talk := func() []string {
		var c net.Conn
		var err error
		for range 50 {
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		var lines []string
		line, _ := r.ReadString('\n')
		lines = append(lines, strings.TrimSpace(line))
		if !strings.HasPrefix(line, "220") {
			return lines
		}
		for _, cmd := range []string{"HELO lb1", "QUIT"} {
			c.Write([]byte(cmd + "\r\n"))
			line, _ = r.ReadString('\n')
			lines = append(lines, strings.TrimSpace(line))
		}
		return lines
	}
	got := strings.Join(talk(), "|")
	if got != "220 rs1 drlab ESMTP|250 rs1|221 rs1 bye" {
		t.Fatalf("session = %q", got)
	}
	setBehaviour(t, root, ModeSMTP, BehaviourBusy)
	if got := strings.Join(talk(), "|"); got != "554 rs1 drlab busy" {
		t.Fatalf("busy session = %q", got)
	}
}

func TestServeUDPEcho(t *testing.T) {
	root, addr := t.TempDir(), freeAddr(t, "udp")
	startMode(t, ModeUDPEcho, root, addr)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func(tries int) string {
		buf := make([]byte, 64)
		for { // drop replies still queued from earlier tries
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := c.Read(buf); err != nil && !strings.Contains(err.Error(), "refused") {
				break
			}
		}
		for range tries {
			c.Write([]byte("ping"))
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				return string(buf[:n])
			}
			time.Sleep(20 * time.Millisecond) // refused (not listening yet) returns at once
		}
		return ""
	}
	if got := ask(20); got != "ping" {
		t.Fatalf("echo = %q", got)
	}
	setBehaviour(t, root, ModeUDPEcho, BehaviourGarbage)
	if got := ask(3); got != "garbage" {
		t.Fatalf("garbage mode = %q", got)
	}
	setBehaviour(t, root, ModeUDPEcho, BehaviourSilent)
	if got := ask(2); got != "" {
		t.Fatalf("silent mode answered %q", got)
	}
	_ = os.Remove(filepath.Join(root, controlDir, ModeUDPEcho))
	if got := ask(3); got != "ping" {
		t.Fatalf("back to echo = %q", got)
	}
}
