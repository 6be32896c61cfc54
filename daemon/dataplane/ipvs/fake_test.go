package ipvs

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cipvs "github.com/cloudflare/ipvs"

	"github.com/drlb/drlb/daemon/dataplane"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenFS carries the golden files inside the test binary, so the tests
// also pass in the IPVS VM, which gets the binary without testdata/.
//
//go:embed testdata
var goldenFS embed.FS

// fakeClient is an in-memory IPVS that records every mutating call.
type fakeClient struct {
	services []cipvs.Service
	dests    map[string][]cipvs.Destination
	calls    []string
	failOn   string
	pes      map[string]string // persistence engine by svcID
}

// ServicePEs implements PEClient.
func (f *fakeClient) ServicePEs() (map[dataplane.ServiceKey]string, error) {
	out := map[dataplane.ServiceKey]string{}
	for _, s := range f.services {
		if pe := f.pes[svcID(s)]; pe != "" {
			k := dataplane.ServiceKey{FWMark: s.FWMark}
			if s.FWMark == 0 {
				k = dataplane.ServiceKey{VIP: s.Address, Protocol: dataplane.Protocol(s.Protocol), Port: s.Port}
			}
			out[k] = pe
		}
	}
	return out, nil
}

// SetService implements PEClient: an edit that sets the engine too.
func (f *fakeClient) SetService(s cipvs.Service, pe string) error {
	if err := f.record("SetService " + svcString(s) + " pe=" + pe); err != nil {
		return err
	}
	f.services[f.find(s)] = s
	if f.pes == nil {
		f.pes = map[string]string{}
	}
	f.pes[svcID(s)] = pe
	return nil
}

func newFake() *fakeClient { return &fakeClient{dests: map[string][]cipvs.Destination{}} }

func svcID(s cipvs.Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("FWM %d", s.FWMark)
	}
	return fmt.Sprintf("%v %s", s.Protocol, netip.AddrPortFrom(s.Address, s.Port))
}

func svcString(s cipvs.Service) string {
	return fmt.Sprintf("%s sched=%s flags=%#x timeout=%d mask=%d family=%v", svcID(s), s.Scheduler, uint32(s.Flags), s.Timeout, s.Netmask.Bits(), s.Family)
}

func destString(d cipvs.Destination) string {
	return fmt.Sprintf("%s fwd=%v weight=%d family=%v", netip.AddrPortFrom(d.Address, d.Port), d.FwdMethod, d.Weight, d.Family)
}

func (f *fakeClient) record(call string) error {
	f.calls = append(f.calls, call)
	if f.failOn != "" && strings.HasPrefix(call, f.failOn) {
		return errors.New("fake failure")
	}
	return nil
}

func (f *fakeClient) find(s cipvs.Service) int {
	for i, x := range f.services {
		if svcID(x) == svcID(s) {
			return i
		}
	}
	return -1
}

func (f *fakeClient) Info() (cipvs.Info, error) {
	return cipvs.Info{Version: [3]int{1, 2, 1}, ConnectionTableSize: 4096}, nil
}

func (f *fakeClient) Services() ([]cipvs.ServiceExtended, error) {
	var out []cipvs.ServiceExtended
	for _, s := range f.services {
		s.Flags |= cipvs.ServiceHashed
		out = append(out, cipvs.ServiceExtended{Service: s})
	}
	if len(out) == 0 {
		return nil, fs.ErrNotExist // as cloudflare/ipvs reports an empty table
	}
	return out, nil
}

func (f *fakeClient) CreateService(s cipvs.Service) error {
	if err := f.record("CreateService " + svcString(s)); err != nil {
		return err
	}
	f.services = append(f.services, s)
	return nil
}

func (f *fakeClient) UpdateService(s cipvs.Service) error {
	if err := f.record("UpdateService " + svcString(s)); err != nil {
		return err
	}
	f.services[f.find(s)] = s
	delete(f.pes, svcID(s)) // as the kernel: an edit without an engine removes it
	return nil
}

func (f *fakeClient) RemoveService(s cipvs.Service) error {
	if err := f.record("RemoveService " + svcID(s)); err != nil {
		return err
	}
	i := f.find(s)
	f.services = append(f.services[:i], f.services[i+1:]...)
	delete(f.pes, svcID(s))
	delete(f.dests, svcID(s))
	return nil
}

func (f *fakeClient) Destinations(s cipvs.Service) ([]cipvs.DestinationExtended, error) {
	var out []cipvs.DestinationExtended
	for _, d := range f.dests[svcID(s)] {
		out = append(out, cipvs.DestinationExtended{Destination: d, ActiveConnections: 3, InactiveConnections: 1})
	}
	if len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

func (f *fakeClient) CreateDestination(s cipvs.Service, d cipvs.Destination) error {
	if err := f.record("CreateDestination " + svcID(s) + " -> " + destString(d)); err != nil {
		return err
	}
	f.dests[svcID(s)] = append(f.dests[svcID(s)], d)
	return nil
}

func (f *fakeClient) UpdateDestination(s cipvs.Service, d cipvs.Destination) error {
	if err := f.record("UpdateDestination " + svcID(s) + " -> " + destString(d)); err != nil {
		return err
	}
	ds := f.dests[svcID(s)]
	for i := range ds {
		if ds[i].Address == d.Address && ds[i].Port == d.Port {
			ds[i] = d
		}
	}
	return nil
}

func (f *fakeClient) RemoveDestination(s cipvs.Service, d cipvs.Destination) error {
	if err := f.record("RemoveDestination " + svcID(s) + " -> " + destString(d)); err != nil {
		return err
	}
	ds := f.dests[svcID(s)]
	for i := range ds {
		if ds[i].Address == d.Address && ds[i].Port == d.Port {
			f.dests[svcID(s)] = append(ds[:i], ds[i+1:]...)
			break
		}
	}
	return nil
}

func golden(t *testing.T, name string, lines []string) {
	t.Helper()
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := goldenFS.ReadFile(path)
	if *update {
		want, err = os.ReadFile(path)
	}
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func rs(addr string, w uint32) dataplane.Real {
	return dataplane.Real{Addr: netip.MustParseAddr(addr), Port: 80, Weight: w}
}

func web(sched string, reals ...dataplane.Real) dataplane.Service {
	return dataplane.Service{VIP: netip.MustParseAddr("172.16.1.1"), Port: 80, Protocol: dataplane.TCP, Scheduler: sched, Reals: reals}
}

// applyStep is one table of applyStepsGolden.
type applyStep struct {
	name  string
	table dataplane.Table
}

// applyStepsGolden applies steps in order to a back end on a fake client,
// checks that each is observed as applied, and compares the IPVS calls of
// every step with testdata/<name>.golden. It returns the calls of each step
// by name.
func applyStepsGolden(t *testing.T, name string, steps []applyStep) map[string][]string {
	t.Helper()
	ctx := context.Background()
	fake := newFake()
	b := NewWithClient(fake)
	calls := map[string][]string{}
	var lines []string
	for _, st := range steps {
		fake.calls = nil
		if err := b.Apply(ctx, st.table); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		calls[st.name] = fake.calls
		lines = append(lines, "# "+st.name)
		lines = append(lines, fake.calls...)
		obs, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), st.table); len(d) != 0 {
			t.Errorf("%s: observed differs from desired: %v", st.name, d)
		}
	}
	golden(t, name, lines)
	return calls
}

// TestApplySteps applies a sequence of tables and records the IPVS calls of each.
func TestApplySteps(t *testing.T) {
	persistent := web("sh", rs("172.16.1.10", 1))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300 * time.Second
	persistent.PersistenceBits = 24
	fwm := dataplane.Service{FWMark: 7, Scheduler: "rr", Method: dataplane.NAT, Reals: []dataplane.Real{rs("10.9.0.1", 1)}}
	steps := []applyStep{
		{"create", dataplane.Table{Services: []dataplane.Service{web("wrr", rs("172.16.1.11", 2), rs("172.16.1.10", 1)), persistent, fwm}}},
		{"reapply", dataplane.Table{Services: []dataplane.Service{fwm, persistent, web("wrr", rs("172.16.1.10", 1), rs("172.16.1.11", 2))}}},
		{"inhibit rs1", dataplane.Table{Services: []dataplane.Service{web("wrr", rs("172.16.1.11", 2), rs("172.16.1.10", 0)), persistent, fwm}}},
		{"remove rs1 change sched", dataplane.Table{Services: []dataplane.Service{web("lc", rs("172.16.1.11", 2)), persistent, fwm}}},
		{"drop services", dataplane.Table{Services: []dataplane.Service{web("lc", rs("172.16.1.11", 2))}}},
	}
	calls := applyStepsGolden(t, "apply-steps", steps)
	if c := calls["reapply"]; len(c) != 0 {
		t.Errorf("reapplying an unchanged table made calls: %v", c)
	}
}

func TestLeavesForeignServices(t *testing.T) {
	fake := newFake()
	foreign := cipvs.Service{Address: netip.MustParseAddr("192.0.2.1"), Port: 53, Protocol: cipvs.UDP, Family: cipvs.INET, Scheduler: "rr"}
	fake.services = append(fake.services, foreign)
	b := NewWithClient(fake)
	if err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1))}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fake.services) != 1 || fake.find(foreign) != 0 {
		t.Errorf("services after flush = %v, want only the foreign one", fake.services)
	}
}

func TestRejectsBeforeChanging(t *testing.T) {
	fake := newFake()
	b := NewWithClient(fake)
	b.linkCheck = func(name string) error {
		if name == "eth1" {
			return nil
		}
		return errors.New("no such network interface")
	}
	bad := web("rr", rs("172.16.1.10", 1))
	bad.Interface = "eth9"
	unknown := web("fastest", rs("172.16.1.10", 1))
	for _, tt := range []struct {
		svc  dataplane.Service
		want string
	}{
		{bad, `interface "eth9" does not exist`},
		{unknown, `unknown scheduler "fastest"`},
	} {
		err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{tt.svc}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	if len(fake.calls) != 0 {
		t.Errorf("calls made: %v", fake.calls)
	}
}

func TestFormatObservationGolden(t *testing.T) {
	fake := newFake()
	b := NewWithClient(fake)
	persistent := web("sh", rs("172.16.1.10", 1))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300 * time.Second
	persistent.PersistenceBits = 24
	table := dataplane.Table{Services: []dataplane.Service{web("wrr", rs("172.16.1.11", 2), rs("172.16.1.10", 0)), persistent,
		{FWMark: 7, Scheduler: "rr", Method: dataplane.TUN, Reals: []dataplane.Real{rs("10.9.0.1", 1)}}}}
	if err := b.Apply(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	obs, err := b.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
		t.Fatal(err)
	}
	golden(t, "ipvsadm", strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"))
}

// TestStateSurvivesRestart is a crash and restart: a new back end over the
// same kernel and state directory removes the service the first one created
// and the new table no longer has, and still leaves a foreign one alone.
func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	fake := newFake()
	foreign := cipvs.Service{Address: netip.MustParseAddr("192.0.2.1"), Port: 53, Protocol: cipvs.UDP, Family: cipvs.INET, Scheduler: "rr"}
	fake.services = append(fake.services, foreign)
	other := web("rr", rs("172.16.1.11", 1))
	other.Port = 8080
	first := newStateBackend(t, fake, dir)
	if err := first.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1)), other}}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil || !strings.Contains(string(raw), `"Port":8080`) {
		t.Fatalf("state file after apply: %s, %v", raw, err)
	}
	// kill -9: no Flush. The restarted daemon's table has only port 80.
	second := newStateBackend(t, fake, dir)
	if err := second.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1))}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.services) != 2 || fake.find(foreign) < 0 || fake.find(toIPVS(other)) >= 0 {
		t.Fatalf("services after restart = %v, want the foreign one and port 80", fake.services)
	}
	// Without the state, the restarted back end would not know port 8080.
	fake.services = append(fake.services, toIPVS(other))
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := newStateBackend(t, fake, dir)
	if err := third.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1))}}); err != nil {
		t.Fatal(err)
	}
	if fake.find(toIPVS(other)) < 0 {
		t.Fatal("a back end with an unreadable state file removed a service it had no record of")
	}
}

func newStateBackend(t *testing.T, c Client, dir string) *Backend {
	t.Helper()
	b := NewWithClient(c)
	b.keepState(dir, nil)
	return b
}

// TestStateUnwritableStillApplies: a state file that cannot be written is a
// warning; the table is still applied.
func TestStateUnwritableStillApplies(t *testing.T) {
	fake := newFake()
	var logs strings.Builder
	b := NewWithClient(fake)
	b.keepState(filepath.Join(t.TempDir(), "no-such-dir"), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1))}}); err != nil {
		t.Fatalf("apply with an unwritable state file: %v", err)
	}
	if len(fake.services) != 1 {
		t.Fatalf("services = %v, want the one applied", fake.services)
	}
	if !strings.Contains(logs.String(), "IPVS state file not written") {
		t.Fatalf("no warning logged; log:\n%s", logs.String())
	}
}

// TestIPv6DRService applies an IPv6 DR service with a /64 persistence
// granularity (issue 14 item 4) and checks what IPVS receives (family
// INET6, netmask 64 bits, Route destinations) and the ipvsadm layout:
// "[addr]:port" and "mask 64", as ipvsadm -ln prints IPv6 services.
func TestIPv6DRService(t *testing.T) {
	fake := newFake()
	b := NewWithClient(fake)
	s := web("wrr", rs("fd00:172:16:1::10", 1), rs("fd00:172:16:1::11", 3))
	s.VIP = netip.MustParseAddr("fd00:172:16:1::1")
	s.PersistenceTimeout = 300 * time.Second
	s.PersistenceBits = 64
	if err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.services) != 1 {
		t.Fatalf("services = %+v", fake.services)
	}
	got := fake.services[0]
	if got.Family != cipvs.INET6 || got.Address != s.VIP || got.Netmask.String() != "64" {
		t.Errorf("IPVS service = family %v address %v netmask %v, want INET6 %v 64 (IPVS takes an IPv6 mask as a prefix length)", got.Family, got.Address, got.Netmask, s.VIP)
	}
	for _, dests := range fake.dests {
		for _, d := range dests {
			if d.Family != cipvs.INET6 || d.FwdMethod != cipvs.DirectRoute {
				t.Errorf("destination %+v: want INET6, DirectRoute", d)
			}
		}
	}
	obs, err := b.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"TCP  [fd00:172:16:1::1]:80 wrr persistent 300 mask 64\n",
		"  -> [fd00:172:16:1::10]:80       Route   1 ",
		"  -> [fd00:172:16:1::11]:80       Route   3 ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
