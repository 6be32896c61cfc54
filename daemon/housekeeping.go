package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/script"
)

// applyUmask sets the process umask from global_defs umask, as keepalived
// does when it reads the keyword (at start-up and on every reload). Files
// drlb creates afterwards (notify FIFOs, dump files, the pid file) and
// the scripts it starts inherit it. Without the keyword the umask drlb was
// started with stays (keepalived's default is 0177: see README).
func applyUmask(cfg *config.Config) {
	if m := cfg.Global.Housekeeping.Umask; m != nil {
		unix.Umask(int(*m))
	}
}

// runStartStopScript runs global_defs startup_script or shutdown_script
// (kw) through the script table, bounded by its timeout, and logs the
// outcome as keepalived does: a failure is logged and drlb goes on (it
// starts, or finishes stopping). It waits for the script.
func (d *Daemon) runStartStopScript(ctx context.Context, kw, command string, timeout time.Duration) {
	if command == "" {
		return
	}
	argv, err := script.Split(command)
	if err != nil { // checked by config and Prepare: cannot happen
		d.log.Error("Script not run", "keyword", kw, "script", command, "error", err)
		return
	}
	d.log.Info("Running "+strings.ReplaceAll(kw, "_", " "), "script", command, "timeout", timeout)
	res := d.runScript(ctx, argv, timeout)
	if err := res.Error(); err != nil {
		d.log.Warn(strings.ReplaceAll(kw, "_", " ")+" failed", "script", command, "error", err, "output", res.Output)
		return
	}
	d.log.Info(strings.ReplaceAll(kw, "_", " ")+" succeeded", "script", command)
}

// runStartupScript runs startup_script before anything else starts.
func (d *Daemon) runStartupScript(ctx context.Context) {
	h := d.st.cfg.Global.Housekeeping
	d.runStartStopScript(ctx, "startup_script", h.StartupScript, h.StartupScriptTimeout)
}

// runShutdownScript runs shutdown_script once everything else has
// stopped. ctx may have ended already (the stop itself): the script gets
// its own timeout.
func (d *Daemon) runShutdownScript(ctx context.Context) {
	h := d.st.cfg.Global.Housekeeping
	d.runStartStopScript(context.WithoutCancel(ctx), "shutdown_script", h.ShutdownScript, h.ShutdownScriptTimeout)
}

// writeReloadCheckLog writes the diagnostics of a reload's check of the new
// file to reload_check_config's LOG_FILE (of the configuration in force
// after the reload), as keepalived writes its config check's log there.
// keepalived only checks before a reload with reload_check_config; drlb
// always does, so the keyword only adds the log file.
func (d *Daemon) writeReloadCheckLog(res api.ReloadResult) {
	h := d.st.cfg.Global.Housekeeping
	if !h.ReloadCheckConfig || h.ReloadCheckConfigLog == "" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s reload check of %s\n", time.Now().Format(time.RFC3339), d.opts.ConfigFile)
	for _, diag := range res.Diagnostics {
		b.WriteString(diag + "\n")
	}
	if res.OK {
		b.WriteString("configuration valid: reloaded\n")
	} else {
		b.WriteString("configuration invalid: reload refused, the running configuration stays\n")
	}
	if err := os.WriteFile(h.ReloadCheckConfigLog, []byte(b.String()), 0o644); err != nil {
		d.log.Warn("reload_check_config log not written", "file", h.ReloadCheckConfigLog, "error", err)
	}
}

// rsInitNotifies is rs_init_notifies: at start-up, every real server that
// starts up (no checker, or checkers not in alpha mode) gets its RS UP
// FIFO line and its notify_up script, as keepalived's init_service_rs
// calls do_rs_notifies for them; without it they get none until they
// change. Scripts run in the background (tracked by d.scripts, bounded
// like quorum scripts).
func (d *Daemon) rsInitNotifies(ctx context.Context) {
	cfg := d.st.cfg
	if !cfg.Global.Housekeeping.RSInitNotifies || d.opts.VRRPOnly {
		return
	}
	n := d.notifier.Load()
	for vi := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[vi]
		targets := targetsOf(vs)
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			if !d.st.health[targets[ri]].Up {
				continue
			}
			n.rsInit(vs, rs)
			if rs.NotifyUp == "" {
				continue
			}
			argv := check.SplitCommand(rs.NotifyUp)
			d.scripts.Go(func() {
				if err := d.runScript(ctx, argv, supervisorScriptTimeout).Error(); err != nil && ctx.Err() == nil {
					d.log.Warn("notify_up (rs_init_notifies) failed", "script", rs.NotifyUp, "error", err)
				}
			})
		}
	}
}

// reloadFile is the running configuration's reload_file, resolved against
// the run directory ("" when not configured). keepalived uses the setting
// of the configuration in force when the reload starts.
func (d *Daemon) reloadFile() string {
	f := d.st.cfg.Global.Housekeeping.ReloadFile
	if f == "" || strings.HasPrefix(f, "/") {
		return f
	}
	return filepath.Join(d.opts.RunDir, f)
}

// createReloadFile creates (or truncates) reload_file before a reload reads
// the configuration, mode 0644 whatever the umask, as keepalived.
func (d *Daemon) createReloadFile(path string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		err = f.Chmod(0o644)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		d.log.Warn("reload_file not created", "file", path, "error", err)
	}
}

// removeReloadFile removes reload_file once the configuration is read.
func (d *Daemon) removeReloadFile(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		d.log.Warn("reload_file not removed", "file", path, "error", err)
	}
}
