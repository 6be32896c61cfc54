package vrrp

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
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
// kills it when ctx ends. Tests replace it.
type ScriptRunner func(ctx context.Context, argv []string) error

// ExecScript is the default ScriptRunner.
func ExecScript(ctx context.Context, argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("vrrp: run script: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("vrrp: run %s: %w (output %q)", argv[0], err, strings.TrimSpace(string(out)))
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
// quotes and backslash escapes (outside single quotes).
func SplitCommand(line string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quote   rune
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inArg = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("vrrp: script %q: unterminated quote or escape", line)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("vrrp: script %q: empty command", line)
	}
	return args, nil
}
