package script

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/drlb/drlb/daemon/config"
)

// Host is what Prepare reads of the machine: its file system, its users
// and the daemon's own identity. HostEnv is the real one.
type Host struct {
	Sys      System
	Accounts Accounts
	Self     Identity
}

// HostEnv is this host.
func HostEnv() Host { return Host{Sys: HostSystem{}, Accounts: HostAccounts{}, Self: Self()} }

// Script is one configured script, checked and ready to run.
type Script struct {
	// Ref is where the configuration names it.
	Ref config.ScriptRef
	// Argv is the split command line.
	Argv []string
	// Path is the checked file to execute (symbolic links resolved).
	Path string
	// Identity is the user it runs as.
	Identity Identity
	// Disabled, when not empty, says why it never runs.
	Disabled string
}

// Stats counts script runs across reloads; the daemon exports them as
// metrics. The zero value is ready; it is safe for concurrent use.
type Stats struct {
	// Runs, Failures and Timeouts count runs, runs that did not succeed and
	// runs killed for their timeout.
	Runs, Failures, Timeouts atomic.Uint64
	// Skipped counts runs of disabled scripts (not executed).
	Skipped atomic.Uint64
	// DroppedBytes counts output bytes not kept for the log.
	DroppedBytes atomic.Uint64
}

// Table holds the checked scripts of one configuration and runs them. A
// script is found by its command line: the argv a caller passes must start
// with a configured script's Argv (notify appends its four arguments).
type Table struct {
	scripts []Script
	stats   *Stats
}

// Prepare checks every script cfg names (Config.ScriptRefs) against host
// and returns the table to run them with, and one diagnostic per problem at
// the keyword that names the script. Problems keepalived answers by
// disabling the script (unsafe under enable_script_security, not found, not
// executable, unknown user) are warnings and the script is disabled; an
// unsafe script without enable_script_security is a warning and runs. The
// same command line configured with two different users is an error: drlb
// finds a script by its command line. stats may be nil.
func Prepare(cfg *config.Config, host Host, stats *Stats) (*Table, config.Diagnostics) {
	if stats == nil {
		stats = &Stats{}
	}
	t := &Table{stats: stats}
	var diags config.Diagnostics
	warn := func(pos config.Position, format string, args ...any) {
		diags = append(diags, config.Diagnostic{File: pos.File, Line: pos.Line, Col: pos.Col, Severity: config.SeverityWarning, Message: fmt.Sprintf(format, args...)})
	}
	security := cfg.Global.EnableScriptSecurity
	// set_supplementary_groups: every script gets its user's supplementary
	// groups, as ":GROUP" does for one (keepalived's set_uid_gid).
	supplementary := cfg.Global.Housekeeping.SetSupplementaryGroups
	// The default user, resolved once as keepalived does.
	var defID Identity
	var defErr error
	if cfg.Global.ScriptUser != "" {
		spec, err := ParseUserSpec(cfg.Global.ScriptUser)
		if err == nil {
			spec.Supplementary = spec.Supplementary || supplementary
			defID, err = Resolve(spec, host.Accounts)
		}
		if err != nil {
			defErr = fmt.Errorf("global_defs script_user: %w", err)
		}
	} else {
		defID, defErr = DefaultIdentity(host.Accounts, host.Self, security)
		if defErr == nil && supplementary && defID.Name == DefaultUserName {
			defID, defErr = Resolve(UserSpec{User: DefaultUserName, Supplementary: true}, host.Accounts)
		}
		if defErr == nil && defID.UID == host.Self.UID && defID.GID == host.Self.GID && len(cfg.ScriptRefs) > 0 && !security {
			r := cfg.ScriptRefs[0]
			warn(r.Pos, "scripts run as %s: no script_user in global_defs and no user %s (keepalived's default); set script_user", defID, DefaultUserName)
		}
	}
	for _, ref := range cfg.ScriptRefs {
		s := Script{Ref: ref}
		what := fmt.Sprintf("%s %s (%s)", ref.Keyword, ref.Command, ref.Owner)
		disable := func(format string, args ...any) {
			s.Disabled = fmt.Sprintf(format, args...)
			warn(ref.Pos, "%s: %s; the script is disabled, as keepalived does", what, s.Disabled)
		}
		argv, err := Split(ref.Command)
		switch {
		case err != nil:
			disable("%v", err)
		case ref.User != "":
			spec, perr := ParseUserSpec(ref.User)
			if perr == nil {
				spec.Supplementary = spec.Supplementary || supplementary
				s.Identity, perr = Resolve(spec, host.Accounts)
			}
			if perr != nil {
				disable("%v", perr)
			}
		case errors.Is(defErr, ErrNoDefaultUser):
			disable("enable_script_security is set, no script_user is set and user %s does not exist: keepalived does not fall back to root", DefaultUserName)
		case defErr != nil:
			disable("%v", defErr)
		default:
			s.Identity = defID
		}
		s.Argv = argv
		if s.Disabled == "" && host.Self.UID != 0 && (s.Identity.UID != host.Self.UID || s.Identity.GID != host.Self.GID) {
			disable("drlb runs as %s, not root, and cannot run it as %s", host.Self, s.Identity)
		}
		if s.Disabled == "" {
			v, ierr := Inspect(argv[0], s.Identity, host.Sys)
			switch {
			case ierr != nil:
				disable("%v", strings.TrimPrefix(ierr.Error(), ErrUnusable.Error()+": "))
			case v.Unsafe != "" && security:
				disable("unsafe: it runs as %s and %s, so a non-root user could change what runs (enable_script_security)", s.Identity, v.Unsafe)
			case v.Unsafe != "":
				warn(ref.Pos, "%s: unsafe: it runs as %s and %s, so a non-root user could change what runs; it runs anyway because enable_script_security is not set", what, s.Identity, v.Unsafe)
			}
			s.Path = v.Path
		}
		if prev := t.find(argv, true); prev != nil && (prev.Identity.UID != s.Identity.UID || prev.Identity.GID != s.Identity.GID) && s.Disabled == "" && prev.Disabled == "" {
			diags = append(diags, config.Diagnostic{File: ref.Pos.File, Line: ref.Pos.Line, Col: ref.Pos.Col, Severity: config.SeverityError,
				Message: fmt.Sprintf("%s: runs as %s, but the same command at %s:%d runs as %s: drlb finds a script by its command line, so one command line runs as one user",
					what, s.Identity, prev.Ref.Pos.File, prev.Ref.Pos.Line, prev.Identity)})
		}
		t.scripts = append(t.scripts, s)
	}
	return t, diags
}

// Scripts returns the table's scripts in configuration order.
func (t *Table) Scripts() []Script { return slices.Clone(t.scripts) }

// find returns the script whose Argv is the longest prefix of argv (exact
// only: equal), nil when none.
func (t *Table) find(argv []string, exact bool) *Script {
	var best *Script
	for i := range t.scripts {
		s := &t.scripts[i]
		if len(s.Argv) == 0 || len(s.Argv) > len(argv) || (exact && len(s.Argv) != len(argv)) {
			continue
		}
		if !slices.Equal(s.Argv, argv[:len(s.Argv)]) {
			continue
		}
		if best == nil || len(s.Argv) > len(best.Argv) {
			best = s
		}
	}
	return best
}

// Lookup returns the configured script argv runs (see Table).
func (t *Table) Lookup(argv []string) (Script, bool) {
	if s := t.find(argv, false); s != nil {
		return *s, true
	}
	return Script{}, false
}

// Run runs argv as the configured script it belongs to: as its user, from
// its checked path. A disabled script is not run and its result is OK with
// Disabled set (keepalived removes such a script). A command the
// configuration does not name is refused.
func (t *Table) Run(ctx context.Context, argv []string, timeout time.Duration) Result {
	s, ok := t.Lookup(argv)
	if !ok {
		t.stats.Failures.Add(1)
		return Result{ExitCode: -1, Err: fmt.Errorf("script: %q is not a script of the configuration", strings.Join(argv, " "))}
	}
	if s.Disabled != "" {
		t.stats.Skipped.Add(1)
		return Result{Disabled: s.Disabled}
	}
	id := s.Identity
	res := Run(ctx, Command{Argv: argv, Path: s.Path, Identity: &id, Timeout: timeout})
	t.stats.Runs.Add(1)
	t.stats.DroppedBytes.Add(uint64(max(res.Dropped, 0)))
	if res.TimedOut {
		t.stats.Timeouts.Add(1)
	}
	if !res.OK() {
		t.stats.Failures.Add(1)
	}
	return res
}
