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

func TestBuiltinDefinitions(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "keepalived.conf")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DRLB_TEST_IFACE", "eth7")
	files := map[string]string{
		main: "global_defs {\nrouter_id ${_INSTANCE}\n}\ninclude ${_PWD}/conf.d/*.conf\n",
		filepath.Join(dir, "conf.d", "vi.conf"): "vrrp_instance VI {\ninterface ${_ENV DRLB_TEST_IFACE}\n" +
			"virtual_router_id ${_RANDOM 7 7}\nnotify \"/bin/echo a${_HASH}b${_BANG}c\"\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, ds, err := Load(main, Options{ConfigID: "lb9"})
	if err != nil {
		t.Fatalf("%v\n%s", err, ds)
	}
	if cfg.Global.RouterID != "lb9" {
		t.Errorf("${_INSTANCE}: router_id %q", cfg.Global.RouterID)
	}
	if len(cfg.Instances) != 1 {
		t.Fatalf("${_PWD} include: %d instances\n%s", len(cfg.Instances), ds)
	}
	in := cfg.Instances[0]
	if in.Interface != "eth7" || in.VirtualRouterID != 7 || in.Notify.Any != "/bin/echo a#b!c" {
		t.Errorf("_ENV / _RANDOM / _HASH / _BANG: interface %q vrid %d notify %q", in.Interface, in.VirtualRouterID, in.Notify.Any)
	}
	// Unquoted: the '#' from ${_HASH} is not a comment.
	cfg = mustParse(t, "global_defs {\nrouter_id a${_HASH}b\n}\n", Options{})
	if cfg.Global.RouterID != "a#b" {
		t.Errorf("unquoted ${_HASH}: %q", cfg.Global.RouterID)
	}
}

func TestSequenceAndListBlocks(t *testing.T) {
	vips := func(lines ...string) []string {
		t.Helper()
		cfg := mustParse(t, "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n"+strings.Join(lines, "\n")+"\n}\n}\n", Options{})
		var out []string
		for _, v := range cfg.Instances[0].VirtualIPs {
			out = append(out, v.Prefix.Addr().String())
		}
		return out
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"~SEQ(N, 1, 3) 10.0.0.${N}", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{"~SEQ(N, 3) 10.0.1.${N}", []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"}},
		{"~SEQ(N, 6, -2, 2) 10.0.2.${N}", []string{"10.0.2.6", "10.0.2.4", "10.0.2.2"}},
		{"~SEQx(N, 1, 8, 17) 10.0.3.${N}", []string{"10.0.3.1", "10.0.3.9", "10.0.3.11"}}, // 17 is 0x11
		{"~SEQ(A, 1, 2) ~SEQ(B, 1, 2) 10.${A}.${B}.1", []string{"10.1.1.1", "10.1.2.1", "10.2.1.1", "10.2.2.1"}},
		{"~LST(X, 5, 9) 10.0.4.${X}", []string{"10.0.4.5", "10.0.4.9"}},
		{"~LST({X, Y}, {1,2},{3,4}) 10.0.${X}.${Y}", []string{"10.0.1.2", "10.0.3.4"}},
	} {
		if got := vips(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.line, got, tc.want)
		}
	}
	// Each generated token sits at the line of the block.
	_, ds, _ := Parse("t.conf", []byte("global_defs {\n~SEQ(N, 1, 2) bogus_${N} 1\n}\n"), Options{})
	assertDiags(t, ds, []want{`2:15: warning: unknown keyword "bogus_1"`, `2:15: warning: unknown keyword "bogus_2"`})
	_, ds, _ = Parse("t.conf", []byte("global_defs {\n~SEQ(N, x) a\n~LST(N) a\n~SEQ(N, 1\n}\n"), Options{})
	assertDiags(t, ds, []want{`2:1: error: ~SEQ(N, x): "x" is not a number`, "3:1: error: ~LST(N): want (VAR, VALUE...)", "4:1: error: ~SEQ without a closing ')'"})
}

func TestExpandBraces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"{foo/{,cat,dog},bar}", []string{"foo/", "foo/cat", "foo/dog", "bar"}},
		{"x{y}z{1,2}", []string{"x{y}z1", "x{y}z2"}},
		{"${_PWD}/{a,b}", []string{"${_PWD}/a", "${_PWD}/b"}},
		{"{a,b", []string{"{a,b"}},
	} {
		if got := expandBraces(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIncludeVariants: keepalived's includer/includem/includew/includeb/
// includea add checks; plain include only warns when nothing matches.
func TestIncludeVariants(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.conf": "global_defs {\nrouter_id a\n}\n", "b.conf": "global_defs {\nscript_user b\n}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		line string
		want []want
	}{
		{"include {a,b}.conf # both", nil},
		{"include none*.conf", []want{`1:9: warning: include "none*.conf" matches no file`, "1:1: warning: the file has no directives"}},
		{"includew none*.conf", []want{`1:10: error: includew "none*.conf" matches no file`}},
		{"includem none.conf", []want{`1:10: error: includem "none.conf" matches no file`}},
		{"includem none*.conf", []want{`1:10: warning: include "none*.conf" matches no file`, "1:1: warning: the file has no directives"}},
		{"includeb {a,c}.conf", []want{`1:10: error: includeb "{a,c}.conf": the alternative "c.conf" matches no file`}},
		{"includea \"none.conf\"", []want{`1:10: error: includea "none.conf" matches no file`}},
		{"include", []want{"1:1: error: include needs a file name or pattern"}},
	} {
		main := filepath.Join(dir, "main.conf")
		if err := os.WriteFile(main, []byte(tc.line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, ds, _ := Load(main, Options{})
		var got Diagnostics
		for _, d := range ds {
			if d.File == main {
				got = append(got, d)
			}
		}
		assertDiags(t, got, tc.want)
		if tc.want == nil && (cfg.Global.RouterID != "a" || cfg.Global.ScriptUser != "b") {
			t.Errorf("%s: both files must be read: %+v", tc.line, cfg.Global)
		}
	}
}
