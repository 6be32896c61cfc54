package vrrpproc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// Respawn limits, as systemd's StartLimitBurst and StartLimitIntervalSec
// (whose defaults they are): a child that dies more than
// DefaultRespawnBurst times within DefaultRespawnInterval is not started
// again and the Keeper's Run returns an error, so that a child that
// cannot live (an interface gone, a kernel refusing its sockets) stops
// the daemon instead of looping.
const (
	DefaultRespawnBurst    = 5
	DefaultRespawnInterval = 10 * time.Second
	// RespawnDelay is the pause before a dead child is started again
	// (systemd's RestartSec default).
	RespawnDelay = 100 * time.Millisecond
)

// ErrRespawnLimit is wrapped by Keeper.Run when the child died too often.
var ErrRespawnLimit = errors.New("vrrp child died too often")

// KeeperOptions say how a Keeper treats its child's death.
type KeeperOptions struct {
	// DontRespawn makes a child's death the end of Run (keepalived's
	// --dont-respawn): Run returns the child's error.
	DontRespawn bool
	// Burst and Interval bound respawns: at most Burst respawns within
	// Interval (zero: DefaultRespawnBurst, DefaultRespawnInterval).
	Burst    int
	Interval time.Duration
	// Delay is the pause before a respawn (zero: RespawnDelay).
	Delay time.Duration
	// OnRespawn, if set, is called after each respawned child was started
	// (not for the first one), from Run's goroutine.
	OnRespawn func(restarts int)
}

// ChildState is what a Keeper's child is doing.
type ChildState string

// A Keeper's child states (KeeperStatus.State).
const (
	ChildStarting   ChildState = "starting"
	ChildRunning    ChildState = "running"
	ChildRespawning ChildState = "respawning"
	ChildStopped    ChildState = "stopped"
)

// KeeperStatus is a Keeper's view of its child process.
type KeeperStatus struct {
	// PID is the running child's process ID (0 while none runs).
	PID int
	// State is starting, running, respawning (dead, a new one coming) or
	// stopped.
	State ChildState
	// Restarts counts the children respawned after an unexpected death.
	Restarts int
}

// Keeper runs a VRRP child process as keepalived's parent does: when the
// child dies unexpectedly it starts a new one with the last configuration
// applied (the new child's node removes the VIPs the dead one left and
// elects again), unless DontRespawn or the respawn limit says stop. It
// offers the same methods as Remote.
type Keeper struct {
	opts  Options
	kopts KeeperOptions

	mu       sync.Mutex
	cfg      vrrp.Config
	cur      *Remote
	state    ChildState
	restarts int
	deaths   []time.Time
	ran      bool
}

// NewKeeper checks cfg as New does and returns a Keeper ready to Run.
func NewKeeper(cfg vrrp.Config, opts Options, kopts KeeperOptions) (*Keeper, error) {
	r, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if kopts.Burst <= 0 {
		kopts.Burst = DefaultRespawnBurst
	}
	if kopts.Interval <= 0 {
		kopts.Interval = DefaultRespawnInterval
	}
	if kopts.Delay <= 0 {
		kopts.Delay = RespawnDelay
	}
	return &Keeper{opts: r.opts, kopts: kopts, cfg: cfg, cur: r, state: ChildStarting}, nil
}

func (k *Keeper) current() *Remote {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur
}

// Run runs children until ctx ends (the last one then stops gracefully)
// or a child's death ends it: with DontRespawn, or past the respawn limit
// (the error wraps ErrRespawnLimit). It logs each death as keepalived
// does ("VRRP child process(PID) died: Respawning", with the exit status).
func (k *Keeper) Run(ctx context.Context) error {
	k.mu.Lock()
	if k.ran {
		k.mu.Unlock()
		return errors.New("vrrp child: already ran")
	}
	k.ran = true
	k.mu.Unlock()
	defer k.setState(ChildStopped)
	log := k.opts.Logger
	for {
		r := k.current()
		go k.markRunning(ctx, r)
		err := r.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		pid := r.lastPID()
		status := "exited without a word"
		if err != nil {
			status = err.Error()
		}
		if k.kopts.DontRespawn {
			log.Error(fmt.Sprintf("VRRP child process(%d) died: Exiting", pid), "status", status)
			return fmt.Errorf("vrrp child process(%d) died (--dont-respawn): %s", pid, status)
		}
		now := time.Now()
		k.mu.Lock()
		var tooMany bool
		k.deaths, tooMany = noteDeath(k.deaths, now, k.kopts.Burst, k.kopts.Interval)
		k.state = ChildRespawning
		k.mu.Unlock()
		if tooMany {
			log.Error(fmt.Sprintf("VRRP child process(%d) died: Exiting", pid), "status", status,
				"deaths", len(k.deaths), "within", k.kopts.Interval)
			return fmt.Errorf("%w: %d deaths within %s, the last: process %d: %s", ErrRespawnLimit, len(k.deaths), k.kopts.Interval, pid, status)
		}
		log.Error(fmt.Sprintf("VRRP child process(%d) died: Respawning", pid), "status", status)
		k.mu.Lock()
		next, nerr := New(k.cfg, k.opts)
		if nerr == nil {
			k.cur = next
		}
		k.mu.Unlock()
		if nerr != nil {
			return fmt.Errorf("vrrp child: respawn: %w", nerr)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(k.kopts.Delay):
		}
		k.mu.Lock()
		k.restarts++
		n := k.restarts
		k.mu.Unlock()
		if k.kopts.OnRespawn != nil {
			k.kopts.OnRespawn(n)
		}
	}
}

// markRunning notes when r's child has started its node.
func (k *Keeper) markRunning(ctx context.Context, r *Remote) {
	select {
	case <-r.started:
		k.mu.Lock()
		if k.cur == r {
			k.state = ChildRunning
		}
		k.mu.Unlock()
	case <-r.done:
	case <-ctx.Done():
	}
}

func (k *Keeper) setState(s ChildState) {
	k.mu.Lock()
	k.state = s
	k.mu.Unlock()
}

// Update applies cfg as Remote.Update does. While the child is dead and a
// new one is coming, cfg is kept and the new child starts with it (the
// result then lists no changes). It returns vrrp.ErrNotRunning once Run
// has returned.
func (k *Keeper) Update(ctx context.Context, cfg vrrp.Config) (vrrp.UpdateResult, error) {
	for {
		r := k.current()
		res, err := r.Update(ctx, cfg)
		if err == nil {
			k.mu.Lock()
			if k.cur == r {
				k.cfg = cfg
			}
			k.mu.Unlock()
			if k.current() == r {
				return res, nil
			}
			continue // respawned meanwhile from the old configuration: again
		}
		if !errors.Is(err, vrrp.ErrNotRunning) {
			return res, err
		}
		k.mu.Lock()
		if k.cur != r {
			k.mu.Unlock()
			continue // already respawned: update the new child
		}
		if k.state == ChildStopped || !k.ran {
			k.mu.Unlock()
			return res, err
		}
		// Dead, not yet replaced: the respawn takes this configuration.
		// It is checked as the child would (vrrp.NewNode).
		if _, verr := New(cfg, k.opts); verr != nil {
			k.mu.Unlock()
			return vrrp.UpdateResult{}, verr
		}
		k.cfg = cfg
		k.mu.Unlock()
		k.opts.Logger.Warn("VRRP child is down: the new configuration is applied when it is respawned")
		return vrrp.UpdateResult{}, nil
	}
}

// Status is the current child's Status (see Remote.Status); while a dead
// child is being replaced, the new one's initial snapshot.
func (k *Keeper) Status() []vrrp.InstanceStatus { return k.current().Status() }

// LastStatus is the current child's LastStatus.
func (k *Keeper) LastStatus() []vrrp.InstanceStatus { return k.current().LastStatus() }

// NextTimer is zero, as Remote's.
func (k *Keeper) NextTimer() time.Time { return time.Time{} }

// PID is the running child's process ID (0 while none runs).
func (k *Keeper) PID() int { return k.current().PID() }

// ChildStatus reports the child's process ID, state and restarts.
func (k *Keeper) ChildStatus() KeeperStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return KeeperStatus{PID: k.cur.PID(), State: k.state, Restarts: k.restarts}
}

// noteDeath adds a death at now to deaths (oldest first), forgets those
// more than interval before now, and says whether the deaths left exceed
// burst: then the child is not started again.
func noteDeath(deaths []time.Time, now time.Time, burst int, interval time.Duration) ([]time.Time, bool) {
	deaths = append(deaths, now)
	for len(deaths) > 0 && now.Sub(deaths[0]) > interval {
		deaths = deaths[1:]
	}
	return deaths, len(deaths) > burst
}
