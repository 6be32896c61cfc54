package vm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/drlb/drlb/internal/testenv"
)

func TestParseLdd(t *testing.T) {
	const nft = `	linux-vdso.so.1 (0x00007f2991d09000)
	libnftables.so.1 => /lib/x86_64-linux-gnu/libnftables.so.1 (0x00007f2991c15000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f29919f9000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f2991d0b000)
	libmnl.so.0 => /lib/x86_64-linux-gnu/libmnl.so.0 (0x00007f29919f1000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f29919f9000)
`
	got, err := parseLdd(nft)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libmnl.so.0",
		"/lib/x86_64-linux-gnu/libnftables.so.1", "/lib64/ld-linux-x86-64.so.2"}
	if !slices.Equal(got, want) {
		t.Errorf("parseLdd = %q; want %q", got, want)
	}
	if got, err := parseLdd("\tnot a dynamic executable\n"); err != nil || len(got) != 0 {
		t.Errorf("static binary: %q, %v", got, err)
	}
	if _, err := parseLdd("\tlibgone.so.1 => not found\n"); err == nil {
		t.Error("a missing library was accepted")
	}
}

// TestHostProgramFilesStatic: a static program is taken alone (ldd reports
// it on stderr and exits 1), a dynamic one with its libraries.
func TestHostProgramFilesStatic(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		testenv.Unavailable(t, "no ldd (Debian package libc-bin)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", "static", "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static program: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+os.Getenv("PATH"))
	got, err := hostProgramFiles(context.Background(), []string{"static"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "static")}; !slices.Equal(got, want) {
		t.Errorf("hostProgramFiles(static) = %q; want %q", got, want)
	}
	sh, err := hostProgramFiles(context.Background(), []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sh) < 2 {
		t.Errorf("hostProgramFiles(sh) = %q; want sh and its libraries", sh)
	}
}
