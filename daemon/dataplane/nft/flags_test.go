package nft

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// scheduleRule returns the rule of a service's schedule chain that picks a
// slot ("meta mark 0x0 meta mark set jhash ...").
func scheduleRule(t *testing.T, s dataplane.Service) string {
	t.Helper()
	parts, err := renderService(s, settings{seed: 1, connShards: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range parts.chains {
		if !strings.HasPrefix(c.name, "sch_") {
			continue
		}
		for _, r := range c.rules {
			if strings.Contains(r.text, "meta mark set jhash") || strings.Contains(r.text, "numgen") {
				return r.text
			}
		}
	}
	t.Fatalf("no slot rule in %+v", parts.chains)
	return ""
}

// TestShPortHashesThePort: IPVS's sh hashes the client address only, and
// with sh-port (flag-2) its port too; the nft data plane does the same.
// mh hashes both either way (README: nft mh behaves as with mh-port).
func TestShPortHashesThePort(t *testing.T) {
	sh := svc("sh", real("172.16.1.10", 1), real("172.16.1.11", 1))
	shPort := sh
	shPort.Flags = dataplane.HashPort
	mh := svc("mh", real("172.16.1.10", 1), real("172.16.1.11", 1))
	for _, tt := range []struct {
		name string
		s    dataplane.Service
		want string
	}{
		{"sh", sh, "jhash ip saddr mod"},
		{"sh-port", shPort, "jhash ip saddr . th sport mod"},
		{"mh", mh, "jhash ip saddr . th sport mod"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduleRule(t, tt.s); !strings.Contains(got, tt.want) {
				t.Errorf("slot rule %q, want it to contain %q", got, tt.want)
			}
		})
	}
	if fingerprint(sh) == fingerprint(shPort) {
		t.Error("sh-port does not change the service's fingerprint: a flag change would not re-render it")
	}
}

// TestFallbackSlotsSkipInhibited: with sh-fallback/mh-fallback IPVS sends a
// new flow whose hashed server has weight 0 to another one; the nft data
// plane's Maglev table gives an inhibited server no slot at all, so every
// new flow lands on a server that takes it, flag or not.
func TestFallbackSlotsSkipInhibited(t *testing.T) {
	for _, sched := range []string{"sh", "mh"} {
		s := svc(sched, real("172.16.1.10", 0), real("172.16.1.11", 1))
		s.Flags = dataplane.Fallback
		parts, err := renderService(s, settings{seed: 1, connShards: 2})
		if err != nil {
			t.Fatal(err)
		}
		marks := realMarks(s.Reals)
		inhibited := fmt.Sprintf("0x%08x", marks[s.Reals[0].Addr])
		slots := parts.elements[familyOf(s.VIP).slots()]
		if len(slots) == 0 {
			t.Fatalf("%s: no slots", sched)
		}
		for _, e := range slots {
			if e[1] == inhibited {
				t.Fatalf("%s: slot %s goes to the inhibited server", sched, e[0])
			}
		}
	}
}

// TestRefusesIPVSOnlyFlags: one-packet scheduling and a persistence engine
// are IPVS's; the nft back end refuses them before changing anything.
func TestRefusesIPVSOnlyFlags(t *testing.T) {
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{})
	b.linkCheck = func(string) error { return nil }
	ops := svc("rr", real("10.0.0.1", 1))
	ops.Protocol, ops.Flags = dataplane.UDP, dataplane.OnePacket
	pe := svc("rr", real("10.0.0.1", 1))
	pe.Protocol, pe.PersistenceEngine, pe.PersistenceTimeout = dataplane.UDP, "sip", 60e9
	for _, tt := range []struct {
		s    dataplane.Service
		want string
	}{{ops, "ops) needs IPVS"}, {pe, `persistence engine "sip" needs IPVS`}} {
		err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{tt.s}})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUnsupported) {
			t.Errorf("err = %v, want ErrUnsupported containing %q", err, tt.want)
		}
		if fake.LastTransaction != nil {
			t.Errorf("a transaction ran: %s", fake.LastTransaction)
		}
	}
}

// TestParseDescFlags: the flags come back from the description, so Observe
// reports what was applied.
func TestParseDescFlags(t *testing.T) {
	s := svc("sh")
	s.Flags = dataplane.HashPort | dataplane.Fallback
	got, err := parseServiceDesc(serviceDesc(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.Flags != s.Flags {
		t.Errorf("flags = %v, want %v", got.Flags, s.Flags)
	}
	if strings.Contains(serviceDesc(svc("sh")), "flags") {
		t.Error("a service without flags describes flags")
	}
}

// TestDRShPort sends connections from one client through the VIP: sh
// hashes the client's address, so all reach one server; with sh-port
// (flag-2) it hashes the port too, as IPVS's sh does, and they spread.
func TestDRShPort(t *testing.T) {
	ctx := context.Background()
	lab := newDRLab(t)
	for _, tt := range []struct {
		name   string
		flags  dataplane.ServiceFlags
		spread bool
	}{{"sh", 0, false}, {"sh-port", dataplane.HashPort, true}} {
		t.Run(tt.name, func(t *testing.T) {
			if err := lab.backend.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			table := drTable("sh", 1, 1, "172.16.1.10", "172.16.1.11")
			table.Services[0].Flags = tt.flags
			if err := lab.backend.Apply(ctx, table); err != nil {
				t.Fatal(err)
			}
			const n = 60
			got := map[string]int{}
			for range n {
				c, _, name := lab.Connect(t)
				c.Close()
				got[name]++
			}
			t.Logf("%s over %d connections from one client: %v", tt.name, n, got)
			if spread := len(got) == 2 && got["rs1"] >= n/5 && got["rs2"] >= n/5; spread != tt.spread {
				t.Errorf("connections %v: spread over both servers = %v, want %v", got, spread, tt.spread)
			}
		})
	}
}
