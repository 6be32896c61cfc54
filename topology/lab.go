package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options configure Up.
type Options struct {
	// Name of the lab (default "drlab"); every namespace is <Name>-<host>.
	Name string
	// Spec is the topology (default Seed()).
	Spec *Spec
	// StateRoot holds the lab's state directory (default /run/drlab).
	StateRoot string
	// DrlabBinary runs the lab web server (`drlab serve`); default: this executable.
	DrlabBinary string
	// Progress, if set, receives one line per build step with its duration.
	Progress func(format string, args ...any)
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	name  string
	spec  *Spec
	dir   string
	store stateStore
	drlab string

	mu      sync.Mutex
	handles map[string]*netlink.Handle
	procs   map[string]*Process // key host/name, processes started by this Lab value
}

// DefaultName is the lab name when none is given.
const DefaultName = "drlab"

// ErrNoLab is returned by Open and Down when no lab of that name exists.
var ErrNoLab = errors.New("no such lab")

// Up builds the lab: namespaces, the switch, links, addresses, sysctls, then
// its services, and waits until they are ready. On failure it removes what it
// created and returns an error saying which step failed.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Spec == nil {
		opts.Spec = Seed()
	}
	if opts.StateRoot == "" {
		opts.StateRoot = DefaultStateRoot
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if err := CheckLabName(opts.Name); err != nil {
		return nil, err
	}
	if err := opts.Spec.Validate(); err != nil {
		return nil, err
	}
	if opts.DrlabBinary == "" && needsWeb(opts.Spec) {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find drlab binary for web services: %w", err)
		}
		opts.DrlabBinary = exe
	}
	l := &Lab{
		name:    opts.Name,
		spec:    opts.Spec,
		dir:     filepath.Join(opts.StateRoot, opts.Name),
		drlab:   opts.DrlabBinary,
		handles: map[string]*netlink.Handle{},
		procs:   map[string]*Process{},
	}
	l.store = stateStore{dir: l.dir}
	if _, err := os.Stat(l.dir); err == nil {
		return nil, fmt.Errorf("lab %q already exists (%s); run `drlab down --name %s` first", l.name, l.dir, l.name)
	}
	for _, host := range append([]string{SwitchHost}, opts.Spec.HostNames()...) {
		if nsExists(l.NSName(host)) {
			return nil, fmt.Errorf("namespace %s already exists (a crashed lab?); run `drlab down --name %s` first", l.NSName(host), l.name)
		}
	}
	start := time.Now()
	if err := l.build(ctx, progress); err != nil {
		downErr := l.Down(context.WithoutCancel(ctx))
		if downErr != nil {
			return nil, fmt.Errorf("lab %s: %w (cleanup also failed: %w; run `drlab down --name %s`)", l.name, err, downErr, l.name)
		}
		return nil, fmt.Errorf("lab %s: %w (everything created was removed)", l.name, err)
	}
	progress("lab %s up in %v", l.name, time.Since(start).Round(time.Millisecond))
	return l, nil
}

func needsWeb(s *Spec) bool {
	for _, h := range s.Hosts {
		for _, svc := range h.Services {
			if svc.Web != nil {
				return true
			}
		}
	}
	return false
}

// step times one build step for the progress output.
func step(progress func(string, ...any), what string, fn func() error) error {
	t := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	progress("  %-28s %v", what, time.Since(t).Round(time.Microsecond))
	return nil
}

func (l *Lab) build(ctx context.Context, progress func(string, ...any)) error {
	hosts := l.spec.HostNames()
	all := append([]string{SwitchHost}, hosts...)
	nsNames := make([]string, len(all))
	for i, h := range all {
		nsNames[i] = l.NSName(h)
	}
	for _, sub := range []string{"logs", "www", "run"} {
		if err := os.MkdirAll(filepath.Join(l.dir, sub), 0o755); err != nil {
			return fmt.Errorf("create lab directory: %w", err)
		}
	}
	// Record the intent before creating anything, so a crash leaves a trail.
	st := &State{Name: l.name, Spec: l.spec, Created: time.Now().UTC(), Namespaces: nsNames}
	unlock, err := l.store.lock()
	if err != nil {
		return err
	}
	err = l.store.writeUnlocked(st)
	unlock()
	if err != nil {
		return err
	}
	if err := step(progress, "namespaces", func() error {
		if err := ensureNetnsDir(); err != nil {
			return err
		}
		for _, ns := range nsNames {
			if err := createNamedNS(ns); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := step(progress, "switch "+l.NSName(SwitchHost), l.buildSwitch); err != nil {
		return err
	}
	if err := step(progress, "links and addresses", l.buildLinks); err != nil {
		return err
	}
	if err := step(progress, "sysctls", l.applySysctls); err != nil {
		return err
	}
	if err := step(progress, "routes", l.addRoutes); err != nil {
		return err
	}
	if err := step(progress, "web pages", l.writePages); err != nil {
		return err
	}
	return step(progress, "services", func() error { return l.startServices(ctx) })
}

func (l *Lab) buildSwitch() error {
	sw := l.NSName(SwitchHost)
	h, err := l.Handle(SwitchHost)
	if err != nil {
		return err
	}
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	// A new namespace sends bridged IPv4 through iptables; the lab's switch must not.
	for _, key := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.bridge.bridge-nf-call-arptables"} {
		if _, err := sysctl.Sysctl(key); err != nil {
			continue // br_netfilter absent: nothing to turn off
		}
		if err := writeSysctl(NSPath(sw), key, "0"); err != nil {
			return err
		}
	}
	for _, seg := range l.spec.Segments {
		// No MLD snooping: the lab has no multicast querier, and VRRPv3's
		// ff02::12 must reach every host as 224.0.0.18 does.
		snooping := false
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName(seg.Name)}, MulticastSnooping: &snooping}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s in %s: %w", br.Name, sw, err)
		}
		if err := h.LinkSetUp(br); err != nil {
			return fmt.Errorf("bring up bridge %s: %w", br.Name, err)
		}
	}
	return nil
}

func (l *Lab) buildLinks() error {
	sw, err := l.Handle(SwitchHost)
	if err != nil {
		return err
	}
	for _, host := range l.spec.Hosts {
		h, err := l.Handle(host.Name)
		if err != nil {
			return err
		}
		// Interfaces created from now on skip duplicate address detection, so
		// their link-local address (VRRPv3's source) is usable at once instead
		// of staying tentative for about a second; the global addresses get
		// IFA_F_NODAD in addAddr.
		if err := writeSysctl(l.NSPath(host.Name), "net.ipv6.conf.default.accept_dad", "0"); err != nil {
			return fmt.Errorf("host %s: %w", host.Name, err)
		}
		if err := linkUp(h, "lo"); err != nil {
			return fmt.Errorf("host %s: %w", host.Name, err)
		}
		for _, a := range host.Loopback {
			if err := addAddr(h, "lo", a); err != nil {
				return fmt.Errorf("host %s: %w", host.Name, err)
			}
		}
	}
	for _, link := range l.spec.Links {
		if err := l.addLink(sw, link); err != nil {
			return fmt.Errorf("link %s %s: %w", link.Host, link.Interface, err)
		}
	}
	return nil
}

func (l *Lab) addLink(sw *netlink.Handle, link Link) error {
	hostNS, err := netns.GetFromPath(l.NSPath(link.Host))
	if err != nil {
		return fmt.Errorf("open namespace: %w", err)
	}
	defer func() { _ = hostNS.Close() }()
	br, err := sw.LinkByName(bridgeName(link.Segment))
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", bridgeName(link.Segment), err)
	}
	// Created in the switch namespace with its peer placed straight into the
	// host: no end of the pair ever exists in the root namespace.
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: PortName(link.Host, link.Interface), MasterIndex: br.Attrs().Index},
		PeerName:      link.Interface,
		PeerNamespace: netlink.NsFd(int(hostNS)),
	}
	if err := sw.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", veth.Name, link.Interface, err)
	}
	if err := linkUp(sw, veth.Name); err != nil {
		return err
	}
	h, err := l.Handle(link.Host)
	if err != nil {
		return err
	}
	for _, a := range link.Addresses {
		if err := addAddr(h, link.Interface, a); err != nil {
			return err
		}
	}
	return linkUp(h, link.Interface)
}

func linkUp(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

func addAddr(h *netlink.Handle, dev, cidr string) error {
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %s: %w", dev, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("parse address %s: %w", cidr, err)
	}
	if addr.IP.To4() == nil {
		// Lab addresses are unique by construction (the spec refuses
		// duplicates): no DAD, so the address is usable at once.
		addr.Flags |= unix.IFA_F_NODAD
	}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("add %s to %s: %w", cidr, dev, err)
	}
	return nil
}

func (l *Lab) applySysctls() error {
	for _, host := range l.spec.Hosts {
		keys := make([]string, 0, len(host.Sysctls))
		for k := range host.Sysctls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			continue
		}
		err := Do(l.NSPath(host.Name), func() error {
			for _, k := range keys {
				if _, err := sysctl.Sysctl(k, host.Sysctls[k]); err != nil {
					return fmt.Errorf("sysctl %s=%s: %w", k, host.Sysctls[k], err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("host %s: %w", host.Name, err)
		}
	}
	return nil
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.name }

// Spec is the lab's topology.
func (l *Lab) Spec() *Spec { return l.spec }

// Dir is the lab's state directory (state.json, logs/, www/, run/).
func (l *Lab) Dir() string { return l.dir }

// NSName is the namespace name of a host: <lab>-<host>.
func (l *Lab) NSName(host string) string { return nsName(l.name, host) }

// nsName is the namespace name of a host in lab, also its FRR pathspace.
func nsName(lab, host string) string { return lab + "-" + host }

// NSPath is the bind-mount path of a host's namespace.
func (l *Lab) NSPath(host string) string { return NSPath(l.NSName(host)) }

// RunDir is a per-host directory for daemons' pid files and control sockets;
// `drlab exec` exports it as DRLB_RUN_DIR.
func (l *Lab) RunDir(host string) string { return filepath.Join(l.dir, "run", host) }

// Addr returns a host's primary address.
func (l *Lab) Addr(host string) netip.Addr {
	a, _ := l.spec.PrimaryAddr(host)
	return a
}

// Addr6 returns a host's first IPv6 link address (invalid if it has none).
func (l *Lab) Addr6(host string) netip.Addr {
	a, _ := l.spec.PrimaryAddr6(host)
	return a
}

// Do runs fn on a thread inside host's namespace (see the package-level Do).
func (l *Lab) Do(host string, fn func() error) error {
	if err := l.checkHost(host); err != nil {
		return err
	}
	return Do(l.NSPath(host), fn)
}

func (l *Lab) checkHost(host string) error {
	if host == SwitchHost || l.spec.Host(host) != nil {
		return nil
	}
	return fmt.Errorf("lab %s has no host %q%s", l.name, host, suggest(host, l.spec.HostNames()))
}

// Handle returns a route-netlink handle for host's namespace, opened once.
func (l *Lab) Handle(host string) (*netlink.Handle, error) {
	if err := l.checkHost(host); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.handles[host]; ok {
		return h, nil
	}
	h, err := openHandle(l.NSName(host))
	if err != nil {
		return nil, err
	}
	l.handles[host] = h
	return h, nil
}

// Sysctl reads a net.* sysctl in host's namespace.
func (l *Lab) Sysctl(host, key string) (string, error) {
	if err := l.checkHost(host); err != nil {
		return "", err
	}
	return readSysctl(l.NSPath(host), key)
}

// SetSysctl writes a net.* sysctl in host's namespace.
func (l *Lab) SetSysctl(host, key, value string) error {
	if err := l.checkHost(host); err != nil {
		return err
	}
	if !validSysctl(key) {
		return fmt.Errorf("sysctl %q: only net.* keys can be set in a lab host", key)
	}
	return writeSysctl(l.NSPath(host), key, value)
}

// DialContext opens a connection from inside host's namespace.
func (l *Lab) DialContext(ctx context.Context, host, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := l.Do(host, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, address, host, err)
	}
	return conn, nil
}

// WaitTCP polls until address accepts TCP connections from inside host, or ctx ends.
func (l *Lab) WaitTCP(ctx context.Context, host, address string) error {
	backoff := 2 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		conn, err := l.DialContext(attempt, host, "tcp", address)
		cancel()
		if err == nil {
			_ = conn.Close() // only probing: nothing was sent
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s in %s: %w (last error: %w)", address, host, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}

// Open attaches to an existing lab by name (from its recorded state).
func Open(name, stateRoot string) (*Lab, error) {
	if name == "" {
		name = DefaultName
	}
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	dir := filepath.Join(stateRoot, name)
	store := stateStore{dir: dir}
	if _, err := os.Stat(store.path()); err != nil {
		return nil, fmt.Errorf("lab %q: %w (start it with `drlab up --name %s`)", name, ErrNoLab, name)
	}
	st, err := store.read()
	if err != nil {
		return nil, err
	}
	exe, _ := os.Executable()
	return &Lab{
		name:    name,
		spec:    st.Spec,
		dir:     dir,
		store:   store,
		drlab:   exe,
		handles: map[string]*netlink.Handle{},
		procs:   map[string]*Process{},
	}, nil
}

// Down tears the lab down: its processes (by recorded PID), namespaces, and
// state directory. It is idempotent and keeps going past errors, returning
// them all.
func (l *Lab) Down(ctx context.Context) error {
	l.mu.Lock()
	for _, h := range l.handles {
		h.Close()
	}
	l.handles = map[string]*netlink.Handle{}
	l.mu.Unlock()
	_, err := downDir(ctx, l.name, l.dir)
	return err
}

// DownReport says what Down removed and what it left.
type DownReport struct {
	Processes  int      // processes ended
	Namespaces int      // namespaces removed
	Strays     []string // processes in the lab's namespaces that the lab did not start (not killed)
}

// Down removes the lab named name under stateRoot, also after a crash: it
// reads the recorded state, and if there is none, removes namespaces named
// <name>-<host>. ErrNoLab if nothing of that lab exists.
func Down(ctx context.Context, name, stateRoot string) (DownReport, error) {
	if name == "" {
		name = DefaultName
	}
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	if err := CheckLabName(name); err != nil {
		return DownReport{}, err
	}
	return downDir(ctx, name, filepath.Join(stateRoot, name))
}

// List returns the names of labs with state under stateRoot, and of labs
// whose namespaces exist without state.
func List(stateRoot string) ([]string, error) {
	if stateRoot == "" {
		stateRoot = DefaultStateRoot
	}
	seen := map[string]bool{}
	entries, err := os.ReadDir(stateRoot)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && CheckLabName(e.Name()) == nil {
			seen[e.Name()] = true
		}
	}
	for _, ns := range orphanNamespaces("") {
		seen[strings.SplitN(ns, "-", 2)[0]] = true
	}
	return keys(seen), nil
}

func downDir(ctx context.Context, name, dir string) (DownReport, error) {
	var rep DownReport
	var errs []error
	store := stateStore{dir: dir}
	st, stateErr := store.read()
	nsNames := orphanNamespaces(name)
	if stateErr == nil {
		nsNames = union(nsNames, st.Namespaces)
		var killed []ProcRecord
		for _, p := range st.Processes {
			if p.alive() {
				if err := p.killGroup(); err != nil {
					errs = append(errs, err)
					continue
				}
				killed = append(killed, p)
			}
		}
		rep.Processes = len(killed)
		if err := waitGone(ctx, killed); err != nil {
			errs = append(errs, err)
		}
	}
	_, dirErr := os.Stat(dir)
	if stateErr != nil && len(nsNames) == 0 && errors.Is(dirErr, os.ErrNotExist) {
		return rep, fmt.Errorf("lab %q: %w", name, ErrNoLab)
	}
	if stateErr == nil && st.Spec != nil {
		if err := removeFRRPathspaces(name, st.Spec); err != nil {
			errs = append(errs, err)
		}
	}
	rep.Strays = straysIn(nsNames)
	for _, ns := range nsNames {
		if err := deleteNamedNS(ns); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Namespaces++
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		}
	}
	return rep, errors.Join(errs...)
}

// orphanNamespaces lists /run/netns entries named <lab>-<host> (any lab when lab is "").
func orphanNamespaces(lab string) []string {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "-")
		if !ok || CheckLabName(prefix) != nil {
			continue
		}
		if lab == "" || prefix == lab {
			out = append(out, e.Name())
		}
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// waitGone waits until killed processes have exited (or are zombies awaiting their parent).
func waitGone(ctx context.Context, procs []ProcRecord) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, p := range procs {
		for p.alive() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("process %s/%s (pid %d) did not exit after SIGKILL", p.Host, p.Name, p.PID)
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	return nil
}

// straysIn lists processes (as "pid comm") whose network namespace is one of
// nsNames. The lab does not kill them: it did not start them.
func straysIn(nsNames []string) []string {
	inodes := map[uint64]string{}
	for _, ns := range nsNames {
		var st unix.Stat_t
		if err := unix.Stat(NSPath(ns), &st); err == nil {
			inodes[st.Ino] = ns
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/"+e.Name()+"/ns/net", &st); err != nil {
			continue
		}
		if ns, ok := inodes[st.Ino]; ok {
			if s, _, err := procStat(pid); err == nil && s == 'Z' {
				continue
			}
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			out = append(out, fmt.Sprintf("pid %d (%s) in %s", pid, strings.TrimSpace(string(comm)), ns))
		}
	}
	return out
}
