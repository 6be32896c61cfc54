package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/internal/testenv"
)

// TestDisabledScriptsCountAsRemoved: under enable_script_security a
// world-writable vrrp_script and MISC_CHECK are not run, and they count as
// keepalived's removal does: the track script as succeeding (no FAULT), the
// checker as up. A safe script of the same configuration runs.
func TestDisabledScriptsCountAsRemoved(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran.txt")
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+name+" >> "+ran+"\nexit 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsafe, safe := write("unsafe.sh", 0o777), write("safe.sh", 0o755)
	cfg := parse(t, `global_defs {
  enable_script_security
  script_user root
}
vrrp_script chk {
  script "`+unsafe+` track"
}
vrrp_script ok {
  script "`+safe+`"
}
virtual_server 10.0.0.1 80 {
  lb_kind DR
  real_server 10.0.0.2 80 {
    MISC_CHECK {
      misc_path "`+unsafe+` misc"
    }
  }
}
`)
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tbl, diags := prepareScripts(cfg, &d.scriptStats)
	if len(diags) != 2 || !strings.Contains(diags[0].String(), "writable by everyone") {
		t.Fatalf("diagnostics: %v", diags)
	}
	d.scriptTable.Store(tbl)
	ctx := context.Background()
	if err := d.runVRRPScript(ctx, []string{unsafe, "track"}); err != nil {
		t.Errorf("disabled track script: %v, want success (keepalived removes it)", err)
	}
	r := d.probe(ctx, check.Spec{Kind: check.KindMisc, DelayLoop: time.Second, Misc: check.MiscSpec{Path: unsafe + " misc", Timeout: time.Second}})
	if !r.OK || !strings.Contains(r.Reason, "disabled, not run") {
		t.Errorf("disabled MISC_CHECK: %+v, want up", r)
	}
	if err := d.runVRRPScript(ctx, []string{safe}); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("safe script: %v, want it run (exit status 1)", err)
	}
	got, _ := os.ReadFile(ran)
	if string(got) != "safe.sh\n" {
		t.Errorf("scripts that ran: %q, want only safe.sh", got)
	}
	s := &d.scriptStats
	if s.Skipped.Load() != 2 || s.Runs.Load() != 1 || s.Failures.Load() != 1 {
		t.Errorf("stats: skipped %d runs %d failures %d; want 2, 1, 1", s.Skipped.Load(), s.Runs.Load(), s.Failures.Load())
	}
	ch := make(chan prometheus.Metric, 16)
	d.collectScripts(ch)
	close(ch)
	if n := len(ch); n != 5 {
		t.Errorf("%d script metrics, want 5", n)
	}
}
