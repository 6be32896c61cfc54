package config

import (
	"strings"
	"testing"
)

func TestProcessNames(t *testing.T) {
	for _, tc := range []struct {
		conf         string
		names        bool
		parent, vrrp string
		warn         string
	}{
		{conf: "", names: false},
		{conf: "process_names", names: true},
		{conf: "process_names\n process_name lb\n vrrp_process_name lb_vrrp", names: true, parent: "lb", vrrp: "lb_vrrp"},
		{conf: "vrrp_process_name a_very_long_vrrp_name", vrrp: "a_very_long_vrrp_name", warn: "t.conf:2:20: warning: " + `vrrp_process_name "a_very_long_vrrp_name": the kernel keeps the first 15 bytes`},
	} {
		cfg, ds, err := Parse("t.conf", []byte("global_defs {\n "+tc.conf+"\n}\n"), Options{})
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.conf, err, ds)
		}
		g := cfg.Global
		if g.ProcessNames != tc.names || g.ProcessName != tc.parent || g.VRRPProcessName != tc.vrrp {
			t.Errorf("%q: process_names %v, process_name %q, vrrp_process_name %q", tc.conf, g.ProcessNames, g.ProcessName, g.VRRPProcessName)
		}
		if got := ds.String(); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
			t.Errorf("%q: diagnostics %q, want %q", tc.conf, got, tc.warn)
		}
	}
	if _, ds, _ := Parse("t.conf", []byte("global_defs {\n vrrp_process_name\n}\n"), Options{}); !ds.HasErrors() {
		t.Error("vrrp_process_name without a name accepted")
	}
}
