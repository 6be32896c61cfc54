package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/vrrp"
)

func TestDecide(t *testing.T) {
	cfg := parse(t, testConf)
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	rs11 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.11:80"}
	rs443 := check.Target{VirtualServer: "TCP 172.16.1.5:443", RealServer: "172.16.1.10:443"}
	up := func(w int) Health { return Health{Up: true, Weight: w} }
	down := Health{}
	host := hostFacts{iface: map[netip.Addr]string{netip.MustParseAddr("172.16.1.5"): "eth9"},
		local: map[netip.Addr]bool{netip.MustParseAddr("172.16.1.5"): true}}
	for _, tt := range []struct {
		name     string
		health   map[check.Target]Health
		prev     map[string]ServiceState
		masters  map[string]bool
		vrrpRuns bool
		// want: each service's reals as "addr:port/weight", "" for a service absent.
		want   []string
		quorum bool
	}{
		{"all up, master", map[check.Target]Health{rs10: up(3), rs11: up(2), rs443: up(1)}, nil,
			map[string]bool{"VI_1": true}, true, []string{"172.16.1.10:80/3 172.16.1.11:80/2", ""}, true},
		{"ha_suspend service follows a VIP no instance carries: held here, no VRRP", map[check.Target]Health{rs10: up(3), rs11: up(2), rs443: up(1)}, nil,
			nil, false, []string{"172.16.1.10:80/3 172.16.1.11:80/2", "172.16.1.10:443/1"}, true},
		{"ha_suspend service absent while VRRP runs and does not hold it", map[check.Target]Health{rs10: up(3), rs11: up(2), rs443: up(1)}, nil,
			nil, true, []string{"172.16.1.10:80/3 172.16.1.11:80/2", ""}, true},
		{"rs11 down: inhibited at weight 0, quorum 2 lost: the sorry server replaces the live servers", map[check.Target]Health{rs10: up(1), rs11: down, rs443: up(1)}, nil,
			map[string]bool{"VI_1": true}, true, []string{"172.16.1.11:80/0 172.16.1.50:80/1", ""}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			services, table := decide(cfg, tt.health, tt.prev, placement(cfg, tt.masters, tt.vrrpRuns, host), nil)
			if got := services["TCP 172.16.1.1:80"].QuorumUp; got != tt.quorum {
				t.Errorf("quorum up = %v, want %v", got, tt.quorum)
			}
			got := make([]string, 2)
			for _, s := range table.Services {
				var reals []string
				for _, r := range s.Reals {
					reals = append(reals, fmt.Sprintf("%s/%d", r.AddrPort(), r.Weight))
				}
				slices.Sort(reals)
				i := 0
				if s.Port == 443 {
					i = 1
					if s.Interface != "eth9" {
						t.Errorf("interface of 172.16.1.5 = %q, want the route's eth9", s.Interface)
					}
				} else if s.Interface != "eth1" {
					t.Errorf("interface of the VIP = %q, want its instance's eth1", s.Interface)
				}
				got[i] = strings.Join(reals, " ")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("table = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	cfg := parse(t, testConf)
	vip, other := netip.MustParseAddr("172.16.1.1"), netip.MustParseAddr("172.16.1.5")
	held := hostFacts{iface: map[netip.Addr]string{other: "eth9"}, local: map[netip.Addr]bool{vip: true, other: true}}
	for _, tt := range []struct {
		name      string
		masters   map[string]bool
		vrrpRuns  bool
		host      hostFacts
		vip, oth  bool
		otherIfce string
	}{
		{"master holds its VIPs", map[string]bool{"VI_1": true}, true, hostFacts{}, true, false, ""},
		{"backup holds none, even if the kernel still has them", nil, true, held, false, false, "eth9"},
		{"no VRRP here (-C): the kernel's addresses say", nil, false, held, true, true, "eth9"},
		{"no VRRP, addresses elsewhere", nil, false, hostFacts{}, false, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := placement(cfg, tt.masters, tt.vrrpRuns, tt.host)
			if got := p.Owned(vip); got != tt.vip {
				t.Errorf("Owned(%s) = %v, want %v", vip, got, tt.vip)
			}
			if got := p.Owned(other); got != tt.oth {
				t.Errorf("Owned(%s) = %v, want %v", other, got, tt.oth)
			}
			if got := p.Interface(vip); got != "eth1" {
				t.Errorf("Interface(%s) = %q, want its instance's eth1", vip, got)
			}
			if got := p.Interface(other); got != tt.otherIfce {
				t.Errorf("Interface(%s) = %q, want %q", other, got, tt.otherIfce)
			}
		})
	}
}

func TestHostFactsEqual(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	h := hostFacts{iface: map[netip.Addr]string{a: "eth1"}, local: map[netip.Addr]bool{}}
	if !h.equal(hostFacts{iface: map[netip.Addr]string{a: "eth1"}}) {
		t.Error("same facts differ")
	}
	if h.equal(hostFacts{iface: map[netip.Addr]string{a: "eth2"}}) || h.equal(hostFacts{iface: map[netip.Addr]string{a: "eth1"}, local: map[netip.Addr]bool{a: true}}) {
		t.Error("different facts are equal")
	}
}

// fakeDataplane records the tables applied. It is a test double for the
// kernel, used only by these pure unit tests of the loop.
type fakeDataplane struct {
	mu      sync.Mutex
	opened  bool
	applied []dataplane.Table
	flushed bool
	closed  bool
}

func (f *fakeDataplane) Kind() dataplane.Kind { return dataplane.KindNFT }

func (f *fakeDataplane) Apply(_ context.Context, t dataplane.Table) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, t)
	return nil
}

func (f *fakeDataplane) Observe(context.Context) (dataplane.Observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obs := dataplane.Observation{Kind: dataplane.KindNFT}
	if len(f.applied) == 0 {
		return obs, nil
	}
	for _, s := range f.applied[len(f.applied)-1].Services {
		o := dataplane.ObservedService{Service: s}
		o.Reals = nil
		for _, r := range s.Reals {
			o.Observed = append(o.Observed, dataplane.ObservedReal{Real: r})
		}
		obs.Services = append(obs.Services, o)
	}
	return obs, nil
}

func (f *fakeDataplane) Flush(context.Context) error {
	f.mu.Lock()
	f.flushed = true
	f.mu.Unlock()
	return nil
}
func (f *fakeDataplane) Close() error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

// reals lists the real servers of the last table applied ("none" before any).
func (f *fakeDataplane) reals() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) == 0 {
		return "none"
	}
	var out []string
	for _, s := range f.applied[len(f.applied)-1].Services {
		for _, r := range s.Reals {
			out = append(out, r.AddrPort().String())
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func lvsConf(reals ...string) string {
	var b strings.Builder
	b.WriteString("virtual_server 10.0.0.1 80 {\n lb_kind DR\n protocol TCP\n")
	for _, r := range reals {
		fmt.Fprintf(&b, " real_server %s 80 {\n }\n", r)
	}
	b.WriteString("}\n")
	return b.String()
}

// startLoopDaemon runs a daemon without VRRP and with a fake data plane:
// no root needed, so the race detector can watch the loop.
func startLoopDaemon(t *testing.T, conf string) (*Daemon, *fakeDataplane, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{ConfigFile: file, RunDir: filepath.Join(dir, "run"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeDataplane{}
	d.newDataplane = func(dataplane.Kind, dataplane.Options) (dataplane.Dataplane, error) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		fake.opened = true
		return fake, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, errTestStop) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.opened && (!fake.flushed || !fake.closed) {
			t.Errorf("data plane flushed %v, closed %v: want both on stop", fake.flushed, fake.closed)
		}
	})
	return d, fake, file
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func reload(t *testing.T, d *Daemon, file, conf string, opts api.ReloadOptions) api.ReloadResult {
	t.Helper()
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Reload(ctx, opts)
}

func TestLoopReloadsAndRefusesDestructiveReloads(t *testing.T) {
	d, fake, file := startLoopDaemon(t, lvsConf("10.0.0.2", "10.0.0.3"))
	waitFor(t, "the initial table", func() bool { return fake.reals() == "10.0.0.2:80 10.0.0.3:80" })

	res := reload(t, d, file, lvsConf("10.0.0.2"), api.ReloadOptions{})
	if !res.OK || fake.reals() != "10.0.0.2:80" {
		t.Fatalf("reload removing 10.0.0.3: %+v, table %s", res, fake.reals())
	}
	var phases []string
	for _, p := range res.Phases {
		phases = append(phases, p.Name)
	}
	if !slices.Equal(phases, []string{"parse", "components", "dataplane"}) {
		t.Errorf("phases %v", phases)
	}
	if !slices.Contains(res.Changes, "health checks: 1 real servers unchanged (their checks run on), 0 started, 1 stopped") {
		t.Errorf("changes %v", res.Changes)
	}

	for _, empty := range []string{"", "\x00\x00\x00", "# truncated\n", "global_defs {\n}\n"} {
		res = reload(t, d, file, empty, api.ReloadOptions{})
		why := strings.Join(res.Diagnostics, "\n")
		if res.OK || !strings.Contains(why, "every virtual server (TCP 10.0.0.1:80)") || !strings.Contains(why, "--allow-empty") {
			t.Errorf("reload of %q: %+v, want refused naming the service", empty, res)
		}
		if fake.reals() != "10.0.0.2:80" {
			t.Errorf("reload of %q changed the table: %s", empty, fake.reals())
		}
	}
	st := d.Status(context.Background())
	if st.Reloads != 1 || len(st.Services) != 1 || len(st.Services[0].Reals) != 1 || !st.Services[0].Reals[0].InTable {
		t.Errorf("status after refusals: reloads %d, services %+v", st.Reloads, st.Services)
	}

	res = reload(t, d, file, "", api.ReloadOptions{AllowEmpty: true})
	if !res.OK || fake.reals() != "" {
		t.Fatalf("reload of an empty file with AllowEmpty: %+v, table %q", res, fake.reals())
	}
	if st := d.Status(context.Background()); st.Reloads != 2 || len(st.Services) != 0 {
		t.Errorf("status after the allowed empty reload: %+v", st)
	}
}

func TestLoopUnderConcurrentEvents(t *testing.T) {
	d, fake, file := startLoopDaemon(t, lvsConf("10.0.0.2", "10.0.0.3"))
	waitFor(t, "the initial table", func() bool { return fake.reals() == "10.0.0.2:80 10.0.0.3:80" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	// Status and metrics readers while reloads come from the API and SIGHUP's channel.
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if st := d.Status(ctx); len(st.Services) != 1 {
					t.Errorf("status shows %d services", len(st.Services))
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := d.metrics.reg.Gather(); err != nil {
				t.Errorf("metrics: %v", err)
			}
		}
	})
	confs := []string{lvsConf("10.0.0.2"), lvsConf("10.0.0.2", "10.0.0.3"), lvsConf("10.0.0.4")}
	var mu sync.Mutex // the file is one; writers take turns
	for i := range 3 {
		wg.Go(func() {
			for j := range 10 {
				mu.Lock()
				if err := os.WriteFile(file, []byte(confs[(i+j)%len(confs)]), 0o644); err != nil {
					t.Error(err)
				}
				res := d.Reload(ctx, api.ReloadOptions{})
				mu.Unlock()
				if !res.OK {
					t.Errorf("reload: %+v", res)
				}
			}
		})
	}
	// Health transitions straight into the loop, as the checker pump sends them.
	wg.Go(func() {
		for i := range 100 {
			tr := check.Transition{Target: check.Target{VirtualServer: "TCP 10.0.0.1:80", RealServer: "10.0.0.2:80"}, Up: i%2 == 0, Weight: 1}
			select {
			case d.events <- healthEvent{tr}:
			case <-ctx.Done():
				return
			}
		}
	})
	// VRRP transitions through the inbox, from "VRRP's thread".
	wg.Go(func() {
		for range 100 {
			d.onVRRPTransition(vrrp.Transition{Instance: "VI_1", From: vrrp.StateBackup, To: vrrp.StateMaster})
		}
	})
	wg.Wait()
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	// The last word is the file's: a final reload settles the table.
	res := reload(t, d, file, lvsConf("10.0.0.9"), api.ReloadOptions{})
	if !res.OK {
		t.Fatalf("final reload: %+v", res)
	}
	if got := fake.reals(); got != "10.0.0.9:80" {
		t.Errorf("table after the final reload: %s", got)
	}
}

// TestStartWithEmptyFile: drlb runs an empty file with nothing, as
// keepalived does, and a reload of the repaired file needs no restart.
func TestStartWithEmptyFile(t *testing.T) {
	d, fake, file := startLoopDaemon(t, "")
	if st := d.Status(context.Background()); len(st.Services) != 0 || len(st.Instances) != 0 || st.Dataplane != "none" {
		t.Fatalf("status with an empty file: %+v", st)
	}
	if res := reload(t, d, file, "# still nothing\n", api.ReloadOptions{}); res.OK {
		t.Errorf("reload into a file with no directives: %+v, want refused", res)
	}
	res := reload(t, d, file, lvsConf("10.0.0.2"), api.ReloadOptions{})
	if !res.OK {
		t.Fatalf("reload of the repaired file: %+v", res)
	}
	if got := fake.reals(); got != "10.0.0.2:80" {
		t.Errorf("table after the repaired file: %s", got)
	}
}

// errTestStop stands for a component that stopped on its own.
var errTestStop = errors.New("a component stopped")

func TestRequestsAfterStopDoNotHang(t *testing.T) {
	d, fake, _ := startLoopDaemon(t, lvsConf("10.0.0.2"))
	waitFor(t, "the initial table", func() bool { return fake.reals() == "10.0.0.2:80" })
	d.fail(errTestStop) // the loop ends as when VRRP fails
	waitFor(t, "the loop to stop", func() bool {
		select {
		case <-d.stopped:
			return true
		default:
			return false
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st := d.Status(ctx); len(st.Services) != 0 || st.PID == 0 {
		t.Errorf("status of a stopping daemon: %+v", st)
	}
	if res := d.Reload(ctx, api.ReloadOptions{}); res.OK || !strings.Contains(strings.Join(res.Diagnostics, ""), "stopping") {
		t.Errorf("reload of a stopping daemon: %+v", res)
	}
	if ctx.Err() != nil {
		t.Fatal("requests hung")
	}
}

// BenchmarkLoopReload1000x10 is a whole reload through the loop (parse,
// components, decide, apply) of 1,000 virtual servers × 10 real servers
// without checkers, one real server added or removed each time, with a
// fake data plane: the supervisor's own cost, without a lab.
func BenchmarkLoopReload1000x10(b *testing.B) {
	conf := func(extra bool) string {
		var c strings.Builder
		for v := range 1000 {
			fmt.Fprintf(&c, "virtual_server 10.0.0.1 %d {\n lb_kind DR\n", 10000+v)
			for r := range 10 {
				fmt.Fprintf(&c, " real_server 10.0.1.%d %d {\n }\n", 20+r, 10000+v)
			}
			if extra && v == 0 {
				c.WriteString(" real_server 10.0.1.99 10000 {\n }\n")
			}
			c.WriteString("}\n")
		}
		return c.String()
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(file, []byte(conf(false)), 0o644); err != nil {
		b.Fatal(err)
	}
	d, err := New(Options{ConfigFile: file, RunDir: filepath.Join(dir, "run"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	fake := &fakeDataplane{}
	d.newDataplane = func(dataplane.Kind, dataplane.Options) (dataplane.Dataplane, error) { return fake, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	contents := []string{conf(true), conf(false)}
	i := 0
	for b.Loop() {
		if err := os.WriteFile(file, []byte(contents[i%2]), 0o644); err != nil {
			b.Fatal(err)
		}
		i++
		if res := d.Reload(ctx, api.ReloadOptions{}); !res.OK {
			b.Fatalf("reload: %+v", res)
		}
	}
}

// TestReloadReportsDataplaneOnlyChanges: a reload that changes only what
// the data plane holds (a real server's weight, the scheduler) says so in
// its answer; "no change" would hide that the table was rewritten.
func TestReloadReportsDataplaneOnlyChanges(t *testing.T) {
	conf := func(sched string, weight int) string {
		return fmt.Sprintf("virtual_server 10.0.0.1 80 {\n lb_kind DR\n protocol TCP\n lvs_sched %s\n real_server 10.0.0.2 80 {\n  weight %d\n }\n}\n", sched, weight)
	}
	d, fake, file := startLoopDaemon(t, conf("rr", 1))
	waitFor(t, "the initial table", func() bool { return fake.reals() == "10.0.0.2:80" })
	for _, c := range []struct {
		name, conf, want string
	}{
		{"weight", conf("rr", 3), "weight 3"},
		{"scheduler", conf("wrr", 3), "sched wrr"},
	} {
		res := reload(t, d, file, c.conf, api.ReloadOptions{})
		all := strings.Join(res.Changes, "; ")
		if !res.OK || slices.Contains(res.Changes, "no change") || !strings.Contains(all, c.want) {
			t.Errorf("%s: reload answered %+v, want the data plane change (%q) in its changes", c.name, res, c.want)
		}
	}
}
