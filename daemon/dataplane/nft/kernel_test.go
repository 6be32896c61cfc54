package nft

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/daemon/dataplane/maglev"
	"github.com/drlb/drlb/internal/testenv"
)

// listTable returns `nft -a list table netdev drlb` run inside ns.
func listTable(t testing.TB, ns *nstest.NS) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-a", "list", "table", "netdev", DefaultTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return string(out)
}

// checkFreshBackend checks that a back end started fresh in ns, knowing
// nothing but the kernel, reapplies table without changing the ruleset
// (before), and that another fresh one observes table from the kernel alone.
func checkFreshBackend(t *testing.T, ctx context.Context, ns *nstest.NS, table dataplane.Table, before string) {
	t.Helper()
	fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if after := listTable(t, ns); after != before {
		t.Errorf("reapplying from a fresh backend changed the ruleset:\n--- before\n%s\n--- after\n%s", before, after)
	}
	observer, err := New(dataplane.Options{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := observer.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
		t.Errorf("observed from the kernel differs from applied: %v", d)
	}
}

func kernelBackend(t testing.TB, suffix string) (*Backend, *nstest.NS) {
	t.Helper()
	testenv.Privileged(t, "nft")
	ns := nstest.New(t, suffix)
	ns.AddVeth(t, "eth1", "eth1p")
	b, err := New(dataplane.Options{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	return b, ns
}

func TestKernelApply(t *testing.T) {
	ctx := context.Background()
	b, ns := kernelBackend(t, "apply")
	persistent := svc("lc", real("172.16.1.10", 1), real("172.16.1.11", 1))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300e9
	persistent.PersistenceBits = 24
	table := dataplane.Table{Services: []dataplane.Service{
		svc("wrr", real("172.16.1.10", 1), real("172.16.1.11", 2)),
		persistent,
	}}
	mh := svc("mh", real("172.16.1.10", 1), real("172.16.1.11", 1))
	mh.Port = 8080
	table.Services = append(table.Services, mh)
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	before := listTable(t, ns)
	for _, want := range []string{`hook ingress device "eth1"`, "meta pkttype != host return", "fwd ip to ip daddr . meta l4proto . th dport . meta mark map @reals device \"eth1\"", "numgen inc mod 3 offset 1", "jhash ip saddr . th sport mod"} {
		if !strings.Contains(before, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, before)
		}
	}

	t.Run("reapply changes no handle", func(t *testing.T) {
		if err := b.Apply(ctx, table); err != nil {
			t.Fatal(err)
		}
		if after := listTable(t, ns); after != before {
			t.Errorf("reapplying changed the ruleset:\n--- before\n%s\n--- after\n%s", before, after)
		}
	})

	t.Run("a fresh backend reads the kernel and changes nothing", func(t *testing.T) {
		checkFreshBackend(t, ctx, ns, table, before)
	})

	t.Run("observe", func(t *testing.T) {
		obs, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
			t.Errorf("observed differs from applied: %v", d)
		}
	})

	t.Run("failed apply keeps the old ruleset", func(t *testing.T) {
		base := regexp.MustCompile(`chain (ingress_eth1_[0-9a-f]+)`).FindStringSubmatch(before)
		if base == nil {
			t.Fatalf("no base chain in:\n%s", before)
		}
		b.mutateTx = func(tx *knftables.Transaction) {
			// A rule in an existing chain that the kernel refuses.
			tx.Add(&knftables.Rule{Chain: base[1], Rule: "ip saddr @no_such_set drop"})
		}
		defer func() { b.mutateTx = nil }()
		changed := dataplane.Table{Services: table.Services[:1]}
		if err := b.Apply(ctx, changed); err == nil {
			t.Fatal("corrupted transaction succeeded")
		}
		if after := listTable(t, ns); after != before {
			t.Errorf("failed apply changed the ruleset:\n--- before\n%s\n--- after\n%s", before, after)
		}
	})

	t.Run("missing interface rejected", func(t *testing.T) {
		bad := svc("rr", real("172.16.1.10", 1))
		bad.Interface = "nosuch0"
		err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{bad}})
		if err == nil || !strings.Contains(err.Error(), `interface "nosuch0" does not exist`) {
			t.Errorf("err = %v", err)
		}
		if after := listTable(t, ns); after != before {
			t.Error("rejected table changed the ruleset")
		}
	})

	t.Run("one-server change touches only its service", func(t *testing.T) {
		changed := dataplane.Table{Services: append([]dataplane.Service(nil), table.Services...)}
		changed.Services[0].Reals = []dataplane.Real{real("172.16.1.11", 2)}
		if err := b.Apply(ctx, changed); err != nil {
			t.Fatal(err)
		}
		after := listTable(t, ns)
		for _, line := range strings.Split(before, "\n") {
			if strings.Contains(line, "172_16_1_1_443") && strings.Contains(line, "# handle") && !strings.Contains(after, strings.TrimSpace(line)) {
				t.Errorf("unrelated line changed: %s", line)
			}
		}
	})

	t.Run("removing the persistent service removes its chains and map", func(t *testing.T) {
		without := dataplane.Table{Services: []dataplane.Service{table.Services[0], table.Services[2]}}
		if err := b.Apply(ctx, without); err != nil {
			t.Fatal(err)
		}
		got := listTable(t, ns)
		for _, gone := range []string{"172_16_1_1_443", "172.16.1.1 . tcp . 443"} {
			if strings.Contains(got, gone) {
				t.Errorf("%q left after removing its service:\n%s", gone, got)
			}
		}
		if !strings.Contains(got, "172_16_1_1_8080") {
			t.Errorf("the mh service went too:\n%s", got)
		}
	})

	t.Run("outside change is noticed", func(t *testing.T) {
		if out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "delete", "table", "netdev", DefaultTable).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if err := b.Apply(ctx, table); err != nil {
			t.Fatal(err)
		}
		if got := listTable(t, ns); !strings.Contains(got, "meta pkttype != host return") {
			t.Errorf("table not restored after an outside delete:\n%s", got)
		}
	})

	t.Run("flush", func(t *testing.T) {
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("ip", "netns", "exec", ns.Name, "nft", "list", "tables").CombinedOutput()
		if strings.Contains(string(out), "drlb") {
			t.Errorf("table left after Flush: %s", out)
		}
	})
}

func TestKernelLeavesOtherTablesAlone(t *testing.T) {
	ctx := context.Background()
	b, ns := kernelBackend(t, "other")
	if out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "add table inet other; add chain inet other c; add rule inet other c counter").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{svc("rr", real("172.16.1.10", 1))}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "other").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "counter") {
		t.Errorf("other table damaged: %v: %s", err, out)
	}
}

func bigTable(services, reals int) dataplane.Table {
	var t dataplane.Table
	for i := range services {
		s := dataplane.Service{VIP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Protocol: dataplane.TCP,
			Scheduler: []string{"wrr", "mh"}[i%2], Interface: "eth1"}
		for j := range reals {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.AddrFrom4([4]byte{10, 2, byte(i % 250), byte(j + 1)}), Port: 80, Weight: uint32(j%3 + 1)})
		}
		t.Services = append(t.Services, s)
	}
	return t
}

// BenchmarkKernelApplyFromEmpty applies 1,000 services × 10 servers to an empty table.
func BenchmarkKernelApplyFromEmpty(b *testing.B) {
	ctx := context.Background()
	be, _ := kernelBackend(b, fmt.Sprintf("bench%d", b.N))
	table := bigTable(1000, 10)
	for b.Loop() {
		if err := be.Apply(ctx, table); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := be.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkKernelApplyOneServer changes one server's weight on top of 1,000 × 10.
func BenchmarkKernelApplyOneServer(b *testing.B) {
	ctx := context.Background()
	be, _ := kernelBackend(b, fmt.Sprintf("bone%d", b.N))
	table := bigTable(1000, 10)
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		table.Services[0].Reals[0].Weight = uint32(i%5 + 1)
		if err := be.Apply(ctx, table); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKernelObserve observes a 1,000 × 10 table: after our own Apply
// (services from memory, connection maps listed) and from a fresh back end
// (rule comments read from the kernel as text).
func BenchmarkKernelObserve(b *testing.B) {
	ctx := context.Background()
	be, ns := kernelBackend(b, fmt.Sprintf("bobs%d", b.N))
	table := bigTable(1000, 10)
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		be   *Backend
	}{{"cached", be}, {"fresh", fresh}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				obs, err := bc.be.Observe(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(obs.Services) != 1000 {
					b.Fatalf("observed %d services, want 1000", len(obs.Services))
				}
			}
		})
	}
}

// BenchmarkKernelApplyFresh reapplies an unchanged 1,000 × 10 table from a
// back end that did not apply it (a daemon restart): it reads the table
// back from the kernel and changes nothing.
func BenchmarkKernelApplyFresh(b *testing.B) {
	ctx := context.Background()
	be, ns := kernelBackend(b, fmt.Sprintf("bfresh%d", b.N))
	table := bigTable(1000, 10)
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
		if err != nil {
			b.Fatal(err)
		}
		if err := fresh.Apply(ctx, table); err != nil {
			b.Fatal(err)
		}
	}
}

// scaleOutTable is services scale-out services (announced by BGP) with
// reals real servers each, at maglev.ScaleOutSize.
func scaleOutTable(services, reals int) dataplane.Table {
	var t dataplane.Table
	for i := range services {
		s := dataplane.Service{VIP: netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)}), Port: 80, Protocol: dataplane.TCP,
			Scheduler: "mh", Interface: "eth1", HashTableSize: maglev.ScaleOutSize}
		for j := range reals {
			s.Reals = append(s.Reals, dataplane.Real{Addr: netip.AddrFrom4([4]byte{10, 4, byte(i % 250), byte(j + 1)}), Port: 80, Weight: 1})
		}
		t.Services = append(t.Services, s)
	}
	return t
}

// BenchmarkScaleOutApply measures what the scale-out table size costs: a
// 65,537-slot service applied from empty, one of its real servers going
// down (weight 0: its slots are refilled), and kernel memory per service
// (Slab growth in /proc/meminfo over 10 such services, reported as
// slab-MB/service).
func BenchmarkScaleOutApply(b *testing.B) {
	ctx := context.Background()
	b.Run("from-empty", func(b *testing.B) {
		be, _ := kernelBackend(b, fmt.Sprintf("bso%d", b.N))
		table := scaleOutTable(1, 3)
		for b.Loop() {
			if err := be.Apply(ctx, table); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := be.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("real-down", func(b *testing.B) {
		be, _ := kernelBackend(b, fmt.Sprintf("bsod%d", b.N))
		table := scaleOutTable(1, 3)
		if err := be.Apply(ctx, table); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			table.Services[0].Reals[0].Weight = uint32(i % 2)
			if err := be.Apply(ctx, table); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("with-1000x10", func(b *testing.B) {
		be, _ := kernelBackend(b, fmt.Sprintf("bsob%d", b.N))
		table := bigTable(1000, 10)
		table.Services = append(table.Services, scaleOutTable(1, 10).Services...)
		for b.Loop() {
			if err := be.Apply(ctx, table); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := be.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("memory", func(b *testing.B) {
		be, _ := kernelBackend(b, fmt.Sprintf("bsom%d", b.N))
		const n = 10
		var grew float64
		for b.Loop() {
			before := slabKB(b)
			if err := be.Apply(ctx, scaleOutTable(n, 3)); err != nil {
				b.Fatal(err)
			}
			grew += float64(slabKB(b) - before)
			b.StopTimer()
			if err := be.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(grew/float64(b.N)/n/1024, "slab-MB/service")
	})
}

// slabKB reads the kernel's slab memory (kB) from /proc/meminfo.
func slabKB(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Slab:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
	}
	b.Fatal("no Slab line in /proc/meminfo")
	return 0
}

// TestKernelApplyDualStack is TestKernelApply's round trip for a table with
// IPv4 and IPv6 services on one device: the kernel takes the IPv6 maps and
// rules, a fresh back end reads the IPv6 map elements back (netlink keys
// of 24 and 28 bytes) and changes nothing, observes the same table, and
// removing the IPv6 services leaves the IPv4 one and no IPv6 map entry.
func TestKernelApplyDualStack(t *testing.T) {
	ctx := context.Background()
	b, ns := kernelBackend(t, "dual")
	v6 := func(s dataplane.Service) dataplane.Service {
		s.VIP = netip.MustParseAddr("fd00:172:16:1::1")
		return s
	}
	persistent := v6(svc("wlc", real("fd00:172:16:1::10", 1), real("fd00:172:16:1::11", 1)))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300e9
	persistent.PersistenceBits = 64
	table := dataplane.Table{Services: []dataplane.Service{
		svc("wrr", real("172.16.1.10", 1), real("172.16.1.11", 2)),
		v6(svc("mh", real("fd00:172:16:1::10", 1), real("fd00:172:16:1::11", 3))),
		persistent,
	}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	before := listTable(t, ns)
	for _, want := range []string{
		`fwd ip6 to ip6 daddr . meta l4proto . th dport . meta mark map @reals6 device "eth1"`,
		`fwd ip to ip daddr . meta l4proto . th dport . meta mark map @reals device "eth1"`,
		"ip6 saddr & ffff:ffff:ffff:ffff::",
		"fd00:172:16:1::1 . tcp . 80",
	} {
		if !strings.Contains(before, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, before)
		}
	}

	t.Run("a fresh backend reads the kernel and changes nothing", func(t *testing.T) {
		checkFreshBackend(t, ctx, ns, table, before)
	})

	t.Run("a fresh backend changes one IPv6 server", func(t *testing.T) {
		changed := dataplane.Table{Services: append([]dataplane.Service(nil), table.Services...)}
		changed.Services[1].Reals = []dataplane.Real{real("fd00:172:16:1::11", 3)}
		fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
		if err != nil {
			t.Fatal(err)
		}
		if err := fresh.Apply(ctx, changed); err != nil {
			t.Fatal(err)
		}
		obs, err := fresh.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), changed); len(d) != 0 {
			t.Errorf("observed differs from applied: %v", d)
		}
	})

	t.Run("removing the IPv6 services leaves the IPv4 one", func(t *testing.T) {
		only4 := dataplane.Table{Services: table.Services[:1]}
		fresh, err := New(dataplane.Options{NetNSPath: ns.Path})
		if err != nil {
			t.Fatal(err)
		}
		if err := fresh.Apply(ctx, only4); err != nil {
			t.Fatal(err)
		}
		got := listTable(t, ns)
		for _, gone := range []string{"fd00:172:16:1::", "fd00_172", "ip6 "} {
			if strings.Contains(got, gone) {
				t.Errorf("%q left after removing the IPv6 services:\n%s", gone, got)
			}
		}
		if !strings.Contains(got, "172.16.1.1 . tcp . 80") {
			t.Errorf("the IPv4 service went too:\n%s", got)
		}
	})
}
