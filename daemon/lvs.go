package daemon

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
	"github.com/drlb/drlb/daemon/vrrp"
)

// housekeeping is what global_defs' lvs_* keywords ask of the kernel
// besides the table: with IPVS, timeouts, flushes and the connection sync
// daemon, as keepalived's ipvswrapper.c does them.
type housekeeping struct {
	lvs   config.LVSDefs
	ipvs  *ipvs.Housekeeping // nil with nftables
	syncd *syncDaemons       // nil without lvs_sync_daemon
	// netns is the namespace the data plane was opened in ("": drlb's own).
	netns string
}

// defaultNetNS is the default network namespace (PID 1's), where a bare
// net_namespace_ipvs puts IPVS, as keepalived does.
const defaultNetNS = "/proc/1/ns/net"

// ipvsNetNSPath is the namespace the data plane programs: "" (drlb's own)
// without net_namespace_ipvs, /run/netns/NAME with a name, the default
// namespace without one.
func ipvsNetNSPath(cfg *config.Config) string {
	switch ns := cfg.NetNamespaceIPVS; {
	case ns == nil:
		return ""
	case *ns == "":
		return defaultNetNS
	default:
		return filepath.Join(NetNamespaceDir, *ns)
	}
}

// startHousekeeping runs after the data plane opened, before its first
// apply: lvs_flush empties the table (with IPVS every service, also other
// programs'), lvs_timeouts sets IPVS's timeouts, lvs_sync_daemon starts
// the sync daemon as backup (it becomes master with its VRRP instance).
// Failures are logged: they do not stop forwarding.
func (d *Daemon) startHousekeeping(ctx context.Context, dp dataplane.Dataplane, lvs config.LVSDefs, netns string) *housekeeping {
	h := &housekeeping{lvs: lvs, netns: netns}
	if dp.Kind() != dataplane.KindIPVS {
		if lvs.Flush {
			if err := dp.Flush(ctx); err != nil {
				d.log.Error("lvs_flush", "error", err)
			}
		}
		return h // lvs_timeouts tcp went into the nft options; lvs_sync_daemon is refused by config
	}
	hk, err := ipvs.OpenHousekeeping(netns)
	if err != nil {
		d.log.Error("IPVS housekeeping unavailable: lvs_flush, lvs_timeouts and lvs_sync_daemon are not applied", "error", err)
		return h
	}
	h.ipvs = hk
	if lvs.Flush {
		if err := hk.FlushAll(); err != nil {
			d.log.Error("lvs_flush", "error", err)
		} else {
			d.log.Info("IPVS table flushed (lvs_flush)")
		}
	}
	if t := lvs.Timeouts; t != (config.LVSTimeouts{}) {
		if err := hk.SetTimeouts(t.TCP, t.TCPFin, t.UDP); err != nil {
			d.log.Error("lvs_timeouts", "error", err)
		}
	}
	if sd := lvs.SyncDaemon; sd != nil {
		h.syncd = startSyncDaemons(ctx, hk, *sd, d.log)
		d.syncd.Store(h.syncd)
	}
	return h
}

// reloadHousekeeping applies a reload's lvs_timeouts and lvs_sync_daemon,
// as keepalived re-applies both on reload (lvs_flush acts at start-up
// only). A changed sync daemon is stopped and started anew, in the role
// its instance has now. It runs in the reload's effect, outside the loop.
func (d *Daemon) reloadHousekeeping(ctx context.Context, h *housekeeping, lvs config.LVSDefs) {
	if h == nil {
		return
	}
	old := h.lvs
	h.lvs = lvs
	if h.ipvs == nil {
		return
	}
	if t := lvs.Timeouts; t != old.Timeouts && t != (config.LVSTimeouts{}) {
		if err := h.ipvs.SetTimeouts(t.TCP, t.TCPFin, t.UDP); err != nil {
			d.log.Error("lvs_timeouts", "error", err)
		}
	}
	if sameSyncDaemon(old.SyncDaemon, lvs.SyncDaemon) {
		return
	}
	d.syncd.Store(nil)
	h.syncd.stop()
	h.syncd = nil
	if sd := lvs.SyncDaemon; sd != nil {
		h.syncd = startSyncDaemons(ctx, h.ipvs, *sd, d.log)
		d.syncd.Store(h.syncd)
		if n := d.node.Load(); n != nil {
			for _, st := range n.Status() {
				h.syncd.observe(st.Name, st.State)
			}
		}
	}
}

// sameSyncDaemon compares two lvs_sync_daemon settings, positions aside.
func sameSyncDaemon(a, b *config.SyncDaemon) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Pos, y.Pos = config.Position{}, config.Position{}
	return x == y
}

// stop stops the sync daemons and, with lvs_flush_on_stop FULL, flushes
// every IPVS service (the data plane's own flush removed drlb's already).
func (h *housekeeping) stop(log *slog.Logger, flushed bool) {
	if h == nil {
		return
	}
	h.syncd.stop()
	if h.ipvs == nil {
		return
	}
	if h.lvs.FlushOnStop == "FULL" && flushed {
		if err := h.ipvs.FlushAll(); err != nil {
			log.Error("lvs_flush_on_stop", "error", err)
		} else {
			log.Info("IPVS table flushed (lvs_flush_on_stop)")
		}
	}
	_ = h.ipvs.Close()
}

// syncDaemons switches the kernel's IPVS sync daemon with one VRRP
// instance, as keepalived does (ipvs_syncd_master / ipvs_syncd_backup):
// master while the instance is MASTER, backup otherwise; both stop when
// the daemon stops. Netlink calls run on its own goroutine; observe, called
// on VRRP's thread, only records the latest wish.
type syncDaemons struct {
	hk     syncController
	cfg    config.SyncDaemon
	log    *slog.Logger
	want   chan bool // true: master; holds the latest wish only
	cancel context.CancelFunc
	done   chan struct{}
}

// syncController is the part of ipvs.Housekeeping syncDaemons uses (tests
// pass a fake).
type syncController interface {
	StartSyncDaemon(ipvs.SyncDaemon) error
	StopSyncDaemon(ipvs.SyncState) error
}

// startSyncDaemons starts the worker; it stops with stop or when ctx ends
// (both kernel daemons are then stopped).
func startSyncDaemons(ctx context.Context, hk syncController, cfg config.SyncDaemon, log *slog.Logger) *syncDaemons {
	ctx, cancel := context.WithCancel(ctx)
	s := &syncDaemons{hk: hk, cfg: cfg, log: log, want: make(chan bool, 1), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// daemon is the kernel daemon configuration for state.
func (s *syncDaemons) daemon(state ipvs.SyncState) ipvs.SyncDaemon {
	return ipvs.SyncDaemon{State: state, Interface: s.cfg.Interface, SyncID: uint32(s.cfg.SyncID), MaxLen: uint16(s.cfg.MaxLen),
		Port: uint16(s.cfg.Port), TTL: uint8(s.cfg.TTL), Group: s.cfg.Group}
}

// observe takes a VRRP transition; it never blocks.
func (s *syncDaemons) observe(instance string, to vrrp.State) {
	if s == nil || instance != s.cfg.Instance {
		return
	}
	master := to == vrrp.StateMaster
	for {
		select {
		case s.want <- master:
			return
		default:
			select { // replace an older wish
			case <-s.want:
			default:
			}
		}
	}
}

func (s *syncDaemons) run(ctx context.Context) {
	defer close(s.done)
	switchTo := func(on, off ipvs.SyncState) {
		if err := s.hk.StopSyncDaemon(off); err != nil {
			s.log.Warn("lvs_sync_daemon", "error", err)
		}
		if err := s.hk.StartSyncDaemon(s.daemon(on)); err != nil {
			s.log.Error("lvs_sync_daemon", "error", err)
			return
		}
		s.log.Info("IPVS sync daemon "+on.String(), "interface", s.cfg.Interface, "syncid", s.cfg.SyncID, "instance", s.cfg.Instance)
	}
	master := false
	switchTo(ipvs.SyncBackup, ipvs.SyncMaster)
	for {
		select {
		case <-ctx.Done():
			for _, st := range []ipvs.SyncState{ipvs.SyncMaster, ipvs.SyncBackup} {
				if err := s.hk.StopSyncDaemon(st); err != nil {
					s.log.Warn("lvs_sync_daemon", "error", err)
				}
			}
			return
		case m := <-s.want:
			if m == master {
				continue
			}
			master = m
			if m {
				switchTo(ipvs.SyncMaster, ipvs.SyncBackup)
			} else {
				switchTo(ipvs.SyncBackup, ipvs.SyncMaster)
			}
		}
	}
}

// stop stops both kernel daemons and waits.
func (s *syncDaemons) stop() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}
