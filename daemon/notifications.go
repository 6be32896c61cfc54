package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/notify"
	"github.com/drlb/drlb/daemon/vrrp"
)

// notifier delivers keepalived's notifications other than scripts: lines
// on notify_fifo / vrrp_notify_fifo / lvs_notify_fifo and smtp_alert
// e-mail. It is built from one configuration and replaced when a reload
// changes global_defs' notification settings. Its methods never block:
// FIFO writes fail fast when nobody reads, mail is queued for its own
// goroutine. Safe for concurrent use (VRRP's thread and the loop call it).
type notifier struct {
	log              *slog.Logger
	defs             config.NotifyDefs
	routerID         string
	all, vrrp, lvs   *notify.FIFO
	outbox           *notify.Outbox
	vrrpAlert        map[string]bool // instance or group name → smtp_alert
	cancel           context.CancelFunc
	wg               sync.WaitGroup
	reportedFIFOFull sync.Once
	// noEmailFaults is no_email_faults: no mail for a FAULT state.
	noEmailFaults bool
}

// notifySettings is what a notifier is built from; a reload that keeps it
// keeps the notifier (and its FIFOs and readers).
func notifySettings(c *config.Config) string {
	return fmt.Sprintf("%+v|%s|%v", c.Global.Notify, c.Global.RouterID, c.Global.Housekeeping.NoEmailFaults)
}

// startNotifier opens cfg's FIFOs (creating them as keepalived does),
// starts their *_fifo_script readers and the mail outbox. It returns nil
// when cfg configures no notification. A FIFO that cannot be opened is
// logged and left out, as keepalived does: notifications are not worth
// refusing to balance traffic for. run runs a script of the configuration
// until its context ends.
func startNotifier(ctx context.Context, cfg *config.Config, log *slog.Logger, run func(context.Context, []string) error) *notifier {
	nd := cfg.Global.Notify
	mail := nd.SMTPServer != "" && len(nd.Email) > 0
	if nd.FIFO.Path == "" && nd.VRRPFIFO.Path == "" && nd.LVSFIFO.Path == "" && !mail {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	n := &notifier{log: log, defs: nd, routerID: routerID(cfg), cancel: cancel, vrrpAlert: map[string]bool{},
		noEmailFaults: cfg.Global.Housekeeping.NoEmailFaults}
	for _, f := range []struct {
		conf config.FIFOConf
		dst  **notify.FIFO
	}{{nd.FIFO, &n.all}, {nd.VRRPFIFO, &n.vrrp}, {nd.LVSFIFO, &n.lvs}} {
		if f.conf.Path == "" {
			continue
		}
		fifo, err := notify.OpenFIFO(f.conf.Path)
		if err != nil {
			log.Error("Notify FIFO left out", "error", err)
			continue
		}
		*f.dst = fifo
		if f.conf.Script != "" {
			argv, err := vrrp.SplitCommand(f.conf.Script) // checked by config: cannot fail
			if err != nil {
				log.Error("FIFO script left out", "script", f.conf.Script, "error", err)
				continue
			}
			// keepalived passes the FIFO's name as the last argument and
			// stops the reader when it stops.
			argv = append(argv, f.conf.Path)
			n.wg.Go(func() {
				if err := run(ctx, argv); err != nil && ctx.Err() == nil {
					log.Warn("FIFO script ended", "script", f.conf.Script, "fifo", f.conf.Path, "error", err)
				}
			})
		}
	}
	if mail {
		from := nd.EmailFrom
		helo := nd.SMTPHelo
		if host, err := os.Hostname(); err == nil {
			if from == "" {
				from = "keepalived@" + host // keepalived's default
			}
			if helo == "" {
				helo = host
			}
		}
		m := notify.Mailer{Server: nd.SMTPServer, Helo: helo, From: from, To: slices.Clone(nd.Email), Timeout: nd.SMTPTimeout}
		n.outbox = notify.NewOutbox(m, 64, func(err error) { log.Warn("smtp_alert not sent", "error", err) })
		n.wg.Go(func() { n.outbox.Run(ctx) })
		for _, in := range cfg.Instances {
			n.vrrpAlert[in.Name] = nd.AlertVRRP(in.SMTPAlert)
		}
		for _, g := range cfg.SyncGroups {
			n.vrrpAlert[g.Name] = nd.AlertVRRP(g.SMTPAlert)
		}
	}
	return n
}

// routerID is router_id, keepalived's default being the host name.
func routerID(cfg *config.Config) string {
	if cfg.Global.RouterID != "" {
		return cfg.Global.RouterID
	}
	host, _ := os.Hostname()
	return host
}

// close stops the FIFO readers and the outbox and closes the FIFOs
// (removing those it created).
func (n *notifier) close() {
	if n == nil {
		return
	}
	n.cancel()
	n.wg.Wait()
	for _, f := range []*notify.FIFO{n.all, n.vrrp, n.lvs} {
		if f != nil {
			if err := f.Close(); err != nil {
				n.log.Warn("notify FIFO", "error", err)
			}
		}
	}
}

func (n *notifier) write(line string, fifos ...*notify.FIFO) {
	for _, f := range fifos {
		if f == nil {
			continue
		}
		if err := f.WriteLine(line); err != nil {
			if errors.Is(err, notify.ErrFull) {
				n.reportedFIFOFull.Do(func() { n.log.Warn("Notify FIFO full: nobody reads it; lines are dropped", "fifo", f.Path()) })
				continue
			}
			n.log.Warn("Notify FIFO", "error", err)
		}
	}
}

// vrrpNotify is vrrp.Options.OnNotify: an INSTANCE or GROUP line, and
// mail when the instance or group has smtp_alert.
func (n *notifier) vrrpNotify(kind, name string, state vrrp.State, priority uint8) {
	if n == nil {
		return
	}
	st := state.String()
	line := notify.InstanceLine(name, st, int(priority))
	if kind == "GROUP" {
		line = notify.GroupLine(name, st)
	}
	n.write(line, n.all, n.vrrp)
	if n.outbox != nil && n.vrrpAlert[name] && state != vrrp.StateStopped && (state != vrrp.StateFault || !n.noEmailFaults) {
		subject, body := notify.InstanceMail(n.routerID, name, st)
		if kind == "GROUP" {
			subject, body = notify.GroupMail(n.routerID, name, st)
		}
		n.outbox.Post(subject, body)
	}
}

// serviceOf is vs as keepalived's FMT_VS names it.
func serviceOf(vs *config.VirtualServer) notify.Service {
	return notify.Service{Address: vs.Address, Port: vs.Port, Protocol: string(vs.Protocol), FWMark: vs.FWMark}
}

// healthChanged writes an RS line for every virtual server whose real
// server tr is about (the members of a virtual_server_group share their
// checks), and mails it with smtp_alert.
func (n *notifier) healthChanged(cfg *config.Config, tr check.Transition) {
	if n == nil || tr.Up == tr.WasUp {
		return
	}
	for vi := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[vi]
		for ri := range vs.RealServers {
			rs := &vs.RealServers[ri]
			if TargetOf(vs, rs) != tr.Target {
				continue
			}
			real := notify.Real(rs.Address, rs.Port, string(vs.Protocol))
			n.write(notify.RSLine(real, serviceOf(vs), tr.Up), n.all, n.lvs)
			if n.outbox != nil && n.defs.AlertChecker(rs.SMTPAlert) {
				n.outbox.Post(notify.RealServerMail(n.routerID, real, serviceOf(vs), tr.Up, tr.Reason))
			}
		}
	}
}

// quorumChanged writes a VS line where keepalived's do_vs_notifies does
// (quorumEvent, whatever scripts are configured), and mails
// it with smtp_alert.
func (n *notifier) quorumChanged(cfg *config.Config, health map[check.Target]Health, prev, next map[string]ServiceState) {
	if n == nil {
		return
	}
	for vi := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[vi]
		now, start, fire := quorumEvent(vs, prev, next)
		if !fire {
			continue
		}
		n.write(notify.VSLine(serviceOf(vs), now.QuorumUp), n.all, n.lvs)
		if n.outbox != nil && n.defs.AlertChecker(vs.SMTPAlert) {
			weight := 0
			for ri := range vs.RealServers {
				if h := health[TargetOf(vs, &vs.RealServers[ri])]; h.Up {
					weight += h.Weight
				}
			}
			threshold := vs.Quorum + vs.Hysteresis
			if !now.QuorumUp {
				threshold = vs.Quorum - vs.Hysteresis
			}
			n.outbox.Post(notify.VirtualServerMail(n.routerID, serviceOf(vs), now.QuorumUp, start, vs.Quorum, vs.Hysteresis, threshold, weight))
		}
	}
}

// runFIFOScript runs a *_fifo_script until ctx ends (the daemon stops or
// a reload replaces the notifier), through the script table like every
// other script of the configuration.
func (d *Daemon) runFIFOScript(ctx context.Context, argv []string) error {
	if err := d.runScript(ctx, argv, 0).Error(); err != nil {
		return fmt.Errorf("script %s: %w", argv[0], err)
	}
	return nil
}

// reloadNotifier (in the loop, after a reload installed d.st.cfg) replaces
// the notifier when global_defs' notification settings changed, as
// keepalived reopens its FIFOs on reload. Opening FIFOs does not block;
// the old notifier is closed in the background (its FIFO readers get the
// scripts' SIGTERM), tracked so that Run waits for it.
func (d *Daemon) reloadNotifier() {
	key := notifySettings(d.st.cfg)
	if key == d.st.notifyKey {
		return
	}
	d.st.notifyKey = key
	old := d.notifier.Swap(startNotifier(d.runCtx, d.st.cfg, d.log, d.runFIFOScript))
	d.scripts.Go(old.close)
}

// writeVRRPStates writes every instance's INSTANCE line and every sync
// group's GROUP line to the FIFOs (no mail), as keepalived does after a
// reload with fifo_write_vrrp_states_on_reload for what did not change
// state (what changed gets its lines from the transition). A group's
// state is its members' (they move together); FAULT when one is in FAULT.
func (n *notifier) writeVRRPStates(cfg *config.Config, states []vrrp.InstanceStatus) {
	if n == nil {
		return
	}
	byName := make(map[string]vrrp.InstanceStatus, len(states))
	for _, s := range states {
		byName[s.Name] = s
		n.write(notify.InstanceLine(s.Name, s.State.String(), int(s.EffectivePriority)), n.all, n.vrrp)
	}
	for _, g := range cfg.SyncGroups {
		var st vrrp.State
		found := false
		for _, m := range g.Group {
			s, ok := byName[m]
			if !ok {
				continue
			}
			if !found || s.State == vrrp.StateFault {
				st = s.State
			}
			found = true
		}
		if found {
			n.write(notify.GroupLine(g.Name, st.String()), n.all, n.vrrp)
		}
	}
}

// rsInit writes rs_init_notifies' RS UP line for rs of vs (no mail, as
// keepalived's do_rs_notifies).
func (n *notifier) rsInit(vs *config.VirtualServer, rs *config.RealServer) {
	if n == nil {
		return
	}
	n.write(notify.RSLine(notify.Real(rs.Address, rs.Port, string(vs.Protocol)), serviceOf(vs), true), n.all, n.lvs)
}
