// Package notifytest is a test SMTP sink: a minimal SMTP server on a
// loopback (or lab) address that accepts every mail and keeps it, for
// tests of smtp_alert.
package notifytest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
)

// Mail is one message the sink received.
type Mail struct {
	// Helo is the HELO/EHLO argument.
	Helo string
	// From is the MAIL FROM address.
	From string
	// To are the RCPT TO addresses.
	To []string
	// Data is the message as sent between DATA and the final dot, with
	// CRLF line ends and dot-stuffing removed.
	Data string
}

// Header returns the value of the message header name ("" if absent).
func (m Mail) Header(name string) string {
	head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Body returns the message body.
func (m Mail) Body() string {
	_, body, _ := strings.Cut(m.Data, "\r\n\r\n")
	return body
}

// Sink is a running SMTP sink.
type Sink struct {
	ln    net.Listener
	mails chan Mail
	wg    sync.WaitGroup
}

// Listen starts a sink on addr ("127.0.0.1:0" for any loopback port).
// Received mails are delivered by Mails; Close stops it.
func Listen(addr string) (*Sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("notifytest: listen %s: %w", addr, err)
	}
	s := &Sink{ln: ln, mails: make(chan Mail, 64)}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Mails delivers the received mails in order.
func (s *Sink) Mails() <-chan Mail { return s.mails }

// Next waits for the next mail until ctx ends.
func (s *Sink) Next(ctx context.Context) (Mail, error) {
	select {
	case m := <-s.mails:
		return m, nil
	case <-ctx.Done():
		return Mail{}, fmt.Errorf("notifytest: no mail: %w", ctx.Err())
	}
}

// Close stops the sink and waits for its connections to end.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Sink) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer func() { _ = c.Close() }()
			s.session(c)
		}()
	}
}

func (s *Sink) session(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(l string) { _, _ = fmt.Fprintf(c, "%s\r\n", l) }
	say("220 sink ESMTP")
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "HELO", "EHLO":
			m.Helo = arg
			say("250 sink")
		case "MAIL":
			m.From = pathOf(arg, "FROM:")
			say("250 ok")
		case "RCPT":
			m.To = append(m.To, pathOf(arg, "TO:"))
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			select {
			case s.mails <- m:
			default: // a test that posts more than 64 mails without reading drops the rest
			}
			m = Mail{Helo: m.Helo}
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// pathOf is the address of "FROM:<a@b>" or "TO:<a@b>" (keyword in any case).
func pathOf(arg, keyword string) string {
	if len(arg) >= len(keyword) && strings.EqualFold(arg[:len(keyword)], keyword) {
		arg = arg[len(keyword):]
	}
	arg, _, _ = strings.Cut(strings.TrimSpace(arg), " ") // drop ESMTP parameters
	return strings.Trim(arg, "<>")
}
