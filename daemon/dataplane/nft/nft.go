// Package nft is the nftables data plane: direct-routing forwarding with
// netdev ingress chains on the VIP's interface (`meta pkttype host` guard,
// `fwd ip to … device …`), choosing a real server once per connection and
// remembering it in a dynamic map used as connection table (one per
// protocol, timeout refreshed by every packet), so established connections
// keep their server whatever else changes:
//
//   - rr, wrr: smooth weighted round robin (numgen) on a connection's first packet;
//   - mh, sh and every scheduler nftables cannot express (lc, wlc, …): a
//     Maglev consistent-hash table computed in Go, looked up with a seeded
//     jhash of `ip saddr . th sport` (`ip saddr` for sh); it is identical on
//     every balancer, so a connection survives a director failover;
//   - persistence_timeout: a source-address affinity map (under the
//     granularity mask) with that timeout, consulted before scheduling.
//
// IPv6 services work the same way with `ip6 daddr` and `fwd ip6 to`, in
// maps of their own (a map's key type is fixed): the base chain of a device
// holds a block of rules per family, and nft gives each rule a `meta
// protocol` dependency, so a packet passes the other family's block
// untouched. An IPv6 real server's mark is a hash of its address (see
// realMarks), the persistence mask is an IPv6 prefix (`ip6 saddr &
// ffff:ffff:ffff:ffff::` for /64), and the connection maps key a flow by
// its ports and a hash of its addresses (see connHash6), since nft 1.0.6
// cannot update a dynamic map with a longer key.
//
// A flow whose server was removed is scheduled again (for mh and sh: to the
// server the consistent hash gives it) and keeps its new server, also when
// the old one comes back: Apply deletes the connection entries and the
// persistent clients' affinities of the servers it removes (a drained
// server, weight 0, keeps them).
//
// Everything lives in one table of family netdev (default "drlb"); other
// tables are never touched. The per-service data (slot tables, real-server
// addresses, dispatch) lives in a few shared maps keyed by service and read
// only by the base chain of each device; each service has one small chain
// named after a hash of its content. Apply adds what is new and deletes
// what is gone, chains whole and map entries one by one, in one atomic nft
// transaction (none when nothing differs); rule handles of unchanged
// services never change. See render for the rules.
//
// Apply and Observe remember what the last Apply wrote while the kernel's
// ruleset generation says nobody else committed since, so a one-server
// change and `drlb status` cost milliseconds on a 1,000-service table.
package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
)

// DefaultTable is the name of the netdev table the back end owns.
const DefaultTable = "drlb"

// DefaultConnTableSize is the capacity of each connection table when
// Options.ConnTableSize is 0. The kernel allocates entries as flows come,
// so the cap costs nothing until it is used.
const DefaultConnTableSize = 1 << 20

// DefaultConnTableShards is the number of connection maps per protocol
// when Options.ConnTableShards is 0: with 32, Observe counts 100,000
// connections in well under a second.
const DefaultConnTableShards = 32

// defaultSeed seeds jhash when Options.HashSeed is 0 ("drlb"); without an
// explicit seed the kernel would pick a random one per rule, and balancers
// would disagree.
const defaultSeed = 0x64726c62

// Backend is the nftables data plane. Create it with New.
type Backend struct {
	nft       knftables.Interface
	table     string
	netns     string
	cfg       settings
	linkCheck func(name string) error
	// known is the table's content after our last Apply, valid while the
	// ruleset generation is still knownGen (nobody committed since); it
	// spares reading the table back (see read).
	known    *current
	knownGen uint32
	// generation returns the ruleset generation; nil (the fake) disables known.
	generation func() (uint32, error)
	// memo holds the rendering of the services of the last Apply.
	memo map[string]*serviceParts
	// ruleComments lists the comments of the rules of every chain of the
	// table (a netlink dump for the kernel, ListRules for the fake).
	ruleComments func(ctx context.Context) (map[string][]string, error)
	// connCounts counts a connection map's entries by service and server
	// (netlink for the kernel, ListElements for the fake).
	connCounts func(ctx context.Context, set string) (map[connKey]uint32, error)
	// connEntries lists a connection map's entries, to forget those of
	// removed servers (netlink for the kernel, ListElements for the fake).
	connEntries func(ctx context.Context, set string) ([]connEntry, error)
	// affinityEntries lists a persistence map's entries (netlink for the
	// kernel, ListElements for the fake).
	affinityEntries func(ctx context.Context, set string) ([]affinityEntry, error)
	// listElements lists a shared map's elements (netlink for the kernel,
	// ListElements for the fake).
	listElements func(ctx context.Context, set string) ([]*knftables.Element, error)
	// fold writes all new elements of a map as one command (see
	// batchElement); off for knftables' fake, which would store them as one.
	fold bool
	// mutateTx lets tests corrupt a transaction to prove atomicity.
	mutateTx func(*knftables.Transaction)
	// log receives warnings (Options.Logger; discarded when nil).
	log *slog.Logger
}

var _ dataplane.Dataplane = (*Backend)(nil)

// Available reports whether the nft command can be used (in the namespace
// of opts), for auto selection and error messages.
func Available(opts dataplane.Options) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("nft: the nft command is not installed (Debian package nftables): %w", err)
	}
	return nil
}

// New opens the nftables data plane for opts.NetNSPath (the caller's
// namespace when empty).
func New(opts dataplane.Options) (*Backend, error) {
	table := opts.TableName
	if table == "" {
		table = DefaultTable
	}
	var nft knftables.Interface
	err := dataplane.InNetNS(opts.NetNSPath, func() error {
		var err error
		// Netlink listing reads chain and map names without dumping every rule
		// and element through `nft --json` (35 ms instead of 1.5 s for 1,000
		// services).
		nft, err = knftables.New(knftables.NetDevFamily, table, knftables.UseNetlink)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nft: open table netdev %s: %w", table, err)
	}
	b := newWith(nft, table, opts)
	b.generation = ruleGeneration
	b.fold = true
	b.ruleComments = func(context.Context) (map[string][]string, error) { return ruleCommentsNetlink(table) }
	b.connCounts = func(_ context.Context, set string) (map[connKey]uint32, error) { return connCountsNetlink(table, set) }
	b.connEntries = func(_ context.Context, set string) ([]connEntry, error) { return connEntriesNetlink(table, set) }
	b.affinityEntries = func(_ context.Context, set string) ([]affinityEntry, error) {
		return affinityEntriesNetlink(table, set)
	}
	b.listElements = func(_ context.Context, set string) ([]*knftables.Element, error) {
		return sharedElementsNetlink(table, set)
	}
	b.linkCheck = func(name string) error {
		return dataplane.InNetNS(opts.NetNSPath, func() error {
			_, err := net.InterfaceByName(name)
			return err
		})
	}
	return b, nil
}

// newWith builds a back end over any knftables.Interface (tests pass a fake).
func newWith(nft knftables.Interface, table string, opts dataplane.Options) *Backend {
	cfg := settings{connTimeout: opts.ConnTimeout, connSize: uint64(opts.ConnTableSize), connShards: opts.ConnTableShards, seed: opts.HashSeed}
	if cfg.connShards <= 0 {
		cfg.connShards = DefaultConnTableShards
	}
	if cfg.connTimeout <= 0 {
		cfg.connTimeout = 15 * time.Minute
	}
	if cfg.connSize == 0 {
		cfg.connSize = DefaultConnTableSize
	}
	if cfg.seed == 0 {
		cfg.seed = defaultSeed
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{nft: nft, table: table, netns: opts.NetNSPath, cfg: cfg, linkCheck: func(string) error { return nil }, log: log}
	b.ruleComments = b.listRuleCommentsAPI
	b.connCounts = b.connCountsAPI
	b.connEntries = b.connEntriesAPI
	b.affinityEntries = b.affinityEntriesAPI
	b.listElements = func(ctx context.Context, set string) ([]*knftables.Element, error) {
		return b.nft.ListElements(ctx, "map", set)
	}
	return b
}

// Kind implements dataplane.Dataplane.
func (b *Backend) Kind() dataplane.Kind { return dataplane.KindNFT }

// Close implements dataplane.Dataplane; the rules stay in the kernel.
func (b *Backend) Close() error { return nil }

// ErrUnsupported is wrapped by errors for tables the nft back end cannot do.
var ErrUnsupported = errors.New("not supported by the nft data plane")

// check rejects what nftables cannot forward, before anything changes.
func (b *Backend) check(t dataplane.Table) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("nft: %w", err)
	}
	var errs []error
	bad := func(s dataplane.Service, format string, args ...any) {
		errs = append(errs, fmt.Errorf("nft: service %s: %s: %w", s.Key(), fmt.Sprintf(format, args...), ErrUnsupported))
	}
	checked := map[string]error{}
	for _, s := range t.Services {
		switch {
		case s.FWMark != 0:
			bad(s, "firewall-mark services need IPVS (netdev ingress runs before anything can set the mark)")
			continue
		case s.Port == 0:
			bad(s, "a service without a port (all ports) needs IPVS")
		}
		if s.Method != dataplane.DR {
			bad(s, "forwarding method %s needs IPVS (nft does DR only)", s.Method)
		}
		for _, r := range s.Reals {
			if m := s.RealMethod(r); m != s.Method && m != dataplane.DR {
				bad(s, "real server %s: forwarding method %s needs IPVS (nft does DR only)", r.Addr, m)
			}
		}
		if s.Flags&dataplane.OnePacket != 0 {
			bad(s, "one-packet scheduling (ops) needs IPVS (nft keeps a flow on one server)")
		}
		if s.PersistenceEngine != "" {
			bad(s, "persistence engine %q needs IPVS", s.PersistenceEngine)
		}
		ips := map[netip.Addr]bool{}
		for _, r := range s.Reals {
			if r.Addr.Unmap().Is4() && r.Addr.Unmap().As4()[0] == 0 {
				bad(s, "real server %s is in 0.0.0.0/8 (not a host address)", r.Addr)
			}
			if ips[r.Addr] {
				bad(s, "real server %s is listed with two ports (DR does not rewrite ports)", r.Addr)
			}
			ips[r.Addr] = true
		}
		if s.Interface == "" {
			bad(s, "no interface given (the device that carries the VIP)")
			continue
		}
		err, seen := checked[s.Interface]
		if !seen {
			err = b.linkCheck(s.Interface)
			checked[s.Interface] = err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("nft: service %s: interface %q does not exist: %w", s.Key(), s.Interface, err))
		}
	}
	return errors.Join(errs...)
}

// current is what the kernel holds in our table.
type current struct {
	exists bool
	chains map[string]bool
	maps   map[string]bool
	// services are the entries of each service in the shared maps, by
	// service id; fingerprint is "" when they were read from the kernel.
	services map[string]*serviceParts
	// table is the canonical table behind the content, when it was applied
	// by us (nil when read from the kernel).
	table *dataplane.Table
}

func emptyCurrent() current {
	return current{chains: map[string]bool{}, maps: map[string]bool{}, services: map[string]*serviceParts{}}
}

// sharedMap reports whether name is a map whose elements belong to services.
func sharedMap(name string) bool {
	return name == ipv4.slots() || name == ipv4.reals() || name == ipv6.slots() || name == ipv6.reals() ||
		name == ipv4.alive() || name == ipv6.alive() ||
		strings.HasPrefix(name, "d_") || strings.HasPrefix(name, "d6_") ||
		strings.HasPrefix(name, "s_") || strings.HasPrefix(name, "s6_")
}

// normalizeElem writes an element key or value as read and as rendered the
// same way: numbers in decimal (nft lists marks as decimal numbers, we
// write them in hex), parts joined with " . ".
func normalizeElem(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if n, err := strconv.ParseUint(p, 0, 64); err == nil {
			p = strconv.FormatUint(n, 10)
		}
		out[i] = p
	}
	return strings.Join(out, " . ")
}

// read lists what the kernel holds: chain and map names, and the entries
// of the shared maps grouped by service.
func (b *Backend) read(ctx context.Context) (current, error) {
	cur := emptyCurrent()
	objs, err := b.nft.ListAll(ctx)
	if err != nil {
		if knftables.IsNotFound(err) || errors.Is(err, syscall.ENOENT) || strings.Contains(strings.ToLower(err.Error()), "no such file or directory") {
			return cur, nil
		}
		return cur, fmt.Errorf("nft: list table netdev %s: %w", b.table, err)
	}
	cur.exists = true
	for _, c := range objs["chain"] {
		cur.chains[c] = true
	}
	for _, m := range objs["map"] {
		if strings.HasPrefix(m, "__") {
			continue // anonymous (a rule's inline vmap): goes with its rule
		}
		cur.maps[m] = true
		if !sharedMap(m) {
			continue
		}
		elems, err := b.listElements(ctx, m)
		if err != nil {
			return cur, fmt.Errorf("nft: list map %s: %w", m, err)
		}
		for _, e := range elems {
			parts := strings.Split(normalizeElem(e.Key), " . ")
			if len(parts) < 3 {
				continue // not ours; deleted with the map if the map goes
			}
			id := strings.Join(parts[:3], " . ")
			sp := cur.services[id]
			if sp == nil {
				sp = &serviceParts{id: id, elements: map[string][][2]string{}}
				cur.services[id] = sp
			}
			// The key as listed (to delete it), the value in normal form.
			sp.elements[m] = append(sp.elements[m], [2]string{strings.Join(e.Key, " . "), normalizeElem(e.Value)})
		}
	}
	return cur, nil
}

// wantAsCurrent is what read would return once want is applied.
func wantAsCurrent(want ruleset, table dataplane.Table) *current {
	cur := emptyCurrent()
	cur.table = &table
	if want.empty {
		return &cur
	}
	cur.exists = true
	for _, c := range want.chains {
		cur.chains[c.name] = true
	}
	for _, m := range want.maps {
		cur.maps[m.name] = true
	}
	for _, s := range want.services {
		cur.services[s.id] = s
	}
	return &cur
}

// elementOps collects element deletions and additions per map.
type elementOps struct {
	del, add map[string][][2]string
	order    []string // map names in first-touched order
}

func (o *elementOps) touch(m string) {
	if _, ok := o.del[m]; ok {
		return
	}
	if _, ok := o.add[m]; ok {
		return
	}
	o.order = append(o.order, m)
}

// diffService adds the element changes that turn have's entries into
// want's (either may be nil) to ops, skipping maps that will not exist.
func (o *elementOps) diffService(have, want *serviceParts, keep map[string]bool) {
	if have != nil && want != nil && have.fingerprint != "" && have.fingerprint == want.fingerprint {
		return
	}
	maps := map[string]bool{}
	if have != nil {
		for m := range have.elements {
			maps[m] = true
		}
	}
	if want != nil {
		for m := range want.elements {
			maps[m] = true
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for m := range maps {
			if !yield(m) {
				return
			}
		}
	})
	for _, m := range names {
		if !keep[m] {
			continue
		}
		var haveEls, wantEls [][2]string
		if have != nil {
			haveEls = have.elements[m]
		}
		if want != nil {
			wantEls = want.elements[m]
		}
		// Rendered and read elements compare in normal form.
		norm := have != nil && have.fingerprint == ""
		wantByKey := make(map[string]string, len(wantEls))
		for _, e := range wantEls {
			k, v := e[0], e[1]
			if norm {
				k, v = normalizeElem(strings.Split(k, " . ")), normalizeElem(strings.Split(v, " . "))
			}
			wantByKey[k] = v
		}
		haveByKey := make(map[string]string, len(haveEls))
		for _, e := range haveEls {
			k := e[0]
			if norm {
				k = normalizeElem(strings.Split(k, " . "))
			}
			haveByKey[k] = e[1]
			if v, ok := wantByKey[k]; !ok || v != e[1] {
				o.touch(m)
				o.del[m] = append(o.del[m], e)
			}
		}
		for _, e := range wantEls {
			k := e[0]
			if norm {
				k = normalizeElem(strings.Split(k, " . "))
			}
			if v, ok := haveByKey[k]; !ok || v != wantByKey[k] {
				o.touch(m)
				o.add[m] = append(o.add[m], e)
			}
		}
	}
}

// plan builds the transaction that turns cur into want (empty when equal).
func (b *Backend) plan(cur current, want ruleset) *knftables.Transaction {
	tx := b.nft.NewTransaction()
	if want.empty {
		if cur.exists {
			tx.Delete(&knftables.Table{})
		}
		return tx
	}
	if !cur.exists {
		tx.Add(&knftables.Table{})
	}
	wantChains := map[string]bool{}
	for _, c := range want.chains {
		wantChains[c.name] = true
		if cur.chains[c.name] {
			continue
		}
		chain := &knftables.Chain{Name: c.name}
		if c.device != "" {
			chain.Type = knftables.PtrTo(knftables.FilterType)
			chain.Hook = knftables.PtrTo(knftables.IngressHook)
			chain.Priority = knftables.PtrTo(knftables.FilterPriority)
			chain.Device = knftables.PtrTo(c.device)
		}
		tx.Add(chain)
	}
	wantMaps := map[string]bool{}
	for _, m := range want.maps {
		wantMaps[m.name] = true
		if cur.maps[m.name] {
			continue
		}
		spec := &knftables.Map{Name: m.name, Type: m.typ}
		if m.timeout > 0 {
			spec.Flags = []knftables.SetFlag{knftables.TimeoutFlag}
			spec.Timeout = knftables.PtrTo(m.timeout)
			spec.Size = knftables.PtrTo(m.size)
		}
		tx.Add(spec)
	}
	for _, c := range want.chains {
		if cur.chains[c.name] {
			continue // content-addressed: same name, same rules
		}
		for _, r := range c.rules {
			tx.Add(&knftables.Rule{Chain: c.name, Rule: r.text, Comment: knftables.PtrTo(r.comment)})
		}
	}

	// Entries of the shared maps, service by service: unchanged services
	// (same fingerprint as applied last time) cost nothing.
	ops := elementOps{del: map[string][][2]string{}, add: map[string][][2]string{}}
	seen := map[string]bool{}
	for _, s := range want.services {
		seen[s.id] = true
		ops.diffService(cur.services[s.id], s, wantMaps)
	}
	gone := slices.Sorted(func(yield func(string) bool) {
		for id := range cur.services {
			if !seen[id] && !yield(id) {
				return
			}
		}
	})
	for _, id := range gone {
		ops.diffService(cur.services[id], nil, wantMaps)
	}
	for _, m := range ops.order {
		for _, e := range ops.del[m] {
			tx.Delete(&knftables.Element{Map: m, Key: []string{e[0]}})
		}
	}
	for _, m := range ops.order {
		els := ops.add[m]
		switch {
		case len(els) == 0:
		case b.fold:
			tx.Add(batchElement(m, els))
		default:
			for _, e := range els {
				tx.Add(&knftables.Element{Map: m, Key: []string{e[0]}, Value: []string{e[1]}})
			}
		}
	}

	goneChains := slices.Sorted(func(yield func(string) bool) {
		for name := range cur.chains {
			if !wantChains[name] && !yield(name) {
				return
			}
		}
	})
	for _, name := range goneChains {
		tx.Flush(&knftables.Chain{Name: name})
	}
	goneMaps := slices.Sorted(func(yield func(string) bool) {
		for name := range cur.maps {
			if !wantMaps[name] && !yield(name) {
				return
			}
		}
	})
	// Old dispatch maps go before the chains they point to.
	for _, name := range goneMaps {
		tx.Delete(&knftables.Map{Name: name})
	}
	for _, name := range goneChains {
		tx.Delete(&knftables.Chain{Name: name})
	}
	return tx
}

// batchElement writes elements of a map as one `add element` command
// ("{ k0 : v0 , k1 : v1 , … }") by folding the rest into the first value:
// one command per element made nft ~3× slower for 160,000 elements.
func batchElement(name string, elements [][2]string) *knftables.Element {
	var b strings.Builder
	b.WriteString(elements[0][1])
	for _, e := range elements[1:] {
		b.WriteString(" , ")
		b.WriteString(e[0])
		b.WriteString(" : ")
		b.WriteString(e[1])
	}
	return &knftables.Element{Map: name, Key: []string{elements[0][0]}, Value: []string{b.String()}}
}

// Apply implements dataplane.Dataplane.
func (b *Backend) Apply(ctx context.Context, desired dataplane.Table) error {
	if err := b.check(desired); err != nil {
		return err
	}
	canon := desired.Canonical()
	next := map[string]*serviceParts{}
	want, err := renderMemo(canon, b.cfg, b.memo, next)
	if err != nil {
		return err
	}
	b.memo = next
	return dataplane.InNetNS(b.netns, func() error {
		cur, err := b.currentState(ctx)
		if err != nil {
			return err
		}
		b.known = nil
		tx := b.plan(cur, want)
		if b.mutateTx != nil {
			b.mutateTx(tx)
		}
		if tx.NumOperations() > 0 {
			if err := b.nft.Run(ctx, tx); err != nil {
				return fmt.Errorf("nft: apply %d operations to table netdev %s (previous rules stay in force): %w", tx.NumOperations(), b.table, err)
			}
			maps := make(map[string]bool, len(want.maps))
			for _, m := range want.maps {
				maps[m.name] = true
			}
			// The new table is in force whatever happens here: a failure
			// only leaves those flows rescheduled packet by packet until
			// their entries time out, as before forgetting existed.
			if err := b.forgetGoneReals(ctx, goneReals(cur, want), goneAffinities(cur, want), maps); err != nil {
				b.log.Warn("XConnections of removed real servers stay in the connection table until they time out", "error", err)
			}
		}
		// Remember what the table holds now. A commit by someone else between
		// our Run and this read of the generation would go unnoticed until
		// the next one; our table is ours alone, so that is acceptable.
		if b.generation != nil {
			if g, err := b.generation(); err == nil {
				b.known, b.knownGen = wantAsCurrent(want, canon), g
			}
		}
		return nil
	})
}

// cached returns what our last Apply left in the kernel, or nil when
// someone committed since (or the back end cannot tell). It runs in the
// back end's namespace.
func (b *Backend) cached() *current {
	if b.known == nil || b.generation == nil {
		return nil
	}
	if gen, err := b.generation(); err != nil || gen != b.knownGen {
		return nil
	}
	return b.known
}

// currentState is the cached state, or the kernel's read back.
func (b *Backend) currentState(ctx context.Context) (current, error) {
	if c := b.cached(); c != nil {
		return *c, nil
	}
	return b.read(ctx)
}

// Flush implements dataplane.Dataplane: it deletes our table.
func (b *Backend) Flush(ctx context.Context) error {
	return b.Apply(ctx, dataplane.Table{})
}

// Ruleset renders the nft commands that create desired from nothing, for
// golden tests and `drlb check` style previews.
func Ruleset(desired dataplane.Table, opts dataplane.Options) (string, error) {
	table := opts.TableName
	if table == "" {
		table = DefaultTable
	}
	fake := knftables.NewFake(knftables.NetDevFamily, table)
	b := newWith(fake, table, opts)
	b.fold = true
	if err := b.check(desired); err != nil {
		return "", err
	}
	canon := desired.Canonical()
	want, err := render(canon, b.cfg)
	if err != nil {
		return "", err
	}
	return b.plan(emptyCurrent(), want).String(), nil
}
