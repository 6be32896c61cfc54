package vrrpproc

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// message is one gob value on the socket: Kind says which payload field
// it carries (gob leaves zero values out, so a payload alone could not
// tell an empty reply from no reply); ID pairs a request with its reply
// (and a cancel with its request).
type message struct {
	Kind kind
	ID   uint64

	Start      *startMsg        // kindStart
	Update     *vrrp.Config     // kindUpdate
	Err        *errorMsg        // kindScriptDone, kindUpdateDone, kindExit: nil for none
	UpdateDone *updateDoneMsg   // kindUpdateDone
	Status     *statusMsg       // kindStatus
	Transition *vrrp.Transition // kindTransition
	Notify     *notifyMsg       // kindNotify
	Event      *eventMsg        // kindEvent
	Script     *scriptMsg       // kindScript
	Checked    *checkedMsg      // kindChecked
	Log        *logMsg          // kindLog
}

// kind is a message's type.
type kind uint8

const (
	_ kind = iota
	// parent → child
	kindStart
	kindUpdate
	kindStatusReq
	kindStop
	kindScriptDone
	kindCheckedDone
	// child → parent
	kindStarted
	kindUpdateDone
	kindStatus
	kindTransition
	kindNotify
	kindScript
	kindChecked
	kindCancel
	kindLog
	kindExit
	kindEvent
)

// startMsg starts the node.
type startMsg struct {
	Config vrrp.Config
	// Name is the child's process name ("" keeps the binary's).
	Name string
	// LogLevel is the lowest level the parent's logger takes.
	LogLevel slog.Level
	// NetNS says that file descriptor 4 is the network namespace to run in.
	NetNS bool
	// Sockets are the node's netlink buffers and no_accept table
	// (Options.Sockets).
	Sockets Sockets
}

// errorMsg carries an error across the socket: its text and the sentinel
// it wraps, if one the daemon tests with errors.Is.
type errorMsg struct {
	Text string
	Kind errorKind
}

type errorKind uint8

const (
	errOther errorKind = iota
	errConfig
	errNotRunning
)

func newErrorMsg(err error) *errorMsg {
	if err == nil {
		return nil
	}
	m := &errorMsg{Text: err.Error()}
	switch {
	case errors.Is(err, vrrp.ErrNotRunning):
		m.Kind = errNotRunning
	case errors.Is(err, vrrp.ErrConfig):
		m.Kind = errConfig
	}
	return m
}

// err rebuilds the error: the same text, wrapping the same sentinel.
func (m *errorMsg) err() error {
	if m == nil {
		return nil
	}
	switch m.Kind {
	case errNotRunning:
		return &remoteError{text: m.Text, is: vrrp.ErrNotRunning}
	case errConfig:
		return &remoteError{text: m.Text, is: vrrp.ErrConfig}
	}
	return errors.New(m.Text)
}

// remoteError is an error of the child with its text kept as it was.
type remoteError struct {
	text string
	is   error
}

func (e *remoteError) Error() string { return e.text }
func (e *remoteError) Unwrap() error { return e.is }

type updateDoneMsg struct {
	Result vrrp.UpdateResult
}

type statusMsg struct {
	Instances []vrrp.InstanceStatus
	// NextTimer is unused by the parent (nothing there delays the child)
	// but tells tests the child's loop is alive.
	NextTimer time.Time
	// PID and Threads describe the child, for tests and status.
	PID int
}

type notifyMsg struct {
	Kind, Name string
	State      vrrp.State
	Priority   uint8
}

type eventMsg struct {
	Name, Event string
	Priority    uint8
}

type scriptMsg struct {
	Argv []string
	// Deadline is the node's deadline for the script (zero: none): the
	// parent's runner enforces it (process group killed) and says so.
	Deadline time.Time
}

type checkedMsg struct {
	Since time.Time
}

// logMsg is a slog record: the parent re-emits it through its own
// handler with the same time, level, message and attributes.
type logMsg struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   []logAttr
}

// logAttr is one attribute, typed as slog's kinds are, so that the
// parent's handler formats it as it would have formatted the original
// (durations rounded, say). Values of kind Any travel as their text.
type logAttr struct {
	Key  string
	Kind slog.Kind
	Str  string
	Int  int64
	Uint uint64
	Flt  float64
	Time time.Time
}

func toLogAttr(prefix string, a slog.Attr, out []logAttr) []logAttr {
	v := a.Value.Resolve()
	key := a.Key
	if prefix != "" {
		key = prefix + "." + key
	}
	la := logAttr{Key: key, Kind: v.Kind()}
	switch v.Kind() {
	case slog.KindGroup:
		for _, g := range v.Group() {
			out = toLogAttr(key, g, out)
		}
		return out
	case slog.KindString:
		la.Str = v.String()
	case slog.KindInt64:
		la.Int = v.Int64()
	case slog.KindUint64:
		la.Uint = v.Uint64()
	case slog.KindFloat64:
		la.Flt = v.Float64()
	case slog.KindBool:
		if v.Bool() {
			la.Int = 1
		}
	case slog.KindDuration:
		la.Int = int64(v.Duration())
	case slog.KindTime:
		la.Time = v.Time()
	default:
		la.Kind, la.Str = slog.KindString, fmt.Sprint(v.Any())
	}
	return append(out, la)
}

func (la logAttr) attr() slog.Attr {
	switch la.Kind {
	case slog.KindInt64:
		return slog.Int64(la.Key, la.Int)
	case slog.KindUint64:
		return slog.Uint64(la.Key, la.Uint)
	case slog.KindFloat64:
		return slog.Float64(la.Key, la.Flt)
	case slog.KindBool:
		return slog.Bool(la.Key, la.Int != 0)
	case slog.KindDuration:
		return slog.Duration(la.Key, time.Duration(la.Int))
	case slog.KindTime:
		return slog.Time(la.Key, la.Time)
	}
	return slog.String(la.Key, la.Str)
}

func (m *logMsg) record() slog.Record {
	r := slog.NewRecord(m.Time, m.Level, m.Message, 0)
	for _, a := range m.Attrs {
		r.AddAttrs(a.attr())
	}
	return r
}

// droppedMsg is the warning an outbox sends after it dropped n messages
// because its reader did not keep up.
func droppedMsg(n int) message {
	return message{Kind: kindLog, Log: &logMsg{Time: time.Now(), Level: slog.LevelWarn,
		Message: "VRRP child: messages to the parent dropped (parent not reading)",
		Attrs:   []logAttr{{Key: "dropped", Kind: slog.KindInt64, Int: int64(n)}}}}
}
