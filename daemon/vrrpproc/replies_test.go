package vrrpproc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// TestReplies: a reply reaches its own request only; a forgotten or
// unknown one is dropped; closeAll ends every waiting request and every
// later one at once.
func TestReplies(t *testing.T) {
	var p replies
	id1, ch1 := p.add()
	id2, ch2 := p.add()
	if id1 == id2 {
		t.Fatalf("two requests share ID %d", id1)
	}
	p.deliver(message{Kind: kindStatus, ID: id2})
	p.deliver(message{Kind: kindStatus, ID: 99}) // nobody asked
	if m := <-ch2; m.ID != id2 {
		t.Errorf("request %d got reply %d", id2, m.ID)
	}
	select {
	case m := <-ch1:
		t.Fatalf("request %d got %+v", id1, m)
	default:
	}
	p.forget(id1)
	p.deliver(message{ID: id1}) // dropped, not blocking
	_, ch3 := p.add()
	p.closeAll()
	if _, ok := <-ch3; ok {
		t.Error("a waiting request got a reply after closeAll")
	}
	_, ch4 := p.add()
	if _, ok := <-ch4; ok {
		t.Error("a request after closeAll got a reply")
	}
}

// TestCallAfterChildGone: once the child's socket has ended, a request
// fails at once with vrrp.ErrNotRunning instead of waiting for a reply
// that cannot come.
func TestCallAfterChildGone(t *testing.T) {
	// The request's write succeeds (into nothing); no reply will come.
	r := &Remote{started: make(chan struct{}), done: make(chan struct{}), enc: discardEncoder()}
	close(r.started)
	r.replies.closeAll() // what read does when the socket ends
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	if _, err := r.call(ctx, message{Kind: kindStatusReq}); !errors.Is(err, vrrp.ErrNotRunning) || time.Since(t0) > time.Second {
		t.Errorf("call after the child's end = %v after %v, want ErrNotRunning at once", err, time.Since(t0))
	}
}
