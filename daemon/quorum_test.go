package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
)

// sorryConf is testdata/parity/quorum-loss-sorry-server.conf (the fault
// finders' input) with its sorry server line replaced by sorry.
func sorryConf(t *testing.T, sorry string) *config.Config {
	t.Helper()
	b, err := os.ReadFile("testdata/parity/quorum-loss-sorry-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "    sorry_server 172.16.1.3 80\n", sorry, 1)
	return parse(t, text)
}

var (
	parityRS10 = check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	parityRS11 = check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.11:80"}
)

// tableOf renders the reals of the only service as "addr:port wW" sorted.
func tableOf(t *testing.T, tab dataplane.Table) string {
	t.Helper()
	if len(tab.Services) != 1 {
		t.Fatalf("got %d services, want 1", len(tab.Services))
	}
	var parts []string
	for _, r := range tab.Services[0].Reals {
		parts = append(parts, r.AddrPort().String()+" w"+strconv.Itoa(int(r.Weight)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// TestDesiredSorryServerReplacesPool follows keepalived's
// update_quorum_state/perform_quorum_state: on quorum loss the live real
// servers leave the pool (inhibit_on_failure ones stay at weight 0) and the
// sorry server alone takes the traffic; on quorum regain the pool comes back
// and the sorry server goes (or drops to weight 0 with sorry_server_inhibit).
func TestDesiredSorryServerReplacesPool(t *testing.T) {
	const (
		plain     = "    sorry_server 172.16.1.3 80\n"
		inhibit   = "    sorry_server 172.16.1.3 80\n    sorry_server_inhibit\n"
		duplicate = "    sorry_server 172.16.1.11 80\n"
		none      = ""
	)
	up := func(w int) Health { return Health{Up: true, Weight: w} }
	down := func(w int) Health { return Health{Up: false, Weight: w} }
	type step struct {
		rs10, rs11 Health
		want       string
		quorumUp   bool
	}
	tests := []struct {
		name  string
		sorry string
		steps []step
	}{
		{"quorum lost by rs1: only the sorry server serves, inhibited rs1 at weight 0", plain, []step{
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
			{down(1), up(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
		}},
		{"quorum lost by rs2: the live inhibited rs1 drops to weight 0", plain, []step{
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
			{up(1), down(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{down(1), down(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
		}},
		{"sorry_server_inhibit: the sorry server waits at weight 0 while quorum holds", inhibit, []step{
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1, 172.16.1.3:80 w0", true},
			{down(1), up(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1, 172.16.1.3:80 w0", true},
		}},
		{"a sorry server that is also a real server keeps serving, listed once", duplicate, []step{
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
			{down(1), up(1), "172.16.1.10:80 w0, 172.16.1.11:80 w1", false},
			{down(1), down(1), "172.16.1.10:80 w0, 172.16.1.11:80 w1", false},
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
		}},
		{"without a sorry server quorum loss leaves the pool alone", none, []step{
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
			{down(1), up(1), "172.16.1.10:80 w0, 172.16.1.11:80 w1", false},
		}},
		{"starting without quorum puts the sorry server in at once (alpha)", plain, []step{
			{down(1), down(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{up(1), down(1), "172.16.1.10:80 w0, 172.16.1.3:80 w1", false},
			{up(1), up(1), "172.16.1.10:80 w1, 172.16.1.11:80 w1", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sorryConf(t, tt.sorry)
			var services map[string]ServiceState
			for i, s := range tt.steps {
				health := map[check.Target]Health{parityRS10: s.rs10, parityRS11: s.rs11}
				services = EvaluateServices(cfg, health, services)
				tab := Desired(cfg, health, services, Placement{})
				if err := tab.Validate(); err != nil {
					t.Fatalf("step %d: desired table invalid: %v", i, err)
				}
				if got := tableOf(t, tab); got != s.want {
					t.Errorf("step %d: table = %s, want %s", i, got, s.want)
				}
				if got := services["TCP 172.16.1.1:80"].QuorumUp; got != s.quorumUp {
					t.Errorf("step %d: quorum up = %v, want %v", i, got, s.quorumUp)
				}
			}
		})
	}
}

// TestEvaluateServicesHysteresis follows keepalived's set_quorum_states
// (start: up when the live weight reaches quorum+hysteresis) and
// update_quorum_state (gain at quorum+hysteresis, loss below
// quorum-hysteresis).
func TestEvaluateServicesHysteresis(t *testing.T) {
	cfg := parse(t, `
virtual_server 172.16.1.1 80 {
  lb_kind DR
  protocol TCP
  quorum 2
  hysteresis 1
  real_server 172.16.1.10 80 {
    TCP_CHECK {
    }
  }
  real_server 172.16.1.11 80 {
    TCP_CHECK {
    }
  }
  real_server 172.16.1.12 80 {
    TCP_CHECK {
    }
  }
}
`)
	targets := targetsOf(&cfg.VirtualServers[0])
	healthOf := func(n int) map[check.Target]Health {
		h := map[check.Target]Health{}
		for i, t := range targets {
			h[t] = Health{Up: i < n, Weight: 1}
		}
		return h
	}
	var services map[string]ServiceState
	for i, s := range []struct {
		alive    int
		quorumUp bool
	}{
		{2, false}, // start: 2 < 2+1
		{3, true},  // gained at 3
		{2, true},  // kept: 2 >= 2-1
		{1, true},  // kept: 1 >= 2-1
		{0, false}, // lost below 1
		{2, false}, // not regained below 3
		{3, true},
	} {
		services = EvaluateServices(cfg, healthOf(s.alive), services)
		if got := services["TCP 172.16.1.1:80"].QuorumUp; got != s.quorumUp {
			t.Errorf("step %d (%d alive): quorum up = %v, want %v", i, s.alive, got, s.quorumUp)
		}
	}
}

// omegaConf is testdata/parity/quorum-scripts-omega.conf (the fault
// finders' input) with its placeholder script replaced by script.
func omegaConf(t *testing.T, script string) *config.Config {
	t.Helper()
	b, err := os.ReadFile("testdata/parity/quorum-scripts-omega.conf")
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, strings.ReplaceAll(string(b), "/usr/local/bin/notify.sh", script))
}

func runsOf(runs []ScriptRun) string {
	var parts []string
	for _, r := range runs {
		parts = append(parts, r.Hook+"="+r.Command)
	}
	return strings.Join(parts, "; ")
}

// TestQuorumScripts follows keepalived's update_quorum_state: quorum_up on
// gain, quorum_down on loss; at the first evaluation quorum_up when the
// service starts with quorum (set_quorum_states finds no live server yet,
// so init_service_vs "gains" it), quorum_down only when it starts without
// quorum and has a sorry server.
func TestQuorumScripts(t *testing.T) {
	withSorry := omegaConf(t, "/n.sh")
	noSorry := parse(t, strings.ReplaceAll(strings.Replace(string(mustRead(t, "testdata/parity/quorum-scripts-omega.conf")),
		"    sorry_server 172.16.1.11 80\n", "", 1), "/usr/local/bin/notify.sh", "/n.sh"))
	const id = "TCP 172.16.1.1:80"
	up := map[string]ServiceState{id: {QuorumUp: true}}
	down := map[string]ServiceState{id: {QuorumUp: false, SorryActive: true}}
	none := map[string]ServiceState{}
	tests := []struct {
		name       string
		cfg        *config.Config
		prev, next map[string]ServiceState
		want       string
	}{
		{"gain", withSorry, down, up, "quorum_up=/n.sh quorum-up"},
		{"loss", withSorry, up, down, "quorum_down=/n.sh quorum-down"},
		{"no change up", withSorry, up, up, ""},
		{"no change down", withSorry, down, down, ""},
		// keepalived logs "Gained quorum" at start-up and runs quorum_up.
		{"start with quorum: quorum_up", withSorry, none, up, "quorum_up=/n.sh quorum-up"},
		{"start without quorum, sorry server: quorum_down", withSorry, none, down, "quorum_down=/n.sh quorum-down"},
		{"start without quorum, no sorry server: nothing", noSorry, none, map[string]ServiceState{id: {}}, ""},
		{"loss without sorry server still notifies", noSorry, up, map[string]ServiceState{id: {}}, "quorum_down=/n.sh quorum-down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runsOf(QuorumScripts(tt.cfg, tt.prev, tt.next)); got != tt.want {
				t.Errorf("scripts = %q, want %q", got, tt.want)
			}
		})
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOmegaScripts follows keepalived's clear_service_vs at shutdown: with
// omega, notify_down of each live real server still in the pool, then
// quorum_down (whatever the quorum state); without omega, nothing.
func TestOmegaScripts(t *testing.T) {
	cfg := omegaConf(t, "/n.sh")
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	const id = "TCP 172.16.1.1:80"
	tests := []struct {
		name     string
		omega    bool
		health   map[check.Target]Health
		services map[string]ServiceState
		want     string
	}{
		{"omega, server up", true, map[check.Target]Health{rs10: {Up: true, Weight: 1}}, map[string]ServiceState{id: {QuorumUp: true}},
			"notify_down=/n.sh rs-down; quorum_down=/n.sh quorum-down"},
		{"omega, server down: quorum_down only", true, map[check.Target]Health{rs10: {Up: false, Weight: 1}}, map[string]ServiceState{id: {SorryActive: true}},
			"quorum_down=/n.sh quorum-down"},
		{"no omega: nothing", false, map[check.Target]Health{rs10: {Up: true, Weight: 1}}, map[string]ServiceState{id: {QuorumUp: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg.VirtualServers[0].Omega = tt.omega
			if got := runsOf(OmegaScripts(cfg, tt.health, tt.services)); got != tt.want {
				t.Errorf("scripts = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestQuorumAndOmegaScriptsRun runs real scripts (a shell script appending
// its arguments to a file) through the daemon's hooks: quorum_down when a
// service starts without quorum (alpha, sorry server), quorum_up when it
// gains it, and at shutdown (omega) notify_down then quorum_down.
func TestQuorumAndOmegaScriptsRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "notify.log")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := omegaConf(t, script)
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), hub: newHub(), runCtx: context.Background()}
	d.st.cfg = cfg
	tbl, _ := prepareScripts(cfg, nil) // scripts run as the configuration's, checked
	d.scriptTable.Store(tbl)
	health := initialHealth(cfg, nil, nil)
	if health[rs10].Up {
		t.Fatal("alpha: the real server must start down")
	}
	d.st.health = health
	started := EvaluateServices(cfg, health, nil)
	d.onQuorumChange(nil, started)
	d.scripts.Wait()
	health[rs10] = Health{Up: true, Weight: 1}
	d.st.services = EvaluateServices(cfg, health, started)
	d.onQuorumChange(started, d.st.services)
	d.st.health = health
	d.runOmegaScripts(context.Background())
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "quorum-down\nquorum-up\nrs-down\nquorum-down\n"; string(got) != want {
		t.Errorf("scripts ran:\n%s\nwant:\n%s", got, want)
	}
}

// TestReloadScripts follows keepalived's clear_diff_services: a reload
// that removes a live real server runs its notify_down; one that removes
// a virtual server with quorum runs its servers' notify_down, then its
// quorum_down; what stays runs nothing.
func TestReloadScripts(t *testing.T) {
	old := omegaConf(t, "/n.sh")
	rs10 := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	const id = "TCP 172.16.1.1:80"
	withRS11 := parse(t, strings.Replace(strings.ReplaceAll(string(mustRead(t, "testdata/parity/quorum-scripts-omega.conf")),
		"/usr/local/bin/notify.sh", "/n.sh"), "    real_server 172.16.1.10 80 {", "    real_server 172.16.1.11 80 {\n    }\n    real_server 172.16.1.12 80 {", 1))
	empty := parse(t, "")
	upHealth := map[check.Target]Health{rs10: {Up: true, Weight: 1}}
	downHealth := map[check.Target]Health{rs10: {Up: false, Weight: 1}}
	quorum := map[string]ServiceState{id: {QuorumUp: true}}
	sorry := map[string]ServiceState{id: {SorryActive: true}}
	tests := []struct {
		name     string
		next     *config.Config
		health   map[check.Target]Health
		services map[string]ServiceState
		want     string
	}{
		{"unchanged", old, upHealth, quorum, ""},
		{"live server removed", withRS11, upHealth, quorum, "notify_down=/n.sh rs-down"},
		{"failed server removed", withRS11, downHealth, quorum, ""},
		{"service removed with quorum", empty, upHealth, quorum, "notify_down=/n.sh rs-down; quorum_down=/n.sh quorum-down"},
		{"service removed without quorum", empty, downHealth, sorry, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runsOf(ReloadScripts(old, tt.next, tt.health, tt.services)); got != tt.want {
				t.Errorf("scripts = %q, want %q", got, tt.want)
			}
		})
	}
}
