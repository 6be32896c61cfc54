package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/script"
)

// SplitCommand splits a keepalived script line into arguments (see
// script.Split); a line script.Split refuses gives no arguments.
func SplitCommand(s string) []string {
	args, err := script.Split(s)
	if err != nil {
		return nil
	}
	return args
}

// ScriptResult is the outcome of a script run (package script).
type ScriptResult = script.Result

// ScriptFunc runs argv bounded by timeout: RunScript, or the daemon's
// script table, which runs each configured script as its user.
type ScriptFunc func(ctx context.Context, argv []string, timeout time.Duration) ScriptResult

// RunScript runs argv with script.Run as the daemon's own user: no shell,
// clean environment, its own process group (killed whole on timeout or
// cancellation, SIGTERM then SIGKILL), output bounded.
func RunScript(ctx context.Context, argv []string, timeout time.Duration) ScriptResult {
	if len(argv) == 0 {
		return ScriptResult{ExitCode: -1, Err: errors.New("check: empty command")}
	}
	return script.Run(ctx, script.Command{Argv: argv, Timeout: timeout})
}

// ProbeMisc runs MISC_CHECK. Exit 0 is up; with misc_dynamic, exit 2..255
// is up with weight exit-2 and exit 1 is down; without it any non-zero exit
// is down. A timeout or a signal is a failure.
func ProbeMisc(ctx context.Context, spec Spec) Result {
	return ProbeMiscWith(ctx, spec, RunScript)
}

// ProbeMiscWith is ProbeMisc running the script with run. A script the
// runner disabled (ScriptResult.Disabled) is up: keepalived removes such a
// checker, so it no longer counts against the server.
func ProbeMiscWith(ctx context.Context, spec Spec, run ScriptFunc) Result {
	spec = spec.WithDefaults()
	argv := SplitCommand(spec.Misc.Path)
	sr := run(ctx, argv, spec.Misc.Timeout)
	r := Result{Latency: sr.Duration}
	name := spec.Misc.Path
	if len(argv) > 0 {
		name = argv[0]
	}
	switch {
	case sr.Disabled != "":
		r.OK = true
		r.Reason = fmt.Sprintf("MISC_CHECK %s: disabled, not run (%s)", name, sr.Disabled)
	case sr.Err != nil:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: %v", name, sr.Err)
	case sr.TimedOut:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: timed out after %s, process group killed", name, spec.Misc.Timeout)
		r.Failure = FailTimeout
	case sr.Signal != 0:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: killed by signal %v", name, sr.Signal)
	case sr.ExitCode == 0:
		r.OK = true
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit 0", name)
	case spec.Misc.Dynamic && sr.ExitCode >= 2 && sr.ExitCode <= 255:
		r.OK = true
		r.Weight, r.WeightSet = sr.ExitCode-2, true
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit %d, weight %d", name, sr.ExitCode, r.Weight)
	default:
		r.Reason = fmt.Sprintf("MISC_CHECK %s: exit %d", name, sr.ExitCode)
	}
	if !r.OK && sr.Output != "" {
		r.Reason += ": " + firstLine(sr.Output)
	}
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
