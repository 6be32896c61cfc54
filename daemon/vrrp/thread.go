package vrrp

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultRTPriority is the SCHED_RR priority of the VRRP thread when
// vrrp_rt_priority is not configured. keepalived runs VRRP at SCHED_OTHER
// unless told otherwise, but in its own process; drlb shares its process
// with the health checker and reloads, and measured a pair at advert_int
// 0.01 flap 32 times in 20 s at SCHED_OTHER with 5,000 checks a second.
// The lowest real-time priority is enough to run before every
// SCHED_OTHER thread and still yields to any other real-time task.
const DefaultRTPriority = 1

// DefaultRLimitRTTime is vrrp_rlimit_rttime's default, keepalived's: how
// much CPU time the real-time VRRP thread may use without blocking.
const DefaultRLimitRTTime = 10 * time.Millisecond

// ThreadConfig is how the VRRP thread (the goroutine that runs Node.Run,
// locked to its OS thread for the node's lifetime: timers, socket writes
// and state machines) is scheduled: keepalived's vrrp_* process settings,
// applied to that thread alone. The zero value changes nothing.
type ThreadConfig struct {
	// RTPriority is vrrp_rt_priority: 1-99 runs the thread SCHED_RR at that
	// priority (as keepalived does), 0 leaves it SCHED_OTHER. The policy
	// carries SCHED_RESET_ON_FORK, so that threads and scripts started
	// from it do not inherit it.
	RTPriority int
	// Nice is vrrp_priority, -20 (most favoured) to 19; 0 leaves it.
	Nice int
	// CPUs is vrrp_cpu_affinity: the CPU numbers the thread may run on;
	// empty means any.
	CPUs []int
	// RLimitRTTime is vrrp_rlimit_rttime: the process's RLIMIT_RTTIME,
	// the CPU time a real-time thread may use without blocking. The soft
	// limit is this (SIGXCPU, logged as a warning), the hard limit 10
	// times it (SIGKILL: a runaway real-time thread must not hang the
	// machine). Zero leaves the limit; it only matters with RTPriority.
	RLimitRTTime time.Duration
	// LockMemory is vrrp_no_swap: mlockall of the
	// whole process (one Go process cannot lock one thread's memory),
	// with MCL_ONFAULT so that the Go heap's reserved but unused address
	// space is not made resident.
	LockMemory bool
}

// Validate checks the ranges keepalived accepts.
func (t ThreadConfig) Validate() error {
	if t.RTPriority < 0 || t.RTPriority > 99 {
		return fmt.Errorf("%w: vrrp_rt_priority %d: must be 1-99 (0: no real-time scheduling)", ErrConfig, t.RTPriority)
	}
	if t.Nice < -20 || t.Nice > 19 {
		return fmt.Errorf("%w: vrrp_priority %d: must be -20 to 19", ErrConfig, t.Nice)
	}
	for _, c := range t.CPUs {
		if c < 0 || c >= 1024 {
			return fmt.Errorf("%w: vrrp_cpu_affinity: CPU %d out of range", ErrConfig, c)
		}
	}
	if t.RLimitRTTime < 0 {
		return fmt.Errorf("%w: vrrp_rlimit_rttime %v: must not be negative", ErrConfig, t.RLimitRTTime)
	}
	return nil
}

// ApplyThread applies t's per-thread settings (policy, nice, affinity) to
// the thread tid and its process-wide ones (rlimit, memory lock). Every
// setting is tried; the error joins those that failed (typically EPERM
// without CAP_SYS_NICE or CAP_IPC_LOCK).
func ApplyThread(tid int, t ThreadConfig) error {
	var errs []error
	if t.LockMemory {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
			errs = append(errs, fmt.Errorf("lock memory (mlockall): %w", err))
		}
	}
	if t.RLimitRTTime > 0 {
		soft := uint64(t.RLimitRTTime.Microseconds())
		lim := unix.Rlimit{Cur: soft, Max: 10 * soft}
		if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &lim); err != nil {
			errs = append(errs, fmt.Errorf("set RLIMIT_RTTIME to %v: %w", t.RLimitRTTime, err))
		}
	}
	if len(t.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range t.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			errs = append(errs, fmt.Errorf("set CPU affinity %v: %w", t.CPUs, err))
		}
	}
	// SCHED_OTHER too, so that a reload can take real-time scheduling away.
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(t.Nice), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	if t.RTPriority > 0 {
		attr.Policy, attr.Priority, attr.Nice = unix.SCHED_RR, uint32(t.RTPriority), 0
	}
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		errs = append(errs, fmt.Errorf("set %s: %w", policyName(t), err))
	}
	if t.RTPriority > 0 && t.Nice != 0 {
		// The nice value of a real-time thread is kept for when it leaves
		// real-time scheduling; keepalived sets both too.
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, t.Nice); err != nil {
			errs = append(errs, fmt.Errorf("set nice %d: %w", t.Nice, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vrrp: thread %d: %w", tid, err)
	}
	return nil
}

func policyName(t ThreadConfig) string {
	if t.RTPriority > 0 {
		return fmt.Sprintf("SCHED_RR priority %d", t.RTPriority)
	}
	return fmt.Sprintf("SCHED_OTHER nice %d", t.Nice)
}

// ThreadSched is a thread's scheduling as the kernel reports it in
// /proc/<pid>/task/<tid>/stat.
type ThreadSched struct {
	// Policy is SCHED_OTHER (0), SCHED_FIFO (1), SCHED_RR (2)…, without
	// the reset-on-fork flag.
	Policy int
	// RTPriority is the real-time priority (0 for SCHED_OTHER).
	RTPriority int
	// Nice is the nice value.
	Nice int
	// CPU is the CPU the thread last ran on.
	CPU int
}

// ReadThreadSched reads thread tid's scheduling from /proc.
func ReadThreadSched(tid int) (ThreadSched, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", os.Getpid(), tid))
	if err != nil {
		return ThreadSched{}, fmt.Errorf("vrrp: read thread %d scheduling: %w", tid, err)
	}
	return parseStat(string(raw))
}

// parseStat reads fields 19 (nice), 39 (processor), 40 (rt_priority) and
// 41 (policy) of a proc(5) stat line; the command name (field 2) may
// contain spaces and parentheses, so fields are counted after its last ')'.
func parseStat(s string) (ThreadSched, error) {
	k := strings.LastIndexByte(s, ')')
	if k < 0 {
		return ThreadSched{}, fmt.Errorf("vrrp: stat line without ')': %q", s)
	}
	f := strings.Fields(s[k+1:]) // f[0] is field 3 (state)
	get := func(field int) (int, error) {
		if field-3 >= len(f) {
			return 0, fmt.Errorf("vrrp: stat line has no field %d", field)
		}
		v, err := strconv.Atoi(f[field-3])
		if err != nil {
			return 0, fmt.Errorf("vrrp: stat field %d: %w", field, err)
		}
		return v, nil
	}
	var ts ThreadSched
	var err error
	for _, x := range []struct {
		field int
		dst   *int
	}{{19, &ts.Nice}, {39, &ts.CPU}, {40, &ts.RTPriority}, {41, &ts.Policy}} {
		if *x.dst, err = get(x.field); err != nil {
			return ThreadSched{}, err
		}
	}
	return ts, nil
}
