package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrFull is returned (wrapped) by FIFO.WriteLine when the pipe's buffer is
// full because nobody reads it: the line is dropped, as keepalived drops
// it, rather than stalling the caller.
var ErrFull = errors.New("notify: fifo full, line dropped")

// FIFO is a named pipe that notification lines are written to. Writes never
// block: the pipe is opened non-blocking and read-write (as keepalived
// opens it, so that opening does not wait for a reader and a reader that
// goes away does not end the writes). A line up to PIPE_BUF (4096) bytes
// is written whole or not at all. Safe for concurrent use.
type FIFO struct {
	path    string
	created bool
	dropped atomic.Uint64

	mu sync.Mutex // guards fd against Close
	fd int
}

// OpenFIFO opens the FIFO at path, creating it (mode 0600) when it does not
// exist, as keepalived does. An existing file that is not a FIFO is an error.
func OpenFIFO(path string) (*FIFO, error) {
	f := &FIFO{path: path, fd: -1}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := unix.Mkfifo(path, 0o600); err != nil {
			return nil, fmt.Errorf("notify: create fifo %s: %w", path, err)
		}
		f.created = true
	case err != nil:
		return nil, fmt.Errorf("notify: fifo %s: %w", path, err)
	case st.Mode().Type() != fs.ModeNamedPipe:
		return nil, fmt.Errorf("notify: %s exists and is not a fifo (%s)", path, st.Mode().Type())
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if f.created {
			_ = os.Remove(path)
		}
		return nil, fmt.Errorf("notify: open fifo %s: %w", path, err)
	}
	f.fd = fd
	return f, nil
}

// Path is the FIFO's file name.
func (f *FIFO) Path() string { return f.path }

// Dropped counts the lines dropped because the pipe was full.
func (f *FIFO) Dropped() uint64 { return f.dropped.Load() }

// WriteLine writes line (which should end in a newline) in one write. It
// returns an error wrapping ErrFull when the pipe is full, and one saying
// so after Close.
func (f *FIFO) WriteLine(line string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return fmt.Errorf("notify: fifo %s is closed", f.path)
	}
	_, err := unix.Write(f.fd, []byte(line))
	if errors.Is(err, unix.EAGAIN) {
		f.dropped.Add(1)
		return fmt.Errorf("notify: fifo %s: %w", f.path, ErrFull)
	}
	if err != nil {
		return fmt.Errorf("notify: write fifo %s: %w", f.path, err)
	}
	return nil
}

// Close closes the FIFO and removes it if OpenFIFO created it (keepalived
// removes the FIFOs it created when it stops).
func (f *FIFO) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if f.created {
		if rerr := os.Remove(f.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("notify: close fifo %s: %w", f.path, err)
	}
	return nil
}
