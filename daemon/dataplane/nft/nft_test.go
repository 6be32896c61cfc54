package nft

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func svc(sched string, reals ...dataplane.Real) dataplane.Service {
	return dataplane.Service{VIP: netip.MustParseAddr("172.16.1.1"), Port: 80, Protocol: dataplane.TCP,
		Scheduler: sched, Interface: "eth1", Reals: reals}
}

func real(addr string, w uint32) dataplane.Real {
	return dataplane.Real{Addr: netip.MustParseAddr(addr), Port: 80, Weight: w}
}

func TestRulesetGolden(t *testing.T) {
	persistent := svc("wlc", real("172.16.1.10", 1), real("172.16.1.11", 1))
	persistent.Port = 443
	persistent.PersistenceTimeout = 300 * time.Second
	persistent.PersistenceBits = 24
	vip6 := netip.MustParseAddr("fd00:172:16:1::1")
	mh6 := svc("mh", real("fd00:172:16:1::10", 1), real("fd00:172:16:1::11", 1))
	mh6.VIP = vip6
	persistent6 := svc("wlc", real("fd00:172:16:1::10", 1), real("fd00:172:16:1::11", 1))
	persistent6.VIP, persistent6.Port = vip6, 443
	persistent6.PersistenceTimeout = 300 * time.Second
	persistent6.PersistenceBits = 64
	tests := map[string]dataplane.Table{
		"wrr":        {Services: []dataplane.Service{svc("wrr", real("172.16.1.11", 2), real("172.16.1.10", 1))}},
		"mh":         {Services: []dataplane.Service{svc("mh", real("172.16.1.10", 1), real("172.16.1.11", 1))}},
		"inhibited":  {Services: []dataplane.Service{svc("rr", real("172.16.1.10", 0), real("172.16.1.11", 1))}},
		"persistent": {Services: []dataplane.Service{persistent}},
		"empty":      {},
		"ipv6-mh":    {Services: []dataplane.Service{mh6}},
		"ipv6-persistent-dual-stack": {Services: []dataplane.Service{
			persistent6, svc("wrr", real("172.16.1.10", 1), real("172.16.1.11", 1))}},
	}
	for name, table := range tests {
		t.Run(name, func(t *testing.T) {
			// Two connection-map shards keep the goldens short.
			got, err := Ruleset(table, dataplane.Options{ConnTableShards: 2})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "ruleset-"+name, got)
		})
	}
}

func TestRejectsBeforeChanging(t *testing.T) {
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{})
	b.linkCheck = func(name string) error {
		if name != "eth1" {
			return errors.New("no such network interface")
		}
		return nil
	}
	fw := dataplane.Service{FWMark: 5, Protocol: dataplane.TCP, Scheduler: "rr", Reals: []dataplane.Real{real("10.0.0.1", 1)}}
	nat := svc("rr", real("10.0.0.1", 1))
	nat.Method = dataplane.NAT
	noDev := svc("rr", real("10.0.0.1", 1))
	noDev.Interface = "eth9"
	unknown := svc("fastest", real("10.0.0.1", 1))
	tests := []struct {
		name  string
		svc   dataplane.Service
		want  string
		unsup bool
	}{
		{"fwmark", fw, "firewall-mark services need IPVS", true},
		{"nat", nat, "forwarding method NAT needs IPVS", true},
		{"missing interface", noDev, `interface "eth9" does not exist`, false},
		{"unknown scheduler", unknown, `unknown scheduler "fastest"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Apply(context.Background(), dataplane.Table{Services: []dataplane.Service{tt.svc}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if tt.unsup != errors.Is(err, ErrUnsupported) {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", !tt.unsup, tt.unsup)
			}
			if fake.LastTransaction != nil {
				t.Errorf("a transaction ran: %s", fake.LastTransaction)
			}
		})
	}
}

func TestApplyIdempotentAndMinimal(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{ConnTableShards: 2})
	table := dataplane.Table{Services: []dataplane.Service{
		svc("wrr", real("172.16.1.10", 1), real("172.16.1.11", 2)),
	}}
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	fake.LastTransaction = nil
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	if fake.LastTransaction != nil {
		t.Fatalf("reapplying the same table ran a transaction:\n%s", fake.LastTransaction)
	}
	// Remove one real: the service chain is replaced, only the real's
	// entries leave the shared maps, the connection table is untouched.
	table.Services[0].Reals = table.Services[0].Reals[1:]
	if err := b.Apply(ctx, table); err != nil {
		t.Fatal(err)
	}
	got := fake.LastTransaction.String()
	golden(t, "apply-remove-real", got)
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "element") && strings.Contains(line, "0xac10010b :") {
			t.Errorf("the remaining real's entries were touched: %s", line)
		}
		if strings.Contains(line, "netdev drlb conn_") || strings.Contains(line, "netdev drlb c") && strings.Contains(line, "_tcp_") {
			t.Errorf("the connection table was touched: %s", line)
		}
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(obs.Table(), table); len(d) != 0 {
		t.Errorf("observed table differs from applied: %v", d)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if fake.Table != nil {
		t.Errorf("table still present after Flush:\n%s", fake.Dump())
	}
}

func TestSmoothWRR(t *testing.T) {
	tests := []struct {
		weights []uint32
		want    []int
	}{
		{[]uint32{1, 1}, []int{0, 1}},
		{[]uint32{1, 2}, []int{1, 0, 1}},
		{[]uint32{5, 1, 1}, []int{0, 0, 1, 0, 2, 0, 0}},
		{[]uint32{0, 3}, []int{1}},
		{[]uint32{0, 0}, nil},
	}
	for _, tt := range tests {
		got := smoothWRR(tt.weights, maxRRSlots)
		if len(got) != len(tt.want) || !strings.EqualFold(strings.Trim(strings.Join(strings.Fields(fmtInts(got)), ","), ","), strings.Join(strings.Fields(fmtInts(tt.want)), ",")) {
			t.Errorf("smoothWRR(%v) = %v, want %v", tt.weights, got, tt.want)
		}
	}
}

func fmtInts(xs []int) string {
	var b strings.Builder
	for _, x := range xs {
		b.WriteString(" ")
		b.WriteByte(byte('0' + x))
	}
	return b.String()
}

func TestParseDescRoundTrip(t *testing.T) {
	s := svc("wrr")
	s.PersistenceTimeout = 60 * time.Second
	s.PersistenceBits = 24
	got, err := parseServiceDesc(serviceDesc(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.Key() != s.Key() || got.Scheduler != "wrr" || got.PersistenceTimeout != s.PersistenceTimeout || got.PersistenceBits != 24 || got.Interface != "eth1" {
		t.Errorf("round trip = %+v", got)
	}
	var reals []dataplane.Real
	for i := range 12 {
		reals = append(reals, real(fmt.Sprintf("10.0.0.%d", 100+i), uint32(i)))
	}
	descs := realsDesc(reals)
	if len(descs) < 2 {
		t.Errorf("12 reals fit in one comment: %q", descs)
	}
	checkRealsRoundTrip(t, descs, reals)
}

// TestParseDescRoundTrip6 is TestParseDescRoundTrip for an IPv6 service:
// bracketed addresses, a /64 granularity, and real servers whose longer
// addresses spread over more comments, each within nft's 128 characters.
func TestParseDescRoundTrip6(t *testing.T) {
	s := svc("mh")
	s.VIP = netip.MustParseAddr("fd00:172:16:1::1")
	s.PersistenceTimeout = 60 * time.Second
	s.PersistenceBits = 64
	got, err := parseServiceDesc(serviceDesc(s))
	if err != nil {
		t.Fatal(err)
	}
	if got.Key() != s.Key() || got.PersistenceBits != 64 || got.Interface != "eth1" {
		t.Errorf("round trip = %+v, want %+v", got, s)
	}
	var reals []dataplane.Real
	for i := range 12 {
		reals = append(reals, real(fmt.Sprintf("fd00:172:16:1:ffff:ffff:ffff:%x", 0x100+i), uint32(i)))
	}
	checkRealsRoundTrip(t, realsDesc(reals), reals)
}

// checkRealsRoundTrip checks that each of descs (realsDesc(reals)) fits in
// an nft comment with its hash and that together they parse back to reals.
func checkRealsRoundTrip(t *testing.T, descs []string, reals []dataplane.Real) {
	t.Helper()
	var back []dataplane.Real
	for _, d := range descs {
		if len(d)+len(" h=00000000") > 128 {
			t.Errorf("description too long for an nft comment (%d): %q", len(d), d)
		}
		rs, err := parseRealsDesc(d + " h=00000000")
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, rs...)
	}
	if !slices.Equal(back, reals) {
		t.Errorf("reals round trip = %v, want %v", back, reals)
	}
}

func FuzzParseServiceDesc(f *testing.F) {
	f.Add("svc TCP 172.16.1.1:80 sched=wrr method=DR persist=0 bits=32 dev=eth1 h=01234567")
	f.Add("svc TCP [fd00:172:16:1::1]:443 sched=mh method=DR persist=300 bits=64 dev=eth1 h=01234567") // IPv6, /64 persistence
	f.Add("svc UDP [::1]:53 persist=x")
	f.Add("svc TCP 172.16.1.1:80 sched=sh method=DR persist=0 bits=32 dev=eth1 flags=0x18") // sh-fallback, sh-port
	f.Add("svc TCP 172.16.1.1:80 flags=0xzz")
	f.Fuzz(func(t *testing.T, s string) {
		svc, err := parseServiceDesc(s)
		if err == nil && !svc.VIP.IsValid() {
			t.Errorf("accepted %q without a VIP", s)
		}
	})
}

func TestUdataComment(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"comment only", append([]byte{0, 4}, "abc\x00"...), "abc"},
		{"after another record", append([]byte{1, 2, 9, 9, 0, 3}, "xy\x00"...), "xy"},
		{"no comment", []byte{1, 1, 7}, ""},
		{"truncated", []byte{0, 9, 'a'}, ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		if got := udataComment(tt.in); got != tt.want {
			t.Errorf("%s: udataComment(%v) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzUdataComment feeds arbitrary rule user data to the comment reader:
// it must never panic and never return more than the input holds.
func FuzzUdataComment(f *testing.F) {
	f.Add(append([]byte{0, 4}, "abc\x00"...)) // a comment record
	f.Add([]byte{1, 1, 7, 0, 2, 'h', 0})      // another record first
	f.Add([]byte{0, 200})                     // length beyond the data
	f.Fuzz(func(t *testing.T, b []byte) {
		if got := udataComment(b); len(got) > len(b) {
			t.Errorf("comment %q longer than input %v", got, b)
		}
	})
}

// FuzzParseRealsDesc feeds arbitrary comments to the real-server
// description reader: what it accepts must describe valid addresses and
// render back to the same description.
func FuzzParseRealsDesc(f *testing.F) {
	f.Add("real 172.16.1.10:80 w=1 172.16.1.11:80 w=2 h=01234567")                 // two reals and the hash
	f.Add("real 10.0.0.1:80")                                                      // a real without weight
	f.Add("real 10.0.0.1:80 w=99999999999")                                        // weight out of range
	f.Add("real [fd00:172:16:1::10]:80 w=1 [fd00:172:16:1::11]:80 w=3 h=01234567") // IPv6 reals
	f.Fuzz(func(t *testing.T, s string) {
		reals, err := parseRealsDesc(s)
		if err != nil {
			return
		}
		for _, r := range reals {
			if !r.Addr.IsValid() {
				t.Fatalf("accepted %q with an invalid address", s)
			}
		}
		var back []dataplane.Real
		descs := realsDesc(reals)
		for _, d := range descs {
			rs, err := parseRealsDesc(d)
			if err != nil {
				t.Fatalf("%q: description %q of its reals does not parse: %v", s, d, err)
			}
			back = append(back, rs...)
		}
		if !slices.Equal(back, reals) {
			t.Errorf("%q: round trip gave %v (descriptions %q)", s, back, descs)
		}
	})
}

// TestRealMarks checks the marks of real servers: IPv4 servers keep their
// address, IPv6 servers get a hash at or above firstRealMark (below are
// slot numbers), distinct within a service even when hashes collide, the
// same whatever the order of the servers.
func TestRealMarks(t *testing.T) {
	a := netip.MustParseAddr("fd00:172:16:1::10")
	b := netip.MustParseAddr("fd00:172:16:1::11")
	reals := []dataplane.Real{{Addr: b}, {Addr: a}}
	m := realMarks(reals)
	if m[a] < firstRealMarkNumber || m[b] < firstRealMarkNumber || m[a] == m[b] {
		t.Errorf("marks %#x %#x: want distinct, >= %#x", m[a], m[b], firstRealMarkNumber)
	}
	if m2 := realMarks([]dataplane.Real{{Addr: a}, {Addr: b}}); m2[a] != m[a] || m2[b] != m[b] {
		t.Errorf("order changed the marks: %v vs %v", m, m2)
	}
	if got := realMarks([]dataplane.Real{{Addr: netip.MustParseAddr("172.16.1.10")}}); got[netip.MustParseAddr("172.16.1.10")] != 0xac10010a {
		t.Errorf("IPv4 mark = %#x, want the address 0xac10010a", got)
	}
	// Many IPv6 servers: every mark distinct and in range.
	var many []dataplane.Real
	for i := range 5000 {
		many = append(many, dataplane.Real{Addr: netip.AddrFrom16([16]byte{0xfd, 14: byte(i >> 8), 15: byte(i)})})
	}
	seen := map[uint32]bool{}
	for _, mark := range realMarks(many) {
		if mark < firstRealMarkNumber || seen[mark] {
			t.Fatalf("mark %#x repeated or below %#x", mark, firstRealMarkNumber)
		}
		seen[mark] = true
	}
}
