package script

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/config"
)

func parse(t *testing.T, conf string) *config.Config {
	t.Helper()
	cfg, diags, err := config.Parse("k.conf", []byte(conf), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%v", err, diags)
	}
	return cfg
}

func instance(global string, lines ...string) string {
	return "global_defs {\n" + global + "\n}\nvrrp_instance VI_9 {\ninterface eth1\nvirtual_router_id 99\npriority 50\nvirtual_ipaddress {\n10.0.0.1/32\n}\n" +
		strings.Join(lines, "\n") + "\n}\n"
}

// TestPrepare checks the diagnostics and the verdicts for the cases of
// /work/shared/cases/reliability and keepalived's rules, on a fake host
// (root daemon, no keepalived_script user).
func TestPrepare(t *testing.T) {
	host := Host{Sys: baseSys(), Accounts: fakeAccounts{}, Self: Identity{Name: "root"}}
	tests := []struct {
		name     string
		conf     string
		diags    []string // substrings, in order; each diagnostic must match one
		disabled bool     // the last script is disabled
		uid      uint32   // the last script's user
	}{
		{"world-writable under security is disabled", instance("enable_script_security\nscript_user root", `notify_master "/etc/ka/ww.sh"`),
			[]string{"k.conf:12:1: warning: notify_master /etc/ka/ww.sh (vrrp_instance VI_9): unsafe: it runs as root (uid 0, gid 0) and /etc/ka/ww.sh is writable by everyone (mode 0777), so a non-root user could change what runs (enable_script_security); the script is disabled"}, true, 0},
		{"world-writable without security warns and runs", instance("script_user root", `notify_master "/etc/ka/ww.sh"`),
			[]string{"k.conf:11:1: warning: notify_master /etc/ka/ww.sh (vrrp_instance VI_9): unsafe: it runs as root (uid 0, gid 0) and /etc/ka/ww.sh is writable by everyone (mode 0777), so a non-root user could change what runs; it runs anyway because enable_script_security is not set"}, false, 0},
		{"script_user nobody runs it as nobody", instance("enable_script_security\nscript_user nobody", `notify_master "/etc/ka/ww.sh"`), nil, false, 65534},
		{"per-script user wins", instance("script_user root", `notify_master /etc/ka/ww.sh nobody`), nil, false, 65534},
		{"safe script", instance("enable_script_security\nscript_user root", `notify_master /etc/ka/ok.sh`), nil, false, 0},
		{"no default user under security", instance("enable_script_security", `notify_master /etc/ka/ok.sh`),
			[]string{"11:1: warning: notify_master /etc/ka/ok.sh (vrrp_instance VI_9): enable_script_security is set, no script_user is set and user keepalived_script does not exist"}, true, 0},
		{"default is root without security, with a warning", instance("", `notify_master /etc/ka/ok.sh`),
			[]string{"11:1: warning: scripts run as root (uid 0, gid 0): no script_user in global_defs and no user keepalived_script"}, false, 0},
		{"unknown user", instance("script_user root", `notify_master /etc/ka/ok.sh ghost`),
			[]string{`11:1: warning: notify_master /etc/ka/ok.sh (vrrp_instance VI_9): script: user "ghost": unknown user ghost; the script is disabled`}, true, 0},
		{"unknown script_user", instance("script_user ghost", `notify_master /etc/ka/ok.sh`),
			[]string{`global_defs script_user: script: user "ghost"`}, true, 0},
		{"missing file", instance("script_user root", `notify_master /etc/ka/none.sh`),
			[]string{"notify_master /etc/ka/none.sh (vrrp_instance VI_9): eval /etc/ka/none.sh: no such file or directory; the script is disabled"}, true, 0},
		{"not executable by its user", instance("script_user nobody", `notify_master /etc/ka/user.sh`),
			[]string{"is not executable by nobody"}, true, 65534},
		{"same command, two users", instance("script_user root", `notify_master /etc/ka/ok.sh`, `notify_backup /etc/ka/ok.sh nobody`),
			[]string{"12:1: error: notify_backup /etc/ka/ok.sh (vrrp_instance VI_9): runs as nobody (uid 65534, gid 65534), but the same command at k.conf:11 runs as root"}, false, 65534},
		{"vrrp_script user", "global_defs {\nenable_script_security\nscript_user root\n}\nvrrp_script chk {\nscript \"/etc/ka/ww.sh x\"\nuser nobody\n}\n", nil, false, 65534},
		{"MISC_CHECK under security", "global_defs {\nenable_script_security\nscript_user root\n}\nvirtual_server 10.0.0.1 80 {\nlb_kind DR\nreal_server 10.0.0.2 80 {\nMISC_CHECK {\nmisc_path \"/tmp/d/x.sh arg\"\n}\n}\n}\n",
			[]string{"9:1: warning: misc_path /tmp/d/x.sh arg (MISC_CHECK of real_server 10.0.0.2): unsafe: it runs as root (uid 0, gid 0) and /tmp/d is writable by everyone"}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, diags := Prepare(parse(t, tt.conf), host, nil)
			if len(diags) != len(tt.diags) {
				t.Fatalf("diagnostics:\n%v\nwant %d: %q", diags, len(tt.diags), tt.diags)
			}
			for i, want := range tt.diags {
				if !strings.Contains(diags[i].String(), want) {
					t.Errorf("diagnostic %d = %s\nwant ~%s", i, diags[i], want)
				}
			}
			scripts := tbl.Scripts()
			last := scripts[len(scripts)-1]
			if (last.Disabled != "") != tt.disabled || (!tt.disabled && last.Identity.UID != tt.uid) {
				t.Fatalf("last script %+v: want disabled %v uid %d", last, tt.disabled, tt.uid)
			}
		})
	}
}

// TestTableRun: a disabled script does not run and counts as success; a
// notify command with appended arguments is found by its prefix; a command
// the configuration does not name is refused.
func TestTableRun(t *testing.T) {
	host := HostEnv()
	conf := instance("enable_script_security",
		`notify_master "/nonexistent/drlb/ww.sh"`,
		`notify "/bin/sh -c 'exit 4'"`)
	tbl, _ := Prepare(parse(t, conf), Host{Sys: host.Sys, Accounts: fakeAccounts{ks: false}, Self: host.Self}, nil)
	// Under enable_script_security without keepalived_script every script is disabled.
	if r := tbl.Run(context.Background(), []string{"/nonexistent/drlb/ww.sh"}, time.Second); !r.OK() || r.Disabled == "" {
		t.Fatalf("disabled script: %+v", r)
	}
	stats := &Stats{}
	tbl, diags := Prepare(parse(t, instance("script_user "+host.Self.Name, `notify "/bin/sh -c 'exit 4'"`)), Host{Sys: host.Sys, Accounts: HostAccounts{}, Self: host.Self}, stats)
	r := tbl.Run(context.Background(), []string{"/bin/sh", "-c", "exit 4", "INSTANCE", "VI_9", "MASTER", "50"}, 5*time.Second)
	if r.ExitCode != 4 || r.Disabled != "" {
		t.Fatalf("notify with arguments: %+v (diagnostics %v)", r, diags)
	}
	if r := tbl.Run(context.Background(), []string{"/bin/sh", "-c", "exit 0"}, time.Second); r.Err == nil || !strings.Contains(r.Err.Error(), "not a script of the configuration") {
		t.Fatalf("unknown command: %+v", r)
	}
	if stats.Runs.Load() != 1 || stats.Failures.Load() != 2 {
		t.Fatalf("stats runs %d failures %d", stats.Runs.Load(), stats.Failures.Load())
	}
}

// TestSetSupplementaryGroups: global_defs set_supplementary_groups gives
// every script its user's supplementary groups (script_user's, a script's
// own user's, keepalived_script's), as ":GROUP" does for one script;
// without it a script has none.
func TestSetSupplementaryGroups(t *testing.T) {
	host := Host{Sys: baseSys(), Accounts: fakeAccounts{ks: true}, Self: Identity{Name: "root"}}
	for _, c := range []struct {
		name, global, user string
		want               []uint32
	}{
		{"off: none", "script_user nobody", "", nil},
		{"script_user", "script_user nobody\nset_supplementary_groups", "", []uint32{65534, 100}},
		{"script's own user", "script_user root\nset_supplementary_groups", " nobody", []uint32{65534, 100}},
		{"keepalived_script", "set_supplementary_groups", "", []uint32{65534, 100}},
		{"set false", "script_user nobody\nset_supplementary_groups false", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl, diags := Prepare(parse(t, instance(c.global, "notify_master /etc/ka/ok.sh"+c.user)), host, nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			s := tbl.Scripts()[0]
			if fmt.Sprint(s.Identity.Groups) != fmt.Sprint(c.want) {
				t.Errorf("groups %v, want %v", s.Identity.Groups, c.want)
			}
		})
	}
}
