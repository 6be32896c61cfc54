package nft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestGoneReals checks which servers' connection entries an Apply forgets:
// those removed from a service or with their service, not those drained
// (weight 0), and an IPv6 server only when no IPv6 service on its port
// keeps it (IPv6 connection keys hold no VIP).
func TestGoneReals(t *testing.T) {
	cfg := settings{connShards: 2, seed: defaultSeed}
	v6 := func(vip string, port uint16, reals ...string) dataplane.Service {
		s := dataplane.Service{VIP: netip.MustParseAddr(vip), Port: port, Protocol: dataplane.TCP, Scheduler: "mh", Interface: "eth1"}
		for _, r := range reals {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.MustParseAddr(r), Port: port, Weight: 1})
		}
		return s
	}
	udp := svc("wrr", real("10.0.0.1", 1), real("10.0.0.2", 1))
	udp.Protocol = dataplane.UDP
	tables := map[string]dataplane.Table{
		"both":      {Services: []dataplane.Service{svc("wrr", real("10.0.0.1", 1), real("10.0.0.2", 1)), udp}},
		"one":       {Services: []dataplane.Service{svc("wrr", real("10.0.0.2", 1)), udp}},
		"drained":   {Services: []dataplane.Service{svc("wrr", real("10.0.0.1", 0), real("10.0.0.2", 1)), udp}},
		"udp only":  {Services: []dataplane.Service{udp}},
		"v6 two":    {Services: []dataplane.Service{v6("fd00::1", 80, "fd00::10"), v6("fd00::2", 80, "fd00::10", "fd00::11")}},
		"v6 shared": {Services: []dataplane.Service{v6("fd00::1", 80, "fd00::10"), v6("fd00::2", 80, "fd00::11")}},
		"v6 gone":   {Services: []dataplane.Service{v6("fd00::1", 80, "fd00::11"), v6("fd00::2", 80, "fd00::11")}},
	}
	gone4 := func(p dataplane.Protocol, vip, real string) goneReal {
		return goneReal{proto: p, conn: connKey{vip: netip.MustParseAddr(vip), port: 80, mark: markNumber(netip.MustParseAddr(real))}}
	}
	gone6 := func(real string) goneReal {
		return goneReal{proto: dataplane.TCP, conn: connKey{vip: netip.IPv6Unspecified(), port: 80, mark: markNumber(netip.MustParseAddr(real))}}
	}
	vip := "172.16.1.1"
	for _, tc := range []struct {
		from, to string
		want     []goneReal
	}{
		{"both", "both", nil},
		{"both", "one", []goneReal{gone4(dataplane.TCP, vip, "10.0.0.1")}},
		{"both", "drained", nil},
		{"both", "udp only", []goneReal{gone4(dataplane.TCP, vip, "10.0.0.1"), gone4(dataplane.TCP, vip, "10.0.0.2")}},
		{"one", "both", nil},
		// fd00::10 leaves fd00::2 but fd00::1 on the same port keeps it.
		{"v6 two", "v6 shared", nil},
		{"v6 two", "v6 gone", []goneReal{gone6("fd00::10")}},
	} {
		from, err := render(tables[tc.from].Canonical(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		to, err := render(tables[tc.to].Canonical(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// As our last Apply left it (fingerprints known), and as read back
		// from the kernel (no fingerprints: every service is compared).
		applied := wantAsCurrent(from, tables[tc.from])
		readBack := emptyCurrent()
		for id, sp := range applied.services {
			readBack.services[id] = &serviceParts{id: id, elements: sp.elements}
		}
		for how, cur := range map[string]current{"applied": *applied, "read back": readBack} {
			got := goneReals(cur, to)
			ok := len(got) == len(tc.want)
			for _, g := range tc.want {
				ok = ok && got[g]
			}
			if !ok {
				t.Errorf("%s → %s (%s): gone %v; want %v", tc.from, tc.to, how, got, tc.want)
			}
		}
	}
}

// TestForgetGoneRealsFake checks, on knftables' fake, that Apply deletes
// exactly the connection entries of a removed server.
func TestForgetGoneRealsFake(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{ConnTableShards: 1})
	both := dataplane.Table{Services: []dataplane.Service{svc("wrr", real("10.0.0.1", 1), real("10.0.0.2", 1))}}
	if err := b.Apply(ctx, both); err != nil {
		t.Fatal(err)
	}
	m := ipv4.connMap(dataplane.TCP, 0)
	tx := fake.NewTransaction()
	tx.Add(&knftables.Element{Map: m, Key: []string{"172.16.1.1 . 80 . 198.51.100.7 . 40000"}, Value: []string{"0x0a000001"}})
	tx.Add(&knftables.Element{Map: m, Key: []string{"172.16.1.1 . 80 . 198.51.100.7 . 40001"}, Value: []string{"0x0a000002"}})
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc("wrr", real("10.0.0.2", 1))}}); err != nil {
		t.Fatal(err)
	}
	entries, err := b.connEntries(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].owner.mark != 0x0a000002 {
		t.Errorf("after removing 10.0.0.1 the connection map holds %+v; want only the entry of 10.0.0.2", entries)
	}
}

// TestForgetFailureOnlyWarns checks that a failure to forget the entries
// of a removed server does not fail the Apply: the new table is in force.
func TestForgetFailureOnlyWarns(t *testing.T) {
	ctx := context.Background()
	var logged bytes.Buffer
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc("wrr", real("10.0.0.1", 1), real("10.0.0.2", 1))}}); err != nil {
		t.Fatal(err)
	}
	b.connEntries = func(context.Context, string) ([]connEntry, error) { return nil, errors.New("dump refused") }
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc("wrr", real("10.0.0.2", 1))}}); err != nil {
		t.Fatalf("Apply failed although the table was committed: %v", err)
	}
	if !strings.Contains(logged.String(), "dump refused") {
		t.Errorf("no warning logged: %q", logged.String())
	}
}

// TestKernelForgetsRemovedServers checks, in the kernel, that an Apply
// deletes the connection entries of the servers it removes, IPv4 and IPv6
// (whose keys are read and written by netlink and nft here, not by the
// fake), both after our own Apply and from a back end that read the table
// back from the kernel.
func TestKernelForgetsRemovedServers(t *testing.T) {
	ctx := context.Background()
	b, ns := kernelBackend(t, "forget")
	v6 := func(s dataplane.Service) dataplane.Service {
		s.VIP = netip.MustParseAddr("fd00:172:16:1::1")
		return s
	}
	table := func(r4, r6 []string) dataplane.Table {
		s4, s6 := svc("mh"), v6(svc("mh"))
		for _, r := range r4 {
			s4.Reals = append(s4.Reals, real(r, 1))
		}
		for _, r := range r6 {
			s6.Reals = append(s6.Reals, real(r, 1))
		}
		return dataplane.Table{Services: []dataplane.Service{s4, s6}}
	}
	all := table([]string{"172.16.1.10", "172.16.1.11", "172.16.1.12"}, []string{"fd00:172:16:1::10", "fd00:172:16:1::11"})
	if err := b.Apply(ctx, all); err != nil {
		t.Fatal(err)
	}
	mark := func(a string) uint32 { return realMarks(all.Services[1].Reals)[netip.MustParseAddr(a)] }
	// One entry per server, as the packet path would record them.
	add := fmt.Sprintf("add element netdev %[1]s %[2]s { 172.16.1.1 . 80 . 198.51.100.7 . 40000 : 0xac10010a, "+
		"172.16.1.1 . 80 . 198.51.100.7 . 40001 : 0xac10010b, 172.16.1.1 . 80 . 198.51.100.7 . 40002 : 0xac10010c }; "+
		"add element netdev %[1]s %[3]s { 80 . 40000 . 7 : %[4]d, 80 . 40001 . 7 : %[5]d }",
		DefaultTable, ipv4.connMap(dataplane.TCP, 0), ipv6.connMap(dataplane.TCP, 0), mark("fd00:172:16:1::10"), mark("fd00:172:16:1::11"))
	if out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", add).CombinedOutput(); err != nil {
		t.Fatalf("nft %s: %v: %s", add, err, out)
	}
	left := func() map[uint32]int {
		t.Helper()
		marks := map[uint32]int{}
		err := dataplane.InNetNS(ns.Path, func() error {
			for _, m := range []string{ipv4.connMap(dataplane.TCP, 0), ipv6.connMap(dataplane.TCP, 0)} {
				entries, err := connEntriesNetlink(DefaultTable, m)
				if err != nil {
					return err
				}
				for _, e := range entries {
					marks[e.owner.mark]++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return marks
	}
	if got := left(); len(got) != 5 {
		t.Fatalf("before: entries by mark %v; want 5 servers", got)
	}

	// Our own Apply removes .10 and ::10.
	if err := b.Apply(ctx, table([]string{"172.16.1.11", "172.16.1.12"}, []string{"fd00:172:16:1::11"})); err != nil {
		t.Fatal(err)
	}
	got := left()
	if got[0xac10010a] != 0 || got[mark("fd00:172:16:1::10")] != 0 || got[0xac10010b] != 1 || got[0xac10010c] != 1 || got[mark("fd00:172:16:1::11")] != 1 {
		t.Errorf("after removing .10 and ::10: entries by mark %v; want one each of .11, .12 and ::11", got)
	}

	// A back end that knows only the kernel removes .11.
	fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Apply(ctx, table([]string{"172.16.1.12"}, []string{"fd00:172:16:1::11"})); err != nil {
		t.Fatal(err)
	}
	got = left()
	if got[0xac10010b] != 0 || got[0xac10010c] != 1 || got[mark("fd00:172:16:1::11")] != 1 {
		t.Errorf("after a fresh back end removed .11: entries by mark %v; want one each of .12 and ::11", got)
	}
}

// TestGoneAffinities checks which affinity entries an Apply forgets: those
// of servers a persistent service lost, not of drained ones, and none of a
// service without persistence.
func TestGoneAffinities(t *testing.T) {
	cfg := settings{connShards: 1, seed: defaultSeed}
	persistent := func(reals ...dataplane.Real) dataplane.Table {
		s := svc("rr", reals...)
		s.PersistenceTimeout = 60e9
		return dataplane.Table{Services: []dataplane.Service{s}}
	}
	plain := func(reals ...dataplane.Real) dataplane.Table {
		return dataplane.Table{Services: []dataplane.Service{svc("rr", reals...)}}
	}
	pm := persistenceMap(persistent().Canonical().Services[0])
	for _, tc := range []struct {
		name     string
		from, to dataplane.Table
		want     map[string]map[uint32]bool
	}{
		{"removed", persistent(real("10.0.0.1", 1), real("10.0.0.2", 1)), persistent(real("10.0.0.2", 1)),
			map[string]map[uint32]bool{pm: {0x0a000001: true}}},
		{"drained", persistent(real("10.0.0.1", 1), real("10.0.0.2", 1)), persistent(real("10.0.0.1", 0), real("10.0.0.2", 1)), nil},
		{"added", persistent(real("10.0.0.2", 1)), persistent(real("10.0.0.1", 1), real("10.0.0.2", 1)), nil},
		{"not persistent", plain(real("10.0.0.1", 1), real("10.0.0.2", 1)), plain(real("10.0.0.2", 1)), nil},
	} {
		from, err := render(tc.from.Canonical(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		to, err := render(tc.to.Canonical(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := goneAffinities(*wantAsCurrent(from, tc.from), to)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("%s: gone affinities %v; want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseRealKey: any reals-map key as nft may print it parses to a
// server or to false, never a panic; IPv6 keys carry no VIP (as the
// connection keys).
func FuzzParseRealKey(f *testing.F) {
	for _, k := range []string{"172.16.1.1 . tcp . 80 . 0x00000001", "fd00::1 . udp . 53 . 2", "::ffff:10.0.0.1 . 132 . 0x50 . 0", " . . . ", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		g, ok := parseRealKey(key)
		if ok && g.conn.vip.Is6() && g.conn.vip != netip.IPv6Unspecified() {
			t.Errorf("%q: IPv6 key kept its VIP %v", key, g.conn.vip)
		}
	})
}
