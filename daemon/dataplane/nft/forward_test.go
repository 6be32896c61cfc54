package nft

import (
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestForwardInterface: a VIP on a VMAC is hooked on the VMAC and forwarded
// out of its base interface (use_vmac); without ForwardInterface both are
// the VIP's interface.
func TestForwardInterface(t *testing.T) {
	for _, tc := range []struct{ fwd, wantHook, wantFwd string }{
		{"", `hook ingress device "vrrp.51"`, `device "vrrp.51"`},
		{"eth1", `hook ingress device "vrrp.51"`, `device "eth1"`},
	} {
		s := svc("rr", real("172.16.1.10", 1))
		s.Interface, s.ForwardInterface = "vrrp.51", tc.fwd
		got, err := Ruleset(dataplane.Table{Services: []dataplane.Service{s}}, dataplane.Options{ConnTableShards: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, tc.wantHook) {
			t.Errorf("fwd %q: no %s in\n%s", tc.fwd, tc.wantHook, got)
		}
		var fwdLine string
		for _, l := range strings.Split(got, "\n") {
			if strings.Contains(l, "fwd ip to") {
				fwdLine = l
			}
		}
		if !strings.Contains(fwdLine, tc.wantFwd) {
			t.Errorf("fwd %q: forward rule %q does not name %s", tc.fwd, fwdLine, tc.wantFwd)
		}
	}
}
