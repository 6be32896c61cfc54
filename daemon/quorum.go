package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
)

// ScriptRun is one script the supervisor owes a virtual server: a quorum
// script on a quorum transition, or at shutdown with omega the real
// servers' notify_down and the service's quorum_down.
type ScriptRun struct {
	// Service is the virtual server (ServiceID).
	Service string
	// Server is the real server (RealID) for notify_down, "" for quorum scripts.
	Server string
	// Hook is the keyword the command comes from: "quorum_up",
	// "quorum_down" or "notify_down".
	Hook string
	// Command is the command line as configured. keepalived adds no
	// arguments to these scripts (notify_exec), and neither does drlb.
	Command string
}

// QuorumScripts returns the quorum_up/quorum_down scripts for the change
// from prev to next (EvaluateServices results), in configuration order,
// following keepalived's update_quorum_state and do_vs_notifies:
//   - a service that gains quorum runs quorum_up, one that loses it
//     runs quorum_down;
//   - a service evaluated for the first time (start-up, or added by a
//     reload) runs quorum_up when it starts with quorum: keepalived's
//     set_quorum_states runs before any real server is in the pool, so
//     init_service_vs "gains" quorum and logs "Gained quorum" at start-up;
//   - one that starts without quorum runs quorum_down when it has a sorry
//     server (keepalived then puts the sorry server in at once), and
//     nothing otherwise.
//
// Services without the matching script produce nothing.
func QuorumScripts(c *config.Config, prev, next map[string]ServiceState) []ScriptRun {
	var out []ScriptRun
	for vi := range c.VirtualServers {
		vs := &c.VirtualServers[vi]
		now, _, fire := quorumEvent(vs, prev, next)
		if !fire {
			continue
		}
		run := ScriptRun{Service: ServiceID(vs), Hook: "quorum_down", Command: vs.QuorumDown}
		if now.QuorumUp {
			run.Hook, run.Command = "quorum_up", vs.QuorumUp
		}
		if run.Command != "" {
			out = append(out, run)
		}
	}
	return out
}

// quorumEvent reports whether keepalived's do_vs_notifies fires for vs on
// the change from prev to next (the cases QuorumScripts lists): fire is
// set when an evaluated service gains or loses quorum, or is evaluated for
// the first time (start) with quorum or with a sorry server. now is vs's
// state in next; its QuorumUp is the event's direction.
func quorumEvent(vs *config.VirtualServer, prev, next map[string]ServiceState) (now ServiceState, start, fire bool) {
	id := ServiceID(vs)
	now, ok := next[id]
	if !ok {
		return now, false, false
	}
	was, seen := prev[id]
	if !seen {
		return now, true, now.QuorumUp || vs.SorryServer != nil
	}
	return now, false, now.QuorumUp != was.QuorumUp
}

// OmegaScripts returns the scripts keepalived runs when it stops, for the
// virtual servers with omega (clear_service_vs with stopping set): first
// notify_down of every real server that is up and in the pool (with the
// sorry server active, only inhibit_on_failure servers are still in it),
// then the service's quorum_down, whatever its quorum state was. Without
// omega nothing runs at shutdown.
func OmegaScripts(c *config.Config, health map[check.Target]Health, services map[string]ServiceState) []ScriptRun {
	var out []ScriptRun
	for vi := range c.VirtualServers {
		vs := &c.VirtualServers[vi]
		if !vs.Omega {
			continue
		}
		id := ServiceID(vs)
		sorryActive := services[id].SorryActive && vs.SorryServer != nil
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			if rs.NotifyDown == "" || !health[TargetOf(vs, rs)].Up || (sorryActive && !rs.InhibitOnFailure) {
				continue
			}
			out = append(out, ScriptRun{Service: id, Server: RealID(rs), Hook: "notify_down", Command: rs.NotifyDown})
		}
		if vs.QuorumDown != "" {
			out = append(out, ScriptRun{Service: id, Hook: "quorum_down", Command: vs.QuorumDown})
		}
	}
	return out
}

// supervisorScriptTimeout bounds quorum and omega scripts, as the health
// checker's notify scripts are bounded (check.Config.ScriptTimeout).
const supervisorScriptTimeout = 10 * time.Second

// onQuorumChange (in the supervisor loop) runs the quorum scripts for the evaluation that moved the
// services from prev to next. The scripts run in the background (as
// keepalived's notify_exec forks), tracked so that Run waits for them.
func (d *Daemon) onQuorumChange(prev, next map[string]ServiceState) {
	for id, st := range next {
		if was, seen := prev[id]; seen && was.QuorumUp != st.QuorumUp {
			state := "lost"
			if st.QuorumUp {
				state = "gained"
			}
			d.log.Info(fmt.Sprintf("Quorum %s for VS %s", state, id), "sorry_server_active", st.SorryActive)
		}
	}
	d.notifier.Load().quorumChanged(d.st.cfg, d.st.health, prev, next)
	runs := QuorumScripts(d.st.cfg, prev, next)
	if len(runs) == 0 {
		return
	}
	base := context.WithoutCancel(d.runCtx)
	d.scripts.Go(func() { d.runScripts(base, runs) })
}

// runOmegaScripts waits, at shutdown, for quorum scripts still running,
// then runs the scripts OmegaScripts lists and waits for them (each
// bounded by supervisorScriptTimeout).
func (d *Daemon) runOmegaScripts(ctx context.Context) {
	d.scripts.Wait()
	if d.opts.VRRPOnly {
		return
	}
	// The loop has returned: d.st is read here alone.
	runs := OmegaScripts(d.st.cfg, d.st.health, d.st.services)
	d.runScripts(context.WithoutCancel(ctx), runs)
}

// runScripts runs runs one after another, as keepalived orders them, and
// logs each outcome.
func (d *Daemon) runScripts(ctx context.Context, runs []ScriptRun) {
	for _, r := range runs {
		res := d.runScript(ctx, check.SplitCommand(r.Command), supervisorScriptTimeout)
		attrs := []any{"service", r.Service, "hook", r.Hook, "command", r.Command, "exit", res.ExitCode, "took", res.Duration.Round(time.Millisecond)}
		if r.Server != "" {
			attrs = append(attrs, "server", r.Server)
		}
		switch {
		case res.Err != nil:
			d.log.Warn("script failed to start", append(attrs, "error", res.Err)...)
		case res.TimedOut || res.ExitCode != 0:
			d.log.Warn("script failed", append(attrs, "timed_out", res.TimedOut, "output", res.Output)...)
		default:
			d.log.Info("script ran", attrs...)
		}
		d.publish(api.Event{Kind: api.EventDaemon, Service: r.Service, Server: r.Server, Reason: r.Hook, Detail: r.Command})
	}
}

// ReloadScripts returns the scripts keepalived runs when a reload removes
// what was running (clear_diff_services, clear_service_vs and
// clear_service_rs without stopping, so omega plays no part): notify_down
// of each live real server that leaves (it was up and in the pool), and
// quorum_down of a removed virtual server that had quorum, after its
// servers' scripts. The commands are the old configuration's. A virtual
// server that stays but loses quorum by the reload gets its quorum_down
// from the next evaluation (QuorumScripts), once.
func ReloadScripts(old, next *config.Config, health map[check.Target]Health, services map[string]ServiceState) []ScriptRun {
	kept := map[string]map[string]bool{}
	for vi := range next.VirtualServers {
		vs := &next.VirtualServers[vi]
		reals := map[string]bool{}
		for ri := range vs.RealServers {
			reals[RealID(&vs.RealServers[ri])] = true
		}
		kept[ServiceID(vs)] = reals
	}
	var out []ScriptRun
	for vi := range old.VirtualServers {
		vs := &old.VirtualServers[vi]
		id := ServiceID(vs)
		reals, vsKept := kept[id]
		sorryActive := services[id].SorryActive && vs.SorryServer != nil
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			if reals[RealID(rs)] || rs.NotifyDown == "" || !health[TargetOf(vs, rs)].Up || (sorryActive && !rs.InhibitOnFailure) {
				continue
			}
			out = append(out, ScriptRun{Service: id, Server: RealID(rs), Hook: "notify_down", Command: rs.NotifyDown})
		}
		if !vsKept && services[id].QuorumUp && vs.QuorumDown != "" {
			out = append(out, ScriptRun{Service: id, Hook: "quorum_down", Command: vs.QuorumDown})
		}
	}
	return out
}

// onReloadRemoved runs, in the background, the scripts ReloadScripts
// lists for a reload from old (with its servers' health) to the
// configuration just installed (in the supervisor loop).
func (d *Daemon) onReloadRemoved(old *config.Config, health map[check.Target]Health) {
	runs := ReloadScripts(old, d.st.cfg, health, d.st.services)
	if len(runs) == 0 {
		return
	}
	base := context.WithoutCancel(d.runCtx)
	d.scripts.Go(func() { d.runScripts(base, runs) })
}
