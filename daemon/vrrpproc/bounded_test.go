package vrrpproc

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/vrrp"
)

// TestOutboxBoundedWhenReaderStops: a parent that does not read costs
// the child a bounded queue; what was dropped is reported once the
// writer catches up.
func TestOutboxBoundedWhenReaderStops(t *testing.T) {
	o := newOutbox()
	for range 3 * maxQueued {
		o.push(message{Kind: kindLog, Log: &logMsg{Message: "x"}})
		o.push(message{Kind: kindTransition, Transition: &vrrp.Transition{Instance: "VI_1"}})
	}
	logs := 0
	for _, m := range o.queue {
		if m.Kind == kindLog {
			logs++
		}
	}
	if len(o.queue) > maxQueued || logs > maxQueuedLogs {
		t.Fatalf("queue holds %d messages (%d logs), want at most %d (%d logs)", len(o.queue), logs, maxQueued, maxQueuedLogs)
	}
	queued := len(o.queue)
	o.close()
	var buf bytes.Buffer
	if err := o.write(gob.NewEncoder(&buf)); err != nil {
		t.Fatal(err)
	}
	dec := gob.NewDecoder(&buf)
	var last message
	n := 0
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		last, n = m, n+1
	}
	if n != queued+1 || last.Kind != kindLog || last.Log == nil || len(last.Log.Attrs) != 1 ||
		last.Log.Attrs[0].Int != int64(6*maxQueued-queued) {
		t.Errorf("after %d queued messages got %d, last %+v; want the queue then a warning counting %d dropped",
			queued, n, last.Log, 6*maxQueued-queued)
	}
}

// TestSendBoundedWhenChildStopsReading: a child that stops reading does
// not hold the parent's requests for ever: the write fails after
// sendTimeout, the socket is closed (the child sees end of file) and
// later requests fail at once.
func TestSendBoundedWhenChildStopsReading(t *testing.T) {
	old := sendTimeout
	sendTimeout = 200 * time.Millisecond
	t.Cleanup(func() { sendTimeout = old })
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "child end")
	defer func() { _ = peer.Close() }()
	f := os.NewFile(uintptr(fds[0]), "parent end")
	conn, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	r := &Remote{enc: gob.NewEncoder(conn), started: make(chan struct{}), done: make(chan struct{})}
	r.conn.Store(&conn)
	close(r.started)
	big := message{Kind: kindUpdate, Update: &vrrp.Config{}}
	for i := range 64 {
		big.Update.Instances = append(big.Update.Instances, vrrp.InstanceConfig{Name: string(bytes.Repeat([]byte{'a' + byte(i%26)}, 4096))})
	}
	deadline := time.Now().Add(10 * time.Second)
	var sendErr error
	for time.Now().Before(deadline) {
		t0 := time.Now()
		sendErr = r.send(big)
		if took := time.Since(t0); took > sendTimeout+time.Second {
			t.Fatalf("send took %v, want at most about %v", took, sendTimeout)
		}
		if sendErr != nil {
			break
		}
	}
	if sendErr == nil {
		t.Fatal("send never failed while nobody read")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := r.call(ctx, message{Kind: kindStatusReq}); !errors.Is(err, vrrp.ErrNotRunning) || !errors.Is(err, errStreamBroken) {
		t.Errorf("call after a failed write = %v, want ErrNotRunning wrapping errStreamBroken", err)
	}
	// The child's end drains what was written and then sees end of file.
	if _, err := io.Copy(io.Discard, peer); err != nil {
		t.Errorf("child end: %v, want end of file", err)
	}
}

// TestUpdateBoundedWhenNoReply: an Update the child never answers fails
// after updateTimeout with context.DeadlineExceeded.
func TestUpdateBoundedWhenNoReply(t *testing.T) {
	old := updateTimeout
	updateTimeout = 200 * time.Millisecond
	t.Cleanup(func() { updateTimeout = old })
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	go func() { _, _ = io.Copy(io.Discard, b) }() // reads, never answers
	r := &Remote{enc: gob.NewEncoder(a), started: make(chan struct{}), done: make(chan struct{})}
	r.conn.Store(&a)
	close(r.started)
	t0 := time.Now()
	_, err := r.Update(t.Context(), vrrp.Config{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Errorf("Update without a reply = %v after %v, want DeadlineExceeded after about %v", err, time.Since(t0), updateTimeout)
	}
}

// TestReadSurvivesOddMessages: messages the parent does not expect (a
// second start, payloads missing, unknown kinds, replies nobody waits
// for) are ignored, never a panic of the parent.
func TestReadSurvivesOddMessages(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = b.Close() }()
	r := &Remote{log: slog.New(slog.NewTextHandler(io.Discard, nil)), started: make(chan struct{}), done: make(chan struct{}),
		cancels: map[uint64]context.CancelFunc{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.read(t.Context(), gob.NewDecoder(a))
	}()
	enc := gob.NewEncoder(b)
	for _, m := range []message{{Kind: kindStarted}, {Kind: kindStarted}, {Kind: kindLog}, {Kind: kindTransition},
		{Kind: kindNotify}, {Kind: kindEvent}, {Kind: kindScript, ID: 1}, {Kind: kindChecked, ID: 2}, {Kind: kindCancel, ID: 3},
		{Kind: kindStatus, ID: 4}, {Kind: kindUpdateDone, ID: 5}, {Kind: kindExit}, {Kind: 200}} {
		if err := enc.Encode(&m); err != nil {
			t.Fatalf("encode %d: %v", m.Kind, err)
		}
	}
	_ = b.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("read did not end at end of file")
	}
}

// discardEncoder is a gob encoder whose writes succeed and go nowhere.
func discardEncoder() *gob.Encoder { return gob.NewEncoder(io.Discard) }

// commandFor builds the child's command line for a namespace fd and drops
// it, as Run does once the child started.
//
//go:noinline
func commandFor(t *testing.T, nsFD int) {
	r := &Remote{opts: Options{NetNS: netns.NsHandle(nsFD), Executable: "/bin/true"}}
	sock, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sock.Close() }()
	cmd, err := r.command(sock)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cmd.ExtraFiles[1:] {
		_ = f.Close()
	}
}

// TestCommandLeavesTheNamespaceFdAlone: the child's command line holds
// its own copy of Options.NetNS. Wrapping the caller's descriptor in an
// *os.File closed it when that file was closed or collected: the next
// child (a respawn, a test's next Remote) then got "failed to set into
// network namespace 4", or another file that had taken the number.
func TestCommandLeavesTheNamespaceFdAlone(t *testing.T) {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0) // stands in for a namespace
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }()
	commandFor(t, fd)
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("the caller's namespace fd %d was closed: %v", fd, err)
	}
}
