package vm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// File modes used in the archive (the S_IF* type bits plus permissions).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// ErrBadPath reports an archive path that is empty, absolute or escapes the root.
var ErrBadPath = errors.New("vm: bad archive path")

// CPIOWriter writes a cpio archive in the "newc" format that the Linux kernel
// unpacks as an initramfs. Parent directories are emitted on demand, because
// the kernel cannot create a file whose directory does not exist yet.
type CPIOWriter struct {
	w      *bufio.Writer
	offset int64
	inode  uint32
	dirs   map[string]bool
	names  map[string]bool
	closed bool
}

// NewCPIOWriter returns a writer that appends archive members to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: bufio.NewWriterSize(w, 1<<20), dirs: map[string]bool{".": true}, names: map[string]bool{}}
}

// cleanName validates an archive path ("bin/busybox", no leading slash).
func cleanName(name string) (string, error) {
	name = strings.TrimPrefix(name, "/")
	clean := path.Clean(name)
	if name == "" || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: %q", ErrBadPath, name)
	}
	return clean, nil
}

// Dir adds a directory (and its missing parents) with permissions perm.
func (c *CPIOWriter) Dir(name string, perm uint32) error {
	name, err := cleanName(name)
	if err != nil {
		return err
	}
	return c.mkdirAll(name, perm)
}

func (c *CPIOWriter) mkdirAll(name string, perm uint32) error {
	if c.dirs[name] {
		return nil
	}
	if parent := path.Dir(name); parent != "." {
		if err := c.mkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	c.dirs[name] = true
	return c.header(name, modeDir|perm&0o7777, 0, 0, 0)
}

// File adds a regular file of size bytes read from r, with permissions perm.
func (c *CPIOWriter) File(name string, perm uint32, size int64, r io.Reader) error {
	name, err := c.prepare(name)
	if err != nil {
		return err
	}
	if err := c.header(name, modeRegular|perm&0o7777, size, 0, 0); err != nil {
		return err
	}
	n, err := io.CopyN(c.w, r, size)
	c.offset += n
	if err != nil {
		return fmt.Errorf("vm: write archive member %s: %w", name, err)
	}
	return c.pad()
}

// Bytes adds a regular file holding data.
func (c *CPIOWriter) Bytes(name string, perm uint32, data []byte) error {
	return c.File(name, perm, int64(len(data)), strings.NewReader(string(data)))
}

// Symlink adds a symbolic link name pointing at target.
func (c *CPIOWriter) Symlink(name, target string) error {
	name, err := c.prepare(name)
	if err != nil {
		return err
	}
	if err := c.header(name, modeSymlink|0o777, int64(len(target)), 0, 0); err != nil {
		return err
	}
	n, err := c.w.WriteString(target)
	c.offset += int64(n)
	if err != nil {
		return fmt.Errorf("vm: write archive symlink %s: %w", name, err)
	}
	return c.pad()
}

// CharDevice adds a character device node (for example dev/console, 5:1).
func (c *CPIOWriter) CharDevice(name string, perm, major, minor uint32) error {
	name, err := c.prepare(name)
	if err != nil {
		return err
	}
	return c.header(name, modeCharDev|perm&0o7777, 0, major, minor)
}

// Close writes the trailer and flushes. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.header("TRAILER!!!", 0, 0, 0, 0); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("vm: flush archive: %w", err)
	}
	return nil
}

// prepare validates a non-directory member name, rejects duplicates and
// creates its parent directories.
func (c *CPIOWriter) prepare(name string) (string, error) {
	name, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if c.names[name] || c.dirs[name] {
		return "", fmt.Errorf("%w: duplicate member %q", ErrBadPath, name)
	}
	c.names[name] = true
	if parent := path.Dir(name); parent != "." {
		if err := c.mkdirAll(parent, 0o755); err != nil {
			return "", err
		}
	}
	return name, nil
}

// header writes one newc header and the padded name.
func (c *CPIOWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) error {
	if c.closed && name != "TRAILER!!!" {
		return errors.New("vm: write to closed archive")
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("vm: archive member %s: size %d out of range", name, size)
	}
	c.inode++
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.inode, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	n, err := c.w.WriteString(hdr + name + "\x00")
	c.offset += int64(n)
	if err != nil {
		return fmt.Errorf("vm: write archive header %s: %w", name, err)
	}
	return c.pad()
}

// pad aligns the stream to 4 bytes, as newc requires after names and data.
func (c *CPIOWriter) pad() error {
	if rem := c.offset % 4; rem != 0 {
		n, err := c.w.Write(make([]byte, 4-rem))
		c.offset += int64(n)
		if err != nil {
			return fmt.Errorf("vm: pad archive: %w", err)
		}
	}
	return nil
}
