package script

// DefaultOutputLimit is how many bytes of a script's output (the last ones)
// are kept for the log.
const DefaultOutputLimit = 4 << 10

// Tail is an io.Writer that keeps the last Limit bytes written to it and
// counts everything, so a script printing 200 MB costs Limit bytes of
// memory. The zero value keeps nothing. It is not safe for concurrent use;
// exec.Cmd serialises writes when Stdout and Stderr are the same Tail.
type Tail struct {
	limit int
	ring  []byte // len(ring) <= limit; once full, start is the oldest byte
	start int
	total int64
}

// NewTail returns a Tail keeping the last limit bytes.
func NewTail(limit int) *Tail { return &Tail{limit: max(limit, 0)} }

// Write keeps the end of p and reports all of it as written.
func (t *Tail) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if t.limit == 0 || n == 0 {
		return n, nil
	}
	if n >= t.limit {
		if t.ring == nil {
			t.ring = make([]byte, 0, t.limit)
		}
		t.ring = append(t.ring[:0], p[n-t.limit:]...)
		t.start = 0
		return n, nil
	}
	if len(t.ring) < t.limit {
		if t.ring == nil {
			t.ring = make([]byte, 0, t.limit)
		}
		k := min(t.limit-len(t.ring), len(p))
		t.ring = append(t.ring, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(t.ring[t.start:], p)
		p = p[k:]
		t.start = (t.start + k) % t.limit
	}
	return n, nil
}

// Bytes returns a copy of the bytes kept, oldest first.
func (t *Tail) Bytes() []byte {
	out := make([]byte, 0, len(t.ring))
	out = append(out, t.ring[t.start:]...)
	return append(out, t.ring[:t.start]...)
}

// Total is the number of bytes written.
func (t *Tail) Total() int64 { return t.total }

// Dropped is the number of bytes written but not kept.
func (t *Tail) Dropped() int64 { return t.total - int64(len(t.ring)) }
