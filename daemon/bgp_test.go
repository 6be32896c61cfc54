package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/bgp"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/maglev"
)

const bgpConf = `drlb_bgp {
  router_id 172.16.2.11
  local_as 65001
  neighbor 172.16.2.1 {
    remote_as 65000
  }
}
virtual_server 172.16.100.1 80 {
  lb_algo mh
  lb_kind DR
  drlb_bgp_announce
  protocol TCP
  real_server 172.16.2.20 80 {
  }
}
virtual_server 172.16.100.1 443 {
  lb_algo mh
  lb_kind DR
  drlb_bgp_announce
  protocol TCP
  real_server 172.16.2.20 443 {
  }
}
virtual_server 172.16.100.2 80 {
  lb_algo sh
  lb_kind DR
  drlb_bgp_announce
  protocol TCP
  real_server 172.16.2.20 80 {
  }
}
virtual_server 172.16.1.1 80 {
  lb_kind DR
  protocol TCP
  real_server 172.16.2.20 80 {
  }
}
`

func parseConf(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, ds, err := config.Parse("t.conf", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("%v: %v", err, ds)
	}
	return cfg
}

func TestBGPRoutes(t *testing.T) {
	cfg := parseConf(t, bgpConf)
	quorum := func(up80, up443, up2 bool) map[string]ServiceState {
		return map[string]ServiceState{
			"TCP 172.16.100.1:80":  {QuorumUp: up80},
			"TCP 172.16.100.1:443": {QuorumUp: up443},
			"TCP 172.16.100.2:80":  {QuorumUp: up2},
			"TCP 172.16.1.1:80":    {QuorumUp: true},
		}
	}
	type row struct {
		prefix string
		ann    bool
		reason string
	}
	tests := []struct {
		name            string
		services        map[string]ServiceState
		ready, draining bool
		want            []row
	}{
		{"all up", quorum(true, true, true), true, false, []row{
			{"172.16.100.1/32", true, RouteQuorum}, {"172.16.100.1/32", true, RouteQuorum}, {"172.16.100.2/32", true, RouteQuorum}}},
		{"one port of an address lost quorum", quorum(true, false, true), true, false, []row{
			{"172.16.100.1/32", false, RouteNoQuorum}, {"172.16.100.1/32", false, RouteNoQuorum}, {"172.16.100.2/32", true, RouteQuorum}}},
		{"not evaluated yet", map[string]ServiceState{}, true, false, []row{
			{"172.16.100.1/32", false, RouteNoQuorum}, {"172.16.100.1/32", false, RouteNoQuorum}, {"172.16.100.2/32", false, RouteNoQuorum}}},
		{"not ready", quorum(true, true, true), false, false, []row{
			{"172.16.100.1/32", false, RouteNotReady}, {"172.16.100.1/32", false, RouteNotReady}, {"172.16.100.2/32", false, RouteNotReady}}},
		{"draining", quorum(true, true, true), true, true, []row{
			{"172.16.100.1/32", false, RouteDraining}, {"172.16.100.1/32", false, RouteDraining}, {"172.16.100.2/32", false, RouteDraining}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BGPRoutes(cfg, tt.services, tt.ready, tt.draining)
			var rows []row
			for _, r := range got {
				rows = append(rows, row{r.Prefix, r.Announced, r.Reason})
			}
			if !slices.Equal(rows, tt.want) {
				t.Errorf("BGPRoutes = %v, want %v", rows, tt.want)
			}
		})
	}
}

// recorder is a Speaker that records calls (a pure unit test of the
// supervisor's ordering; the real speaker is tested in daemon/bgp and the
// lab).
type recorder struct {
	calls  []string
	closed bool
}

func (r *recorder) Announce(_ context.Context, p netip.Prefix) error {
	r.calls = append(r.calls, "+"+p.String())
	return nil
}

func (r *recorder) Withdraw(_ context.Context, p netip.Prefix) error {
	r.calls = append(r.calls, "-"+p.String())
	return nil
}

func (r *recorder) Status(context.Context) (bgp.Status, error) { return bgp.Status{}, nil }

func (r *recorder) Close() error {
	r.closed = true
	r.calls = append(r.calls, "close")
	return nil
}

func TestSyncBGPAndDrain(t *testing.T) {
	cfg := parseConf(t, strings.Replace(bgpConf, "local_as 65001", "local_as 65001\n  drain_delay 0.2", 1))
	rec := &recorder{}
	d := &Daemon{log: slog.New(slog.DiscardHandler), hub: newHub(), st: state{cfg: cfg, health: initialHealth(cfg, nil, nil)},
		newSpeaker: func(context.Context, bgp.Config, *Daemon) (bgp.Speaker, error) { return rec, nil }}
	ctx := context.Background()
	if err := d.startBGP(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	d.st.services = map[string]ServiceState{"TCP 172.16.100.1:80": {QuorumUp: true}, "TCP 172.16.100.1:443": {QuorumUp: true},
		"TCP 172.16.100.2:80": {QuorumUp: true}}
	d.syncBGP(ctx)
	if len(rec.calls) != 0 {
		t.Fatalf("announced before the data plane was ready: %v", rec.calls)
	}
	d.st.applied = &dataplane.Table{}
	d.withdrawBGP(ctx, d.st.services)
	if len(rec.calls) != 0 {
		t.Fatalf("withdrawBGP announced: %v", rec.calls)
	}
	d.syncBGP(ctx)
	d.st.services["TCP 172.16.100.1:443"] = ServiceState{QuorumUp: false}
	d.syncBGP(ctx)
	d.syncBGP(ctx) // no change, no call
	want := []string{"+172.16.100.1/32", "+172.16.100.2/32", "-172.16.100.1/32"}
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("calls = %v, want %v", rec.calls, want)
	}

	// A health change during an apply: the applied decision still has
	// quorum for 172.16.100.2, the health now does not. The apply's end
	// must not announce it again (it was withdrawn when the health changed).
	for tgt := range d.st.health {
		if tgt.VirtualServer == "TCP 172.16.100.2:80" {
			d.st.health[tgt] = Health{Up: false, Weight: 1}
		}
	}
	d.withdrawBGP(ctx, evaluateServices(cfg, d.st.health, d.st.services, nil))
	for _, r := range d.st.bgp.routes {
		if r.Prefix == "172.16.100.2/32" && (r.Announced || r.Reason != RouteNoQuorum) {
			t.Errorf("status during the apply: %+v, want withdrawn for no quorum", r)
		}
	}
	d.syncBGP(ctx)
	want = append(want, "-172.16.100.2/32")
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("calls after a health change during an apply = %v, want %v", rec.calls, want)
	}
	for tgt := range d.st.health {
		d.st.health[tgt] = Health{Up: true, Weight: 1}
	}
	d.syncBGP(ctx)
	want = append(want, "+172.16.100.2/32")

	// A reload that keeps the block (only positions move) keeps the speaker.
	moved := parseConf(t, "\n\n"+strings.Replace(bgpConf, "local_as 65001", "local_as 65001\n  drain_delay 0.2", 1))
	if err := d.startBGP(ctx, moved); err != nil || rec.closed {
		t.Fatalf("reload with the same block restarted the speaker (err %v)", err)
	}

	drain := drainRequest{reply: make(chan time.Duration, 1)}
	d.onDrain(ctx, drain)
	if delay := <-drain.reply; delay != 200*time.Millisecond {
		t.Errorf("drain delay %v, want drain_delay 200ms", delay)
	}
	want = append(want, "-172.16.100.2/32")
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("calls after drain = %v, want %v", rec.calls, want)
	}
	d.st.services["TCP 172.16.100.1:443"] = ServiceState{QuorumUp: true}
	d.syncBGP(ctx)
	if !slices.Equal(rec.calls, want) {
		t.Fatalf("announced again while draining: %v", rec.calls)
	}
	d.stopBGP()
	if !rec.closed {
		t.Error("speaker not closed")
	}

	var buf bytes.Buffer
	writeBGP(&buf, &api.BGP{RouterID: "172.16.2.11", LocalAS: 65001,
		Sessions: []api.BGPSession{{Neighbor: "172.16.2.1", RemoteAS: 65000, State: "Established", HoldTime: 9 * time.Second}},
		Routes:   []api.BGPRoute{{Prefix: "172.16.100.1/32", Service: "TCP 172.16.100.1:80", Announced: true, Reason: RouteQuorum}}}, time.Now())
	for _, s := range []string{"BGP (router id 172.16.2.11, AS 65001)", "172.16.2.1", "Established", "172.16.100.1/32", "yes"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("status text lacks %q:\n%s", s, buf.String())
		}
	}
}

// TestAnnouncedServicesUseTheScaleOutTable: a drlb_bgp_announce service
// gets the large Maglev table every director builds alike; others keep
// the default size.
func TestAnnouncedServicesUseTheScaleOutTable(t *testing.T) {
	cfg := parseConf(t, bgpConf)
	got := map[string]int{}
	for _, s := range desired(cfg, nil, nil, Placement{}, nil).Services {
		got[s.Key().String()] = s.HashTableSize
	}
	want := map[string]int{"TCP 172.16.100.1:80": maglev.ScaleOutSize, "TCP 172.16.100.1:443": maglev.ScaleOutSize,
		"TCP 172.16.100.2:80": maglev.ScaleOutSize, "TCP 172.16.1.1:80": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("table sizes = %v, want %v", got, want)
	}
}

// loopSpeaker is a concurrency-safe recording Speaker for the loop test.
type loopSpeaker struct {
	mu        sync.Mutex
	calls     []string
	withdrawn time.Time
}

func (s *loopSpeaker) Announce(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "+"+p.String())
	return nil
}

func (s *loopSpeaker) Withdraw(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "-"+p.String())
	s.withdrawn = time.Now()
	return nil
}

func (s *loopSpeaker) Status(context.Context) (bgp.Status, error) {
	return bgp.Status{Sessions: []bgp.Session{{Neighbor: netip.MustParseAddr("172.16.2.1"), RemoteAS: 65000, State: bgp.StateEstablished}}}, nil
}

func (s *loopSpeaker) Close() error { return nil }

func (s *loopSpeaker) snapshot() ([]string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), s.withdrawn
}

// timedFlush is the loop tests' fake data plane, noting when it is flushed.
type timedFlush struct {
	*fakeDataplane
	mu      sync.Mutex
	flushed time.Time
}

func (f *timedFlush) Flush(ctx context.Context) error {
	f.mu.Lock()
	f.flushed = time.Now()
	f.mu.Unlock()
	return f.fakeDataplane.Flush(ctx)
}

// TestLoopAnnouncesThenDrainsBeforeTheDataPlaneGoes runs the supervisor
// (fake data plane, recording speaker): the route is announced after the
// first apply, shows in status and metrics, and on stop it is withdrawn
// first and the data plane is flushed drain_delay later.
func TestLoopAnnouncesThenDrainsBeforeTheDataPlaneGoes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	conf := strings.Replace(bgpConf, "local_as 65001", "local_as 65001\n  drain_delay 0.3", 1)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigFile: file, RunDir: filepath.Join(dir, "run"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fake := &timedFlush{fakeDataplane: &fakeDataplane{}}
	d.newDataplane = func(dataplane.Kind, dataplane.Options) (dataplane.Dataplane, error) { return fake, nil }
	sp := &loopSpeaker{}
	d.newSpeaker = func(context.Context, bgp.Config, *Daemon) (bgp.Speaker, error) { return sp, nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	waitFor(t, "both addresses announced", func() bool {
		calls, _ := sp.snapshot()
		return slices.Contains(calls, "+172.16.100.1/32") && slices.Contains(calls, "+172.16.100.2/32")
	})
	st := d.Status(ctx)
	if st.BGP == nil || len(st.BGP.Routes) != 3 || !st.BGP.Routes[0].Announced || len(st.BGP.Sessions) != 1 {
		t.Fatalf("status BGP = %+v", st.BGP)
	}
	mfs, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var routeMetrics int
	for _, mf := range mfs {
		if mf.GetName() == "drlb_bgp_route_announced" {
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() == 1 {
					routeMetrics++
				}
			}
		}
	}
	if routeMetrics != 3 {
		t.Errorf("drlb_bgp_route_announced = 1 for %d services, want 3", routeMetrics)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	calls, withdrawn := sp.snapshot()
	if !slices.Contains(calls, "-172.16.100.1/32") || !slices.Contains(calls, "-172.16.100.2/32") {
		t.Fatalf("not withdrawn on stop: %v", calls)
	}
	fake.mu.Lock()
	flushed := fake.flushed
	fake.mu.Unlock()
	if flushed.IsZero() || flushed.Sub(withdrawn) < 300*time.Millisecond {
		t.Errorf("data plane flushed %v after the withdrawal, want at least drain_delay 300ms", flushed.Sub(withdrawn))
	}
}

// blockingApply is a fake data plane whose Apply waits for release.
type blockingApply struct {
	*fakeDataplane
	started, release chan struct{}
}

func (b *blockingApply) Apply(ctx context.Context, t dataplane.Table) error {
	close(b.started)
	<-b.release
	return b.fakeDataplane.Apply(ctx, t)
}

// TestObserveDoesNotWaitOutALongApply: status's Observe gives up at its
// deadline while an apply (a 65,537-slot scale-out table can take
// seconds) holds the data plane, so status falls back on the applied
// table instead of hanging.
func TestObserveDoesNotWaitOutALongApply(t *testing.T) {
	fake := &blockingApply{fakeDataplane: &fakeDataplane{}, started: make(chan struct{}), release: make(chan struct{})}
	dp := newSerialDataplane(fake)
	done := make(chan error, 1)
	go func() { done <- dp.Apply(context.Background(), dataplane.Table{}) }()
	<-fake.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	observed := make(chan error, 1)
	go func() {
		_, err := dp.Observe(ctx)
		observed <- err
	}()
	select {
	case err := <-observed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Observe during an apply: %v, want the deadline", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("Observe waited for the apply past its deadline")
	}
	close(fake.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := dp.Observe(context.Background()); err != nil {
		t.Errorf("Observe after the apply: %v", err)
	}
}
