package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, conf string, opts Options) *Config {
	t.Helper()
	cfg, ds, err := Parse("t.conf", []byte(conf), opts)
	if err != nil || len(ds) != 0 {
		t.Fatalf("err %v, diagnostics:\n%s", err, ds)
	}
	return cfg
}

func TestLexerSyntax(t *testing.T) {
	conf := "! header comment\r\n" +
		"global_defs{router_id   \"lb #1 ! not a comment\" # trailing\r\n" +
		"}\n" +
		"vrrp_instance VI\n" + // brace on the next line
		"{\n" +
		"\tstate MASTER ! comment after a value\n" +
		"\tinterface eth0 # commentário em português é UTF-8\n" +
		"\tvirtual_router_id 9\n" +
		"\tvirtual_ipaddress { 10.0.0.1/24 }\n" + // one-line block
		"\tauthentication { auth_type PASS\n auth_pass \"a b\" }\n" +
		"}"
	cfg := mustParse(t, conf, Options{})
	if cfg.Global.RouterID != "lb #1 ! not a comment" {
		t.Errorf("router_id %q", cfg.Global.RouterID)
	}
	in := cfg.Instances[0]
	if in.State != StateMaster || in.Interface != "eth0" || in.VirtualRouterID != 9 || in.Auth.Password != "a b" {
		t.Errorf("instance %+v", in)
	}
	if len(in.VirtualIPs) != 1 || in.VirtualIPs[0].Prefix.String() != "10.0.0.1/24" {
		t.Errorf("vips %+v", in.VirtualIPs)
	}
	if in.Pos.Line != 4 || in.Pos.Col != 1 || in.Pos.File != "t.conf" {
		t.Errorf("instance position %+v", in.Pos)
	}
}

func TestColumnsCountRunes(t *testing.T) {
	// "é" is two bytes but one column.
	_, ds, _ := Parse("t.conf", []byte("global_defs { # é\n router_id é x\n}\n"), Options{})
	assertDiags(t, ds, []want{`2:14: warning: router_id takes one value; extra "x" ignored`})
}

func TestConditionals(t *testing.T) {
	conf := "global_defs {\n@lb1 router_id one\n@lb2\trouter_id two\n@^lb1 script_user nobody\n}\n"
	for _, tc := range []struct{ id, router, user string }{
		{"lb1", "one", ""}, {"lb2", "two", "nobody"}, {"", "", "nobody"},
	} {
		cfg := mustParse(t, conf, Options{ConfigID: tc.id})
		if cfg.Global.RouterID != tc.router || cfg.Global.ScriptUser != tc.user {
			t.Errorf("id %q: router_id %q script_user %q", tc.id, cfg.Global.RouterID, cfg.Global.ScriptUser)
		}
	}
}

func TestDefinitions(t *testing.T) {
	conf := "$BASE=10.0.${SUB}\n" +
		"$SUB=1\n" +
		"@lb1 $PRIO=200\n" +
		"$PASS=pa$$\n" +
		"$BLOCK=\\\n" +
		"  virtual_ipaddress { \\\n" +
		"@lb1  ${BASE}.5/24 \\\n" +
		"  }\n" +
		"vrrp_instance VI {\n" +
		"  interface eth0\n" +
		"  virtual_router_id 3\n" +
		"  priority $PRIO\n" +
		"  $BLOCK\n" +
		"  authentication {\n auth_type PASS\n auth_pass $PASS\n }\n" +
		"  virtual_ipaddress {\n ${BASE}.1/24\n }\n" +
		"}\n"
	cfg := mustParse(t, conf, Options{ConfigID: "lb1"})
	in := cfg.Instances[0]
	if in.Priority != 200 || in.Auth.Password != "pa$$" {
		t.Errorf("priority %d password %q", in.Priority, in.Auth.Password)
	}
	var got []string
	for _, v := range in.VirtualIPs {
		got = append(got, v.Prefix.String())
	}
	if !slices.Equal(got, []string{"10.0.1.5/24", "10.0.1.1/24"}) {
		t.Errorf("vips %v", got)
	}
	if p := in.VirtualIPs[0].Pos; p.Line != 13 {
		t.Errorf("expanded tokens should sit at the reference: %+v", p)
	}
}

func TestIncludeRelativeGlob(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.conf", "global_defs {\n router_id main\n}\ninclude conf.d/*.conf\n")
	write("conf.d/b.conf", "virtual_server 10.0.0.1 81 {\nreal_server 10.0.0.2 81 {\n}\nprotocol TCP\nlvs_sched wlc\nlvs_method NAT\n}\n")
	write("conf.d/a.conf", "virtual_server 10.0.0.1 80 {\nreal_server 10.0.0.2 80 {\n}\nprotocol TCP\nlvs_sched wlc\nlvs_method NAT\n}\ninclude ../sub/x.inc\n")
	write("sub/x.inc", "virtual_server 10.0.0.1 82 {\n  bogus_kw 1\nreal_server 10.0.0.2 82 {\n}\nprotocol TCP\nlvs_sched wlc\nlvs_method NAT\n}\n")
	cfg, ds, err := Load(filepath.Join(dir, "main.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, vs := range cfg.VirtualServers {
		ports = append(ports, vs.Port)
	}
	if !slices.Equal(ports, []uint16{80, 82, 81}) {
		t.Errorf("ports %v (includes are spliced in place, globs sorted)", ports)
	}
	if len(cfg.Files) != 4 {
		t.Errorf("files %v", cfg.Files)
	}
	if len(ds) != 1 || ds[0].File != filepath.Join(dir, "sub/x.inc") || ds[0].Line != 2 || ds[0].Col != 3 {
		t.Errorf("diagnostic in an included file must name it: %v", ds)
	}
}

func TestLoadMissingFile(t *testing.T) {
	cfg, _, err := Load(filepath.Join(t.TempDir(), "none.conf"), Options{})
	if err == nil || cfg != nil {
		t.Fatalf("want an I/O error, got cfg=%v err=%v", cfg, err)
	}
}

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true}, {"0.1", 100 * time.Millisecond, true}, {"1.5", 1500 * time.Millisecond, true},
		{".25", 250 * time.Millisecond, true}, {"0.000001", time.Microsecond, true}, {"60", time.Minute, true},
		{"", 0, false}, {".", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"0.0000001", 0, false},
		{"1.2.3", 0, false}, {"9999999999", 0, false},
	} {
		got, ok := parseSeconds(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"persistence_timeout", "persistence_granularity", "delay_loop", "HTTP_GET", "lb_kind"}
	for _, tc := range []struct{ in, want string }{
		{"persistense_timeout", "persistence_timeout"},
		{"persistence_timout", "persistence_timeout"},
		{"dealy_loop", "delay_loop"}, // transposition
		{"http_get", "HTTP_GET"},
		{"lb_kidn", "lb_kind"},
		{"frobnicate", ""},
		{"x", ""},
	} {
		if got := suggest(tc.in, known); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseYields checks that a large parse calls Options.Yield at least
// once per YieldEvery lines, and that yielding changes nothing in the result.
func TestParseYields(t *testing.T) {
	data := generateConfig(200, 10)
	lines := strings.Count(string(data), "\n")
	calls := 0
	withYield, ds1, err1 := Parse("gen.conf", data, Options{Yield: func() { calls++ }})
	plain, ds2, err2 := Parse("gen.conf", data, Options{})
	if err1 != nil || err2 != nil {
		t.Fatalf("parse: %v / %v", err1, err2)
	}
	if calls < lines/YieldEvery {
		t.Fatalf("Yield called %d times for %d lines, want at least %d", calls, lines, lines/YieldEvery)
	}
	if !reflect.DeepEqual(withYield, plain) || !reflect.DeepEqual(ds1, ds2) {
		t.Fatal("parsing with Yield gave a different result")
	}
}
