package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LineHandler writes keepalived-like log lines:
//
//	2026-11-25T12:00:00.123Z INFO (VI_1) Entering MASTER STATE key=value
//
// one per record, so lab logs read like keepalived's.
type LineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs string
}

// NewLineHandler returns a handler writing records at or above level to w.
func NewLineHandler(w io.Writer, level slog.Leveler) *LineHandler {
	return &LineHandler{mu: &sync.Mutex{}, w: w, level: level}
}

// Enabled implements slog.Handler.
func (h *LineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle implements slog.Handler.
func (h *LineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteByte(' ')
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func writeAttr(b *strings.Builder, a slog.Attr) {
	v := a.Value.Resolve()
	s := v.String()
	if v.Kind() == slog.KindDuration {
		s = v.Duration().Round(time.Microsecond).String()
	}
	if strings.ContainsAny(s, " \"=") || s == "" {
		s = fmt.Sprintf("%q", s)
	}
	fmt.Fprintf(b, " %s=%s", a.Key, s)
}

// WithAttrs implements slog.Handler.
func (h *LineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		writeAttr(&b, a)
	}
	return &LineHandler{mu: h.mu, w: h.w, level: h.level, attrs: b.String()}
}

// WithGroup implements slog.Handler (groups are flattened).
func (h *LineHandler) WithGroup(string) slog.Handler { return h }
