package ipvs

import (
	"context"
	"net/netip"
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

// TestPersistenceEngine: keepalived's persistence_engine reaches the
// service with its attributes in one edit (the kernel drops the engine of a
// service edited without one), comes back in Observe, and goes with an
// ordinary edit.
func TestPersistenceEngine(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	b := NewWithClient(fake)
	sip := web("rr", rs("172.16.1.10", 1))
	sip.Protocol, sip.Port, sip.PersistenceTimeout, sip.PersistenceEngine = dataplane.UDP, 5060, 60e9, "sip"
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{sip}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) < 2 || !strings.HasPrefix(fake.calls[0], "CreateService") || !strings.HasPrefix(fake.calls[1], "SetService") ||
		!strings.HasSuffix(fake.calls[1], "pe=sip") {
		t.Fatalf("calls = %v, want CreateService then SetService with pe=sip", fake.calls)
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.Services[0].PersistenceEngine; got != "sip" {
		t.Fatalf("observed engine %q, want sip", got)
	}
	fake.calls = nil
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{sip}}); err != nil || len(fake.calls) != 0 {
		t.Fatalf("re-apply: %v, calls %v", err, fake.calls)
	}
	sip.PersistenceTimeout = 120e9
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{sip}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 || !strings.HasPrefix(fake.calls[0], "SetService") {
		t.Fatalf("calls = %v, want one SetService keeping the engine", fake.calls)
	}
	fake.calls = nil
	sip.PersistenceEngine = ""
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{sip}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 || !strings.HasPrefix(fake.calls[0], "UpdateService") || fake.pes[svcID(fake.services[0])] != "" {
		t.Fatalf("calls = %v, engines %v; want one UpdateService removing it", fake.calls, fake.pes)
	}
}

// TestEncodeServicePERoundTrip: the service key and engine survive our
// encoding as the kernel's reply carries them.
func TestEncodeServicePERoundTrip(t *testing.T) {
	for _, s := range []dataplane.Service{
		{VIP: netip.MustParseAddr("172.16.1.1"), Port: 5060, Protocol: dataplane.UDP, Scheduler: "rr", PersistenceTimeout: 60e9},
		{VIP: netip.MustParseAddr("2001:db8::1"), Port: 5060, Protocol: dataplane.UDP, Scheduler: "rr", PersistenceTimeout: 60e9, PersistenceBits: 64},
		{FWMark: 7, Scheduler: "rr", PersistenceTimeout: 60e9},
	} {
		c := dataplane.Table{Services: []dataplane.Service{s}}.Canonical().Services[0]
		data, err := encodeService(toIPVS(c), "sip")
		if err != nil {
			t.Fatal(err)
		}
		k, pe, err := decodeServicePE(data)
		if err != nil || k != s.Key() || pe != "sip" {
			t.Errorf("%s: decoded %v %q %v", s.Key(), k, pe, err)
		}
	}
}

// TestRealMethods: a real server's own method (real_server lvs_method,
// sorry_server_lvs_method) is its destination's, IPVS keeping one per
// destination; an unchanged table makes no calls, and a change of the
// service's method updates only the servers that inherit it.
func TestRealMethods(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	b := NewWithClient(fake)
	tun := rs("172.16.1.11", 1)
	tun.Method, tun.OwnMethod = dataplane.TUN, true
	s := web("rr", rs("172.16.1.10", 1), tun)
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	fwd := map[string]cipvs.ForwardType{}
	for _, d := range fake.dests[svcID(fake.services[0])] {
		fwd[d.Address.String()] = d.FwdMethod
	}
	if fwd["172.16.1.10"] != cipvs.DirectRoute || fwd["172.16.1.11"] != cipvs.Tunnel {
		t.Fatalf("destination methods %v, want 172.16.1.10 DR and 172.16.1.11 TUN", fwd)
	}
	fake.calls = nil
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil || len(fake.calls) != 0 {
		t.Fatalf("re-apply: %v, calls %v", err, fake.calls)
	}
	s.Method = dataplane.NAT
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{s}}); err != nil {
		t.Fatal(err)
	}
	var updates []string
	for _, c := range fake.calls {
		if strings.HasPrefix(c, "UpdateDestination") {
			updates = append(updates, c)
		}
	}
	if len(updates) != 1 || !strings.Contains(updates[0], "172.16.1.10") {
		t.Fatalf("updates %v, want only 172.16.1.10's (172.16.1.11 keeps its own TUN)", updates)
	}
}

// FuzzDecodeServicePE: any reply (a kernel of another version, a
// truncated message) decodes to an error or a key, never a panic.
func FuzzDecodeServicePE(f *testing.F) {
	for _, s := range []dataplane.Service{
		{VIP: netip.MustParseAddr("172.16.1.1"), Port: 5060, Protocol: dataplane.UDP, Scheduler: "rr"},
		{VIP: netip.MustParseAddr("2001:db8::1"), Port: 80, Protocol: dataplane.TCP, Scheduler: "rr", PersistenceBits: 64},
		{FWMark: 7, Scheduler: "rr"},
	} {
		c := dataplane.Table{Services: []dataplane.Service{s}}.Canonical().Services[0]
		data, err := encodeService(toIPVS(c), "sip")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, _, err := decodeServicePE(data)
		if err == nil && k.FWMark != 0 && (k.VIP.IsValid() || k.Port != 0) {
			t.Errorf("fwmark key with address or port: %+v", k)
		}
	})
}
