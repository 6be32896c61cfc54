package notify

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/notify/notifytest"
	"golang.org/x/sys/unix"
)

func TestLines(t *testing.T) {
	web := Service{Address: netip.MustParseAddr("172.16.1.1"), Port: 80, Protocol: "TCP"}
	v6 := Service{Address: netip.MustParseAddr("fd00:172:16:1::1"), Port: 443, Protocol: "udp"}
	cases := []struct{ got, want string }{
		{InstanceLine("VI_1", "MASTER", 100), "INSTANCE \"VI_1\" MASTER 100\n"},
		{InstanceLine("VI_1", "STOP", 0), "INSTANCE \"VI_1\" STOP 0\n"},
		{GroupLine("VG_1", "BACKUP"), "GROUP \"VG_1\" BACKUP 0\n"},
		{VSLine(web, true), "VS [172.16.1.1]:tcp:80 UP\n"},
		{VSLine(Service{FWMark: 5}, false), "VS FWM 5 DOWN\n"},
		{RSLine(Real(netip.MustParseAddr("172.16.1.10"), 80, "TCP"), web, false), "RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 DOWN\n"},
		{RSLine(Real(netip.MustParseAddr("fd00:172:16:1::10"), 443, "udp"), v6, true), "RS [fd00:172:16:1::10]:udp:443 [fd00:172:16:1::1]:udp:443 UP\n"},
		{RSLine(Real(netip.MustParseAddr("10.0.0.2"), 0, ""), Service{FWMark: 5}, true), "RS [10.0.0.2]:none:0 FWM 5 UP\n"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestMails(t *testing.T) {
	web := Service{Address: netip.MustParseAddr("172.16.1.1"), Port: 80, Protocol: "TCP"}
	cases := []struct{ subject, body, wantSubject, wantBody string }{}
	add := func(s, b, ws, wb string) {
		cases = append(cases, struct{ subject, body, wantSubject, wantBody string }{s, b, ws, wb})
	}
	s, b := InstanceMail("lb1", "VI_1", "MASTER")
	add(s, b, "[lb1] VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=")
	s, b = InstanceMail("lb1", "VI_1", "BACKUP")
	add(s, b, "[lb1] VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <=")
	s, b = GroupMail("lb1", "VG", "FAULT")
	add(s, b, "[lb1] VRRP Group VG - Entering FAULT state", "=> All VRRP group instances are now in FAULT state <=")
	s, b = RealServerMail("lb1", "[172.16.1.10]:tcp:80", web, false, "connection refused")
	add(s, b, "[lb1] Realserver [172.16.1.10]:tcp:80 of virtual server [172.16.1.1]:tcp:80 - DOWN", "=> CHECK failed on service: connection refused <=")
	s, b = VirtualServerMail("lb1", web, true, false, 1, 0, 1, 2)
	add(s, b, "[lb1] Virtualserver [172.16.1.1]:tcp:80 - UP", "=> Gained quorum 1+0=1 <= 2 <=")
	for _, c := range cases {
		if c.subject != c.wantSubject || c.body != c.wantBody {
			t.Errorf("got %q / %q, want %q / %q", c.subject, c.body, c.wantSubject, c.wantBody)
		}
	}
}

func TestFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify_fifo")
	f, err := OpenFIFO(path)
	if err != nil {
		t.Fatal(err)
	}
	// A reader opened after the writer sees the lines written from then on.
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := f.WriteLine(InstanceLine("VI_1", "MASTER", 100)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "INSTANCE \"VI_1\" MASTER 100\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// Nobody reads: the pipe fills, and writes fail fast instead of blocking.
	line := strings.Repeat("x", 1000) + "\n"
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		full = f.WriteLine(line)
	}
	if !errors.Is(full, ErrFull) || f.Dropped() != 1 {
		t.Fatalf("a full pipe: err %v, dropped %d; want ErrFull and 1", full, f.Dropped())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the fifo created by OpenFIFO is still there after Close: %v", err)
	}
	if err := f.WriteLine("late\n"); err == nil {
		t.Error("a write after Close succeeded")
	}
}

func TestFIFOKeepsAnExistingOneAndRefusesAFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFIFO(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a fifo OpenFIFO did not create was removed: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFIFO(plain); err == nil || !strings.Contains(err.Error(), "is not a fifo") {
		t.Errorf("a plain file: %v, want \"is not a fifo\"", err)
	}
}

func TestMailerSendsToSink(t *testing.T) {
	sink, err := notifytest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m := Mailer{Server: sink.Addr(), Helo: "lb1.example", From: "lb@example.com", To: []string{"ops@example.com", "pager@example.com"}, Timeout: 5 * time.Second}
	subject, body := InstanceMail("lb1", "VI_1", "MASTER")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Send(ctx, subject, body); err != nil {
		t.Fatal(err)
	}
	got, err := sink.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Helo != "lb1.example" || got.From != "lb@example.com" || strings.Join(got.To, ",") != "ops@example.com,pager@example.com" {
		t.Errorf("envelope %+v", got)
	}
	if got.Header("Subject") != subject || got.Header("X-Mailer") != "Keepalived" || got.Header("From") != "lb@example.com" {
		t.Errorf("headers:\n%s", got.Data)
	}
	if strings.TrimSpace(got.Body()) != body {
		t.Errorf("body %q, want %q", got.Body(), body)
	}
}

func TestMailerGivesUp(t *testing.T) {
	// A server that accepts and never greets: Send ends at its timeout.
	sink, err := notifytest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := sink.Addr()
	sink.Close()
	m := Mailer{Server: addr, From: "a@b", To: []string{"c@d"}, Timeout: time.Second}
	if err := m.Send(context.Background(), "s", "b"); err == nil {
		t.Fatal("sent to a closed port")
	}
	if err := (Mailer{Server: addr}).Send(context.Background(), "s", "b"); err == nil || !strings.Contains(err.Error(), "no notification_email") {
		t.Errorf("no recipient: %v", err)
	}
}

func TestMessageHeadersCannotBeInjected(t *testing.T) {
	msg := Message("a@b", []string{"c@d"}, "x\r\nBcc: evil@e", "body", time.Unix(0, 0))
	if strings.Contains(msg, "\r\nBcc:") {
		t.Fatalf("header injected:\n%s", msg)
	}
}
