// Package config reads keepalived.conf files into a typed model with
// keepalived's defaults filled in, and reports every problem it finds as a
// FILE:LINE:COL diagnostic.
//
// The syntax is keepalived's: keywords with arguments, one statement per
// line, nested "{ }" blocks (a brace may touch a word: "name{"), comments
// starting with '#' or '!' anywhere on a line, double-quoted strings,
// "include GLOB" (relative to the including file; brace expressions and
// keepalived's includer/includem/includew/includeb/includea), "$NAME=value"
// definitions expanded as $NAME or ${NAME}, keepalived's built-in
// definitions (${_PWD}, ${_INSTANCE}, ${_RANDOM [MIN [MAX]]}, ${_ENV NAME},
// ${_HASH}, ${_BANG}), "~SEQ(VAR, START, STEP, END)", "~SEQx(...)" and
// "~LST(VAR, V1, ...)" lines repeated per value, and "@ID" / "@^ID" line
// prefixes that keep a line only when the configuration id (Options.ConfigID)
// is / is not ID.
//
// Whatever drlb run refuses is an error diagnostic here, at its position:
// check and run validate the same model (package daemon's startup test
// holds them together).
//
// Every interval is a time.Duration; values are seconds and may be
// fractional ("advert_int 0.1" with version 3, "delay_loop 1.5"). Where
// keepalived silently corrects a configuration (truncating auth_pass to 8
// bytes, treating "state SLAVE" as BACKUP, resetting DR real-server ports,
// dropping virtual servers without real servers, bounding quorum), the
// model holds the corrected value and a warning says what was done.
//
// Every keyword of keepalived.conf(5) has a status in keywords.tsv (see
// Keywords): implemented keywords are parsed and used; the others are
// accepted with a "not supported yet" warning and ignored. Any other word is
// an "unknown keyword" warning with a "did you mean" suggestion among the
// current keyword names (never a deprecated spelling); keepalived 1.x's
// lvs_id is read as router_id with a deprecation warning.
//
// drlb extensions, in global_defs:
//
//	drlb_dataplane auto|ipvs|nft   how virtual servers are programmed (default auto:
//	                               IPVS when the kernel has it, nftables otherwise)
//
// and in vrrp_instance:
//
//	drlb_accept_from ADDR [ADDR…]  accept adverts only from these sources (and
//	                               unicast_peer), with multicast too
//
// keepalived's auth_hmac block (keepalived 2.4) is read with keepalived's
// bounds; where keepalived would run on without it (no valid active_key) or
// drop the authentication block beside it, drlb reports an error instead.
//
// The package is a leaf: it imports nothing else from drlb.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// ErrInvalid is wrapped by the error Load and Parse return when the
// configuration has at least one error diagnostic.
var ErrInvalid = errors.New("config: invalid configuration")

// Options tune parsing.
type Options struct {
	// ConfigID selects "@ID" / "@^ID" conditional lines. Empty means no id:
	// every "@ID" line is dropped and every "@^ID" line is kept.
	ConfigID string
	// HostChecks also validates against this host (interfaces exist).
	HostChecks bool
	// ReadFile reads a file; nil means os.ReadFile. Tests use it to serve includes.
	ReadFile func(name string) ([]byte, error)
	// Glob expands an include pattern; nil means filepath.Glob.
	Glob func(pattern string) ([]string, error)
	// InterfaceExists reports whether a network interface exists; nil means
	// net.InterfaceByName. Used only with HostChecks.
	InterfaceExists func(name string) bool
	// InterfaceMAC returns an interface's hardware address, nil when it
	// does not exist; nil means net.InterfaceByName. Used only with
	// HostChecks (a use_vmac name taken by another interface).
	InterfaceMAC func(name string) net.HardwareAddr
	// NetNamespaceExists reports whether a named network namespace
	// (/run/netns/NAME) exists; nil means a look at that file. Used only
	// with HostChecks.
	NetNamespaceExists func(name string) bool
	// IPVSAvailable, if set, reports whether this host's kernel has IPVS.
	// With drlb_dataplane auto and no IPVS, services the nftables data
	// plane cannot program are errors (run would refuse the table); nil
	// means unknown, and only drlb_dataplane nft makes them errors.
	IPVSAvailable func() bool
	// Yield, if set, is called every YieldEvery lines, statements or
	// blocks. The daemon passes a function that gives up the processor every
	// few milliseconds, so that parsing a large file lets its timers (VRRP
	// adverts) run instead of holding a processor until the runtime's 10 ms
	// preemption.
	Yield func()
}

// YieldEvery is how many units of work (lines, statements, blocks) the
// parser does between calls to Options.Yield.
const YieldEvery = 256

func (o Options) readFile(name string) ([]byte, error) {
	if o.ReadFile != nil {
		return o.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (o Options) glob(pattern string) ([]string, error) {
	if o.Glob != nil {
		return o.Glob(pattern)
	}
	return filepath.Glob(pattern)
}

// Severity is a diagnostic's level.
type Severity int

// Diagnostic severities.
const (
	SeverityError Severity = iota
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a configuration.
type Diagnostic struct {
	File     string
	Line     int
	Col      int
	Severity Severity
	Message  string
}

// String formats the diagnostic as "FILE:LINE:COL: error: message".
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Col, d.Severity, d.Message)
}

// Diagnostics is a list of diagnostics in the order they were found
// (sorted by file order, line and column once parsing ends).
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns the error diagnostics.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns the warning diagnostics.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// String returns one diagnostic per line, each ending in a newline.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Load reads the file at path (and its includes) and parses it.
// The error is non-nil when the file cannot be read or the configuration has
// errors (it then wraps ErrInvalid); the Config is returned whenever it could
// be built, so callers can still dump it.
func Load(path string, opts Options) (*Config, Diagnostics, error) {
	data, err := opts.readFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data, opts)
}

// Parse parses data as the contents of the file called name. Includes are
// resolved relative to name's directory and read with Options.ReadFile.
func Parse(name string, data []byte, opts Options) (*Config, Diagnostics, error) {
	p := newParser(opts)
	root := p.parseFile(name, data)
	cfg := p.build(root)
	p.validate(cfg)
	ds := p.diagnostics()
	if ds.HasErrors() {
		return cfg, ds, fmt.Errorf("%s: %d error(s), first: %s: %w", name, len(ds.Errors()), ds.Errors()[0].String(), ErrInvalid)
	}
	return cfg, ds, nil
}

// DefaultPath returns the configuration file drlb reads when none is given:
// /etc/keepalived/keepalived.conf, or /etc/drlb/keepalived.conf when the
// first does not exist.
func DefaultPath() string {
	const keepalived, drlb = "/etc/keepalived/keepalived.conf", "/etc/drlb/keepalived.conf"
	if _, err := os.Stat(keepalived); err != nil && errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(drlb); err == nil {
			return drlb
		}
	}
	return keepalived
}

// DefaultConfigID returns keepalived's default configuration id: the host
// name up to its first dot ("" when the host name is unknown).
func DefaultConfigID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(h, ".")
	return id
}
