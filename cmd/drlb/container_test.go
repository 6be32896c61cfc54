package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/drlb/drlb/internal/testenv"
)

// containerfile is the repository's Containerfile as instructions: each
// line is an instruction with its continuation lines joined.
func containerfile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestContainerfileRehearsal checks what can be checked of the Containerfile
// without a container engine (none runs on the CI machines): its build
// step, run as written, gives a static binary that needs no file of the
// image (it runs in an empty chroot); the runtime stage installs the Debian
// package that ships nft; and the entry point is the binary copied in.
func TestContainerfileRehearsal(t *testing.T) {
	var build, install, copyBin, entry string
	stages := 0
	for _, in := range containerfile(t) {
		switch word, rest, _ := strings.Cut(in, " "); strings.ToUpper(word) {
		case "FROM":
			stages++
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
			if strings.Contains(rest, "apt-get install") {
				install = rest
			}
		case "COPY":
			if strings.HasPrefix(rest, "--from=build") {
				copyBin = rest
			}
		case "ENTRYPOINT":
			entry = rest
		}
	}
	if stages != 2 || build == "" || install == "" || copyBin == "" || entry == "" {
		t.Fatalf("Containerfile: %d stages, build %q, install %q, copy %q, entrypoint %q", stages, build, install, copyBin, entry)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "-o /out/drlb") {
		t.Fatalf("build step %q: want CGO_ENABLED=0 and -o /out/drlb", build)
	}
	if !strings.Contains(install, " nftables") {
		t.Fatalf("runtime stage installs no nftables: %q", install)
	}
	f := strings.Fields(copyBin)
	if len(f) != 3 || f[1] != "/out/drlb" || !strings.Contains(entry, `"`+f[2]+`"`) {
		t.Fatalf("COPY %q and ENTRYPOINT %q do not agree", copyBin, entry)
	}
	if _, err := exec.LookPath("dpkg"); err == nil {
		out, err := exec.Command("dpkg", "-S", "/usr/sbin/nft").CombinedOutput()
		if err == nil && !strings.HasPrefix(string(out), "nftables:") {
			t.Fatalf("/usr/sbin/nft comes from %q here, not nftables", out)
		}
	}

	// The build step, as written, from the repository root.
	dir := t.TempDir()
	bin := filepath.Join(dir, "drlb")
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(build, "/out/drlb", bin))
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build step %q: %v\n%s", build, err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v", libs)
	}

	// In an empty root holding only the binary and a configuration.
	testenv.Privileged(t)
	root := filepath.Join(dir, "root")
	for _, d := range []string{"usr/sbin", "etc/keepalived"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(bin, filepath.Join(root, "usr/sbin/drlb")); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("../../daemon/config/testdata/seed-fixed.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/keepalived/keepalived.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	// check reads the default path, as the image's CMD does with run.
	for _, argv := range [][]string{{"version"}, {"check"}} {
		c := exec.Command("/usr/sbin/drlb", argv...)
		c.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		c.Dir = "/"
		c.Env = []string{}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("drlb %v in an empty root: %v\n%s", argv, err, out)
		}
	}
}
