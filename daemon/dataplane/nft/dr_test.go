package nft

import (
	"bufio"
	"context"
	"fmt"
	"net"
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

func (lab *drLab) connect(t *testing.T) (net.Conn, *bufio.Reader, string) { return lab.Connect(t) }

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
				c, _, name := lab.connect(t)
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
		var conn net.Conn
		var r *bufio.Reader
		for range 10 {
			c, cr, name := lab.connect(t)
			if name == "rs2" {
				conn, r = c, cr
				break
			}
			c.Close()
		}
		if conn == nil {
			t.Fatal("no connection landed on rs2")
		}
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
			c, _, name := lab.connect(t)
			c.Close()
			if name != "rs2" {
				t.Fatalf("new connection went to %s after rs1 was removed", name)
			}
		}
	})
}
