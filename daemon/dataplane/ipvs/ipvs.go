// Package ipvs is the IPVS data plane: it reconciles the kernel's IP
// Virtual Server table with a desired table through
// github.com/cloudflare/ipvs, touching only the services and destinations
// that differ. It supports DR, NAT and TUN (per destination), every IPVS
// scheduler by name with its flags and one-packet scheduling, persistence
// with granularity and a persistence engine (pe.go: cloudflare/ipvs has no
// engine attribute), weights (0 = inhibited), thresholds, firewall-mark
// services, and IPVS in another network namespace (Options.NetNSPath).
//
// The back end manages only services it was asked for: services in the
// desired table and services an earlier Apply created. Other IPVS services
// in the namespace are left alone. With Options.StateDir the set of
// services it manages is kept in a file there (StateFile), written before
// any change, so a back end started after a crash still removes the
// services the configuration no longer has.
package ipvs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
)

// Client is the part of cloudflare/ipvs's Client the back end uses; tests
// substitute a fake that records calls.
type Client interface {
	Info() (cipvs.Info, error)
	Services() ([]cipvs.ServiceExtended, error)
	CreateService(cipvs.Service) error
	UpdateService(cipvs.Service) error
	RemoveService(cipvs.Service) error
	Destinations(cipvs.Service) ([]cipvs.DestinationExtended, error)
	CreateDestination(cipvs.Service, cipvs.Destination) error
	UpdateDestination(cipvs.Service, cipvs.Destination) error
	RemoveDestination(cipvs.Service, cipvs.Destination) error
}

// Backend is the IPVS data plane. Create it with New.
type Backend struct {
	client Client
	// pe sets and reads persistence engines; nil: none can be set.
	pe        PEClient
	linkCheck func(name string) error
	owned     map[dataplane.ServiceKey]bool
	// state is the file that keeps owned across restarts; "" for none.
	state string
	log   *slog.Logger // nil discards
}

// StateFile is the file in Options.StateDir that lists the services the
// back end manages.
const StateFile = "ipvs-services.json"

var _ dataplane.Dataplane = (*Backend)(nil)

// Available reports whether the kernel (in opts' namespace) has the IPVS
// generic-netlink family.
func Available(opts dataplane.Options) error {
	return dataplane.InNetNS(opts.NetNSPath, func() error {
		c, err := cipvs.New()
		if err != nil {
			return fmt.Errorf("ipvs: generic-netlink family IPVS not available: %w", err)
		}
		if cl, ok := c.(io.Closer); ok {
			_ = cl.Close() // only probed, nothing was written
		}
		return nil
	})
}

// New opens IPVS in opts.NetNSPath (the caller's namespace when empty). The
// netlink socket stays bound to that namespace. It brings lo up if it is
// down, because IPVS rejects destinations (EINVAL) while lo is down.
func New(opts dataplane.Options) (*Backend, error) {
	var c cipvs.Client
	err := dataplane.InNetNS(opts.NetNSPath, func() error {
		var err error
		c, err = cipvs.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ipvs: open generic-netlink family IPVS: %w", err)
	}
	if err := loUp(opts.NetNSPath); err != nil {
		if cl, ok := c.(io.Closer); ok {
			_ = cl.Close() // only probed, nothing was written
		}
		return nil, err
	}
	b := NewWithClient(c)
	var pc *peConn
	if err := dataplane.InNetNS(opts.NetNSPath, func() error {
		var err error
		pc, err = openPE()
		return err
	}); err != nil {
		if cl, ok := c.(io.Closer); ok {
			_ = cl.Close() // only probed, nothing was written
		}
		return nil, err
	}
	b.pe = pc
	if opts.StateDir != "" {
		b.keepState(opts.StateDir, opts.Logger)
	}
	b.linkCheck = func(name string) error {
		return dataplane.InNetNS(opts.NetNSPath, func() error {
			_, err := net.InterfaceByName(name)
			return err
		})
	}
	return b, nil
}

func loUp(path string) error {
	ns, err := netns.Get()
	if path != "" {
		ns, err = netns.GetFromPath(path)
	}
	if err != nil {
		return fmt.Errorf("ipvs: open netns %q: %w", path, err)
	}
	defer func() { _ = ns.Close() }()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("ipvs: netlink handle: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("ipvs: find lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("ipvs: bring lo up: %w", err)
	}
	return nil
}

// NewWithClient builds a back end over c (tests pass a fake); interfaces
// are not checked.
func NewWithClient(c Client) *Backend {
	b := &Backend{client: c, linkCheck: func(string) error { return nil }, owned: map[dataplane.ServiceKey]bool{}}
	if pc, ok := c.(PEClient); ok {
		b.pe = pc
	}
	return b
}

// Kind implements dataplane.Dataplane.
func (b *Backend) Kind() dataplane.Kind { return dataplane.KindIPVS }

// Close implements dataplane.Dataplane; the IPVS table stays as it is.
func (b *Backend) Close() error {
	if c, ok := b.pe.(*peConn); ok {
		_ = c.Close() // nothing is buffered on it
	}
	if c, ok := b.client.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("ipvs: close: %w", err)
		}
	}
	return nil
}

func family(a netip.Addr) cipvs.AddressFamily {
	if a.Is6() {
		return cipvs.INET6
	}
	return cipvs.INET
}

func protocol(p dataplane.Protocol) cipvs.Protocol { return cipvs.Protocol(p) }

func forward(m dataplane.Method) cipvs.ForwardType {
	switch m {
	case dataplane.NAT:
		return cipvs.Masquerade
	case dataplane.TUN:
		return cipvs.Tunnel
	}
	return cipvs.DirectRoute
}

func method(f cipvs.ForwardType) dataplane.Method {
	switch f {
	case cipvs.Masquerade:
		return dataplane.NAT
	case cipvs.Tunnel:
		return dataplane.TUN
	}
	return dataplane.DR
}

// toIPVS converts a canonical service (reals ignored).
func toIPVS(s dataplane.Service) cipvs.Service {
	fam := cipvs.INET
	bits := 32
	if s.VIP.Is6() || (s.FWMark != 0 && len(s.Reals) > 0 && s.Reals[0].Addr.Is6()) {
		fam, bits = cipvs.INET6, 128
	}
	svc := cipvs.Service{
		Address:   s.VIP,
		Port:      s.Port,
		FWMark:    s.FWMark,
		Family:    fam,
		Protocol:  protocol(s.Protocol),
		Scheduler: s.EffectiveScheduler(),
		Netmask:   netmask.MaskFrom(s.EffectivePersistenceBits(), bits),
	}
	if s.FWMark != 0 {
		svc.Address = netip.Addr{}
		svc.Protocol = 0
		svc.Port = 0
	}
	// dataplane.ServiceFlags have the kernel's values.
	svc.Flags = cipvs.Flags(s.Flags & dataplane.FlagsMask)
	if s.PersistenceTimeout > 0 {
		svc.Flags |= cipvs.ServicePersistent
		svc.Timeout = uint32(s.PersistenceTimeout / time.Second)
	}
	return svc
}

func toDest(s dataplane.Service, r dataplane.Real) cipvs.Destination {
	return cipvs.Destination{Address: r.Addr, Port: r.Port, Family: family(r.Addr), FwdMethod: forward(s.RealMethod(r)), Weight: r.Weight,
		UpperThreshold: r.UpperThreshold, LowerThreshold: r.LowerThreshold}
}

// check rejects tables the back end cannot do, before anything changes.
func (b *Backend) check(t dataplane.Table) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	var errs []error
	checked := map[string]bool{}
	for _, s := range t.Services {
		if s.PersistenceEngine != "" && b.pe == nil {
			errs = append(errs, fmt.Errorf("ipvs: service %s: cannot set persistence engine %q: no IPVS netlink for it", s.Key(), s.PersistenceEngine))
		}
		if s.Interface == "" || checked[s.Interface] {
			continue
		}
		checked[s.Interface] = true
		if err := b.linkCheck(s.Interface); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: service %s: interface %q does not exist: %w", s.Key(), s.Interface, err))
		}
	}
	return errors.Join(errs...)
}

// observe reads the kernel's services with counts.
func (b *Backend) observe() (dataplane.Observation, error) {
	obs := dataplane.Observation{Kind: dataplane.KindIPVS}
	info, err := b.client.Info()
	if err != nil {
		return obs, fmt.Errorf("ipvs: get info: %w", err)
	}
	obs.Version = fmt.Sprintf("%d.%d.%d (size=%d)", info.Version[0], info.Version[1], info.Version[2], info.ConnectionTableSize)
	svcs, err := b.client.Services()
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // cloudflare/ipvs reports an empty table so
	}
	if err != nil {
		return obs, fmt.Errorf("ipvs: list services: %w", err)
	}
	var pes map[dataplane.ServiceKey]string
	if b.pe != nil && len(svcs) > 0 {
		if pes, err = b.pe.ServicePEs(); err != nil {
			return obs, err
		}
	}
	for _, se := range svcs {
		s := se.Service
		os := dataplane.ObservedService{Service: dataplane.Service{
			FWMark:          s.FWMark,
			Port:            s.Port,
			Protocol:        dataplane.Protocol(s.Protocol),
			Scheduler:       s.Scheduler,
			PersistenceBits: s.Netmask.Bits(),
			// The kernel's own flags (hashed, persistent) are not ours.
			Flags: dataplane.ServiceFlags(s.Flags) & dataplane.FlagsMask,
		}}
		if s.FWMark == 0 {
			os.VIP = s.Address
		}
		os.PersistenceEngine = pes[os.Key()]
		if s.Flags&cipvs.ServicePersistent != 0 {
			os.PersistenceTimeout = time.Duration(s.Timeout) * time.Second
		}
		dests, err := b.client.Destinations(s)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil {
			return obs, fmt.Errorf("ipvs: list destinations of %s: %w", os.Key(), err)
		}
		for i, d := range dests {
			if i == 0 {
				os.Method = method(d.FwdMethod)
			}
			os.Observed = append(os.Observed, dataplane.ObservedReal{
				Real: dataplane.Real{Addr: d.Address, Port: d.Port, Weight: d.Weight,
					UpperThreshold: d.UpperThreshold, LowerThreshold: d.LowerThreshold,
					Method: method(d.FwdMethod), OwnMethod: true},
				ActiveConn: d.ActiveConnections, InActConn: d.InactiveConnections,
			})
		}
		slices.SortFunc(os.Observed, func(a, b dataplane.ObservedReal) int { return a.AddrPort().Compare(b.AddrPort()) })
		obs.Services = append(obs.Services, os)
	}
	slices.SortFunc(obs.Services, func(a, b dataplane.ObservedService) int { return a.Key().Compare(b.Key()) })
	return obs, nil
}

// Observe implements dataplane.Dataplane.
func (b *Backend) Observe(ctx context.Context) (dataplane.Observation, error) {
	if err := ctx.Err(); err != nil {
		return dataplane.Observation{}, err
	}
	return b.observe()
}

// Apply implements dataplane.Dataplane.
func (b *Backend) Apply(ctx context.Context, desired dataplane.Table) error {
	if err := b.check(desired); err != nil {
		return err
	}
	obs, err := b.observe()
	if err != nil {
		return err
	}
	want := desired.Canonical()
	wanted := map[dataplane.ServiceKey]dataplane.Service{}
	for _, s := range want.Services {
		wanted[s.Key()] = s
	}
	// Only services we manage take part; IPVS does not store the interface
	// or a service's method.
	var cur dataplane.Table
	for _, s := range obs.Table().Services {
		d, ok := wanted[s.Key()]
		if !ok && !b.owned[s.Key()] {
			continue
		}
		s.Interface = d.Interface
		if ok {
			// IPVS keeps methods per destination only (compared one by
			// one): the service's is whatever is wanted.
			s.Method = d.Method
		}
		cur.Services = append(cur.Services, s)
	}
	changes := dataplane.Diff(cur, want)
	next := map[dataplane.ServiceKey]bool{}
	for k := range wanted {
		next[k] = true
	}
	if len(changes) > 0 {
		// Until the changes are done, both the old and the new services are
		// ours: a crash in between must not orphan either.
		during := maps.Clone(next)
		maps.Copy(during, b.owned)
		b.setOwned(during)
	}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ipvs: apply interrupted: %w", err)
		}
		if err := b.do(c); err != nil {
			return err
		}
	}
	b.setOwned(next)
	return nil
}

// keepState makes b keep the services it manages in dir/StateFile, starting
// from the list found there.
func (b *Backend) keepState(dir string, log *slog.Logger) {
	b.state, b.log = filepath.Join(dir, StateFile), log
	owned, err := loadOwned(b.state)
	if err != nil {
		// Starting matters more than cleaning up: the services it listed
		// stay in the kernel until removed by hand (ipvsadm -D).
		b.warn("IPVS state file unreadable: the services it listed are no longer managed", "file", b.state, "error", err)
		return
	}
	b.owned = owned
}

func (b *Backend) warn(msg string, args ...any) {
	if b.log != nil {
		b.log.Warn(msg, args...)
	}
}

// setOwned records the managed services, in the state file when there is
// one and the set changed. A file that cannot be written is a warning, not
// an error: keeping the table right matters more than remembering it for a
// restart after a crash.
func (b *Backend) setOwned(owned map[dataplane.ServiceKey]bool) {
	if maps.Equal(owned, b.owned) {
		return
	}
	b.owned = owned
	if b.state != "" {
		if err := saveOwned(b.state, owned); err != nil {
			b.warn("IPVS state file not written: after a crash, a restarted daemon may leave services it no longer has", "error", err)
		}
	}
}

func loadOwned(path string) (map[dataplane.ServiceKey]bool, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[dataplane.ServiceKey]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []dataplane.ServiceKey
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	owned := make(map[dataplane.ServiceKey]bool, len(keys))
	for _, k := range keys {
		owned[k] = true
	}
	return owned, nil
}

// saveOwned writes the set atomically: a temporary file renamed over the
// old one, so a crash leaves either the old list or the new.
func saveOwned(path string, owned map[dataplane.ServiceKey]bool) error {
	keys := slices.SortedFunc(maps.Keys(owned), func(a, b dataplane.ServiceKey) int {
		return strings.Compare(a.String(), b.String())
	})
	raw, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("ipvs: state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("ipvs: state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ipvs: state: %w", err)
	}
	return nil
}

func (b *Backend) do(c dataplane.Change) error {
	svc := toIPVS(c.Service)
	var err error
	switch c.Kind {
	case dataplane.RemoveReal:
		err = b.client.RemoveDestination(svc, toDest(c.Service, c.Real))
	case dataplane.RemoveService:
		err = b.client.RemoveService(svc)
	case dataplane.AddService:
		err = b.client.CreateService(svc)
		if pe := c.Service.PersistenceEngine; err == nil && pe != "" {
			// cloudflare/ipvs carries no engine: set it before any
			// destination (AddReal comes later), so no connection misses it.
			err = b.pe.SetService(svc, pe)
		}
	case dataplane.UpdateService:
		if pe := c.Service.PersistenceEngine; pe != "" {
			// One edit with the engine: the kernel removes the engine of
			// a service edited without one.
			err = b.pe.SetService(svc, pe)
		} else {
			err = b.client.UpdateService(svc)
		}
	case dataplane.AddReal:
		err = b.client.CreateDestination(svc, toDest(c.Service, c.Real))
	case dataplane.UpdateReal:
		err = b.client.UpdateDestination(svc, toDest(c.Service, c.Real))
	}
	if err != nil {
		if c.Kind == dataplane.AddService || c.Kind == dataplane.UpdateService {
			if pe := c.Service.PersistenceEngine; pe != "" {
				return fmt.Errorf("ipvs: %s (are the modules ip_vs_%s and ip_vs_pe_%s available?): %w", c, c.Service.Scheduler, pe, err)
			}
			return fmt.Errorf("ipvs: %s (is the scheduler module ip_vs_%s available?): %w", c, c.Service.Scheduler, err)
		}
		return fmt.Errorf("ipvs: %s: %w", c, err)
	}
	return nil
}

// Flush implements dataplane.Dataplane: it removes the services this back
// end manages.
func (b *Backend) Flush(ctx context.Context) error {
	return b.Apply(ctx, dataplane.Table{})
}
