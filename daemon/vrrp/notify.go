package vrrp

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/drlb/drlb/daemon/script"
)

// NotifyScripts are keepalived's notify hooks of an instance or sync group.
// Each is a command line (split on blanks, with '…' and "…" quoting).
type NotifyScripts struct {
	// Master, Backup, Fault and Stop run on entering that state (notify_master …).
	Master, Backup, Fault, Stop string
	// Notify runs on every transition with the arguments
	// INSTANCE|GROUP name STATE priority appended (STATE is MASTER, BACKUP,
	// FAULT or STOP; priority is the instance's effective priority, and 0
	// for a group, as keepalived's vrrp_notify.c passes them).
	Notify string
}

// DefaultScriptTimeout bounds a notify or track script that sets no timeout.
const DefaultScriptTimeout = 10 * time.Second

// ScriptRunner runs one command; the default runs it with os/exec and
// kills it when ctx ends. Tests replace it; the daemon passes its script
// table's runner (package script), which runs each script as its user.
type ScriptRunner func(ctx context.Context, argv []string) error

// ExecScript is the default ScriptRunner: script.Run as the daemon's own
// user (clean environment, own process group, bounded output), bounded by
// ctx.
func ExecScript(ctx context.Context, argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("vrrp: run script: empty command")
	}
	if err := script.Run(ctx, script.Command{Argv: argv}).Error(); err != nil {
		return fmt.Errorf("vrrp: run %s: %w", argv[0], err)
	}
	return nil
}

// NotifyCommands returns the commands keepalived runs for a transition of
// the instance or group name to state with priority, in order: the
// state-specific script (no arguments added), then the generic notify
// script with "kind name STATE priority" appended. kind is "INSTANCE" or
// "GROUP"; a group's priority is always given as 0 (keepalived's
// send_group_notifies), whatever priority says.
func NotifyCommands(s NotifyScripts, kind, name string, state State, priority uint8) ([][]string, error) {
	if kind == "GROUP" {
		priority = 0
	}
	var cmds [][]string
	specific := map[State]string{StateMaster: s.Master, StateBackup: s.Backup, StateFault: s.Fault, StateStopped: s.Stop}[state]
	if specific != "" {
		argv, err := SplitCommand(specific)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, argv)
	}
	if s.Notify != "" {
		argv, err := SplitCommand(s.Notify)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, append(argv, kind, name, state.String(), strconv.Itoa(int(priority))))
	}
	return cmds, nil
}

// SplitCommand splits a script line on blanks, honouring single and double
// quotes and backslash escapes (outside single quotes): script.Split.
func SplitCommand(line string) ([]string, error) {
	args, err := script.Split(line)
	if err != nil {
		return nil, fmt.Errorf("vrrp: %w", err)
	}
	return args, nil
}
