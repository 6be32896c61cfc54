package daemon

import (
	"strings"
	"testing"
)

func TestReloadRefusal(t *testing.T) {
	const vrrpOnly = "vrrp_instance VI_1 {\n state MASTER\n interface eth1\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  172.16.1.1\n }\n}\n"
	const lvsOnly = "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n"
	for _, tt := range []struct {
		name           string
		running, next  string
		opts           Options
		allowEmpty     bool
		want, wantNone []string // substrings of the refusal; nil want: allowed
	}{
		{name: "empty file over a full config", running: testConf, next: "",
			want: []string{"the file has no directives", "every VRRP instance (VI_1)", "every virtual server (TCP 172.16.1.1:80, TCP 172.16.1.5:443)", "--allow-empty"}},
		{name: "comments only", running: testConf, next: "# truncated\n! nothing\n",
			want: []string{"the file has no directives", "VI_1"}},
		{name: "all NUL", running: testConf, next: strings.Repeat("\x00", 512),
			want: []string{"the file has no directives", "TCP 172.16.1.1:80"}},
		{name: "global_defs only removes everything", running: testConf, next: "global_defs {\n router_id x\n}\n",
			want: []string{"it would remove every VRRP instance (VI_1) and every virtual server"}, wantNone: []string{"no directives"}},
		{name: "VRRP-only daemon emptied", running: vrrpOnly, next: "global_defs {\n}\n",
			want: []string{"every VRRP instance (VI_1)"}, wantNone: []string{"virtual server"}},
		{name: "services-only daemon emptied", running: lvsOnly, next: "",
			want: []string{"every virtual server (TCP 10.0.0.1:80)"}, wantNone: []string{"VRRP instance"}},
		{name: "empty file over nothing", running: "", next: "",
			want: []string{"the file has no directives"}, wantNone: []string{"remove"}},
		{name: "allowed: the operator means it", running: testConf, next: "", allowEmpty: true},
		{name: "allowed: VRRP kept, services removed", running: testConf, next: vrrpOnly},
		{name: "allowed: services kept, VRRP removed", running: testConf, next: lvsOnly},
		{name: "allowed: nothing ran, nothing comes", running: "", next: "global_defs {\n}\n"},
		{name: "allowed: first services", running: "", next: lvsOnly},
		{name: "VRRP-only run (-P): services left do not count", running: testConf, next: lvsOnly, opts: Options{VRRPOnly: true},
			want: []string{"every VRRP instance (VI_1)"}, wantNone: []string{"virtual server", "no directives"}},
		{name: "check-only run (-C): instances left do not count", running: testConf, next: vrrpOnly, opts: Options{CheckOnly: true},
			want: []string{"every virtual server (TCP 172.16.1.1:80, TCP 172.16.1.5:443)"}, wantNone: []string{"VRRP instance"}},
		{name: "VRRP-only run keeps an instance", running: testConf, next: vrrpOnly, opts: Options{VRRPOnly: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := reloadRefusal(parse(t, tt.running), parse(t, tt.next), tt.opts, tt.allowEmpty)
			if tt.want == nil {
				if got != "" {
					t.Fatalf("refused: %s", got)
				}
				return
			}
			if got == "" {
				t.Fatal("allowed, want refused")
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("refusal %q lacks %q", got, w)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("refusal %q should not say %q", got, w)
				}
			}
		})
	}
}

func TestListSome(t *testing.T) {
	if got := listSome([]string{"a", "b"}); got != "a, b" {
		t.Errorf("got %q", got)
	}
	if got := listSome([]string{"a", "b", "c", "d", "e", "f", "g"}); got != "a, b, c, d, e and 2 more" {
		t.Errorf("got %q", got)
	}
}
