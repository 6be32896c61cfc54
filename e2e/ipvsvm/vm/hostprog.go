package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// parseLdd returns the absolute paths of the shared objects ldd listed
// ("libx.so.1 => /lib/…/libx.so.1 (0x…)" and the loader's own
// "/lib64/ld-linux-x86-64.so.2 (0x…)"), sorted and without duplicates;
// the kernel's vDSO has no file and is left out. A library ldd could not
// find ("=> not found") is an error.
func parseLdd(out string) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.Contains(line, "=> not found") {
			return nil, fmt.Errorf("vm: ldd: %s", line)
		}
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
			continue // linux-vdso.so.1, "statically linked"
		}
		paths = append(paths, f[0])
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// hostProgramFiles returns each program (resolved on PATH) and the shared
// objects it needs, as absolute host paths; the guest gets them at the same
// paths, so a dynamically linked host tool (nft) runs there as it does here.
func hostProgramFiles(ctx context.Context, programs []string) ([]string, error) {
	var files []string
	for _, p := range programs {
		bin, err := exec.LookPath(p)
		if err != nil {
			return nil, fmt.Errorf("vm: host program %s: %w", p, err)
		}
		if bin, err = filepath.Abs(bin); err != nil {
			return nil, fmt.Errorf("vm: host program %s: %w", p, err)
		}
		// ldd says "not a dynamic executable" on stderr and exits 1 for a
		// static program, which then needs no libraries.
		out, err := exec.CommandContext(ctx, "ldd", bin).Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && strings.Contains(string(exit.Stderr), "not a dynamic executable")) {
			return nil, fmt.Errorf("vm: ldd %s: %w", bin, err)
		}
		libs, err := parseLdd(string(out))
		if err != nil {
			return nil, fmt.Errorf("vm: host program %s: %w", p, err)
		}
		files = append(append(files, bin), libs...)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}
