package config

import (
	"strings"
	"testing"
)

func TestEmptyFileWarns(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		empty      bool
	}{
		{"empty", "", true},
		{"whitespace", " \n\t\n", true},
		{"comments", "# a\n! b\n", true},
		{"all NUL", strings.Repeat("\x00", 64), true},
		{"global_defs only", "global_defs {\n}\n", false},
		{"a vrrp_script", "vrrp_script chk {\n script /bin/true\n}\n", false},
		{"a virtual_server", "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags, err := Parse("t.conf", []byte(tt.text), Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := cfg.Empty(); got != tt.empty {
				t.Errorf("Empty() = %v, want %v", got, tt.empty)
			}
			warned := strings.Contains(diags.String(), "t.conf:1:1: warning: the file has no directives")
			if warned != tt.empty {
				t.Errorf("no-directives warning = %v, want %v; diagnostics:\n%s", warned, tt.empty, diags)
			}
		})
	}
}
