package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Kind names a data plane implementation.
type Kind string

// Data plane kinds accepted by backend.New (and by the global_defs
// extension keyword that selects one).
const (
	// KindAuto picks IPVS when the kernel has the "IPVS" generic-netlink
	// family, nftables otherwise.
	KindAuto Kind = "auto"
	// KindIPVS is the kernel's IP Virtual Server.
	KindIPVS Kind = "ipvs"
	// KindNFT is netdev-ingress nftables rules with `fwd`.
	KindNFT Kind = "nft"
)

// ParseKind parses "auto", "ipvs" or "nft".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindAuto, KindIPVS, KindNFT:
		return k, nil
	}
	return "", fmt.Errorf("dataplane: unknown data plane %q (want auto, ipvs or nft)", s)
}

// Options configure a back end.
type Options struct {
	// NetNSPath is the network namespace to program (for example
	// /run/netns/drlab-lb1); "" means the caller's namespace.
	NetNSPath string
	// TableName is the nftables table (family netdev) the nft back end owns;
	// "" means "drlb".
	TableName string
	// ConnTimeout is how long the nft back end remembers an idle connection
	// in its connection tables (refreshed on every packet); 0 means 15 minutes.
	ConnTimeout time.Duration
	// ConnTableSize caps each nft connection table (the shards of each
	// protocol's, shared by all services, and the affinity table of each
	// persistent service); 0 means 1,048,576.
	ConnTableSize uint32
	// ConnTableShards is how many maps each protocol's nft connection table
	// is spread over (by a hash of the client address and port); 0 means 32.
	// Listing a map costs the kernel time quadratic in its size, so shards
	// keep Observe fast with many connections.
	ConnTableShards int
	// HashSeed seeds the nft back end's jhash; every balancer of one VIP
	// must use the same seed (0 means a fixed built-in seed).
	HashSeed uint32
	// StateDir is where a back end keeps what it must remember across
	// restarts (the IPVS back end: which services it created, so that a
	// daemon restarted after a crash removes the ones no longer configured
	// and leaves other programs' services alone); "" keeps nothing.
	StateDir string
	// Logger receives warnings (an unreadable state file); nil discards them.
	Logger *slog.Logger
}

// Dataplane programs the kernel with a desired table and reports what the
// kernel holds. Implementations are safe for use by one goroutine at a time.
type Dataplane interface {
	// Kind reports which implementation this is (KindIPVS or KindNFT).
	Kind() Kind
	// Apply validates desired, rejects it with a clear error (changing
	// nothing) when the back end cannot do it, and otherwise reconciles the
	// kernel with it, touching only what differs. Applying the same table
	// twice changes nothing the second time.
	Apply(ctx context.Context, desired Table) error
	// Observe reports the services the kernel holds, with connection counts.
	Observe(ctx context.Context) (Observation, error)
	// Flush removes everything this data plane owns from the kernel.
	Flush(ctx context.Context) error
	// Close releases the back end's resources; kernel state is left as is.
	Close() error
}

// ObservedReal is a real server as the kernel holds it, with counts.
type ObservedReal struct {
	Real
	// ActiveConn counts established connections (nft: live connection-table entries).
	ActiveConn uint32
	// InActConn counts other connections (nft: always 0).
	InActConn uint32
}

// ObservedService is a virtual service as the kernel holds it.
type ObservedService struct {
	Service
	// Observed lists the real servers with counts (Service.Reals is nil).
	Observed []ObservedReal
}

// Observation is what a data plane reports from the kernel.
type Observation struct {
	// Kind is the data plane that was observed.
	Kind Kind
	// Version is printed after "IP Virtual Server version" (for IPVS
	// "1.2.1 (size=4096)").
	Version string
	// Services are in canonical order.
	Services []ObservedService
}

// Table returns the observed services as a table (counts dropped).
func (o Observation) Table() Table {
	var t Table
	for _, s := range o.Services {
		svc := s.Service
		svc.Reals = nil
		for _, r := range s.Observed {
			svc.Reals = append(svc.Reals, r.Real)
		}
		t.Services = append(t.Services, svc)
	}
	return t
}
