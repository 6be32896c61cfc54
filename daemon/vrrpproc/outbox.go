package vrrpproc

import (
	"encoding/gob"
	"sync"
)

// Bounds of an outbox's queue, in messages. The queue grows only while
// the reader (the parent) does not read: past maxQueuedLogs log records
// are dropped (they are the only kind that comes in bulk), past
// maxQueued any message is, so a parent that stopped reading costs the
// child bounded memory. The writer reports how many were dropped once it
// catches up.
const (
	maxQueuedLogs = 1024
	maxQueued     = 16384
)

// outbox queues messages for one writer goroutine, so that a sender (the
// VRRP thread reporting a transition, a log line) never waits for the
// socket: push appends and returns.
type outbox struct {
	mu      sync.Mutex
	queue   []message
	dropped int
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues m; after close, or when the queue is full (see maxQueued),
// it is dropped.
func (o *outbox) push(m message) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if n := len(o.queue); n >= maxQueued || (m.Kind == kindLog && n >= maxQueuedLogs) {
		o.dropped++
		o.mu.Unlock()
		return
	}
	o.queue = append(o.queue, m)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// close lets the writer send what is queued and stop.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// write encodes the queue with enc until close (or a write error); done
// is closed when it returns. Messages dropped while the queue was full
// are reported as a warning in the log stream.
func (o *outbox) write(enc *gob.Encoder) error {
	defer close(o.done)
	var batch []message
	for {
		o.mu.Lock()
		batch, o.queue = o.queue, batch[:0]
		if o.dropped > 0 {
			batch = append(batch, droppedMsg(o.dropped))
			o.dropped = 0
		}
		closed := o.closed
		o.mu.Unlock()
		for i := range batch {
			if err := enc.Encode(&batch[i]); err != nil {
				o.mu.Lock()
				o.closed = true
				o.mu.Unlock()
				return err
			}
			batch[i] = message{}
		}
		if closed && len(batch) == 0 {
			return nil
		}
		if len(batch) == 0 {
			<-o.wake
		}
	}
}
