package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProcessSchedKeywords(t *testing.T) {
	for _, tt := range []struct {
		name, global string
		vrrp         *ProcessSched
		checker      bool // CheckerProcess set
		diag         string
	}{
		{name: "none", global: "router_id a"},
		{name: "all vrrp", global: "vrrp_rt_priority 40\n vrrp_priority -5\n vrrp_cpu_affinity 0 2-3\n vrrp_rlimit_rttime 20000\n vrrp_no_swap",
			vrrp: &ProcessSched{RTPriority: ptr(40), Nice: ptr(-5), CPUs: []int{0, 2, 3}, RLimitRTTime: ptr(20 * time.Millisecond), NoSwap: true}},
		{name: "rt off", global: "vrrp_rt_priority 0", vrrp: &ProcessSched{RTPriority: ptr(0)}},
		{name: "deprecated rlimit", global: "vrrp_rlimit_rtime 5000", vrrp: &ProcessSched{RLimitRTTime: ptr(5 * time.Millisecond)},
			diag: "3:2: warning: vrrp_rlimit_rtime is deprecated"},
		{name: "rt too high", global: "vrrp_rt_priority 100", vrrp: &ProcessSched{}, diag: "3:19: error: vrrp_rt_priority 100 is out of range: must be 0..99"},
		{name: "nice too low", global: "vrrp_priority -21", vrrp: &ProcessSched{}, diag: "error: vrrp_priority -21 is out of range"},
		{name: "bad cpu", global: "vrrp_cpu_affinity 1 x", vrrp: &ProcessSched{CPUs: []int{1}}, diag: `3:22: error: vrrp_cpu_affinity: "x" is not a CPU number or range`},
		{name: "checker", global: "checker_rt_priority 10\n checker_priority -3\n checker_cpu_affinity 1", checker: true},
		{name: "checker no_swap", global: "checker_no_swap", checker: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n"
			src = "global_defs {\n router_id x\n " + tt.global + "\n}\n" + src
			cfg, diags, err := Parse("t.conf", []byte(src), Options{})
			if err != nil && tt.diag == "" {
				t.Fatalf("Parse: %v\n%s", err, diags)
			}
			if tt.diag == "" && len(diags) > 0 || tt.diag != "" && !strings.Contains(diags.String(), tt.diag) {
				t.Errorf("diagnostics:\n%s\nwant %q", diags, tt.diag)
			}
			if cfg == nil {
				return
			}
			got := cfg.Global.VRRPProcess
			if (got == nil) != (tt.vrrp == nil) {
				t.Fatalf("VRRPProcess = %+v, want %+v", got, tt.vrrp)
			}
			if got != nil && (!eqPtr(got.RTPriority, tt.vrrp.RTPriority) || !eqPtr(got.Nice, tt.vrrp.Nice) || !slices.Equal(got.CPUs, tt.vrrp.CPUs) ||
				!eqPtr(got.RLimitRTTime, tt.vrrp.RLimitRTTime) || got.NoSwap != tt.vrrp.NoSwap) {
				t.Errorf("VRRPProcess = %+v, want %+v", *got, *tt.vrrp)
			}
			if (cfg.Global.CheckerProcess != nil) != tt.checker {
				t.Errorf("CheckerProcess = %+v", cfg.Global.CheckerProcess)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func eqPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
