package scenarios

import (
	"reflect"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/api"
)

func TestStatusEvents(t *testing.T) {
	addrs := map[string]string{"rs1": "172.16.1.10", "rs2": "172.16.1.11"}
	status := func(sent, recv uint64, prio int, rs1In bool, rs1Weight int, reason string) *api.Status {
		return &api.Status{
			Instances: []api.Instance{{Name: "VI_1", AdvertsSent: sent, AdvertsReceived: recv, EffectivePriority: prio}},
			Services: []api.Service{{Address: "172.16.1.1:80", Reals: []api.Real{
				{Address: "172.16.1.10:80", Weight: rs1Weight, InTable: rs1In, Healthy: rs1In, LastReason: reason},
				{Address: "172.16.1.11:80", Weight: 1, InTable: true, Healthy: true},
			}}},
		}
	}
	kinds := func(evs []Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Kind+" "+e.Text)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		prev, cur *api.Status
		want      []string
	}{
		{"first sample: table and priority, no adverts", nil, status(5, 0, 150, true, 1, ""),
			[]string{"table table: rs1 in, rs2 in", "priority (VI_1) effective priority 150"}},
		{"nothing changed", status(5, 0, 150, true, 1, ""), status(5, 0, 150, true, 1, ""), nil},
		{"a new check result text moves nothing", status(5, 0, 150, true, 1, "ok 1ms"), status(5, 0, 150, true, 1, "ok 2ms"), nil},
		{"adverts sent and heard", status(5, 1, 150, true, 1, ""), status(7, 2, 150, true, 1, ""),
			[]string{"advert (VI_1) adverts: 2 sent, 1 received"}},
		{"counters went back (restart): no adverts", status(9, 0, 150, true, 1, ""), status(1, 0, 150, true, 1, ""), nil},
		{"server out", status(5, 0, 150, true, 1, ""), status(5, 0, 150, false, 0, "digest mismatch"),
			[]string{"table table: rs1 out, rs2 in"}},
		{"server inhibited (weight 0)", status(5, 0, 150, true, 1, ""), status(5, 0, 150, true, 0, ""),
			[]string{"table table: rs1 weight 0, rs2 in"}},
		{"priority dropped", status(5, 0, 150, true, 1, ""), status(5, 0, 100, true, 1, ""),
			[]string{"priority (VI_1) effective priority 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kinds(StatusEvents("lb1", tc.prev, tc.cur, addrs))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	evs := StatusEvents("lb1", nil, status(0, 0, 100, false, 0, "connection refused"), addrs)
	want := TableReal{Server: "rs1", Address: "172.16.1.10:80", Service: "172.16.1.1:80", Reason: "connection refused"}
	if len(evs) == 0 || len(evs[0].Reals) != 2 || evs[0].Reals[0] != want || evs[0].Host != "lb1" {
		t.Errorf("table event %+v, want first real %+v", evs, want)
	}
}

// TestPrinterSkipsSamples: the text replay leaves table and advert samples
// out (dataplane events say the same; adverts would fill the screen) but
// prints priority changes.
func TestPrinterSkipsSamples(t *testing.T) {
	var out strings.Builder
	p := NewPrinter(&out, false)
	p.Print(Event{T: 1, Host: "lb1", Kind: EvAdvert, Text: "(VI_1) adverts: 1 sent, 0 received", Sent: 1})
	p.Print(Event{T: 1.1, Host: "lb1", Kind: EvTable, Text: "table: rs1 in"})
	p.Print(Event{T: 1.2, Host: "lb1", Kind: EvPriority, Text: "(VI_1) effective priority 90", Priority: 90})
	p.Flush()
	got := out.String()
	if strings.Contains(got, "adverts") || strings.Contains(got, "table:") || !strings.Contains(got, "effective priority 90") {
		t.Errorf("replay output:\n%s\nwant the priority change only", got)
	}
}
