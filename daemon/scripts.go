package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/script"
)

// prepareScripts checks every script of cfg on this host (package script)
// and returns the table that runs them and the diagnostics, located at the
// script keywords. drlb check, run and every reload use it, so all three
// see the same problems.
func prepareScripts(cfg *config.Config, stats *script.Stats) (*script.Table, config.Diagnostics) {
	return script.Prepare(cfg, script.HostEnv(), stats)
}

// CheckScripts checks cfg's scripts on this host as drlb run does: the
// diagnostics drlb check prints after config.Load's.
func CheckScripts(cfg *config.Config) config.Diagnostics {
	_, diags := prepareScripts(cfg, nil)
	return diags
}

// runScript runs argv as the current configuration's script (as its user,
// checked path, bounded output); timeout 0 leaves the bound to ctx.
func (d *Daemon) runScript(ctx context.Context, argv []string, timeout time.Duration) script.Result {
	tbl := d.scriptTable.Load()
	if tbl == nil {
		return script.Result{ExitCode: -1, Err: fmt.Errorf("script: %q: no configuration loaded", strings.Join(argv, " "))}
	}
	if _, ok := tbl.Lookup(argv); !ok {
		// A script of the configuration a reload replaced (ReloadScripts).
		if prev := d.prevScriptTable.Load(); prev != nil {
			if _, ok := prev.Lookup(argv); ok {
				tbl = prev
			}
		}
	}
	res := tbl.Run(ctx, argv, timeout)
	if res.Disabled != "" {
		d.log.Debug("Script disabled, not run", "command", strings.Join(argv, " "), "reason", res.Disabled)
	}
	if res.Dropped > 0 {
		d.log.Warn("Script output truncated", "command", strings.Join(argv, " "), "output_bytes", res.OutputBytes, "dropped_bytes", res.Dropped)
	}
	return res
}

// runVRRPScript is the VRRP node's ScriptRunner (notify and track scripts).
func (d *Daemon) runVRRPScript(ctx context.Context, argv []string) error {
	if err := d.runScript(ctx, argv, 0).Error(); err != nil {
		return fmt.Errorf("script %s: %w", argv[0], err)
	}
	return nil
}

// probe is the health checker's Probe: MISC_CHECK runs through the script
// table, the other kinds as check.Probe.
func (d *Daemon) probe(ctx context.Context, spec check.Spec) check.Result {
	var r check.Result
	if spec.Kind == check.KindMisc {
		r = check.ProbeMiscWith(ctx, spec, d.runScript)
	} else {
		r = check.Probe(ctx, spec)
	}
	if !r.OK && spec.LogAllFailures && ctx.Err() == nil {
		d.log.Info("Check failed", "checker", spec.Kind.String(), "addr", spec.Addr.String(), "reason", r.Reason)
	}
	return r
}

var (
	descScriptRuns    = prometheus.NewDesc("drlb_script_runs_total", "Script runs (notify, vrrp_script, MISC_CHECK), by result (ok, failed, timeout, disabled).", []string{"result"}, nil)
	descScriptDropped = prometheus.NewDesc("drlb_script_output_dropped_bytes_total", "Script output bytes dropped: only the last 4 KiB of each run are kept for the log.", nil, nil)
)

// collectScripts sends the script metrics.
func (d *Daemon) collectScripts(ch chan<- prometheus.Metric) {
	s := &d.scriptStats
	runs, failed, timeouts := s.Runs.Load(), s.Failures.Load(), s.Timeouts.Load()
	ch <- prometheus.MustNewConstMetric(descScriptRuns, prometheus.CounterValue, float64(runs-min(failed, runs)), "ok")
	ch <- prometheus.MustNewConstMetric(descScriptRuns, prometheus.CounterValue, float64(failed-min(timeouts, failed)), "failed")
	ch <- prometheus.MustNewConstMetric(descScriptRuns, prometheus.CounterValue, float64(timeouts), "timeout")
	ch <- prometheus.MustNewConstMetric(descScriptRuns, prometheus.CounterValue, float64(s.Skipped.Load()), "disabled")
	ch <- prometheus.MustNewConstMetric(descScriptDropped, prometheus.CounterValue, float64(s.DroppedBytes.Load()))
}

// loadWithScripts is config.Load with this host's checks (interfaces,
// namespaces, as drlb check --host-checks) followed by the script checks:
// their diagnostics join the file's, and an error among them makes the
// configuration unusable (config.ErrInvalid).
func loadWithScripts(file, configID string, hostIPVS func() bool, stats *script.Stats) (*config.Config, *script.Table, config.Diagnostics, error) {
	cfg, diags, err := config.Load(file, config.Options{ConfigID: configID, IPVSAvailable: hostIPVS, HostChecks: true})
	if err != nil {
		return cfg, nil, diags, err
	}
	tbl, sdiags := prepareScripts(cfg, stats)
	diags = append(diags, sdiags...)
	if sdiags.HasErrors() {
		return cfg, tbl, diags, fmt.Errorf("%s: scripts: %d error(s), first: %s: %w", file, len(sdiags.Errors()), sdiags.Errors()[0], config.ErrInvalid)
	}
	return cfg, tbl, diags, nil
}
