// Package ipvs is the IPVS data plane: it reconciles the kernel's IP
// Virtual Server table with a desired table through
// github.com/cloudflare/ipvs, touching only the services and destinations
// that differ. It supports DR, NAT and TUN, every IPVS scheduler by name,
// persistence with granularity, weights (0 = inhibited) and firewall-mark
// services.
//
// The back end manages only services it was asked for: services in the
// desired table and services an earlier Apply of the same Backend created.
// Other IPVS services in the namespace are left alone.
package ipvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"time"

	cipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/internal/nsdo"
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
	client    Client
	linkCheck func(name string) error
	owned     map[dataplane.ServiceKey]bool
}

var _ dataplane.Dataplane = (*Backend)(nil)

// Available reports whether the kernel (in opts' namespace) has the IPVS
// generic-netlink family.
func Available(opts dataplane.Options) error {
	return nsdo.Do(opts.NetNSPath, func() error {
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
	err := nsdo.Do(opts.NetNSPath, func() error {
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
	b.linkCheck = func(name string) error {
		return nsdo.Do(opts.NetNSPath, func() error {
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
	return &Backend{client: c, linkCheck: func(string) error { return nil }, owned: map[dataplane.ServiceKey]bool{}}
}

// Kind implements dataplane.Dataplane.
func (b *Backend) Kind() dataplane.Kind { return dataplane.KindIPVS }

// Close implements dataplane.Dataplane; the IPVS table stays as it is.
func (b *Backend) Close() error {
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
	if s.PersistenceTimeout > 0 {
		svc.Flags |= cipvs.ServicePersistent
		svc.Timeout = uint32(s.PersistenceTimeout / time.Second)
	}
	return svc
}

func toDest(s dataplane.Service, r dataplane.Real) cipvs.Destination {
	return cipvs.Destination{Address: r.Addr, Port: r.Port, Family: family(r.Addr), FwdMethod: forward(s.Method), Weight: r.Weight}
}

// check rejects tables the back end cannot do, before anything changes.
func (b *Backend) check(t dataplane.Table) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	var errs []error
	checked := map[string]bool{}
	for _, s := range t.Services {
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
	for _, se := range svcs {
		s := se.Service
		os := dataplane.ObservedService{Service: dataplane.Service{
			FWMark:          s.FWMark,
			Port:            s.Port,
			Protocol:        dataplane.Protocol(s.Protocol),
			Scheduler:       s.Scheduler,
			PersistenceBits: s.Netmask.Bits(),
		}}
		if s.FWMark == 0 {
			os.VIP = s.Address
		}
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
				Real:       dataplane.Real{Addr: d.Address, Port: d.Port, Weight: d.Weight},
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
	// Only services we manage take part; IPVS does not store the interface.
	var cur dataplane.Table
	for _, s := range obs.Table().Services {
		d, ok := wanted[s.Key()]
		if !ok && !b.owned[s.Key()] {
			continue
		}
		s.Interface = d.Interface
		cur.Services = append(cur.Services, s)
	}
	for _, c := range dataplane.Diff(cur, want) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ipvs: apply interrupted: %w", err)
		}
		if err := b.do(c); err != nil {
			return err
		}
	}
	b.owned = map[dataplane.ServiceKey]bool{}
	for k := range wanted {
		b.owned[k] = true
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
	case dataplane.UpdateService:
		err = b.client.UpdateService(svc)
	case dataplane.AddReal:
		err = b.client.CreateDestination(svc, toDest(c.Service, c.Real))
	case dataplane.UpdateReal:
		err = b.client.UpdateDestination(svc, toDest(c.Service, c.Real))
	}
	if err != nil {
		if c.Kind == dataplane.AddService || c.Kind == dataplane.UpdateService {
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
