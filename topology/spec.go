package topology

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	didyoumean "github.com/drlb/drlb/internal/suggest"
)

// MaxIfNameLen is the kernel's limit on interface names (IFNAMSIZ - 1).
const MaxIfNameLen = 15

//go:embed specs/seed.yaml
var seedYAML []byte

//go:embed specs/scaleout.yaml
var scaleoutYAML []byte

// SeedYAML returns the built-in seed topology as YAML, for users to copy and edit.
func SeedYAML() []byte { return bytes.Clone(seedYAML) }

// Spec is a declarative lab: hosts (each a network namespace), L2 segments
// (bridges in the switch namespace), links joining a host to a segment, and
// what runs in each host.
type Spec struct {
	// Name of the topology (not of the lab instance; labs are named by Options.Name).
	Name        string    `yaml:"name" json:"name"`
	Description string    `yaml:"description,omitempty" json:"description,omitempty"`
	VIPs        []string  `yaml:"vips,omitempty" json:"vips,omitempty"`
	Segments    []Segment `yaml:"segments" json:"segments"`
	Hosts       []Host    `yaml:"hosts" json:"hosts"`
	Links       []Link    `yaml:"links" json:"links"`

	// File is where the spec was read from ("" for built-in specs).
	File string `yaml:"-" json:"file,omitempty"`
}

// Segment is one L2 broadcast domain: a bridge in the lab's switch namespace.
type Segment struct {
	Name string `yaml:"name" json:"name"`
	Line int    `yaml:"-" json:"-"`
}

// Host is one machine of the lab: a network namespace named <lab>-<host>.
type Host struct {
	Name string `yaml:"name" json:"name"`
	// Role is informational (balancer, realserver, client): status output groups by it.
	Role string `yaml:"role,omitempty" json:"role,omitempty"`
	// Loopback addresses (CIDR) added to lo, e.g. a DR real server's VIP as /32.
	Loopback []string `yaml:"loopback,omitempty" json:"loopback,omitempty"`
	// Sysctls are written in the host's namespace after its links exist,
	// so per-interface keys such as net.ipv4.conf.eth1.arp_ignore work.
	Sysctls map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
	// Routes are added after the links, each "DEST via GATEWAY" with DEST
	// a prefix or "default" (routed topologies such as scaleout).
	Routes   []string  `yaml:"routes,omitempty" json:"routes,omitempty"`
	Services []Service `yaml:"services,omitempty" json:"services,omitempty"`
	Line     int       `yaml:"-" json:"-"`
}

// Link connects a host to a segment with a veth pair: Interface in the host,
// "<host>-<interface>" on the segment's bridge.
type Link struct {
	Host      string   `yaml:"host" json:"host"`
	Segment   string   `yaml:"segment" json:"segment"`
	Interface string   `yaml:"interface" json:"interface"`
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	Line      int      `yaml:"-" json:"-"`
}

// Service is a process started in a host when the lab comes up.
type Service struct {
	Name string `yaml:"name" json:"name"`
	// Web runs the lab web server (drlab serve) on Port.
	Web *WebService `yaml:"web,omitempty" json:"web,omitempty"`
	// Command runs any program; ReadyTCP, if set, is an address that must accept
	// connections (from inside the host) before the lab counts as up.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// FRR runs FRRouting's zebra and bgpd with this configuration, in
	// their own pathspace per lab host (see FRRService).
	FRR      *FRRService `yaml:"frr,omitempty" json:"frr,omitempty"`
	ReadyTCP string      `yaml:"ready_tcp,omitempty" json:"ready_tcp,omitempty"`
	Line     int         `yaml:"-" json:"-"`
}

// WebService configures the lab web server.
type WebService struct {
	Port int `yaml:"port" json:"port"`
}

// UnmarshalYAML records the line of each host for diagnostics.
func (h *Host) UnmarshalYAML(n *yaml.Node) error {
	type plain Host
	if err := n.Decode((*plain)(h)); err != nil {
		return err
	}
	h.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of each link for diagnostics.
func (l *Link) UnmarshalYAML(n *yaml.Node) error {
	type plain Link
	if err := n.Decode((*plain)(l)); err != nil {
		return err
	}
	l.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of each segment for diagnostics.
func (s *Segment) UnmarshalYAML(n *yaml.Node) error {
	type plain Segment
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// UnmarshalYAML records the line of each service for diagnostics.
func (s *Service) UnmarshalYAML(n *yaml.Node) error {
	type plain Service
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// Seed returns the how-to's topology: lb1, lb2, rs1, rs2 and a client on 172.16.1.0/24.
func Seed() *Spec {
	s, err := ParseSpec("seed", seedYAML)
	if err != nil {
		// The embedded file is tested; failing here is a build defect.
		panic(fmt.Sprintf("topology: built-in seed spec is invalid: %v", err))
	}
	return s
}

// Scaleout returns the routed scale-out topology: a client behind an FRR
// router that spreads flows by ECMP over BGP-announced directors.
func Scaleout() *Spec {
	s, err := ParseSpec("scaleout", scaleoutYAML)
	if err != nil {
		panic(fmt.Sprintf("topology: built-in scaleout spec is invalid: %v", err))
	}
	return s
}

// ScaleoutYAML returns the built-in scaleout topology as YAML.
func ScaleoutYAML() []byte { return bytes.Clone(scaleoutYAML) }

// LoadSpec reads a spec: "seed" and "scaleout" name the built-in
// topologies, anything else is a file.
func LoadSpec(nameOrFile string) (*Spec, error) {
	if nameOrFile == "" || nameOrFile == "seed" {
		return Seed(), nil
	}
	if nameOrFile == "scaleout" {
		return Scaleout(), nil
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	return ParseSpec(nameOrFile, data)
}

// SpecError is an invalid spec, with every problem found (each "FILE:LINE: message").
type SpecError struct {
	Problems []string
}

func (e *SpecError) Error() string {
	return "invalid topology:\n  " + strings.Join(e.Problems, "\n  ")
}

// ErrInvalidSpec is wrapped by every spec validation error.
var ErrInvalidSpec = errors.New("invalid topology")

// Is makes errors.Is(err, ErrInvalidSpec) true for a *SpecError.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }

// ParseSpec decodes and validates a YAML spec; file names the source in errors.
func ParseSpec(file string, data []byte) (*Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, &SpecError{Problems: []string{fmt.Sprintf("%s: %v", file, err)}}
	}
	s.File = file
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// Validate checks the spec before anything is created: names, references,
// addresses and interface-name lengths. It reports every problem at once.
func (s *Spec) Validate() error {
	var probs []string
	at := func(line int, format string, args ...any) {
		loc := s.File
		if loc == "" {
			loc = "spec"
		}
		if line > 0 {
			loc = fmt.Sprintf("%s:%d", loc, line)
		}
		probs = append(probs, loc+": "+fmt.Sprintf(format, args...))
	}
	if len(s.Hosts) == 0 {
		at(0, "no hosts")
	}
	segments := map[string]bool{}
	for _, seg := range s.Segments {
		switch {
		case !nameRE.MatchString(seg.Name):
			at(seg.Line, "segment name %q: use lower-case letters and digits, starting with a letter", seg.Name)
		case segments[seg.Name]:
			at(seg.Line, "segment %q defined twice", seg.Name)
		case len(bridgeName(seg.Name)) > MaxIfNameLen:
			at(seg.Line, "segment name %q too long: bridge name %q exceeds %d characters", seg.Name, bridgeName(seg.Name), MaxIfNameLen)
		}
		segments[seg.Name] = true
	}
	hosts := map[string]*Host{}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		switch {
		case !nameRE.MatchString(h.Name):
			at(h.Line, "host name %q: use lower-case letters and digits, starting with a letter", h.Name)
		case h.Name == SwitchHost:
			at(h.Line, "host name %q is reserved for the lab's switch namespace", h.Name)
		case hosts[h.Name] != nil:
			at(h.Line, "host %q defined twice", h.Name)
		}
		hosts[h.Name] = h
		for _, a := range h.Loopback {
			if _, err := netip.ParsePrefix(a); err != nil {
				at(h.Line, "host %s: loopback address %q is not an address/prefix: %v", h.Name, a, err)
			}
		}
		for key, val := range h.Sysctls {
			if !validSysctl(key) {
				at(h.Line, "host %s: sysctl %q: only net.* keys (per-namespace) are allowed", h.Name, key)
			}
			if strings.ContainsAny(val, "\n") {
				at(h.Line, "host %s: sysctl %q: value must be one line", h.Name, key)
			}
		}
		services := map[string]bool{}
		for _, svc := range h.Services {
			if !nameRE.MatchString(svc.Name) {
				at(svc.Line, "host %s: service name %q: use lower-case letters and digits", h.Name, svc.Name)
			}
			if services[svc.Name] {
				at(svc.Line, "host %s: service %q defined twice", h.Name, svc.Name)
			}
			services[svc.Name] = true
			switch {
			case kinds(svc) != 1:
				at(svc.Line, "host %s: service %q needs exactly one of web, command or frr", h.Name, svc.Name)
			case svc.Web != nil && (svc.Web.Port < 1 || svc.Web.Port > 65535):
				at(svc.Line, "host %s: service %q: port %d out of range 1-65535", h.Name, svc.Name, svc.Web.Port)
			}
			if svc.ReadyTCP != "" {
				if _, err := netip.ParseAddrPort(svc.ReadyTCP); err != nil {
					at(svc.Line, "host %s: service %q: ready_tcp %q is not IP:PORT", h.Name, svc.Name, svc.ReadyTCP)
				}
			}
		}
		for _, r := range h.Routes {
			if _, err := ParseRoute(r); err != nil {
				at(h.Line, "host %s: %v", h.Name, err)
			}
		}
	}
	addrOwner := map[netip.Addr]string{}
	ifaces := map[string]bool{}
	for _, l := range s.Links {
		if hosts[l.Host] == nil {
			at(l.Line, "link names unknown host %q%s", l.Host, suggest(l.Host, keys(hosts)))
		}
		if !segments[l.Segment] {
			at(l.Line, "link for host %s names unknown segment %q", l.Host, l.Segment)
		}
		if l.Interface == "" || l.Interface == "lo" || strings.ContainsAny(l.Interface, "/ \t") {
			at(l.Line, "link for host %s: invalid interface name %q", l.Host, l.Interface)
		} else if len(l.Interface) > MaxIfNameLen {
			at(l.Line, "link for host %s: interface name %q is longer than %d characters", l.Host, l.Interface, MaxIfNameLen)
		}
		if peer := PortName(l.Host, l.Interface); len(peer) > MaxIfNameLen {
			at(l.Line, "link for host %s: switch port name %q (host-interface) is longer than %d characters; shorten the host or interface name", l.Host, peer, MaxIfNameLen)
		}
		key := l.Host + "/" + l.Interface
		if ifaces[key] {
			at(l.Line, "host %s has interface %s twice", l.Host, l.Interface)
		}
		ifaces[key] = true
		for _, a := range l.Addresses {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				at(l.Line, "link for host %s: address %q is not an address/prefix: %v", l.Host, a, err)
				continue
			}
			if owner, dup := addrOwner[p.Addr()]; dup {
				at(l.Line, "duplicate address %s: already on %s", p.Addr(), owner)
			}
			addrOwner[p.Addr()] = l.Host + " " + l.Interface
		}
	}
	for _, h := range s.Hosts {
		for _, a := range h.Loopback {
			if p, err := netip.ParsePrefix(a); err == nil {
				if owner, dup := addrOwner[p.Addr()]; dup {
					at(h.Line, "host %s: loopback address %s is already on %s", h.Name, p.Addr(), owner)
				}
			}
		}
	}
	for _, v := range s.VIPs {
		if _, err := netip.ParseAddr(v); err != nil {
			at(0, "vip %q is not an IP address", v)
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return lineOf(probs[i]) < lineOf(probs[j]) })
		return &SpecError{Problems: probs}
	}
	return nil
}

// CheckLabName validates a lab name: it prefixes every namespace.
func CheckLabName(name string) error {
	if !regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`).MatchString(name) {
		return fmt.Errorf("lab name %q: use 1-20 lower-case letters and digits, starting with a letter", name)
	}
	return nil
}

// Host returns the named host, or nil.
func (s *Spec) Host(name string) *Host {
	for i := range s.Hosts {
		if s.Hosts[i].Name == name {
			return &s.Hosts[i]
		}
	}
	return nil
}

// HostNames lists the hosts in spec order.
func (s *Spec) HostNames() []string {
	names := make([]string, len(s.Hosts))
	for i, h := range s.Hosts {
		names[i] = h.Name
	}
	return names
}

// LinksOf returns the links of one host.
func (s *Spec) LinksOf(host string) []Link {
	var out []Link
	for _, l := range s.Links {
		if l.Host == host {
			out = append(out, l)
		}
	}
	return out
}

// PrimaryAddr is the first link address of a host (its "own" address).
func (s *Spec) PrimaryAddr(host string) (netip.Addr, bool) {
	for _, l := range s.LinksOf(host) {
		for _, a := range l.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// PrimaryAddr6 is the first IPv6 link address of a host (its own IPv6 address).
func (s *Spec) PrimaryAddr6(host string) (netip.Addr, bool) {
	for _, l := range s.LinksOf(host) {
		for _, a := range l.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr().Is6() {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// SwitchHost is the reserved host name of the namespace holding the bridges.
const SwitchHost = "sw"

// PortName is the name of a link's veth end on the bridge, in the switch namespace.
func PortName(host, iface string) string { return host + "-" + iface }

func bridgeName(segment string) string { return "br-" + segment }

func validSysctl(key string) bool {
	return strings.HasPrefix(key, "net.") && !strings.Contains(key, "..") && !strings.ContainsAny(key, "/ ")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest name, else the list of names.
func suggest(name string, candidates []string) string {
	if hint := didyoumean.DidYouMean(name, candidates); hint != "" {
		return hint
	}
	if len(candidates) > 0 {
		return fmt.Sprintf(" (hosts: %s)", strings.Join(candidates, ", "))
	}
	return ""
}

func lineOf(problem string) int {
	var line int
	if i := strings.Index(problem, ":"); i >= 0 {
		fmt.Sscanf(problem[i+1:], "%d", &line) //nolint:errcheck // no line is fine: sorts first
	}
	return line
}

// LoopbackAddr is the host's first loopback address (a real server's VIP), if any.
func (h *Host) LoopbackAddr() netip.Addr {
	for _, a := range h.Loopback {
		if p, err := netip.ParsePrefix(a); err == nil {
			return p.Addr()
		}
	}
	return netip.Addr{}
}
