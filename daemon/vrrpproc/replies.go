package vrrpproc

import "sync"

// replies pairs the requests one end sends with the replies the other end
// sends back, by ID. The zero value is ready to use; both ends have one
// (the parent for Update and Status, the child for scripts and the
// services-checked signal).
type replies struct {
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan message
	closed  bool
}

// add registers a request: its ID and the channel its reply arrives on
// (buffered, so deliver never waits). After closeAll the channel comes
// back closed: no reply will come.
func (p *replies) add() (uint64, <-chan message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan message, 1)
	p.nextID++
	if p.closed {
		close(ch)
		return p.nextID, ch
	}
	if p.pending == nil {
		p.pending = map[uint64]chan message{}
	}
	p.pending[p.nextID] = ch
	return p.nextID, ch
}

// deliver hands m to the request of its ID; a reply nobody waits for
// (forgotten, or never asked) is dropped.
func (p *replies) deliver(m message) {
	p.mu.Lock()
	ch := p.pending[m.ID]
	delete(p.pending, m.ID)
	p.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}

// forget drops the request id (its caller gave up).
func (p *replies) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// closeAll closes the channel of every request still waiting, and of
// every later one: the other end is gone.
func (p *replies) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, ch := range p.pending {
		close(ch)
		delete(p.pending, id)
	}
}
