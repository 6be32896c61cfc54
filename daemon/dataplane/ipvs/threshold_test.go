package ipvs

import (
	"context"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestThresholds: keepalived's uthreshold/lthreshold reach the IPVS
// destination, come back in Observe, and a change updates the destination.
func TestThresholds(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	b := NewWithClient(fake)
	r := rs("172.16.1.10", 1)
	r.UpperThreshold, r.LowerThreshold = 100, 10
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{web("wrr", r)}}); err != nil {
		t.Fatal(err)
	}
	for _, ds := range fake.dests {
		if len(ds) != 1 || ds[0].UpperThreshold != 100 || ds[0].LowerThreshold != 10 {
			t.Fatalf("destinations = %+v, want thresholds 100/10", ds)
		}
	}
	obs, err := b.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs.Services[0].Observed[0].Real; got.UpperThreshold != 100 || got.LowerThreshold != 10 {
		t.Fatalf("observed %+v", got)
	}
	r.UpperThreshold = 200
	fake.calls = nil
	if err := b.Apply(ctx, dataplane.Table{Services: []dataplane.Service{web("wrr", r)}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 || !strings.HasPrefix(fake.calls[0], "UpdateDestination") {
		t.Fatalf("calls = %v, want one UpdateDestination", fake.calls)
	}
}
