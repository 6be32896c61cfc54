package ipvs

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/internal/testenv"
)

// VMEnv, set to 1, says the tests run inside the IPVS test VM
// (e2e/ipvsvm): they use the VM's root namespace and must not skip.
const VMEnv = "DRLB_IPVS_VM"

// countingClient counts mutating calls on a real client.
type countingClient struct {
	Client
	mutations int
}

func (c *countingClient) CreateService(s cipvsService) error {
	c.mutations++
	return c.Client.CreateService(s)
}
func (c *countingClient) UpdateService(s cipvsService) error {
	c.mutations++
	return c.Client.UpdateService(s)
}
func (c *countingClient) RemoveService(s cipvsService) error {
	c.mutations++
	return c.Client.RemoveService(s)
}
func (c *countingClient) CreateDestination(s cipvsService, d cipvsDestination) error {
	c.mutations++
	return c.Client.CreateDestination(s, d)
}
func (c *countingClient) UpdateDestination(s cipvsService, d cipvsDestination) error {
	c.mutations++
	return c.Client.UpdateDestination(s, d)
}
func (c *countingClient) RemoveDestination(s cipvsService, d cipvsDestination) error {
	c.mutations++
	return c.Client.RemoveDestination(s, d)
}

// kernelBackend opens IPVS in a fresh dpt namespace, or in the root
// namespace inside the test VM. Without IPVS it skips (fails in the VM).
func kernelBackend(t *testing.T) (*Backend, *countingClient, dataplane.Options) {
	t.Helper()
	inVM := os.Getenv(VMEnv) == "1"
	var opts dataplane.Options
	if !inVM {
		testenv.Privileged(t)
		opts.NetNSPath = nstest.New(t, "ipvs").Path
	} else if os.Geteuid() != 0 {
		t.Fatal("the IPVS VM tests must run as root")
	}
	if err := Available(opts); err != nil {
		if inVM {
			t.Fatalf("IPVS missing inside the VM: %v", err)
		}
		t.Skipf("kernel without IPVS (run inside e2e/ipvsvm with %s=1): %v", VMEnv, err)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingClient{Client: b.client}
	b.client = cc
	t.Cleanup(func() {
		if err := b.Flush(context.Background()); err != nil {
			t.Errorf("flush: %v", err)
		}
		b.Close()
	})
	return b, cc, opts
}

func TestKernelApplyReconcile(t *testing.T) {
	ctx := context.Background()
	b, cc, _ := kernelBackend(t)
	persistent := web("sh", rs("172.16.1.10", 1))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300e9
	persistent.PersistenceBits = 24
	fwm := dataplane.Service{FWMark: 7, Scheduler: "rr", Reals: []dataplane.Real{rs("172.16.1.12", 1)}}
	table := dataplane.Table{Services: []dataplane.Service{web("wrr", rs("172.16.1.10", 1), rs("172.16.1.11", 2)), persistent, fwm}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	check := func(step string, want dataplane.Table) {
		t.Helper()
		obs, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), want); len(d) != 0 {
			t.Errorf("%s: kernel differs from desired: %v", step, d)
		}
		var out strings.Builder
		if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:\n%s", step, out.String())
	}
	check("create", table)

	cc.mutations = 0
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if cc.mutations != 0 {
		t.Errorf("reapplying an unchanged table made %d changes", cc.mutations)
	}

	table.Services[0].Reals = []dataplane.Real{rs("172.16.1.10", 0), rs("172.16.1.11", 2)}
	cc.mutations = 0
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if cc.mutations != 1 {
		t.Errorf("inhibiting one server made %d changes, want 1", cc.mutations)
	}
	check("inhibit", table)

	table.Services[0].Reals = table.Services[0].Reals[1:]
	table.Services[0].Scheduler = "lc"
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	check("remove and reschedule", table)
}

func TestKernelSchedulers(t *testing.T) {
	ctx := context.Background()
	b, _, _ := kernelBackend(t)
	for _, sched := range dataplane.Schedulers {
		t.Run(sched, func(t *testing.T) {
			table := dataplane.Table{Services: []dataplane.Service{web(sched, rs("172.16.1.10", 1))}}
			if err := b.Apply(ctx, table); err != nil {
				if strings.Contains(err.Error(), "no such file") && sched != "rr" && sched != "wrr" {
					t.Skipf("scheduler module not loadable in this kernel: %v", err)
				}
				t.Fatal(err)
			}
			obs, err := b.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(obs.Services) != 1 || obs.Services[0].Scheduler != sched {
				t.Errorf("observed %+v", obs.Services)
			}
		})
	}
}

func TestKernelRejectsMissingInterface(t *testing.T) {
	b, cc, _ := kernelBackend(t)
	s := web("rr", rs("172.16.1.10", 1))
	s.Interface = "nosuch0"
	err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{s}})
	if err == nil || !strings.Contains(err.Error(), `interface "nosuch0" does not exist`) {
		t.Errorf("err = %v", err)
	}
	if cc.mutations != 0 {
		t.Errorf("%d changes made", cc.mutations)
	}
}

// TestKernelRestartRemovesDropped is a daemon killed with -9 and restarted
// with a configuration that no longer has one of its services: the new back
// end, opened with the same state directory, removes that service from the
// kernel (and only that one).
func TestKernelRestartRemovesDropped(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir() // before kernelBackend, so its flush runs first
	first, _, opts := kernelBackend(t)
	opts.StateDir = state
	first.keepState(state, nil)
	dropped := web("rr", rs("172.16.1.11", 1))
	dropped.Port = 8080
	kept := web("rr", rs("172.16.1.10", 1))
	if err := first.Apply(ctx, dataplane.Table{Services: []dataplane.Service{kept, dropped}}); err != nil {
		t.Fatal(err)
	}
	// No Flush, no Close: the process is gone. A new one opens IPVS.
	second, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Apply(ctx, dataplane.Table{Services: []dataplane.Service{kept}}); err != nil {
		t.Fatal(err)
	}
	obs, err := second.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(obs.Table(), dataplane.Table{Services: []dataplane.Service{kept}}); len(d) != 0 {
		t.Fatalf("kernel after the restart differs from the new table: %v", d)
	}
}
