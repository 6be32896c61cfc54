package nft

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/internal/testenv"
)

type drLab struct {
	*nstest.DRLab
	backend *Backend
}

func newDRLab(t *testing.T) *drLab {
	testenv.Privileged(t, "nft")
	lab := &drLab{DRLab: nstest.NewDRLab(t)}
	b, err := New(dataplane.Options{NetNSPath: lab.LB.Path})
	if err != nil {
		t.Fatal(err)
	}
	lab.backend = b
	return lab
}

func drTable(sched string, w1, w2 uint32, reals ...string) dataplane.Table {
	s := svc(sched)
	weights := map[string]uint32{"172.16.1.10": w1, "172.16.1.11": w2}
	for _, r := range reals {
		s.Reals = append(s.Reals, real(r, weights[r]))
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// TestDRTraffic sends connections through the VIP and checks the split
// per weight and that an established connection survives removal of the
// other real server.
func TestDRTraffic(t *testing.T) {
	ctx := context.Background()
	lab := newDRLab(t)
	for _, tt := range []struct {
		sched  string
		w1, w2 uint32
	}{{"wrr", 1, 3}, {"mh", 1, 1}} {
		t.Run(tt.sched, func(t *testing.T) {
			// Start from empty connection tables.
			if err := lab.backend.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := lab.backend.Apply(ctx, drTable(tt.sched, tt.w1, tt.w2, "172.16.1.10", "172.16.1.11")); err != nil {
				t.Fatal(err)
			}
			const n = 200
			got := map[string]int{}
			for range n {
				c, _, name := lab.Connect(t)
				c.Close()
				got[name]++
			}
			want1 := n * int(tt.w1) / int(tt.w1+tt.w2)
			t.Logf("%s %d:%d over %d connections: %v", tt.sched, tt.w1, tt.w2, n, got)
			if d := got["rs1"] - want1; d < -n/10 || d > n/10 {
				t.Errorf("rs1 got %d connections, want %d ± %d", got["rs1"], want1, n/10)
			}
			obs, err := lab.backend.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var status strings.Builder
			if err := dataplane.FormatIPVSADM(&status, obs); err != nil {
				t.Fatal(err)
			}
			t.Logf("status:\n%s", status.String())
			if total := obs.Services[0].Observed[0].ActiveConn + obs.Services[0].Observed[1].ActiveConn; total != n {
				t.Errorf("connection table holds %d entries, want %d", total, n)
			}
		})
	}

	t.Run("established connection survives removal of the other server", func(t *testing.T) {
		if err := lab.backend.Apply(ctx, drTable("wrr", 1, 1, "172.16.1.10", "172.16.1.11")); err != nil {
			t.Fatal(err)
		}
		conn, r := lab.ConnectToServer(t, nstest.VIP, "rs2")
		defer conn.Close()
		if err := lab.backend.Apply(ctx, drTable("wrr", 1, 1, "172.16.1.11")); err != nil {
			t.Fatal(err)
		}
		if err := lab.backend.Apply(ctx, drTable("wrr", 0, 1, "172.16.1.11")); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "still there?\n")
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "rs2 still there?" {
			t.Fatalf("after removing rs1 the connection answered %q, %v", line, err)
		}
		for range 20 {
			c, _, name := lab.Connect(t)
			c.Close()
			if name != "rs2" {
				t.Fatalf("new connection went to %s after rs1 was removed", name)
			}
		}
	})
}

func drTable6(sched string, w1, w2 uint32) dataplane.Table {
	s := svc(sched, real("fd00:172:16:1::10", w1), real("fd00:172:16:1::11", w2))
	s.VIP = netip.MustParseAddr(nstest.VIP6)
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// TestDRTraffic6 is TestDRTraffic over IPv6 (ip6 daddr, fwd ip6 to), with
// the IPv4 service of the same lab beside it: each family keeps its split,
// and an IPv6 connection survives removal of the other server.
func TestDRTraffic6(t *testing.T) {
	ctx := context.Background()
	lab := newDRLab(t)
	for _, tt := range []struct {
		sched  string
		w1, w2 uint32
	}{{"wrr", 1, 3}, {"mh", 1, 1}} {
		t.Run(tt.sched, func(t *testing.T) {
			if err := lab.backend.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			table := drTable6(tt.sched, tt.w1, tt.w2)
			table.Services = append(table.Services, drTable("wrr", 1, 1, "172.16.1.10", "172.16.1.11").Services...)
			if err := lab.backend.Apply(ctx, table); err != nil {
				t.Fatal(err)
			}
			const n = 200
			got, got4 := map[string]int{}, map[string]int{}
			for range n {
				c, _, name := lab.ConnectTo(t, nstest.VIP6)
				c.Close()
				got[name]++
				c, _, name = lab.ConnectTo(t, nstest.VIP)
				c.Close()
				got4[name]++
			}
			want1 := n * int(tt.w1) / int(tt.w1+tt.w2)
			t.Logf("IPv6 %s %d:%d over %d connections: %v (IPv4 wrr 1:1: %v)", tt.sched, tt.w1, tt.w2, n, got, got4)
			if d := got["rs1"] - want1; d < -n/10 || d > n/10 {
				t.Errorf("rs1 got %d IPv6 connections, want %d ± %d", got["rs1"], want1, n/10)
			}
			if got4["rs1"] != n/2 {
				t.Errorf("IPv4 wrr 1:1 beside it gave rs1 %d of %d", got4["rs1"], n)
			}
			obs, err := lab.backend.Observe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var status strings.Builder
			if err := dataplane.FormatIPVSADM(&status, obs); err != nil {
				t.Fatal(err)
			}
			t.Logf("status:\n%s", status.String())
			if !strings.Contains(status.String(), "TCP  [fd00:172:16:1::1]:80 "+tt.sched) {
				t.Errorf("status lacks the IPv6 service in ipvsadm's layout")
			}
			var v6 dataplane.ObservedService
			for _, s := range obs.Services {
				if s.VIP.Is6() {
					v6 = s
				}
			}
			if len(v6.Observed) != 2 {
				t.Fatalf("observed IPv6 service %+v", v6)
			}
			if total := v6.Observed[0].ActiveConn + v6.Observed[1].ActiveConn; total != n {
				t.Errorf("IPv6 connection table holds %d entries, want %d", total, n)
			}
		})
	}

	t.Run("established connection survives removal of the other server", func(t *testing.T) {
		if err := lab.backend.Apply(ctx, drTable6("wrr", 1, 1)); err != nil {
			t.Fatal(err)
		}
		conn, r := lab.ConnectToServer(t, nstest.VIP6, "rs2")
		defer conn.Close()
		only := drTable6("wrr", 1, 1)
		only.Services[0].Reals = only.Services[0].Reals[1:]
		if err := lab.backend.Apply(ctx, only); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "still there?\n")
		line, err := r.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "rs2 still there?" {
			t.Fatalf("after removing rs1 the connection answered %q, %v", line, err)
		}
		for range 20 {
			c, _, name := lab.ConnectTo(t, nstest.VIP6)
			c.Close()
			if name != "rs2" {
				t.Fatalf("new connection went to %s after rs1 was removed", name)
			}
		}
	})
}
