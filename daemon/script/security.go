package script

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultPath is the PATH scripts run with, and where a command written
// without a '/' is looked up.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// FileInfo is what the security check needs of a file: stat(2)'s st_mode
// (type and permission bits), owner and group.
type FileInfo struct {
	Mode     uint32
	UID, GID uint32
}

func (f FileInfo) typ() uint32 { return f.Mode & syscall.S_IFMT }

// IsDir reports a directory.
func (f FileInfo) IsDir() bool { return f.typ() == syscall.S_IFDIR }

// IsRegular reports a regular file.
func (f FileInfo) IsRegular() bool { return f.typ() == syscall.S_IFREG }

// IsSymlink reports a symbolic link (from Lstat).
func (f FileInfo) IsSymlink() bool { return f.typ() == syscall.S_IFLNK }

// System is the file system as the checks see it: the host's (HostSystem)
// in the daemon, a table in tests.
type System interface {
	// Lstat describes path without following a final symbolic link.
	Lstat(path string) (FileInfo, error)
	// Stat describes path, following symbolic links.
	Stat(path string) (FileInfo, error)
	// EvalSymlinks returns path with every symbolic link resolved.
	EvalSymlinks(path string) (string, error)
}

// ErrUnusable wraps the reasons a script cannot run at all (not found, not
// executable by its user, a path element of the wrong type).
var ErrUnusable = errors.New("script: cannot run")

// UnsafeReason says why a non-root user could change or replace the path
// element described by info (as Lstat returns it), or "" when only root
// can, following keepalived's check_security: the element is not owned by
// root, or it is a regular file or a directory without the sticky bit that
// is writable by a group other than root's or by everyone. A symbolic link's
// own mode does not matter (its target is checked on the resolved path).
func UnsafeReason(info FileInfo) string {
	if info.UID != 0 {
		return fmt.Sprintf("is owned by uid %d, not root", info.UID)
	}
	if info.IsSymlink() || (info.IsDir() && info.Mode&syscall.S_ISVTX != 0) {
		return ""
	}
	switch {
	case info.Mode&syscall.S_IWOTH != 0:
		return fmt.Sprintf("is writable by everyone (mode %04o)", info.Mode&0o7777)
	case info.GID != 0 && info.Mode&syscall.S_IWGRP != 0:
		return fmt.Sprintf("is writable by group %d (mode %04o)", info.GID, info.Mode&0o7777)
	}
	return ""
}

// Components lists path's ancestors and path itself, from "/" down:
// "/usr/bin/x" gives "/", "/usr", "/usr/bin", "/usr/bin/x". path is
// cleaned and made absolute (relative to "/", the scripts' working
// directory) first.
func Components(path string) []string {
	path = filepath.Clean("/" + path)
	out := []string{"/"}
	if path == "/" {
		return out
	}
	for i := 1; i < len(path); i++ {
		if path[i] == '/' {
			out = append(out, path[:i])
		}
	}
	return append(out, path)
}

// CheckPath walks path from "/" down with lstat and returns why a non-root
// user could change what path runs ("" when nobody but root can), or an
// error wrapping ErrUnusable when an element cannot be read or has the wrong
// type (not a directory above, not a file or link at the end).
func CheckPath(path string, lstat func(string) (FileInfo, error)) (string, error) {
	parts := Components(path)
	for i, p := range parts {
		info, err := lstat(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrUnusable, p, err)
		}
		last := i == len(parts)-1
		switch {
		case !last && !info.IsDir() && !info.IsSymlink():
			return "", fmt.Errorf("%w: %s is not a directory", ErrUnusable, p)
		case last && !info.IsRegular() && !info.IsSymlink():
			return "", fmt.Errorf("%w: %s is not a regular file", ErrUnusable, p)
		}
		if why := UnsafeReason(info); why != "" {
			return p + " " + why, nil
		}
	}
	return "", nil
}

// Executable reports whether id may execute a file with info, as
// keepalived's is_executable: root needs any execute bit, the owner the
// user bit, a member of the file's group the group bit, others the other bit.
func Executable(info FileInfo, id Identity) bool {
	m := info.Mode
	switch {
	case id.UID == 0:
		return m&0o111 != 0
	case id.UID == info.UID:
		return m&syscall.S_IXUSR != 0
	case id.GID == info.GID || containsGID(id.Groups, info.GID):
		return m&syscall.S_IXGRP != 0
	}
	return m&syscall.S_IXOTH != 0
}

func containsGID(gs []uint32, g uint32) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

// NeedsProtection reports whether running a file with info as id gives
// root's powers — id is root's user or group, or the file is set-uid or
// set-gid root — so that its path must be writable by root only.
func NeedsProtection(info FileInfo, id Identity) bool {
	return id.Root() ||
		(info.UID == 0 && info.Mode&syscall.S_ISUID != 0 && info.Mode&syscall.S_IXUSR != 0) ||
		(info.GID == 0 && info.Mode&syscall.S_ISGID != 0 && info.Mode&syscall.S_IXGRP != 0)
}

// Verdict is what Inspect found out about a script's program.
type Verdict struct {
	// Path is the file to execute: absolute, symbolic links resolved (what
	// was checked is what runs).
	Path string
	// Unsafe, when not empty, says why a non-root user could change what
	// runs as root.
	Unsafe string
}

// Inspect checks the program argv0 of a script that runs as id: it looks a
// bare name up in DefaultPath, resolves symbolic links, requires a regular
// file id may execute, and for a script that runs as root checks the path
// as written and the resolved path (CheckPath). Errors wrap ErrUnusable.
func Inspect(argv0 string, id Identity, sys System) (Verdict, error) {
	path := argv0
	if !strings.Contains(argv0, "/") {
		found := ""
		for _, dir := range filepath.SplitList(DefaultPath) {
			cand := filepath.Join(dir, argv0)
			if info, err := sys.Stat(cand); err == nil && info.IsRegular() && Executable(info, id) {
				found = cand
				break
			}
		}
		if found == "" {
			return Verdict{}, fmt.Errorf("%w: %s not found in %s", ErrUnusable, argv0, DefaultPath)
		}
		path = found
	}
	path = filepath.Clean("/" + path)
	real, err := sys.EvalSymlinks(path)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnusable, err)
	}
	info, err := sys.Stat(real)
	switch {
	case err != nil:
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnusable, err)
	case !info.IsRegular():
		return Verdict{}, fmt.Errorf("%w: %s is not a regular file", ErrUnusable, real)
	case !Executable(info, id):
		return Verdict{}, fmt.Errorf("%w: %s (mode %04o, uid %d, gid %d) is not executable by %s", ErrUnusable, real, info.Mode&0o7777, info.UID, info.GID, id)
	}
	v := Verdict{Path: real}
	if !NeedsProtection(info, id) {
		return v, nil
	}
	for _, p := range []string{path, real} {
		why, err := CheckPath(p, sys.Lstat)
		if err != nil {
			return Verdict{}, err
		}
		if why != "" {
			v.Unsafe = why
			break
		}
		if real == path {
			break
		}
	}
	return v, nil
}

// HostSystem is this host's file system.
type HostSystem struct{}

func fileInfo(st *syscall.Stat_t) FileInfo {
	return FileInfo{Mode: st.Mode, UID: st.Uid, GID: st.Gid}
}

// Lstat implements System.
func (HostSystem) Lstat(path string) (FileInfo, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return FileInfo{}, fmt.Errorf("lstat %s: %w", path, err)
	}
	return fileInfo(&st), nil
}

// Stat implements System.
func (HostSystem) Stat(path string) (FileInfo, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return FileInfo{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return fileInfo(&st), nil
}

// EvalSymlinks implements System.
func (HostSystem) EvalSymlinks(path string) (string, error) { return filepath.EvalSymlinks(path) }
