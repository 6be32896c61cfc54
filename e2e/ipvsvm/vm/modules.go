package vm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// DefaultModules returns the kernel modules loaded in the guest before the tests
// run: IPVS with every scheduler the Debian kernel ships, what DR labs need
// (veth, bridge, macvlan, dummy), conntrack, and crc32c_generic, which
// libcrc32c needs but only names as a soft dependency. Names missing from the
// kernel (built in, or not built at all) are skipped with a warning.
func DefaultModules() []string {
	return []string{
		"crc32c_generic", "libcrc32c",
		"nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6",
		"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_fo", "ip_vs_ovf",
		"ip_vs_lblc", "ip_vs_lblcr", "ip_vs_dh", "ip_vs_sh", "ip_vs_mh", "ip_vs_sed", "ip_vs_nq",
		"ip_vs_twos", "ip_vs_ftp",
		"ip_vs_pe_sip", // persistence_engine sip (TestKernelPersistenceEngine)
		"veth", "bridge", "macvlan", "dummy", "ipip", "tun",
		"nf_tables", "nft_chain_nat", "nf_nat", "xt_ipvs",
		// What drlb's nft data plane uses (BenchmarkRateIPVSvsNFT).
		"nf_dup_netdev", "nft_fwd_netdev", "nft_hash", "nft_numgen",
	}
}

// ErrUnknownModule reports a module name that modules.dep does not list.
var ErrUnknownModule = errors.New("vm: module not in modules.dep")

// ModuleDeps is a parsed modules.dep: for each canonical module name, its
// file (relative to /lib/modules/<version>) and the names it depends on.
type ModuleDeps struct {
	// Path maps a module name to its file, such as "kernel/net/netfilter/ipvs/ip_vs.ko".
	Path map[string]string
	// Deps maps a module name to the names of the modules it needs.
	Deps map[string][]string
}

// ModuleName turns a module file path or name into the kernel's canonical name:
// the base name without ".ko" (and any compression suffix), with '-' as '_'.
func ModuleName(file string) string {
	base := path.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// ParseModulesDep parses the modules.dep format ("file: dep dep ...", one
// module per line) written by depmod and busybox depmod.
func ParseModulesDep(r io.Reader) (ModuleDeps, error) {
	deps := ModuleDeps{Path: map[string]string{}, Deps: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" || strings.ContainsAny(file, " \t") {
			return ModuleDeps{}, fmt.Errorf("vm: modules.dep line %d: want \"file: deps\", got %q", lineNo, line)
		}
		name := ModuleName(file)
		deps.Path[name] = file
		var needs []string
		for _, d := range strings.Fields(rest) {
			needs = append(needs, ModuleName(d))
		}
		deps.Deps[name] = needs
	}
	if err := sc.Err(); err != nil {
		return ModuleDeps{}, fmt.Errorf("vm: read modules.dep: %w", err)
	}
	return deps, nil
}

// LoadOrder returns the modules named by wanted and everything they depend
// on, each once, dependencies before the modules that need them. Names that
// modules.dep does not list are returned in missing (built into the kernel or
// absent) and are not an error; a dependency that is itself unlisted is.
func (d ModuleDeps) LoadOrder(wanted []string) (order, missing []string, err error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("vm: module dependency cycle through %s", name)
		}
		if _, ok := d.Path[name]; !ok {
			return fmt.Errorf("%w: %s (needed by %s)", ErrUnknownModule, name, from)
		}
		state[name] = visiting
		needs := append([]string(nil), d.Deps[name]...)
		sort.Strings(needs)
		for _, dep := range needs {
			if err := visit(dep, name); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, w := range wanted {
		name := ModuleName(w)
		if _, ok := d.Path[name]; !ok {
			missing = append(missing, name)
			continue
		}
		if err := visit(name, "the module list"); err != nil {
			return nil, nil, err
		}
	}
	return order, missing, nil
}
