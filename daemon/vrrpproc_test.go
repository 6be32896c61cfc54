package daemon

import (
	"testing"

	"github.com/drlb/drlb/daemon/config"
)

func TestVRRPProcessName(t *testing.T) {
	for _, tc := range []struct {
		g            config.GlobalDefs
		vrrp, parent string
	}{
		{g: config.GlobalDefs{}, vrrp: "", parent: ""},
		{g: config.GlobalDefs{ProcessNames: true}, vrrp: "drlb_vrrp", parent: ""},
		{g: config.GlobalDefs{ProcessNames: true, VRRPProcessName: "lb_vrrp", ProcessName: "lb"}, vrrp: "lb_vrrp", parent: "lb"},
		{g: config.GlobalDefs{VRRPProcessName: "v"}, vrrp: "v"},
	} {
		cfg := &config.Config{Global: tc.g}
		if got := vrrpProcessName(cfg); got != tc.vrrp {
			t.Errorf("%+v: VRRP child %q, want %q", tc.g, got, tc.vrrp)
		}
		if got := parentProcessName(cfg); got != tc.parent {
			t.Errorf("%+v: parent %q, want %q", tc.g, got, tc.parent)
		}
	}
}
