package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/drlb/drlb/internal/testenv"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name                   string
		announced, want        []netip.Prefix
		wantAnnounce, wantDrop []netip.Prefix
	}{
		{"nothing", nil, nil, nil, nil},
		{"first", nil, pfx("10.0.0.2/32", "10.0.0.1/32"), pfx("10.0.0.1/32", "10.0.0.2/32"), nil},
		{"same", pfx("10.0.0.1/32"), pfx("10.0.0.1/32"), nil, nil},
		{"quorum lost", pfx("10.0.0.1/32", "10.0.0.2/32"), pfx("10.0.0.2/32"), nil, pfx("10.0.0.1/32")},
		{"swap", pfx("10.0.0.1/32"), pfx("fd00::1/128"), pfx("fd00::1/128"), pfx("10.0.0.1/32")},
		{"duplicates wanted", nil, pfx("10.0.0.1/32", "10.0.0.1/32"), pfx("10.0.0.1/32"), nil},
		{"drain", pfx("10.0.0.1/32", "fd00::1/128"), nil, nil, pfx("10.0.0.1/32", "fd00::1/128")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, w := Plan(tt.announced, tt.want)
			if !slices.Equal(a, tt.wantAnnounce) || !slices.Equal(w, tt.wantDrop) {
				t.Errorf("Plan = +%v -%v, want +%v -%v", a, w, tt.wantAnnounce, tt.wantDrop)
			}
		})
	}
}

func TestHostPrefix(t *testing.T) {
	for in, want := range map[string]string{"10.1.2.3": "10.1.2.3/32", "fd00::1": "fd00::1/128", "::ffff:10.0.0.1": "10.0.0.1/32"} {
		if got := HostPrefix(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("HostPrefix(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Config{RouterID: netip.MustParseAddr("10.0.0.1"), LocalAS: 65001,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("10.0.0.254"), RemoteAS: 65000}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := map[string]func(c *Config){
		"router id v6":    func(c *Config) { c.RouterID = netip.MustParseAddr("fd00::1") },
		"no local as":     func(c *Config) { c.LocalAS = 0 },
		"no neighbor":     func(c *Config) { c.Neighbors = nil },
		"no remote as":    func(c *Config) { c.Neighbors[0].RemoteAS = 0 },
		"hold time 2s":    func(c *Config) { c.Neighbors[0].HoldTime = 2 * time.Second },
		"neighbor twice":  func(c *Config) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) },
		"neighbor no adr": func(c *Config) { c.Neighbors[0].Address = netip.Addr{} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			c.Neighbors = slices.Clone(good.Neighbors)
			mutate(&c)
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Errorf("Validate = %v, want ErrConfig", err)
			}
		})
	}
}

// router is a plain GoBGP server standing in for the upstream router: it
// listens on 127.0.0.2 and accepts the speaker's session.
type router struct {
	srv  *server.BgpServer
	port int
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("cannot listen on 127.0.0.2: %v", err))
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startRouter(t *testing.T, password string) *router {
	t.Helper()
	port := freePort(t)
	level := &slog.LevelVar{}
	level.Set(slog.LevelError)
	srv := server.NewBgpServer(server.LoggerOption(slog.Default(), level))
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve() }()
	t.Cleanup(func() { srv.Stop(); <-done })
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "10.255.0.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.2"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65001, AuthPassword: password},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
	}}); err != nil {
		t.Fatal(err)
	}
	return &router{srv: srv, port: port}
}

// routes lists the prefixes the router learned from its neighbor, with their next hops.
func (r *router) routes(t *testing.T) map[netip.Prefix]string {
	t.Helper()
	out := map[netip.Prefix]string{}
	for _, fam := range []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		err := r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam},
			func(nlri bgp.NLRI, paths []*apiutil.Path) {
				p, err := netip.ParsePrefix(nlri.String())
				if err != nil {
					t.Errorf("route %s: %v", nlri, err)
					return
				}
				for _, path := range paths {
					for _, a := range path.Attrs {
						switch a := a.(type) {
						case *bgp.PathAttributeNextHop:
							out[p] = a.Value.String()
						case *bgp.PathAttributeMpReachNLRI:
							out[p] = a.Nexthop.String()
						}
					}
				}
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v (after %v)", what, err, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func speakerFor(t *testing.T, r *router, password string) *GoBGP {
	t.Helper()
	s, err := New(context.Background(), Config{
		RouterID: netip.MustParseAddr("10.255.0.2"), LocalAS: 65001,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("127.0.0.2"), RemoteAS: 65000, Port: uint16(r.port),
			HoldTime: 9 * time.Second, Password: password}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func established(s *GoBGP) func() error {
	return func() error {
		st, err := s.Status(context.Background())
		if err != nil {
			return err
		}
		if len(st.Sessions) != 1 || st.Sessions[0].State != StateEstablished {
			return fmt.Errorf("sessions %v", st.Sessions)
		}
		return nil
	}
}

// TestAnnounceWithdraw runs a real eBGP session over loopback: the router
// learns an announced /32 and another /32 with the speaker as next hop, loses
// the /32 on Withdraw, and everything on Close.
func TestAnnounceWithdraw(t *testing.T) {
	r := startRouter(t, "")
	s := speakerFor(t, r, "")
	eventually(t, "session established", 10*time.Second, established(s))
	ctx := context.Background()
	v4, v4b := netip.MustParsePrefix("172.16.100.1/32"), netip.MustParsePrefix("172.16.100.2/32")
	for _, p := range []netip.Prefix{v4, v4b, v4} { // announcing twice is a no-op
		if err := s.Announce(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "router learns both", 5*time.Second, func() error {
		got := r.routes(t)
		if got[v4] != "127.0.0.1" || len(got) != 2 {
			return fmt.Errorf("router has %v, want %s via 127.0.0.1 and %s", got, v4, v4b)
		}
		return nil
	})
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Announced, []netip.Prefix{v4, v4b}) || st.Sessions[0].HoldTime != 9*time.Second ||
		st.Sessions[0].UpdatesSent == 0 || st.Sessions[0].Since.IsZero() {
		t.Errorf("status = %+v", st)
	}
	if err := s.Withdraw(ctx, v4); err != nil {
		t.Fatal(err)
	}
	eventually(t, "router forgets the withdrawn /32", 5*time.Second, func() error {
		if got := r.routes(t); len(got) != 1 {
			return fmt.Errorf("router has %v, want only %s", got, v4b)
		}
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "router forgets everything on close", 5*time.Second, func() error {
		if got := r.routes(t); len(got) != 0 {
			return fmt.Errorf("router has %v", got)
		}
		return nil
	})
	if err := s.Announce(ctx, v4); err == nil {
		t.Error("Announce after Close succeeded")
	}
}

// TestPasswordMismatch: a session with a wrong TCP MD5 password never
// comes up (the control: the same password does).
func TestPasswordMismatch(t *testing.T) {
	r := startRouter(t, "right")
	good := speakerFor(t, r, "right")
	eventually(t, "session with the right password", 10*time.Second, established(good))
	_ = good.Close()

	r2 := startRouter(t, "right")
	bad := speakerFor(t, r2, "wrong")
	time.Sleep(3 * time.Second)
	if established(bad)() == nil {
		t.Fatal("session established with a wrong password")
	}
}

// TestAnnounceIPv6 announces a /128 over an IPv6 session (loopback ::1):
// the router learns it with the speaker as next hop (MP_REACH_NLRI).
func TestAnnounceIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("no IPv6 loopback: %v", err))
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	level := &slog.LevelVar{}
	level.Set(slog.LevelError)
	srv := server.NewBgpServer(server.LoggerOption(slog.New(slog.DiscardHandler), level))
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve() }()
	t.Cleanup(func() { srv.Stop(); <-done })
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "10.255.0.1", ListenPort: int32(port), ListenAddresses: []string{"::1"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "::1", PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	r := &router{srv: srv, port: port}
	s, err := New(ctx, Config{RouterID: netip.MustParseAddr("10.255.0.2"), LocalAS: 65001,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("::1"), RemoteAS: 65000, Port: uint16(port), HoldTime: 9 * time.Second}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	eventually(t, "session established", 10*time.Second, established(s))
	v6 := netip.MustParsePrefix("fd00:172:16:100::1/128")
	if err := s.Announce(ctx, v6); err != nil {
		t.Fatal(err)
	}
	eventually(t, "router learns the /128", 5*time.Second, func() error {
		if got := r.routes(t); got[v6] != "::1" {
			return fmt.Errorf("router has %v, want %s via ::1", got, v6)
		}
		return nil
	})
}
