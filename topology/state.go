package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateRoot holds one directory per lab: state.json, logs/, www/, run/.
// It is on tmpfs, like the namespaces, so a reboot clears both together.
const DefaultStateRoot = "/run/drlab"

// State is what a lab created, recorded before each creation so that
// `drlab down` can remove the leftovers of a run that crashed half way.
type State struct {
	Name       string       `json:"name"`
	Spec       *Spec        `json:"spec"`
	Created    time.Time    `json:"created"`
	Namespaces []string     `json:"namespaces"`
	Processes  []ProcRecord `json:"processes,omitempty"`
}

// ProcRecord identifies a process the lab started. StartTime (from
// /proc/PID/stat) guards against signalling a recycled PID.
type ProcRecord struct {
	Host      string    `json:"host"`
	Name      string    `json:"name"`
	PID       int       `json:"pid"`
	StartTime uint64    `json:"start_time"`
	Argv      []string  `json:"argv"`
	Log       string    `json:"log"`
	Started   time.Time `json:"started"`
}

// stateStore reads and writes one lab's state file under an exclusive lock,
// so a test process and a `drlab` command can both record processes.
type stateStore struct {
	dir string
}

func (s stateStore) path() string { return filepath.Join(s.dir, "state.json") }

// update applies fn to the state under the lab's lock and writes it back atomically.
func (s stateStore) update(fn func(*State) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.readUnlocked()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return s.writeUnlocked(st)
}

func (s stateStore) read() (*State, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.readUnlocked()
}

func (s stateStore) readUnlocked() (*State, error) {
	b, err := os.ReadFile(s.path())
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse lab state %s: %w", s.path(), err)
	}
	return &st, nil
}

func (s stateStore) writeUnlocked(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := s.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

func (s stateStore) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock lab state: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock lab state: %w", err)
	}
	// Closing the file releases the lock; nothing was written to it.
	return func() { _ = f.Close() }, nil
}

// procStat reads the state letter (field 3, 'Z' for zombies) and the start
// time (field 22) of /proc/PID/stat in one read.
func procStat(pid int) (state byte, startTime uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces; fields resume after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	return fields[0][0], startTime, err
}

// alive reports whether the recorded process still runs (same PID and start time, not a zombie).
func (r ProcRecord) alive() bool {
	state, start, err := procStat(r.PID)
	return err == nil && start == r.StartTime && state != 'Z'
}

// signal sends sig to the recorded process only if it is still the same process.
func (r ProcRecord) signal(sig syscall.Signal) error {
	if !r.alive() {
		return fmt.Errorf("process %s/%s (pid %d) is not running", r.Host, r.Name, r.PID)
	}
	if err := syscall.Kill(signalTarget(r.PID, sig), sig); err != nil {
		return fmt.Errorf("signal %v to %s/%s (pid %d): %w", sig, r.Host, r.Name, r.PID, err)
	}
	return nil
}

// signalTarget is where sig for the lab's process pid goes: SIGKILL,
// SIGSTOP and SIGCONT reach its whole process group (the lab starts each
// process with setsid), so that a daemon's children (drlb's and
// keepalived's VRRP child) die or freeze with it, as on a crashed or hung
// host; other signals (SIGHUP, SIGTERM) go to the process alone, which
// passes them on as it does in production.
func signalTarget(pid int, sig syscall.Signal) int {
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGCONT:
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			return -pid
		}
	}
	return pid
}

// killGroup sends SIGKILL to the process group the lab created for this
// process (each is started with setsid, so its PGID is its PID).
func (r ProcRecord) killGroup() error {
	if !r.alive() {
		return nil
	}
	pgid, err := syscall.Getpgid(r.PID)
	if err == nil && pgid == r.PID {
		err = syscall.Kill(-r.PID, syscall.SIGKILL)
	} else {
		err = syscall.Kill(r.PID, syscall.SIGKILL)
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s/%s (pid %d): %w", r.Host, r.Name, r.PID, err)
	}
	return nil
}
