package nft

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestApplySorryServerSteps applies the tables the daemon computes for
// keepalived's quorum loss with a sorry server (daemon
// TestDesiredSorryServerReplacesPool, first case; ipvs
// TestApplySorryServerSteps gets the same tables). While quorum is lost
// only the sorry server (172.16.1.3, mark 0xac100103) has scheduling
// slots: the inhibited 172.16.1.10 keeps its established connections
// (reals map) but gets no new ones, and 172.16.1.11 is gone.
func TestApplySorryServerSteps(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.NetDevFamily, DefaultTable)
	b := newWith(fake, DefaultTable, dataplane.Options{ConnTableShards: 2})
	steps := []struct {
		name      string
		table     dataplane.Table
		slotMarks []string // marks in the slots map
		notIn     []string // marks absent from every map
	}{
		{"quorum", dataplane.Table{Services: []dataplane.Service{svc("rr", real("172.16.1.10", 1), real("172.16.1.11", 1))}},
			[]string{"0xac10010a", "0xac10010b"}, []string{"0xac100103"}},
		{"quorum lost", dataplane.Table{Services: []dataplane.Service{svc("rr", real("172.16.1.10", 0), real("172.16.1.3", 1))}},
			[]string{"0xac100103"}, []string{"0xac10010b"}},
		{"quorum regained", dataplane.Table{Services: []dataplane.Service{svc("rr", real("172.16.1.10", 1), real("172.16.1.11", 1))}},
			[]string{"0xac10010a", "0xac10010b"}, []string{"0xac100103"}},
	}
	for _, st := range steps {
		if err := b.Apply(ctx, st.table); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		obs, err := b.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(obs.Table(), st.table); len(d) != 0 {
			t.Errorf("%s: observed differs from desired: %v", st.name, d)
		}
		var slots []string
		for _, line := range strings.Split(fake.Dump(), "\n") {
			if strings.Contains(line, "element netdev drlb slots") {
				slots = append(slots, line)
			}
			for _, m := range st.notIn {
				if strings.Contains(line, m) {
					t.Errorf("%s: %s still in the table: %s", st.name, m, line)
				}
			}
		}
		all := strings.Join(slots, "\n")
		for _, m := range []string{"0xac10010a", "0xac10010b", "0xac100103"} {
			want := strings.Contains(strings.Join(st.slotMarks, " "), m)
			if got := strings.Contains(all, ": "+m); got != want {
				t.Errorf("%s: slot for %s = %v, want %v:\n%s", st.name, m, got, want, all)
			}
		}
	}
}
