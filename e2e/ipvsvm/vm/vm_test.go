package vm

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpioEntry is one parsed newc member (the test's own reader, so the writer
// is checked against the format rather than against itself).
type cpioEntry struct {
	name               string
	mode               uint32
	rdevMajor, rdevMin uint32
	data               string
}

func readNewc(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func() { off = (off + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at offset %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, maj, min, nameSize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nameSize)-1])
		off += 110 + int(nameSize)
		align()
		data := string(b[off : off+int(size)])
		off += int(size)
		align()
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, maj, min, data})
	}
}

func TestCPIOWriterNewcLayout(t *testing.T) {
	var buf bytes.Buffer
	c := NewCPIOWriter(&buf)
	steps := []error{
		c.Bytes("/etc/drlb/env", 0o644, []byte("export A='1'\n")),
		c.Symlink("bin/sh", "busybox"),
		c.CharDevice("dev/console", 0o600, 5, 1),
		c.Dir("tmp", 0o1777),
		c.Bytes("init", 0o755, []byte("#!/bin/sh\n")),
		c.Close(),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	got := readNewc(t, buf.Bytes())
	want := []cpioEntry{
		{name: "etc", mode: modeDir | 0o755},
		{name: "etc/drlb", mode: modeDir | 0o755},
		{name: "etc/drlb/env", mode: modeRegular | 0o644, data: "export A='1'\n"},
		{name: "bin", mode: modeDir | 0o755},
		{name: "bin/sh", mode: modeSymlink | 0o777, data: "busybox"},
		{name: "dev", mode: modeDir | 0o755},
		{name: "dev/console", mode: modeCharDev | 0o600, rdevMajor: 5, rdevMin: 1},
		{name: "tmp", mode: modeDir | 0o1777},
		{name: "init", mode: modeRegular | 0o755, data: "#!/bin/sh\n"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("archive members:\n got %+v\nwant %+v", got, want)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", buf.Len())
	}
	// Cross-check with GNU cpio when it is installed.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		names := strings.Fields(string(out))
		if len(names) != len(want) || names[2] != "etc/drlb/env" {
			t.Errorf("cpio -t lists %q", names)
		}
	}
}

func TestCPIOWriterRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "/", ".", "..", "../x", "a/../../x"} {
		c := NewCPIOWriter(io.Discard)
		if err := c.Bytes(name, 0o644, nil); !errors.Is(err, ErrBadPath) {
			t.Errorf("Bytes(%q) = %v, want ErrBadPath", name, err)
		}
	}
	c := NewCPIOWriter(io.Discard)
	if err := c.Bytes("a", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Bytes("/a", 0o644, nil); !errors.Is(err, ErrBadPath) {
		t.Errorf("duplicate member: %v, want ErrBadPath", err)
	}
	if err := c.File("b", 0o644, 10, strings.NewReader("short")); err == nil {
		t.Error("short reader accepted")
	}
}

const sampleDep = `kernel/lib/libcrc32c.ko:
kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/lib/libcrc32c.ko
kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
`

func TestModuleLoadOrder(t *testing.T) {
	deps, err := ParseModulesDep(strings.NewReader(sampleDep))
	if err != nil {
		t.Fatal(err)
	}
	if got := deps.Path["crc32c_intel"]; got != "kernel/arch/x86/crypto/crc32c-intel.ko.xz" {
		t.Errorf("crc32c_intel path %q", got)
	}
	tests := []struct {
		wanted, order, missing []string
	}{
		{[]string{"ip_vs_rr"}, []string{"libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6", "nf_conntrack", "ip_vs", "ip_vs_rr"}, nil},
		{[]string{"bridge", "llc", "crc32c_generic"}, []string{"llc", "stp", "bridge"}, []string{"crc32c_generic"}},
		{[]string{"crc32c-intel", "ip_vs", "ip_vs_rr"}, []string{"crc32c_intel", "libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6", "nf_conntrack", "ip_vs", "ip_vs_rr"}, nil},
		{nil, nil, nil},
	}
	for _, tt := range tests {
		order, missing, err := deps.LoadOrder(tt.wanted)
		if err != nil {
			t.Errorf("LoadOrder(%q): %v", tt.wanted, err)
			continue
		}
		if !slices.Equal(order, tt.order) || !slices.Equal(missing, tt.missing) {
			t.Errorf("LoadOrder(%q) = %q, missing %q; want %q, missing %q", tt.wanted, order, missing, tt.order, tt.missing)
		}
	}
}

func TestModuleLoadOrderErrors(t *testing.T) {
	for _, dep := range []string{
		"a.ko: b.ko\n",             // dependency not listed itself
		"a.ko: b.ko\nb.ko: a.ko\n", // cycle
	} {
		deps, err := ParseModulesDep(strings.NewReader(dep))
		if err != nil {
			t.Fatalf("parse %q: %v", dep, err)
		}
		if _, _, err := deps.LoadOrder([]string{"a"}); err == nil {
			t.Errorf("LoadOrder on %q succeeded", dep)
		}
	}
	for _, bad := range []string{"no colon here\n", ": x.ko\n", "a b.ko: c.ko\n"} {
		if _, err := ParseModulesDep(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseModulesDep(%q) succeeded", bad)
		}
	}
}

// FuzzParseModulesDep checks that any modules.dep text either fails to parse
// or yields a load order that puts every dependency before its user.
func FuzzParseModulesDep(f *testing.F) {
	f.Add(sampleDep)                  // a real excerpt with chains and a compressed module
	f.Add("a.ko: b.ko\nb.ko: a.ko\n") // a cycle
	f.Add("# comment\n\nx-y.ko:\n")   // comments, blank lines, '-' in names
	f.Fuzz(func(t *testing.T, text string) {
		deps, err := ParseModulesDep(strings.NewReader(text))
		if err != nil {
			return
		}
		names := make([]string, 0, len(deps.Path))
		for n := range deps.Path {
			names = append(names, n)
		}
		slices.Sort(names)
		order, _, err := deps.LoadOrder(names)
		if err != nil {
			return
		}
		pos := map[string]int{}
		for i, n := range order {
			if _, dup := pos[n]; dup {
				t.Fatalf("%s twice in %q", n, order)
			}
			pos[n] = i
		}
		for _, n := range order {
			for _, d := range deps.Deps[n] {
				if pos[d] >= pos[n] {
					t.Fatalf("%s loads before its dependency %s: %q", n, d, order)
				}
			}
		}
	})
}

func TestParseResultLine(t *testing.T) {
	tests := []struct {
		line string
		v    Verdict
		ok   bool
	}{
		{"DRLB-VM-RESULT: PASS", Verdict{Passed: true}, true},
		{"DRLB-VM-RESULT: PASS\r", Verdict{Passed: true}, true},
		{"[    3.1] x DRLB-VM-RESULT: FAIL rc=2", Verdict{RC: 2}, true},
		{"DRLB-VM-RESULT: FAIL rc=0", Verdict{}, false},
		{"DRLB-VM-RESULT: FAIL rc=256", Verdict{}, false},
		{"DRLB-VM-RESULT: FAIL", Verdict{}, false},
		{"DRLB-VM-RESULT: PASS extra", Verdict{}, false},
		{"DRLB-VM-RESULT:", Verdict{}, false},
		{"--- PASS: TestX", Verdict{}, false},
	}
	for _, tt := range tests {
		v, ok := ParseResultLine(tt.line)
		if v != tt.v || ok != tt.ok {
			t.Errorf("ParseResultLine(%q) = %+v, %v; want %+v, %v", tt.line, v, ok, tt.v, tt.ok)
		}
	}
}

func TestParseTestLine(t *testing.T) {
	tests := []struct {
		line string
		v    Verdict
		ok   bool
	}{
		{"DRLB-VM-TEST: dp.test rc=0", Verdict{Name: "dp.test", Passed: true}, true},
		{"DRLB-VM-TEST: dp.test rc=1\r", Verdict{Name: "dp.test", RC: 1}, true},
		{"DRLB-VM-TEST: dp.test", Verdict{}, false},
		{"DRLB-VM-TEST: dp.test rc=x", Verdict{}, false},
		{"DRLB-VM-TEST: dp.test rc=-1", Verdict{}, false},
		{"DRLB-VM-RESULT: PASS", Verdict{}, false},
	}
	for _, tt := range tests {
		v, ok := ParseTestLine(tt.line)
		if v != tt.v || ok != tt.ok {
			t.Errorf("ParseTestLine(%q) = %+v, %v; want %+v, %v", tt.line, v, ok, tt.v, tt.ok)
		}
	}
}

// FuzzParseResultLine checks that a parsed verdict is self-consistent and
// that the line it came from says so.
func FuzzParseResultLine(f *testing.F) {
	f.Add("DRLB-VM-RESULT: PASS")           // the pass marker
	f.Add("junk DRLB-VM-RESULT: FAIL rc=3") // a failure after kernel noise
	f.Add("DRLB-VM-TEST: a rc=0")           // the per-binary marker
	f.Fuzz(func(t *testing.T, line string) {
		if v, ok := ParseResultLine(line); ok {
			if v.Passed == (v.RC != 0) || v.RC < 0 || v.RC > 255 {
				t.Fatalf("inconsistent verdict %+v from %q", v, line)
			}
			if v.Passed && !strings.Contains(line, "PASS") {
				t.Fatalf("PASS from %q", line)
			}
		}
		if v, ok := ParseTestLine(line); ok && (v.Name == "" || v.Passed != (v.RC == 0)) {
			t.Fatalf("inconsistent test verdict %+v from %q", v, line)
		}
	})
}

func TestScanConsoleLastMarkerWins(t *testing.T) {
	in := "boot\r\nDRLB-VM-TEST: a.test rc=0\r\nDRLB-VM-RESULT: PASS\r\nDRLB-VM-TEST: b.test rc=3\r\nDRLB-VM-RESULT: FAIL rc=3\r\n"
	var out bytes.Buffer
	var res Result
	if !scanConsole(strings.NewReader(in), &out, &res) {
		t.Fatal("no result seen")
	}
	if res.Passed || res.RC != 3 || len(res.Tests) != 2 {
		t.Errorf("result %+v", res)
	}
	if strings.Contains(out.String(), "\r") || !strings.HasPrefix(out.String(), "boot\n") {
		t.Errorf("console copy %q", out.String())
	}
	if scanConsole(strings.NewReader("Kernel panic - not syncing\n"), io.Discard, &Result{}) {
		t.Error("result seen in a panic log")
	}
}

func TestParseAptDepends(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n", "linux-image-6.1.0-56-cloud-amd64", true},
		{"x\n |Depends: <virtual>\n  Depends: real-pkg\n", "real-pkg", true},
		{"x\n  Recommends: foo\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseAptDepends(tt.out)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseAptDepends(%q) = %q, %v", tt.out, got, err)
		}
	}
}

func TestEnvFileQuotesAndOverrides(t *testing.T) {
	got, err := EnvFile(GuestEnv([]string{"DRLB_REQUIRE_PRIVILEGED=0", "X=it's $HOME"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export DRLB_IPVS_VM='1'\n", "export DRLB_REQUIRE_PRIVILEGED='0'\n", `export X='it'\''s $HOME'` + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("env file lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"NOEQUALS", "1X=1", "A B=1", "=x"} {
		if _, err := EnvFile([]string{bad}); err == nil {
			t.Errorf("EnvFile(%q) accepted", bad)
		}
	}
}

func TestInitScript(t *testing.T) {
	bins := []TestBinary{{Path: "/x/dp.test", Args: []string{"-test.run", "IPVS|DR"}}, {Path: "/y/dp.test"}}
	names := guestNames(bins)
	if !slices.Equal(names, []string{"dp.test", "dp.test-2"}) {
		t.Fatalf("guest names %q", names)
	}
	script := InitScript("6.1.0-x", []string{"kernel/a.ko", "kernel/b-c.ko"}, names, bins, []string{"-test.timeout=5m"})
	for _, want := range []string{
		"#!/bin/busybox sh\n",
		"ip link set lo up\n",
		"insmod 'kernel/b-c.ko' || echo \"DRLB-VM-WARN: insmod b_c failed\"\n",
		"(cd /tests/dp.test && exec ./dp.test '-test.v' '-test.timeout=5m' '-test.run' 'IPVS|DR')\n",
		"(cd /tests/dp.test-2 && exec ./dp.test-2 '-test.v' '-test.timeout=5m')\n",
		`echo "DRLB-VM-TEST: dp.test-2 rc=$r"`,
		`echo "DRLB-VM-RESULT: PASS"; else echo "DRLB-VM-RESULT: FAIL rc=$rc"`,
		"poweroff -f\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("init script lacks %q", want)
		}
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s", err, out)
		}
	}
}

func TestQEMUArgs(t *testing.T) {
	args := strings.Join(QEMUArgs("/k", "/i", 1024, 1, false), " ")
	for _, want := range []string{"-nographic", "-no-reboot", "-nic none", "-bios " + QBootROM, "-m 1024", "-kernel /k", "-initrd /i", "console=ttyS0", "panic=-1"} {
		if !strings.Contains(args, want) {
			t.Errorf("qemu args lack %q: %s", want, args)
		}
	}
	if strings.Contains(args, "microvm") || strings.Contains(args, "kvm") {
		t.Errorf("qemu args use microvm or kvm: %s", args)
	}
	if !strings.Contains(strings.Join(QEMUArgs("/k", "/i", 512, 2, true), " "), "accel=kvm:tcg") {
		t.Error("kvm requested but not in args")
	}
}

func TestParseTestBinary(t *testing.T) {
	b, err := ParseTestBinary("  ./dp.test -test.run IPVS ")
	if err != nil || b.Path != "./dp.test" || !slices.Equal(b.Args, []string{"-test.run", "IPVS"}) {
		t.Errorf("got %+v, %v", b, err)
	}
	if _, err := ParseTestBinary("   "); err == nil {
		t.Error("empty spec accepted")
	}
}

func TestGuestTestTimeout(t *testing.T) {
	for _, tt := range []struct{ total, want string }{{"6m", "5m15s"}, {"1m", "45s"}} {
		total, err := time.ParseDuration(tt.total)
		if err != nil {
			t.Fatal(err)
		}
		if got := guestTestTimeout(total).String(); got != tt.want {
			t.Errorf("guestTestTimeout(%s) = %s, want %s", tt.total, got, tt.want)
		}
	}
}
