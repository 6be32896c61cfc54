package vrrpproc

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/vrrp"
)

// applyProcess schedules every thread of this process as t says (the
// child runs nothing but VRRP, so all of it is VRRP's, as in keepalived's
// VRRP child): process-wide settings (memory lock, RLIMIT_RTTIME) through
// vrrp.ApplyThread on the calling thread, then policy, nice and affinity
// of each task in /proc/self/task. Unlike the in-process VRRP thread, the
// policy is set without SCHED_RESET_ON_FORK, so that threads the Go
// runtime starts later (a clone of a running thread) inherit it; the child
// forks no scripts (the parent runs them), and what it executes (nft for
// the no-accept filter) ends within milliseconds.
func applyProcess(t vrrp.ThreadConfig) error {
	var errs []error
	if t.LockMemory || t.RLimitRTTime > 0 {
		if err := vrrp.ApplyThread(unix.Gettid(), vrrp.ThreadConfig{LockMemory: t.LockMemory, RLimitRTTime: t.RLimitRTTime,
			RTPriority: t.RTPriority, Nice: t.Nice, CPUs: t.CPUs}); err != nil {
			errs = append(errs, err)
		}
	}
	tids, err := tasks()
	if err != nil {
		return err
	}
	for _, tid := range tids {
		if err := applyTask(tid, t); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

// applyTask sets one thread's policy, nice value and affinity.
func applyTask(tid int, t vrrp.ThreadConfig) error {
	if len(t.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range t.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("set CPU affinity %v: %w", t.CPUs, err)
		}
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(t.Nice)}
	if t.RTPriority > 0 {
		attr.Policy, attr.Priority, attr.Nice = unix.SCHED_RR, uint32(t.RTPriority), int32(t.Nice)
	}
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		return fmt.Errorf("set scheduling policy: %w", err)
	}
	if t.RTPriority > 0 {
		// sched_setattr leaves a real-time thread's nice value as it
		// was, here the parent's (checker_priority): set it apart.
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, t.Nice); err != nil {
			return fmt.Errorf("set nice %d: %w", t.Nice, err)
		}
	}
	return nil
}

// tasks lists this process's threads.
func tasks() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

// setProcessName names every thread of this process name (the kernel
// keeps 15 bytes), as keepalived's vrrp_process_name and process_names
// name its children: ps, top and /proc/PID/comm show it. Threads started
// later take the name of the thread that starts them. Empty keeps it.
func setProcessName(name string) {
	if name == "" {
		return
	}
	if len(name) > 15 {
		name = name[:15]
	}
	tids, err := tasks()
	if err != nil {
		return
	}
	for _, tid := range tids {
		// Best effort: a thread may have ended meanwhile.
		_ = os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", tid), []byte(name), 0)
	}
}

// SetProcessName names this process (every thread of it) name, as
// keepalived's process_name names its parent; empty keeps it.
func SetProcessName(name string) { setProcessName(name) }
