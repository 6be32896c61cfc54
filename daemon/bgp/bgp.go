// Package bgp announces service addresses to routers with BGP, for
// active-active directors behind an ECMP router (scale-out): each director
// announces a virtual server's address (/32 or /128) while it can serve it,
// and withdraws it when it cannot, or first thing when it stops.
//
// The BGP speaker is GoBGP (github.com/osrg/gobgp/v4) embedded as a
// library: drlb originates routes only (it installs nothing it learns, and
// by default does not listen on port 179; it connects to its neighbors).
// The package sits behind the small Speaker interface so the daemon's
// decisions (Plan) are testable without a session.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Neighbor is one BGP peer (a router or a route reflector).
type Neighbor struct {
	// Address is the neighbor's address; the session runs over TCP to it.
	// It carries the routes of its own address family (an IPv6 service
	// address needs an IPv6 neighbor).
	Address netip.Addr
	// RemoteAS is the neighbor's autonomous system number.
	RemoteAS uint32
	// HoldTime is the hold time offered in OPEN (RFC 4271 §4.2); 0 means
	// GoBGP's default (90 s). The keepalive interval is a third of it.
	HoldTime time.Duration
	// Password enables TCP MD5 signatures (RFC 2385) when not "".
	Password string
	// Port is the neighbor's TCP port (0: 179).
	Port uint16
	// Passive waits for the neighbor to connect instead of connecting.
	Passive bool
}

// Config is a speaker's configuration.
type Config struct {
	// RouterID is the BGP identifier (an IPv4 address).
	RouterID netip.Addr
	// LocalAS is this director's AS number.
	LocalAS uint32
	// ListenPort is the TCP port to accept sessions on; 0 does not listen
	// (drlb connects out), as a director needs no incoming sessions.
	ListenPort uint16
	// ListenAddress restricts the listener to one address (zero: all).
	ListenAddress netip.Addr
	// Neighbors are the peers routes are announced to.
	Neighbors []Neighbor
}

// SessionState is a neighbor's BGP finite-state-machine state (RFC 4271 §8.2.2).
type SessionState string

// Session states as RFC 4271 names them.
const (
	StateIdle        SessionState = "Idle"
	StateConnect     SessionState = "Connect"
	StateActive      SessionState = "Active"
	StateOpenSent    SessionState = "OpenSent"
	StateOpenConfirm SessionState = "OpenConfirm"
	StateEstablished SessionState = "Established"
)

// Session is a neighbor's state as the speaker sees it.
type Session struct {
	Neighbor netip.Addr
	RemoteAS uint32
	State    SessionState
	// Since is when the session was last established (zero if never).
	Since time.Time
	// HoldTime is the negotiated hold time (0 before OPEN).
	HoldTime time.Duration
	// UpdatesSent and UpdatesReceived count UPDATE messages.
	UpdatesSent, UpdatesReceived uint64
	// LastError is why the session last went down ("" if it did not).
	LastError string
}

// Status is the speaker's sessions and the prefixes it announces.
type Status struct {
	RouterID netip.Addr
	LocalAS  uint32
	Sessions []Session
	// Announced are the prefixes currently announced, sorted.
	Announced []netip.Prefix
}

// Speaker announces and withdraws host prefixes. Implementations are safe
// for concurrent use.
type Speaker interface {
	// Announce starts announcing prefix to every neighbor (a no-op when it
	// is announced already).
	Announce(ctx context.Context, prefix netip.Prefix) error
	// Withdraw stops announcing prefix (a no-op when it is not announced).
	Withdraw(ctx context.Context, prefix netip.Prefix) error
	// Status reports sessions and announced prefixes.
	Status(ctx context.Context) (Status, error)
	// Close withdraws everything and ends every session (a CEASE
	// NOTIFICATION, RFC 4486), then stops the speaker.
	Close() error
}

// Plan returns what to announce and what to withdraw to go from the
// announced prefixes to the wanted ones, each sorted. Withdrawals come
// first when applied: a director stops attracting traffic before it
// attracts other traffic.
func Plan(announced, want []netip.Prefix) (announce, withdraw []netip.Prefix) {
	for _, p := range want {
		if !slices.Contains(announced, p) && !slices.Contains(announce, p) {
			announce = append(announce, p)
		}
	}
	for _, p := range announced {
		if !slices.Contains(want, p) {
			withdraw = append(withdraw, p)
		}
	}
	sortPrefixes(announce)
	sortPrefixes(withdraw)
	return announce, withdraw
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

// HostPrefix is addr as a host route: /32 for IPv4, /128 for IPv6.
func HostPrefix(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen())
}

// ErrConfig is wrapped by New for an unusable configuration.
var ErrConfig = errors.New("bgp: invalid configuration")

// Validate checks c without starting anything.
func (c Config) Validate() error {
	if !c.RouterID.Is4() {
		return fmt.Errorf("%w: router_id %v is not an IPv4 address", ErrConfig, c.RouterID)
	}
	if c.LocalAS == 0 {
		return fmt.Errorf("%w: local_as is missing", ErrConfig)
	}
	if len(c.Neighbors) == 0 {
		return fmt.Errorf("%w: no neighbor", ErrConfig)
	}
	seen := map[netip.Addr]bool{}
	for _, n := range c.Neighbors {
		if !n.Address.IsValid() {
			return fmt.Errorf("%w: neighbor without an address", ErrConfig)
		}
		if seen[n.Address] {
			return fmt.Errorf("%w: neighbor %s listed twice", ErrConfig, n.Address)
		}
		seen[n.Address] = true
		if n.RemoteAS == 0 {
			return fmt.Errorf("%w: neighbor %s: remote_as is missing", ErrConfig, n.Address)
		}
		if n.HoldTime != 0 && (n.HoldTime < 3*time.Second || n.HoldTime > 65535*time.Second) {
			return fmt.Errorf("%w: neighbor %s: hold_time %v must be 0 or 3..65535 s (RFC 4271 §4.2)", ErrConfig, n.Address, n.HoldTime)
		}
	}
	return nil
}

// GoBGP is a Speaker backed by an embedded GoBGP server.
type GoBGP struct {
	srv  *server.BgpServer
	cfg  Config
	done chan struct{}

	mu        sync.Mutex
	announced map[netip.Prefix]bool
	closed    bool
}

// New starts a GoBGP speaker with cfg: it connects to its neighbors in the
// background (sessions come up on their own and are retried).
func New(ctx context.Context, cfg Config, log *slog.Logger) (*GoBGP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	// GoBGP is chatty at info (every FSM step); sessions are in status.
	level := &slog.LevelVar{}
	level.Set(slog.LevelWarn)
	quiet := slog.New(levelHandler{Handler: log.Handler(), level: level}).With("component", "bgp")
	srv := server.NewBgpServer(server.LoggerOption(quiet, level))
	g := &GoBGP{srv: srv, cfg: cfg, done: make(chan struct{}), announced: map[netip.Prefix]bool{}}
	go func() {
		defer close(g.done)
		srv.Serve()
	}()
	listen := int32(-1)
	if cfg.ListenPort != 0 {
		listen = int32(cfg.ListenPort)
	}
	global := &api.Global{Asn: cfg.LocalAS, RouterId: cfg.RouterID.String(), ListenPort: listen}
	if cfg.ListenAddress.IsValid() {
		global.ListenAddresses = []string{cfg.ListenAddress.String()}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		g.stop()
		return nil, fmt.Errorf("bgp: start speaker (as %d, router id %s): %w", cfg.LocalAS, cfg.RouterID, err)
	}
	for _, n := range cfg.Neighbors {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerOf(n)}); err != nil {
			g.stop()
			return nil, fmt.Errorf("bgp: add neighbor %s: %w", n.Address, err)
		}
	}
	return g, nil
}

func peerOf(n Neighbor) *api.Peer {
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.RemoteAS, AuthPassword: n.Password},
		Transport: &api.Transport{
			PassiveMode: n.Passive,
			RemotePort:  uint32(n.Port),
		},
	}
	if n.HoldTime > 0 {
		hold := uint64(n.HoldTime / time.Second)
		p.Timers = &api.Timers{Config: &api.TimersConfig{
			HoldTime: hold, KeepaliveInterval: max(1, hold/3),
			// Retry a lost connection fast: a director that comes back
			// should be announcing again within seconds.
			ConnectRetry: 1, IdleHoldTimeAfterReset: 1,
		}}
	}
	return p
}

func pathOf(prefix netip.Prefix) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("bgp: prefix %s: %w", prefix, err)
	}
	origin := bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)
	if prefix.Addr().Is4() {
		// 0.0.0.0: GoBGP puts the session's local address in (next hop self).
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, fmt.Errorf("bgp: next hop: %w", err)
		}
		return &apiutil.Path{Family: bgp.RF_IPv4_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{origin, nh}}, nil
	}
	mp, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
	if err != nil {
		return nil, fmt.Errorf("bgp: next hop: %w", err)
	}
	return &apiutil.Path{Family: bgp.RF_IPv6_UC, Nlri: nlri, Attrs: []bgp.PathAttributeInterface{origin, mp}}, nil
}

// Announce implements Speaker.
func (g *GoBGP) Announce(_ context.Context, prefix netip.Prefix) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("bgp: announce after close")
	}
	if g.announced[prefix] {
		return nil
	}
	p, err := pathOf(prefix)
	if err != nil {
		return err
	}
	if _, err := g.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: announce %s: %w", prefix, err)
	}
	g.announced[prefix] = true
	return nil
}

// Withdraw implements Speaker.
func (g *GoBGP) Withdraw(_ context.Context, prefix netip.Prefix) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || !g.announced[prefix] {
		return nil
	}
	p, err := pathOf(prefix)
	if err != nil {
		return err
	}
	if err := g.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: withdraw %s: %w", prefix, err)
	}
	delete(g.announced, prefix)
	return nil
}

// Status implements Speaker.
func (g *GoBGP) Status(ctx context.Context) (Status, error) {
	st := Status{RouterID: g.cfg.RouterID, LocalAS: g.cfg.LocalAS, Sessions: []Session{}, Announced: []netip.Prefix{}}
	g.mu.Lock()
	for p := range g.announced {
		st.Announced = append(st.Announced, p)
	}
	closed := g.closed
	g.mu.Unlock()
	sortPrefixes(st.Announced)
	if closed {
		return st, nil
	}
	err := g.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st.Sessions = append(st.Sessions, sessionOf(p))
	})
	if err != nil {
		return st, fmt.Errorf("bgp: list neighbors: %w", err)
	}
	slices.SortFunc(st.Sessions, func(a, b Session) int { return a.Neighbor.Compare(b.Neighbor) })
	return st, nil
}

func sessionOf(p *api.Peer) Session {
	var s Session
	if c := p.GetConf(); c != nil {
		s.Neighbor, _ = netip.ParseAddr(c.GetNeighborAddress())
		s.RemoteAS = c.GetPeerAsn()
	}
	ps := p.GetState()
	s.State = stateOf(ps.GetSessionState())
	if m := ps.GetMessages(); m != nil {
		s.UpdatesSent = m.GetSent().GetUpdate()
		s.UpdatesReceived = m.GetReceived().GetUpdate()
	}
	if msg := ps.GetDisconnectMessage(); msg != "" {
		s.LastError = msg
	}
	if ts := p.GetTimers().GetState(); ts != nil {
		s.HoldTime = time.Duration(ts.GetNegotiatedHoldTime()) * time.Second
		if s.State == StateEstablished && ts.GetUptime() != nil {
			s.Since = ts.GetUptime().AsTime()
		}
	}
	return s
}

func stateOf(s api.PeerState_SessionState) SessionState {
	switch s {
	case api.PeerState_SESSION_STATE_CONNECT:
		return StateConnect
	case api.PeerState_SESSION_STATE_ACTIVE:
		return StateActive
	case api.PeerState_SESSION_STATE_OPENSENT:
		return StateOpenSent
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return StateEstablished
	}
	return StateIdle
}

// Close implements Speaker: withdraws what is announced (UPDATEs the
// neighbors act on at once), then ends the sessions and the server.
func (g *GoBGP) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	var errs []error
	if len(g.announced) > 0 {
		if err := g.srv.DeletePath(apiutil.DeletePathRequest{DeleteAll: true}); err != nil {
			errs = append(errs, fmt.Errorf("bgp: withdraw all: %w", err))
		}
		g.announced = map[netip.Prefix]bool{}
	}
	g.closed = true
	g.mu.Unlock()
	g.stop()
	return errors.Join(errs...)
}

// stop ends the sessions (CEASE to established peers) and the server,
// and waits for its goroutine.
func (g *GoBGP) stop() {
	g.srv.Stop()
	<-g.done
}

// levelHandler drops records below level.
type levelHandler struct {
	slog.Handler
	level slog.Leveler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}

// String names a session for logs: "172.16.2.1 (AS 65000) Established".
func (s Session) String() string {
	return s.Neighbor.String() + " (AS " + strconv.FormatUint(uint64(s.RemoteAS), 10) + ") " + string(s.State)
}
