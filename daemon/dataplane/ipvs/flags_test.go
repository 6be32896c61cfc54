package ipvs

import (
	"context"
	"strings"
	"testing"

	cipvs "github.com/cloudflare/ipvs"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestServiceFlags: ops and the scheduler flags (keepalived's flag-1..3,
// sh-/mh-port, sh-/mh-fallback) reach the IPVS service, come back in
// Observe without the kernel's own hashed flag, a change updates the
// service, and removing them clears them.
func TestServiceFlags(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	b := NewWithClient(fake)
	s := web("sh", rs("172.16.1.10", 1))
	s.Flags = dataplane.Fallback | dataplane.HashPort
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	if got := fake.services[0].Flags; got != cipvs.ServiceSchedulerOpt1|cipvs.ServiceSchedulerOpt2 {
		t.Fatalf("IPVS flags = %#x, want SCHED1|SCHED2", uint32(got))
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.Services[0].Flags; got != s.Flags {
		t.Fatalf("observed flags %v, want %v", got, s.Flags)
	}
	fake.calls = nil
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 0 {
		t.Fatalf("re-applying the same flags made calls %v", fake.calls)
	}
	s.Flags = dataplane.SchedFlag3
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 || !strings.HasPrefix(fake.calls[0], "UpdateService") || fake.services[0].Flags != cipvs.ServiceSchedulerOpt3 {
		t.Fatalf("calls = %v, flags %#x; want one UpdateService to SCHED3", fake.calls, uint32(fake.services[0].Flags))
	}
	udp := web("rr", rs("172.16.1.10", 1))
	udp.Protocol, udp.Flags = dataplane.UDP, dataplane.OnePacket
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{udp}}); err != nil {
		t.Fatal(err)
	}
	if got := fake.services[0].Flags; got != cipvs.ServiceOnePacket {
		t.Fatalf("IPVS flags = %#x, want ONEPACKET", uint32(got))
	}
}
