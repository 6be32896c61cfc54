package dataplane

import (
	"fmt"
	"slices"
)

// ChangeKind says what a Change does.
type ChangeKind uint8

// Kinds of changes, in the order Diff emits them.
const (
	RemoveReal ChangeKind = iota
	RemoveService
	AddService
	UpdateService
	AddReal
	UpdateReal
)

// String names the change kind.
func (k ChangeKind) String() string {
	switch k {
	case RemoveReal:
		return "remove-real"
	case RemoveService:
		return "remove-service"
	case AddService:
		return "add-service"
	case UpdateService:
		return "update-service"
	case AddReal:
		return "add-real"
	case UpdateReal:
		return "update-real"
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Change is one step that turns the current table into the desired one.
// Service carries the desired service attributes (the current ones for
// RemoveService) without its Reals; Real is set for the *Real kinds.
type Change struct {
	Kind    ChangeKind
	Service Service
	Real    Real
}

// String renders the change for logs and golden files.
func (c Change) String() string {
	switch c.Kind {
	case AddReal, UpdateReal, RemoveReal:
		return fmt.Sprintf("%s %s -> %s weight %d", c.Kind, c.Service.Key(), c.Real.AddrPort(), c.Real.Weight)
	}
	s := c.Service
	out := fmt.Sprintf("%s %s sched %s method %s persist %s/%d iface %q", c.Kind, s.Key(), s.Scheduler, s.Method,
		s.PersistenceTimeout, s.PersistenceBits, s.Interface)
	if s.Flags != 0 {
		out += " flags " + s.Flags.String()
	}
	if s.PersistenceEngine != "" {
		out += " pe " + s.PersistenceEngine
	}
	return out
}

// sameServiceAttrs reports whether two canonical services have the same
// attributes apart from their real servers.
func sameServiceAttrs(a, b Service) bool {
	return a.Scheduler == b.Scheduler && a.Method == b.Method && a.PersistenceTimeout == b.PersistenceTimeout &&
		a.PersistenceBits == b.PersistenceBits && a.Interface == b.Interface && a.Flags == b.Flags &&
		a.PersistenceEngine == b.PersistenceEngine
}

// Diff returns the changes that turn current into desired: real servers
// removed first, then services removed, services added or updated, and real
// servers added or updated. Both tables are canonicalized first, so the
// result does not depend on input order. Diff of equal tables is empty.
// A method change updates the service and every remaining real server
// whose method it changes, because IPVS stores the method per destination.
func Diff(current, desired Table) []Change {
	cur := current.Canonical()
	des := desired.Canonical()
	curByKey := map[ServiceKey]Service{}
	for _, s := range cur.Services {
		curByKey[s.Key()] = s
	}
	desByKey := map[ServiceKey]Service{}
	for _, s := range des.Services {
		desByKey[s.Key()] = s
	}
	var removeReals, removeSvcs, addSvcs, updSvcs, addReals, updReals []Change
	bare := func(s Service) Service { s.Reals = nil; return s }
	for _, c := range cur.Services {
		d, ok := desByKey[c.Key()]
		if !ok {
			removeSvcs = append(removeSvcs, Change{Kind: RemoveService, Service: bare(c)})
			continue
		}
		want := map[[2]any]bool{}
		for _, r := range d.Reals {
			want[[2]any{r.Addr, r.Port}] = true
		}
		for _, r := range c.Reals {
			if !want[[2]any{r.Addr, r.Port}] {
				removeReals = append(removeReals, Change{Kind: RemoveReal, Service: bare(d), Real: r})
			}
		}
	}
	for _, d := range des.Services {
		c, ok := curByKey[d.Key()]
		if !ok {
			addSvcs = append(addSvcs, Change{Kind: AddService, Service: bare(d)})
			for _, r := range d.Reals {
				addReals = append(addReals, Change{Kind: AddReal, Service: bare(d), Real: r})
			}
			continue
		}
		if !sameServiceAttrs(c, d) {
			updSvcs = append(updSvcs, Change{Kind: UpdateService, Service: bare(d)})
		}
		have := map[[2]any]Real{}
		for _, r := range c.Reals {
			have[[2]any{r.Addr, r.Port}] = r
		}
		for _, r := range d.Reals {
			old, ok := have[[2]any{r.Addr, r.Port}]
			switch {
			case !ok:
				addReals = append(addReals, Change{Kind: AddReal, Service: bare(d), Real: r})
			case old.Weight != r.Weight || c.RealMethod(old) != d.RealMethod(r) ||
				old.UpperThreshold != r.UpperThreshold || old.LowerThreshold != r.LowerThreshold:
				updReals = append(updReals, Change{Kind: UpdateReal, Service: bare(d), Real: r})
			}
		}
	}
	return slices.Concat(removeReals, removeSvcs, addSvcs, updSvcs, addReals, updReals)
}
