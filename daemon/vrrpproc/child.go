package vrrpproc

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/drlb/drlb/daemon/vrrp"
)

// ChildEnv is set in the environment of the VRRP child to the number of
// its end of the socket; MaybeChild looks for it.
const ChildEnv = "DRLB_VRRP_CHILD_FD"

// childGCPercent and childMemoryLimit keep the child's collector idle: its
// advert path does not allocate, so the heap grows only with log lines,
// status answers and reloads; a collection runs when it has grown tenfold
// or nears the limit.
const (
	childGCPercent   = 1000
	childMemoryLimit = 256 << 20
)

// MaybeChild runs the VRRP child and exits when ChildEnv is set, and
// returns at once otherwise. Call it first thing in main (and in TestMain
// of a test binary that starts children), before anything else starts
// goroutines or reads flags.
func MaybeChild() {
	v := os.Getenv(ChildEnv)
	if v == "" {
		return
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "drlb vrrp child: %s=%q: not a file descriptor\n", ChildEnv, v)
		os.Exit(2)
	}
	if err := runChild(fd); err != nil {
		fmt.Fprintf(os.Stderr, "drlb vrrp child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// child is the VRRP child's end of the socket.
type child struct {
	out *outbox
	// gone is closed when the parent's end is closed (end of file).
	gone chan struct{}

	replies replies // the child's requests (scripts, services checked) awaiting replies
	level   slog.Level
}

func runChild(fd int) error {
	conn, err := net.FileConn(os.NewFile(uintptr(fd), "vrrp socket"))
	if err != nil {
		return fmt.Errorf("open socket fd %d: %w", fd, err)
	}
	defer func() { _ = conn.Close() }()
	c := &child{out: newOutbox(), gone: make(chan struct{})}
	dec := gob.NewDecoder(conn)
	var first message
	if err := dec.Decode(&first); err != nil {
		return fmt.Errorf("read start: %w", err)
	}
	if first.Kind != kindStart || first.Start == nil {
		return errors.New("first message is not a start")
	}
	start := first.Start
	c.level = start.LogLevel
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.out.write(gob.NewEncoder(conn)) }()
	log := slog.New(&forwardHandler{c: c})

	setProcessName(start.Name)
	debug.SetGCPercent(childGCPercent)
	debug.SetMemoryLimit(childMemoryLimit)
	if err := applyProcess(start.Config.Thread); err != nil {
		log.Warn("VRRP process scheduling not (fully) applied", "err", err)
	}
	opts := vrrp.Options{Logger: log, OnTransition: c.onTransition, OnNotify: c.onNotify, OnEvent: c.onEvent, RunScript: c.runScript,
		ServicesChecked:  c.servicesChecked,
		NetlinkCmdRcvBuf: start.Sockets.NetlinkCmdRcvBuf, NetlinkCmdRcvBufForce: start.Sockets.NetlinkCmdRcvBufForce,
		NetlinkMonitorRcvBuf: start.Sockets.NetlinkMonitorRcvBuf, NetlinkMonitorRcvBufForce: start.Sockets.NetlinkMonitorRcvBufForce,
		AcceptNFT: start.Sockets.AcceptNFT}
	if start.NetNS {
		opts.NetNS = netns.NsHandle(4)
	}
	node, err := vrrp.NewNode(start.Config, opts)
	if err != nil {
		c.out.push(message{Kind: kindExit, Err: newErrorMsg(err)})
		c.out.close()
		<-c.out.done
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- node.Run(ctx) }()
	c.out.push(message{Kind: kindStarted})
	go func() {
		// Threads the runtime starts while the node opens its sockets
		// inherit the policy; this catches any started before it was set.
		select {
		case <-time.After(time.Second):
			if err := applyProcess(vrrp.ThreadConfig{RTPriority: start.Config.Thread.RTPriority, Nice: start.Config.Thread.Nice, CPUs: start.Config.Thread.CPUs}); err != nil {
				log.Debug("VRRP process scheduling re-applied with errors", "err", err)
			}
		case <-ctx.Done():
		}
	}()

	// SIGTERM (systemd stops the whole unit; PR_SET_PDEATHSIG when the
	// parent dies) and SIGINT (a terminal's ^C) stop the node cleanly;
	// SIGHUP is the parent's (reload), not ours.
	signal.Ignore(syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			stop()
		case <-ctx.Done():
		}
	}()
	go c.read(ctx, dec, node, stop)
	err = <-runErr
	stop()
	c.out.push(message{Kind: kindExit, Err: newErrorMsg(err)})
	c.out.close()
	select {
	case <-c.out.done:
	case <-time.After(5 * time.Second):
	}
	return nil
}

// read takes the parent's messages until end of file, which stops the
// node (stop), as does a Stop message.
func (c *child) read(ctx context.Context, dec *gob.Decoder, node *vrrp.Node, stop context.CancelFunc) {
	defer func() {
		close(c.gone)
		stop()
	}()
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			return
		}
		switch m.Kind {
		case kindStop:
			stop()
		case kindStatusReq:
			c.out.push(message{Kind: kindStatus, ID: m.ID, Status: &statusMsg{Instances: node.Status(), NextTimer: node.NextTimer(), PID: os.Getpid()}})
		case kindUpdate:
			var cfg vrrp.Config
			if m.Update != nil {
				cfg = *m.Update
			}
			go func(id uint64) {
				res, err := node.Update(ctx, cfg)
				c.out.push(message{Kind: kindUpdateDone, ID: id, UpdateDone: &updateDoneMsg{Result: res}, Err: newErrorMsg(err)})
			}(m.ID)
		case kindScriptDone, kindCheckedDone:
			c.replies.deliver(m)
		}
	}
}

// forget drops the request id and tells the parent to cancel its work.
func (c *child) forget(id uint64) {
	c.replies.forget(id)
	c.out.push(message{Kind: kindCancel, ID: id})
}

// onTransition is the node's OnTransition (VRRP's thread): it queues.
func (c *child) onTransition(t vrrp.Transition) {
	c.out.push(message{Kind: kindTransition, Transition: &t})
}

// onNotify is the node's OnNotify (VRRP's thread): it queues.
func (c *child) onNotify(kind, name string, state vrrp.State, prio uint8) {
	c.out.push(message{Kind: kindNotify, Notify: &notifyMsg{Kind: kind, Name: name, State: state, Priority: prio}})
}

// onEvent is the node's OnEvent (VRRP's thread): it queues.
func (c *child) onEvent(name, event string, prio uint8) {
	c.out.push(message{Kind: kindEvent, Event: &eventMsg{Name: name, Event: event, Priority: prio}})
}

// runScript is the node's ScriptRunner: the parent runs the script.
func (c *child) runScript(ctx context.Context, argv []string) error {
	id, ch := c.replies.add()
	deadline, _ := ctx.Deadline()
	c.out.push(message{Kind: kindScript, ID: id, Script: &scriptMsg{Argv: argv, Deadline: deadline}})
	select {
	case m := <-ch:
		return m.Err.err()
	case <-ctx.Done():
	case <-c.gone:
		return errors.New("vrrp child: parent gone, script not run")
	}
	// The parent enforces the deadline too and reports how the script
	// ended (timed out, process group killed): wait a little for that.
	grace := time.NewTimer(scriptReplyGrace)
	defer grace.Stop()
	select {
	case m := <-ch:
		return m.Err.err()
	case <-grace.C:
	case <-c.gone:
	}
	c.forget(id)
	return ctx.Err()
}

// scriptReplyGrace is how long a script's caller in the child waits past
// its deadline for the parent's report.
const scriptReplyGrace = 5 * time.Second

// servicesChecked is the node's ServicesChecked: the parent's health
// scheduler answers.
func (c *child) servicesChecked(ctx context.Context, since time.Time) <-chan struct{} {
	done := make(chan struct{})
	id, ch := c.replies.add()
	c.out.push(message{Kind: kindChecked, ID: id, Checked: &checkedMsg{Since: since}})
	go func() {
		select {
		case <-ch:
			close(done)
		case <-ctx.Done():
			c.forget(id)
		case <-c.gone:
		}
	}()
	return done
}

// forwardHandler sends the child's log records to the parent.
type forwardHandler struct {
	c     *child
	attrs []logAttr
}

func (h *forwardHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.c.level }

func (h *forwardHandler) Handle(_ context.Context, r slog.Record) error {
	m := &logMsg{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: append([]logAttr(nil), h.attrs...)}
	r.Attrs(func(a slog.Attr) bool {
		m.Attrs = toLogAttr("", a, m.Attrs)
		return true
	})
	h.c.out.push(message{Kind: kindLog, Log: m})
	return nil
}

func (h *forwardHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &forwardHandler{c: h.c, attrs: append([]logAttr(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = toLogAttr("", a, n.attrs)
	}
	return n
}

// WithGroup flattens groups, as the daemon's LineHandler does.
func (h *forwardHandler) WithGroup(string) slog.Handler { return h }
