package vrrpproc

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/vrrp"
)

// StopTimeout bounds how long Run waits for the child to send its
// priority-0 adverts and remove its VIPs once its context ends; then the
// child is killed.
const StopTimeout = 10 * time.Second

// statusTimeout bounds a Status round trip; the last answer is returned
// when the child does not answer in time.
const statusTimeout = 2 * time.Second

// updateTimeout bounds an Update round trip: a child that stops answering
// fails the reload (context.DeadlineExceeded) instead of holding it for
// ever. The child's node applies an update between two timers, in
// milliseconds; the bound only catches a child that hangs.
var updateTimeout = 30 * time.Second

// Options are a Remote's dependencies: vrrp.Options' callbacks, which run
// in the parent, and how to start the child.
type Options struct {
	// Logger re-emits the child's log records (nil: slog.Default()).
	Logger *slog.Logger
	// OnTransition, OnNotify, OnEvent, RunScript and ServicesChecked are
	// vrrp.Options' (see there). The first three are called in order from
	// one goroutine of the parent and must not block for long; RunScript
	// nil means vrrp.ExecScript, in the parent.
	OnTransition    func(vrrp.Transition)
	OnNotify        func(kind, name string, state vrrp.State, priority uint8)
	OnEvent         func(name, event string, priority uint8)
	RunScript       vrrp.ScriptRunner
	ServicesChecked func(ctx context.Context, since time.Time) <-chan struct{}
	// Name is the child's process name (vrrp_process_name); empty keeps
	// the binary's.
	Name string
	// NetNS, when > 0, is the network namespace the child runs VRRP in
	// (vrrp.Options.NetNS); zero means the namespace of this process.
	NetNS netns.NsHandle
	// Executable is the binary to start (default /proc/self/exe, this very
	// binary); it must call MaybeChild first thing.
	Executable string
	// Sockets are the child's node's netlink receive buffers and no_accept
	// table settings (global_defs vrrp_netlink_*_rcv_bufs, nftables*).
	Sockets Sockets
	// StopTimeout bounds a graceful stop before the child is killed
	// (child_wait_time; zero: StopTimeout).
	StopTimeout time.Duration
}

// Sockets are the vrrp.Options a child's node takes from global_defs: see
// vrrp.Options' fields of the same names.
type Sockets struct {
	NetlinkCmdRcvBuf, NetlinkMonitorRcvBuf           int
	NetlinkCmdRcvBufForce, NetlinkMonitorRcvBufForce bool
	AcceptNFT                                        vrrp.NFTFilterOptions
}

// Remote runs a vrrp.Node in a child process and offers the methods the
// daemon uses on a *vrrp.Node. Like a Node, it runs once.
type Remote struct {
	cfg  vrrp.Config
	opts Options
	log  *slog.Logger

	ran       atomic.Bool
	started   chan struct{} // closed once the child runs its node
	startOnce sync.Once     // closes started
	done      chan struct{} // closed when Run returns
	pid       atomic.Int64
	// childPID is the child's process ID, kept after it ended (for the
	// Keeper's log line).
	childPID atomic.Int64

	sendMu     sync.Mutex
	enc        *gob.Encoder
	sendBroken bool // a write failed: the stream is unusable
	// conn is the parent's end of the socket while Run runs (tests close
	// it to see the child stop on its own).
	conn atomic.Pointer[net.Conn]

	replies replies // the parent's requests (Update, Status) awaiting replies

	mu      sync.Mutex
	cancels map[uint64]context.CancelFunc
	status  []vrrp.InstanceStatus
	exited  bool
	exitErr error
}

// New checks cfg as vrrp.NewNode does (errors wrap vrrp.ErrConfig) and
// returns a Remote ready to Run.
func New(cfg vrrp.Config, opts Options) (*Remote, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// The same validation and defaults as the child's; the node is never
	// run, it only answers Status until the child does.
	probe, err := vrrp.NewNode(cfg, vrrp.Options{Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &Remote{cfg: cfg, opts: opts, log: opts.Logger, started: make(chan struct{}), done: make(chan struct{}),
		cancels: map[uint64]context.CancelFunc{}, status: probe.Status()}, nil
}

func (r *Remote) stopTimeout() time.Duration {
	if r.opts.StopTimeout > 0 {
		return r.opts.StopTimeout
	}
	return StopTimeout
}

// NextTimer is zero: nothing in the parent can hold the child's timers,
// so long loops there need not yield to them.
func (r *Remote) NextTimer() time.Time { return time.Time{} }

// PID is the child's process ID (0 before Run started it or after it ended).
func (r *Remote) PID() int { return int(r.pid.Load()) }

// lastPID is the child's process ID, also after it ended (0 before Run
// started it).
func (r *Remote) lastPID() int { return int(r.childPID.Load()) }

// Run starts the child, serves its requests and returns when ctx ends
// (the child then sends priority-0 adverts and removes its VIPs, within
// StopTimeout) or when the child stops on its own, with its error.
func (r *Remote) Run(ctx context.Context) (err error) {
	if r.ran.Swap(true) {
		return errors.New("vrrp child: already ran")
	}
	defer close(r.done)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("vrrp child: socketpair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "vrrp parent socket"), os.NewFile(uintptr(fds[1]), "vrrp child socket")
	conn, err := net.FileConn(mine)
	_ = mine.Close()
	if err != nil {
		_ = theirs.Close()
		return fmt.Errorf("vrrp child: socket: %w", err)
	}
	defer func() { _ = conn.Close() }()
	r.conn.Store(&conn)
	cmd, err := r.command(theirs)
	if err != nil {
		_ = theirs.Close()
		return err
	}
	// Start from a fresh goroutine: PR_SET_PDEATHSIG fires when the
	// forking thread exits, and a fresh goroutine is never on a thread
	// that is locked and bound to exit (ns.Do retires such threads).
	startErr := make(chan error, 1)
	go func() { startErr <- cmd.Start() }()
	err = <-startErr
	for _, f := range cmd.ExtraFiles { // theirs and the namespace's copy: the child has its own
		_ = f.Close()
	}
	if err != nil {
		return fmt.Errorf("vrrp child: start %s: %w", cmd.Path, err)
	}
	r.pid.Store(int64(cmd.Process.Pid))
	r.childPID.Store(int64(cmd.Process.Pid))
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	defer r.pid.Store(0)

	r.enc = gob.NewEncoder(conn)
	if err := r.send(message{Kind: kindStart, Start: &startMsg{Config: r.cfg, Name: r.opts.Name, LogLevel: r.level(ctx), NetNS: r.opts.NetNS > 0,
		Sockets: r.opts.Sockets}}); err != nil {
		_ = cmd.Process.Kill()
		<-waited
		return fmt.Errorf("vrrp child: send start: %w", err)
	}
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r.read(bg, gob.NewDecoder(conn))
	}()

	var childErr error
	select {
	case <-ctx.Done():
		// A graceful stop: the child shuts down and exits.
		_ = r.send(message{Kind: kindStop})
		select {
		case <-readDone:
		case <-time.After(r.stopTimeout()):
			r.log.Error("VRRP child did not stop in time: killed", "pid", cmd.Process.Pid)
			_ = cmd.Process.Kill()
		}
	case <-readDone:
	}
	_ = conn.Close()
	<-readDone
	// The socket has ended: a child that does not exit by itself within
	// the stop timeout (it ignores the end of its parent) is killed.
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(r.stopTimeout()):
		r.log.Error("VRRP child did not exit after its socket closed: killed", "pid", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		werr = <-waited
	}
	cancelBG()
	r.mu.Lock()
	exited, exitErr := r.exited, r.exitErr
	r.mu.Unlock()
	switch {
	case exited:
		childErr = exitErr
	case ctx.Err() != nil:
	case werr != nil:
		childErr = fmt.Errorf("vrrp child %d: %w", cmd.Process.Pid, werr)
	default:
		childErr = fmt.Errorf("vrrp child %d: exited without a word", cmd.Process.Pid)
	}
	return childErr
}

// command is the child's command line: this binary again (argv[0] its
// path, or Options.Name), with the
// socket as fd 3 (and a copy of the namespace's as fd 4), dying with its
// parent. The caller closes cmd.ExtraFiles once the child started.
func (r *Remote) command(sock *os.File) (*exec.Cmd, error) {
	exe, argv0 := r.opts.Executable, r.opts.Executable
	if exe == "" {
		// The running binary even when a package upgrade replaced or
		// removed its file (os.Executable would name the new file, or a
		// "(deleted)" path), so that parent and child always speak the
		// same protocol.
		exe = "/proc/self/exe"
		var err error
		if argv0, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("vrrp child: find this program: %w", err)
		}
	}
	if r.opts.Name != "" {
		argv0 = r.opts.Name
	}
	cmd := &exec.Cmd{Path: exe, Args: []string{argv0}, Env: append(os.Environ(), ChildEnv+"=3"),
		Stdout: os.Stderr, Stderr: os.Stderr, ExtraFiles: []*os.File{sock},
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}}
	if r.opts.NetNS > 0 {
		// A copy: the *os.File closes its descriptor when closed or
		// collected, and Options.NetNS stays the caller's.
		ns, err := unix.FcntlInt(uintptr(r.opts.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("vrrp child: network namespace fd %d: %w", int(r.opts.NetNS), err)
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(ns), "netns"))
	}
	return cmd, nil
}

// level is the lowest level the parent's logger takes: the child does
// not build records the parent would drop.
func (r *Remote) level(ctx context.Context) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if r.log.Enabled(ctx, l) {
			return l
		}
	}
	return slog.LevelError
}

// sendTimeout bounds the write of one message to the child. A child
// that stops reading fills the socket's buffer; the write then fails
// after sendTimeout instead of blocking its caller (a reload, a status
// request, Run's stop) for ever.
var sendTimeout = 5 * time.Second

// errStreamBroken is send's error once a write failed.
var errStreamBroken = errors.New("vrrp child: socket closed after a failed write")

// send writes m to the child within sendTimeout. A failed write may have
// left half a message on the socket, after which the gob stream cannot
// be read: send then closes the socket (the child sees end of file and
// stops, as it does when the parent dies) and fails every later call.
func (r *Remote) send(m message) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	if r.sendBroken {
		return errStreamBroken
	}
	var conn net.Conn
	if c := r.conn.Load(); c != nil {
		conn = *c
		_ = conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	}
	if err := r.enc.Encode(&m); err != nil {
		r.sendBroken = true
		if conn != nil {
			_ = conn.Close()
		}
		return fmt.Errorf("vrrp child: send message kind %d: %w", m.Kind, err)
	}
	return nil
}

// read serves the child's messages until the socket closes.
func (r *Remote) read(ctx context.Context, dec *gob.Decoder) {
	defer func() {
		r.replies.closeAll()
		r.mu.Lock()
		for _, cancel := range r.cancels {
			cancel()
		}
		r.mu.Unlock()
	}()
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.log.Debug("VRRP child socket", "err", err)
			}
			return
		}
		switch m.Kind {
		case kindLog:
			if m.Log == nil {
				break
			}
			if h := r.log.Handler(); h.Enabled(ctx, m.Log.Level) {
				_ = h.Handle(ctx, m.Log.record())
			}
		case kindTransition:
			if m.Transition == nil {
				break
			}
			r.noteTransition(*m.Transition)
			if r.opts.OnTransition != nil {
				r.opts.OnTransition(*m.Transition)
			}
		case kindNotify:
			if r.opts.OnNotify != nil && m.Notify != nil {
				r.opts.OnNotify(m.Notify.Kind, m.Notify.Name, m.Notify.State, m.Notify.Priority)
			}
		case kindEvent:
			if r.opts.OnEvent != nil && m.Event != nil {
				r.opts.OnEvent(m.Event.Name, m.Event.Event, m.Event.Priority)
			}
		case kindScript:
			if m.Script != nil {
				r.runScript(ctx, m.ID, m.Script.Argv, m.Script.Deadline)
			}
		case kindChecked:
			if m.Checked != nil {
				r.servicesChecked(ctx, m.ID, m.Checked.Since)
			}
		case kindCancel:
			r.mu.Lock()
			if cancel := r.cancels[m.ID]; cancel != nil {
				cancel()
			}
			r.mu.Unlock()
		case kindStarted:
			r.startOnce.Do(func() { close(r.started) }) // a repeated one must not panic the parent
		case kindExit:
			r.mu.Lock()
			r.exited, r.exitErr = true, m.Err.err()
			r.mu.Unlock()
		case kindStatus, kindUpdateDone:
			r.replies.deliver(m)
		}
	}
}

// noteTransition keeps the cached status's states current, so that a
// Status that times out still reports what the child last said.
func (r *Remote) noteTransition(t vrrp.Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.status {
		if r.status[i].Name == t.Instance {
			r.status[i].State, r.status[i].Since = t.To, t.Time
			return
		}
	}
	r.status = append(r.status, vrrp.InstanceStatus{Name: t.Instance, State: t.To, Since: t.Time})
}

// track registers a cancellable piece of work for the child's request id.
func (r *Remote) track(ctx context.Context, id uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.cancels[id] = cancel
	r.mu.Unlock()
	return ctx, func() {
		r.mu.Lock()
		delete(r.cancels, id)
		r.mu.Unlock()
		cancel()
	}
}

func (r *Remote) runScript(ctx context.Context, id uint64, argv []string, deadline time.Time) {
	run := r.opts.RunScript
	if run == nil {
		run = vrrp.ExecScript
	}
	sctx, done := r.track(ctx, id)
	cancelDeadline := context.CancelFunc(func() {})
	if !deadline.IsZero() {
		sctx, cancelDeadline = context.WithDeadline(sctx, deadline)
	}
	go func() {
		defer done()
		defer cancelDeadline()
		r.reportScript(id, run(sctx, argv))
	}()
}

func (r *Remote) reportScript(id uint64, err error) {
	var msg *errorMsg
	if err != nil {
		msg = &errorMsg{Text: err.Error()}
	}
	_ = r.send(message{Kind: kindScriptDone, ID: id, Err: msg})
}

func (r *Remote) servicesChecked(ctx context.Context, id uint64, since time.Time) {
	if r.opts.ServicesChecked == nil {
		return // never checked: the node holds preemption for RecoveryHold
	}
	cctx, done := r.track(ctx, id)
	ch := r.opts.ServicesChecked(cctx, since)
	go func() {
		defer done()
		select {
		case <-ch:
			_ = r.send(message{Kind: kindCheckedDone, ID: id})
		case <-cctx.Done():
		}
	}()
}

// call sends a request and waits for its reply, ctx, or the child's end.
func (r *Remote) call(ctx context.Context, m message) (message, error) {
	select {
	case <-r.started:
	case <-r.done:
		return message{}, vrrp.ErrNotRunning
	case <-ctx.Done():
		return message{}, ctx.Err()
	}
	id, ch := r.replies.add()
	m.ID = id
	if err := r.send(m); err != nil {
		r.replies.forget(id)
		return message{}, fmt.Errorf("%w: %w", vrrp.ErrNotRunning, err)
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			return message{}, vrrp.ErrNotRunning
		}
		return reply, nil
	case <-ctx.Done():
		r.replies.forget(id)
		return message{}, ctx.Err()
	}
}

// Update applies cfg in the child as vrrp.Node.Update does: the child's
// node loop applies it between its timers. It returns vrrp.ErrNotRunning
// once the child has stopped (or its socket failed), and an error
// wrapping context.DeadlineExceeded when the child does not answer
// within updateTimeout.
func (r *Remote) Update(ctx context.Context, cfg vrrp.Config) (vrrp.UpdateResult, error) {
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	reply, err := r.call(ctx, message{Kind: kindUpdate, Update: &cfg})
	if err != nil {
		if errors.Is(err, vrrp.ErrNotRunning) {
			return vrrp.UpdateResult{}, err
		}
		return vrrp.UpdateResult{}, fmt.Errorf("vrrp: update: %w", err)
	}
	if e := reply.Err.err(); e != nil {
		return vrrp.UpdateResult{}, e
	}
	var res vrrp.UpdateResult
	if reply.UpdateDone != nil {
		res = reply.UpdateDone.Result
	}
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
	r.refreshStatus(ctx) // the snapshot LastStatus answers from
	return res, nil
}

// Status asks the child for a snapshot of every instance; before the
// child runs, after it stopped, or when it does not answer within a
// short time, it returns the last snapshot (states kept current by the
// transitions the child reported).
func (r *Remote) Status() []vrrp.InstanceStatus {
	return r.refreshStatus(context.Background())
}

// refreshStatus is Status within ctx (and statusTimeout).
func (r *Remote) refreshStatus(ctx context.Context) []vrrp.InstanceStatus {
	select {
	case <-r.started:
	default:
		return r.lastStatus()
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	reply, err := r.call(ctx, message{Kind: kindStatusReq})
	if err != nil {
		return r.lastStatus()
	}
	var insts []vrrp.InstanceStatus
	if reply.Status != nil {
		insts = reply.Status.Instances
	}
	r.mu.Lock()
	r.status = insts
	r.mu.Unlock()
	return r.lastStatus()
}

// LastStatus is the last snapshot, without asking the child: the states
// are current (the child's transitions update them before OnTransition
// is called), counters and timing as of the last Status. The daemon's
// supervisor loop, which must not wait for I/O, decides from it.
func (r *Remote) LastStatus() []vrrp.InstanceStatus { return r.lastStatus() }

func (r *Remote) lastStatus() []vrrp.InstanceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]vrrp.InstanceStatus, len(r.status))
	copy(out, r.status)
	return out
}
