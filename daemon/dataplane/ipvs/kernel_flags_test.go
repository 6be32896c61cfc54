package ipvs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	cipvs "github.com/cloudflare/ipvs"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
)

// kernelServices reads the kernel's services straight from IPVS, by
// "PROTO VIP:PORT", to show what the kernel holds rather than what Observe
// makes of it.
func kernelServices(t *testing.T, c Client) map[string]cipvs.ServiceExtended {
	t.Helper()
	svcs, err := c.Services()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]cipvs.ServiceExtended{}
	for _, s := range svcs {
		out[dataplane.ServiceKey{VIP: s.Address, Protocol: dataplane.Protocol(s.Protocol), Port: s.Port, FWMark: s.FWMark}.String()] = s
	}
	return out
}

// TestKernelServiceFlags (IPVS VM): keepalived's ops, sh-port,
// sh-fallback, mh-port and flag-3 are the service flags the kernel reads
// back; the kernel adds its own hashed flag to every service; a flag
// change updates the service in place, and clearing them clears them.
func TestKernelServiceFlags(t *testing.T) {
	ctx := context.Background()
	b, cc, _ := kernelBackend(t)
	sh := web("sh", rs("172.16.1.10", 1), rs("172.16.1.11", 1))
	sh.Flags = dataplane.Fallback | dataplane.HashPort
	mh := web("mh", rs("172.16.1.10", 1))
	mh.Port, mh.Flags = 81, dataplane.HashPort
	ops := web("rr", rs("172.16.1.10", 1))
	ops.Protocol, ops.Port, ops.Flags = dataplane.UDP, 53, dataplane.OnePacket
	f3 := web("rr", rs("172.16.1.10", 1))
	f3.Port, f3.Flags = 82, dataplane.SchedFlag3
	table := dataplane.Table{Services: []dataplane.Service{sh, mh, ops, f3}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	want := map[string]cipvs.Flags{
		"TCP 172.16.1.1:80": cipvs.ServiceSchedulerOpt1 | cipvs.ServiceSchedulerOpt2, // IP_VS_SVC_F_SCHED_SH_FALLBACK|_SH_PORT
		"TCP 172.16.1.1:81": cipvs.ServiceSchedulerOpt2,                              // IP_VS_SVC_F_SCHED_MH_PORT
		"UDP 172.16.1.1:53": cipvs.ServiceOnePacket,
		"TCP 172.16.1.1:82": cipvs.ServiceSchedulerOpt3,
	}
	got := kernelServices(t, cc.Client)
	for id, w := range want {
		s, ok := got[id]
		if !ok {
			t.Fatalf("kernel has no service %s: %v", id, got)
		}
		t.Logf("kernel: %s sched %s flags %#x", id, s.Scheduler, uint32(s.Flags))
		if s.Flags&^cipvs.ServiceHashed != w {
			t.Errorf("%s: kernel flags %#x, want %#x (plus hashed)", id, uint32(s.Flags), uint32(w))
		}
		if s.Flags&cipvs.ServiceHashed == 0 {
			t.Errorf("%s: the kernel did not mark the service hashed (flags %#x)", id, uint32(s.Flags))
		}
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
		t.Errorf("observed table differs from desired: %v", d)
	}
	var out strings.Builder
	if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
		t.Fatal(err)
	}
	t.Logf("drlb status:\n%s", out.String())
	if !strings.Contains(out.String(), "sh (sh-fallback,sh-port)") || !strings.Contains(out.String(), "rr ops") {
		t.Errorf("status does not show the flags:\n%s", out.String())
	}

	cc.mutations = 0
	table.Services[0].Flags = 0
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if cc.mutations != 1 {
		t.Errorf("clearing one service's flags made %d changes, want 1", cc.mutations)
	}
	if s := kernelServices(t, cc.Client)["TCP 172.16.1.1:80"]; s.Flags&^cipvs.ServiceHashed != 0 {
		t.Errorf("cleared flags: kernel still has %#x", uint32(s.Flags))
	}
}

// TestKernelThresholds (IPVS VM): keepalived's uthreshold and lthreshold
// are the destination's upper and lower connection thresholds in the
// kernel, and a change updates them.
func TestKernelThresholds(t *testing.T) {
	ctx := context.Background()
	b, cc, _ := kernelBackend(t)
	r := rs("172.16.1.10", 1)
	r.UpperThreshold, r.LowerThreshold = 100, 10
	svc := web("wlc", r, rs("172.16.1.11", 1))
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]cipvs.DestinationExtended {
		t.Helper()
		s := kernelServices(t, cc.Client)["TCP 172.16.1.1:80"]
		ds, err := cc.Destinations(s.Service)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]cipvs.DestinationExtended{}
		for _, d := range ds {
			t.Logf("kernel: %s:%d weight %d uthreshold %d lthreshold %d", d.Address, d.Port, d.Weight, d.UpperThreshold, d.LowerThreshold)
			out[d.Address.String()] = d
		}
		return out
	}
	ds := read()
	if d := ds["172.16.1.10"]; d.UpperThreshold != 100 || d.LowerThreshold != 10 {
		t.Errorf("172.16.1.10: thresholds %d/%d, want 100/10", d.UpperThreshold, d.LowerThreshold)
	}
	if d := ds["172.16.1.11"]; d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		t.Errorf("172.16.1.11: thresholds %d/%d, want none", d.UpperThreshold, d.LowerThreshold)
	}
	svc.Reals[0].UpperThreshold, svc.Reals[0].LowerThreshold = 200, 0
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	if d := read()["172.16.1.10"]; d.UpperThreshold != 200 || d.LowerThreshold != 0 {
		t.Errorf("after the change: thresholds %d/%d, want 200/0", d.UpperThreshold, d.LowerThreshold)
	}
}

// TestKernelPersistenceEngine (IPVS VM): keepalived's persistence_engine
// sip is the service's engine in the kernel (ip_vs_pe_sip), read back by
// Observe; an edit keeps it, and an edit without it removes it.
func TestKernelPersistenceEngine(t *testing.T) {
	ctx := context.Background()
	b, _, _ := kernelBackend(t)
	if b.pe == nil {
		t.Fatal("the back end opened no persistence-engine client")
	}
	sip := web("rr", rs("172.16.1.10", 1), rs("172.16.1.11", 1))
	sip.Protocol, sip.Port, sip.PersistenceTimeout, sip.PersistenceEngine = dataplane.UDP, 5060, 60e9, "sip"
	table := dataplane.Table{Services: []dataplane.Service{sip, web("rr", rs("172.16.1.10", 1))}}
	observe := func(step string) map[dataplane.ServiceKey]string {
		t.Helper()
		pes, err := b.pe.ServicePEs()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: kernel engines %v", step, pes)
		obs, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
			t.Errorf("%s: observed table differs from desired: %v", step, d)
		}
		var out strings.Builder
		if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: drlb status:\n%s", step, out.String())
		return pes
	}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if pes := observe("create"); pes[sip.Key()] != "sip" || len(pes) != 1 {
		t.Errorf("kernel engines %v, want sip on %s only", pes, sip.Key())
	}
	table.Services[0].PersistenceTimeout = 120e9
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if pes := observe("edit"); pes[sip.Key()] != "sip" {
		t.Errorf("an edit lost the engine: %v", pes)
	}
	table.Services[0].PersistenceEngine = ""
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if pes := observe("remove"); len(pes) != 0 {
		t.Errorf("engine still set: %v", pes)
	}
}

// TestKernelRealMethods (IPVS VM): a real server's own method (a
// real_server's lvs_method, sorry_server_lvs_method) is its destination's
// in the kernel, beside servers that take the service's; re-applying
// changes nothing.
func TestKernelRealMethods(t *testing.T) {
	ctx := context.Background()
	b, cc, _ := kernelBackend(t)
	tun := rs("172.16.1.11", 1)
	tun.Method, tun.OwnMethod = dataplane.TUN, true
	nat := rs("172.16.1.12", 1)
	nat.Port, nat.Method, nat.OwnMethod = 8080, dataplane.NAT, true
	table := dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1), tun, nat)}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	s := kernelServices(t, cc.Client)["TCP 172.16.1.1:80"]
	ds, err := cc.Destinations(s.Service)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cipvs.ForwardType{}
	for _, d := range ds {
		t.Logf("kernel: %s:%d %v", d.Address, d.Port, d.FwdMethod)
		got[d.Address.String()] = d.FwdMethod
	}
	if got["172.16.1.10"] != cipvs.DirectRoute || got["172.16.1.11"] != cipvs.Tunnel || got["172.16.1.12"] != cipvs.Masquerade {
		t.Errorf("kernel methods %v, want DR, TUN, NAT", got)
	}
	cc.mutations = 0
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if cc.mutations != 0 {
		t.Errorf("re-applying made %d changes", cc.mutations)
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := dataplane.FormatIPVSADM(&out, obs); err != nil {
		t.Fatal(err)
	}
	t.Logf("drlb status:\n%s", out.String())
	if !strings.Contains(out.String(), "Tunnel") || !strings.Contains(out.String(), "Masq") {
		t.Errorf("status does not show each server's method:\n%s", out.String())
	}
}

// TestKernelOtherNamespace (IPVS VM): the back end opened with NetNSPath
// (net_namespace_ipvs) programs that namespace's IPVS and nothing of the
// caller's, and its housekeeping sets that namespace's timeouts.
func TestKernelOtherNamespace(t *testing.T) {
	if os.Getenv(VMEnv) != "1" {
		t.Skipf("runs inside the IPVS VM only (%s=1): it compares a namespace's IPVS with the caller's", VMEnv)
	}
	ctx := context.Background()
	other := nstest.New(t, "ipvsns")
	b, err := New(dataplane.Options{NetNSPath: other.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	table := dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1))}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
		t.Errorf("the namespace's IPVS differs from desired: %v", d)
	}
	here, err := cipvs.New()
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := here.Services()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	t.Logf("services in the caller's namespace: %d; in %s: %d", len(svcs), other.Name, len(obs.Services))
	if len(svcs) != 0 {
		t.Errorf("the caller's namespace got services: %+v", svcs)
	}
	hk, err := OpenHousekeeping(other.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	if err := hk.SetTimeouts(123*time.Second, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
