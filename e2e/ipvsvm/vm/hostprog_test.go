package vm

import (
	"slices"
	"testing"
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
