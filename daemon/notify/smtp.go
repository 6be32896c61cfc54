package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends keepalived's smtp_alert e-mails through one SMTP server
// (global_defs smtp_server, smtp_helo_name, smtp_connect_timeout,
// notification_email_from, notification_email). It speaks plain SMTP
// without authentication, as keepalived does.
type Mailer struct {
	// Server is smtp_server as "host:port" (keepalived's default port is 25).
	Server string
	// Helo is smtp_helo_name (keepalived's default: the local host name).
	Helo string
	// From is notification_email_from.
	From string
	// To is notification_email.
	To []string
	// Timeout bounds the whole exchange (smtp_connect_timeout; keepalived's
	// default is 30 s). Zero means 30 s.
	Timeout time.Duration
}

// Send sends one e-mail with keepalived's headers (From, To, Subject,
// Date, X-Mailer: Keepalived). It gives up when ctx ends or Timeout passes.
func (m Mailer) Send(ctx context.Context, subject, body string) error {
	if len(m.To) == 0 {
		return errors.New("notify: smtp: no notification_email recipient")
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Server)
	if err != nil {
		return fmt.Errorf("notify: smtp: connect %s: %w", m.Server, err)
	}
	defer func() { _ = conn.Close() }() // after QUIT, or on failure: nothing left to report
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host, _, _ := net.SplitHostPort(m.Server)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("notify: smtp %s: greeting: %w", m.Server, err)
	}
	defer func() { _ = c.Close() }()
	if m.Helo != "" {
		if err := c.Hello(m.Helo); err != nil {
			return fmt.Errorf("notify: smtp %s: HELO %s: %w", m.Server, m.Helo, err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("notify: smtp %s: MAIL FROM %s: %w", m.Server, m.From, err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("notify: smtp %s: RCPT TO %s: %w", m.Server, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify: smtp %s: DATA: %w", m.Server, err)
	}
	msg := Message(m.From, m.To, subject, body, time.Now())
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notify: smtp %s: message: %w", m.Server, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify: smtp %s: end of message: %w", m.Server, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("notify: smtp %s: QUIT: %w", m.Server, err)
	}
	return nil
}

// Message is the e-mail as sent: keepalived's headers, a blank line, the
// body, with CRLF line ends. Header values lose any CR or LF, so a name
// from the configuration cannot add headers.
func Message(from string, to []string, subject, body string, date time.Time) string {
	clean := strings.NewReplacer("\r", " ", "\n", " ")
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", clean.Replace(from))
	fmt.Fprintf(&b, "To: %s\r\n", clean.Replace(strings.Join(to, ", ")))
	fmt.Fprintf(&b, "Subject: %s\r\n", clean.Replace(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	b.WriteString("X-Mailer: Keepalived\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.String()
}

// InstanceMail is keepalived's e-mail for a vrrp_instance entering state.
func InstanceMail(routerID, name, state string) (subject, body string) {
	subject = fmt.Sprintf("[%s] VRRP Instance %s - Entering %s state", routerID, name, state)
	if state == "MASTER" {
		return subject, "=> VRRP Instance is now owning VRRP VIPs <="
	}
	return subject, "=> VRRP Instance is no longer owning VRRP VIPs <="
}

// GroupMail is keepalived's e-mail for a vrrp_sync_group entering state.
func GroupMail(routerID, name, state string) (subject, body string) {
	return fmt.Sprintf("[%s] VRRP Group %s - Entering %s state", routerID, name, state),
		fmt.Sprintf("=> All VRRP group instances are now in %s state <=", state)
}

// RealServerMail is keepalived's e-mail for a real server of vs going up
// or down; reason is the checker's verdict.
func RealServerMail(routerID, rs string, vs Service, up bool, reason string) (subject, body string) {
	subject = fmt.Sprintf("[%s] Realserver %s of virtual server %s - %s", routerID, rs, vs, upDown(up))
	verdict := "succeed"
	if !up {
		verdict = "failed"
	}
	body = fmt.Sprintf("=> CHECK %s on service <=", verdict)
	if reason != "" {
		body = fmt.Sprintf("=> CHECK %s on service: %s <=", verdict, reason)
	}
	return subject, body
}

// VirtualServerMail is keepalived's e-mail for a virtual server gaining or
// losing quorum: "=> Gained quorum Q+H=T <= W <=" (keepalived's
// do_vs_notifies), start says it is the state the service starts with.
func VirtualServerMail(routerID string, vs Service, up, start bool, quorum, hysteresis, threshold, weight int) (subject, body string) {
	what := map[[2]bool]string{{true, false}: "Gained quorum", {true, true}: "Starting with quorum up",
		{false, false}: "Lost quorum", {false, true}: "Starting with quorum down"}[[2]bool{up, start}]
	return fmt.Sprintf("[%s] Virtualserver %s - %s", routerID, vs, upDown(up)),
		fmt.Sprintf("=> %s %d+%d=%d <= %d <=", what, quorum, hysteresis, threshold, weight)
}

// Outbox sends e-mails one at a time from its own goroutine (Run), so that
// who posts never waits for the SMTP server. When Size mails wait, more are
// dropped and counted.
type Outbox struct {
	mailer  Mailer
	queue   chan [2]string
	onError func(error)
}

// NewOutbox returns an Outbox for m holding up to size waiting mails;
// onError (if set) receives each failed send from Run's goroutine.
func NewOutbox(m Mailer, size int, onError func(error)) *Outbox {
	return &Outbox{mailer: m, queue: make(chan [2]string, max(size, 1)), onError: onError}
}

// Post queues a mail; it never blocks and reports false when the queue is
// full (the mail is dropped).
func (o *Outbox) Post(subject, body string) bool {
	select {
	case o.queue <- [2]string{subject, body}:
		return true
	default:
		return false
	}
}

// Run sends queued mails until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-o.queue:
			if err := o.mailer.Send(ctx, m[0], m[1]); err != nil && o.onError != nil {
				o.onError(err)
			}
		}
	}
}
