package daemon

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/vrrp"
)

// checkerSched is what global_defs checker_priority, checker_rt_priority,
// checker_cpu_affinity, checker_rlimit_rttime and checker_no_swap ask of
// the process that runs the health checks: in drlb, the parent (keepalived
// applies them to its checker child). Fields not written are left as the
// process found them.
type checkerSched struct {
	// Nice is checker_priority (-20..19), nil: unchanged.
	Nice *int
	// RTPriority is checker_rt_priority: 1-99 runs every thread SCHED_RR,
	// 0 SCHED_OTHER; nil: unchanged.
	RTPriority *int
	// CPUs is checker_cpu_affinity; empty: unchanged.
	CPUs []int
	// RLimitRTTime is checker_rlimit_rttime, or keepalived's default
	// (vrrp.DefaultRLimitRTTime) with a real-time priority; zero:
	// unchanged.
	RLimitRTTime time.Duration
	// LockMemory is checker_no_swap: mlockall with MCL_ONFAULT.
	LockMemory bool
}

// checkerSchedOf reads the checker_* keywords; ok is false when none was
// written.
func checkerSchedOf(g config.GlobalDefs) (s checkerSched, ok bool) {
	ps := g.CheckerProcess
	if ps == nil {
		return checkerSched{}, false
	}
	s = checkerSched{Nice: ps.Nice, RTPriority: ps.RTPriority, CPUs: slices.Clone(ps.CPUs), LockMemory: ps.NoSwap}
	switch {
	case ps.RLimitRTTime != nil:
		s.RLimitRTTime = *ps.RLimitRTTime
	case ps.RTPriority != nil && *ps.RTPriority > 0:
		s.RLimitRTTime = vrrp.DefaultRLimitRTTime
	}
	return s, true
}

// threadWide reports whether s changes per-thread settings (policy, nice,
// affinity), which in process would also change VRRP's thread.
func (s checkerSched) threadWide() bool {
	return s.Nice != nil || s.RTPriority != nil || len(s.CPUs) > 0
}

// applyCheckerSched applies s to this process: memory lock and
// RLIMIT_RTTIME process-wide, then policy, nice and affinity on every
// thread in /proc/self/task. The policy is set without
// SCHED_RESET_ON_FORK, so that threads the Go runtime clones later inherit
// it; the VRRP child, re-executed from this process, sets its own (its
// vrrp_* settings or the defaults) on start. Every setting is tried; the
// error joins those that failed (EPERM without CAP_SYS_NICE or
// CAP_IPC_LOCK).
func applyCheckerSched(s checkerSched) error {
	var errs []error
	if s.LockMemory {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT); err != nil {
			errs = append(errs, fmt.Errorf("checker_no_swap: mlockall: %w", err))
		}
	}
	if s.RLimitRTTime > 0 {
		soft := uint64(s.RLimitRTTime.Microseconds())
		if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &unix.Rlimit{Cur: soft, Max: 10 * soft}); err != nil {
			errs = append(errs, fmt.Errorf("checker_rlimit_rttime %v: %w", s.RLimitRTTime, err))
		}
	}
	if s.threadWide() {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("list threads: %w", err))...)
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := applyCheckerTask(tid, s); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
			}
		}
	}
	return errors.Join(errs...)
}

func applyCheckerTask(tid int, s checkerSched) error {
	if len(s.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range s.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("checker_cpu_affinity %v: %w", s.CPUs, err)
		}
	}
	if s.Nice == nil && s.RTPriority == nil {
		return nil
	}
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return fmt.Errorf("read scheduling: %w", err)
	}
	attr.Size, attr.Flags = unix.SizeofSchedAttr, 0
	if s.Nice != nil {
		attr.Nice = int32(*s.Nice)
	}
	if s.RTPriority != nil {
		attr.Policy, attr.Priority = unix.SCHED_NORMAL, 0
		if *s.RTPriority > 0 {
			attr.Policy, attr.Priority = unix.SCHED_RR, uint32(*s.RTPriority)
		}
	}
	if err := unix.SchedSetAttr(tid, attr, 0); err != nil {
		return fmt.Errorf("checker_rt_priority/checker_priority: %w", err)
	}
	if s.Nice != nil && attr.Policy != unix.SCHED_NORMAL {
		// sched_setattr keeps a real-time thread's nice value apart;
		// keepalived sets both too.
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, *s.Nice); err != nil {
			return fmt.Errorf("checker_priority %d: %w", *s.Nice, err)
		}
	}
	return nil
}

// startCheckerSched applies the checker_* keywords to this process (the
// parent, where the health checks run) at start-up, as keepalived applies
// them when it starts its checker child. With VRRP on a thread of this
// process (--vrrp-in-process) only checker_no_swap is applied: the
// others would also reschedule VRRP's thread.
func (d *Daemon) startCheckerSched(cfg *config.Config) {
	s, ok := checkerSchedOf(cfg.Global)
	if !ok {
		return
	}
	if !d.opts.VRRPChild && s.threadWide() {
		d.log.Warn("checker_priority, checker_rt_priority and checker_cpu_affinity are not applied with VRRP in this process (--vrrp-in-process)")
		s = checkerSched{LockMemory: s.LockMemory}
	}
	if len(s.CPUs) > 0 {
		// The VRRP child is started from this process and would inherit
		// the checkers' CPUs: without vrrp_cpu_affinity it takes these.
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err == nil {
			for c := range 1024 {
				if set.IsSet(c) {
					d.childCPUs = append(d.childCPUs, c)
				}
			}
		}
	}
	if err := applyCheckerSched(s); err != nil {
		d.log.Warn("Checker process scheduling not (fully) applied", "err", err)
		return
	}
	d.log.Info("Checker process scheduling applied", "pid", os.Getpid(), "settings", s.String())
}

// String is s as a log value.
func (s checkerSched) String() string {
	out := ""
	if s.RTPriority != nil {
		out += fmt.Sprintf(" rt_priority %d", *s.RTPriority)
	}
	if s.Nice != nil {
		out += fmt.Sprintf(" priority %d", *s.Nice)
	}
	if len(s.CPUs) > 0 {
		out += fmt.Sprintf(" cpu_affinity %v", s.CPUs)
	}
	if s.RLimitRTTime > 0 {
		out += fmt.Sprintf(" rlimit_rttime %v", s.RLimitRTTime)
	}
	if s.LockMemory {
		out += " no_swap"
	}
	if out == "" {
		return "none"
	}
	return out[1:]
}

// childThread gives the VRRP child this process's CPUs from before
// checker_cpu_affinity when vrrp_cpu_affinity does not name its own.
func (d *Daemon) childThread(t *vrrp.ThreadConfig) {
	if len(t.CPUs) == 0 && len(d.childCPUs) > 0 {
		t.CPUs = slices.Clone(d.childCPUs)
	}
}
