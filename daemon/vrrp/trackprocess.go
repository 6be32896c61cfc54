package vrrp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// TrackProcess is a vrrp_track_process block as an instance (or its sync
// group) uses it: keepalived.conf(5) "VRRP track processes".
type TrackProcess struct {
	// Name is the block's name.
	Name string
	// Process is the process name (matched against /proc/PID/comm, as
	// keepalived matches the Name: line of /proc/PID/status) or, with
	// Params or FullCommand, the command line's first word.
	Process string
	// Params are the command line's arguments to match (exactly, unless
	// ParamMatch says partial or initial).
	Params []string
	// ParamMatch is "" (exact), "partial" (the first len(Params) match) or
	// "initial" (partial, and the last one may be longer).
	ParamMatch string
	// FullCommand matches the command line (/proc/PID/cmdline), not the name.
	FullCommand bool
	// Quorum is the least number of matching processes that is OK (default
	// 1); QuorumMax the most (default unlimited, -1).
	Quorum, QuorumMax int
	// ForkDelay is how long the quorum must hold before the tracker is OK;
	// TerminateDelay how long it must be lost before it fails.
	ForkDelay, TerminateDelay time.Duration
	// Weight and Reverse as for track_script (see TrackEffect).
	Weight  int
	Reverse bool
}

// TrackProcessPollInterval is how often /proc is scanned. keepalived
// listens to the kernel's process events connector instead; a change is
// seen here within this interval.
const TrackProcessPollInterval = 500 * time.Millisecond

// MatchProcess reports whether a process with comm (its name) and argv
// (its command line) is one tp tracks.
func MatchProcess(tp TrackProcess, comm string, argv []string) bool {
	if len(tp.Params) == 0 && !tp.FullCommand && tp.ParamMatch == "" {
		return comm == tp.Process || (len(tp.Process) > 15 && strings.HasPrefix(tp.Process, comm) && len(comm) == 15)
	}
	if len(argv) == 0 || argv[0] != tp.Process {
		return false
	}
	args := argv[1:]
	switch tp.ParamMatch {
	case "partial", "initial":
		if len(args) < len(tp.Params) {
			return false
		}
		for i, p := range tp.Params {
			last := i == len(tp.Params)-1
			prefixOK := last && tp.ParamMatch == "initial" && strings.HasPrefix(args[i], p)
			if args[i] != p && !prefixOK {
				return false
			}
		}
		return true
	}
	if len(args) != len(tp.Params) {
		return false
	}
	for i, p := range tp.Params {
		if args[i] != p {
			return false
		}
	}
	return true
}

// QuorumOK reports whether n matching processes satisfy tp's quorum.
func QuorumOK(tp TrackProcess, n int) bool {
	return n >= tp.Quorum && (tp.QuorumMax < 0 || n <= tp.QuorumMax)
}

// CountProcesses counts the running (not zombie) processes under procRoot
// ("/proc") that tp tracks.
func CountProcesses(procRoot string, tp TrackProcess) int {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if name == "" || name[0] < '1' || name[0] > '9' {
			continue
		}
		dir := filepath.Join(procRoot, name)
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		var argv []string
		if len(tp.Params) > 0 || tp.FullCommand || tp.ParamMatch != "" {
			cl, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
			argv = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		}
		if MatchProcess(tp, strings.TrimRight(string(comm), "\n"), argv) {
			n++
		}
	}
	return n
}

// ProcessTracker applies fork_delay and terminate_delay to quorum results.
type ProcessTracker struct {
	// ForkDelay and TerminateDelay as in TrackProcess.
	ForkDelay, TerminateDelay time.Duration
	// OK is the current status.
	OK    bool
	since time.Time // when the observed status first differed from OK
}

// Observe records the quorum status at now and reports whether OK changed.
func (t *ProcessTracker) Observe(ok bool, now time.Time) bool {
	if ok == t.OK {
		t.since = time.Time{}
		return false
	}
	if t.since.IsZero() {
		t.since = now
	}
	delay := t.TerminateDelay
	if ok {
		delay = t.ForkDelay
	}
	if now.Sub(t.since) < delay {
		return false
	}
	t.OK, t.since = ok, time.Time{}
	return true
}

// processTrackers are ic's track_process trackers, with their status now
// (or from prev across a reload).
func processTrackers(ic InstanceConfig, prev []tracker) []tracker {
	out := make([]tracker, 0, len(ic.TrackProcesses))
	for _, tp := range ic.TrackProcesses {
		t := tracker{kind: trackProcess, name: tp.Name, weight: tp.Weight, reverse: tp.Reverse}
		found := false
		for _, p := range prev {
			if p.kind == trackProcess && p.name == tp.Name {
				t.ok, found = p.ok, true
			}
		}
		if !found {
			t.ok = QuorumOK(tp, CountProcesses("/proc", tp))
		}
		out = append(out, t)
	}
	return out
}

// startTrackProcesses scans /proc for in's track processes from tracker
// index first on and reports status changes to the loop.
func (n *Node) startTrackProcesses(ctx context.Context, in *instance, gen, first int) {
	for k, tp := range in.cfg.TrackProcesses {
		pt := ProcessTracker{ForkDelay: tp.ForkDelay, TerminateDelay: tp.TerminateDelay, OK: in.trackers[first+k].ok}
		n.workers.Go(func() {
			tick := time.NewTicker(TrackProcessPollInterval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					if !pt.Observe(QuorumOK(tp, CountProcesses("/proc", tp)), now) {
						continue
					}
				}
				select {
				case n.tracks <- trackIn{in: in, gen: gen, tracker: first + k, ok: pt.OK}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
}

func (tp TrackProcess) equal(o TrackProcess) bool {
	return tp.Name == o.Name && tp.Process == o.Process && slices.Equal(tp.Params, o.Params) &&
		tp.ParamMatch == o.ParamMatch && tp.FullCommand == o.FullCommand && tp.Quorum == o.Quorum &&
		tp.QuorumMax == o.QuorumMax && tp.ForkDelay == o.ForkDelay && tp.TerminateDelay == o.TerminateDelay &&
		tp.Weight == o.Weight && tp.Reverse == o.Reverse
}
