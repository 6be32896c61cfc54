package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// ChangeKind says what Update does with one instance.
type ChangeKind uint8

// Change kinds.
const (
	// ChangeNone: the instance's configuration is unchanged.
	ChangeNone ChangeKind = iota
	// ChangeInPlace: the running instance takes the new settings without a
	// state change: no priority 0, no VIP removed that is still configured,
	// no notify script run.
	ChangeInPlace
	// ChangeRestart: the instance stops (priority 0 if MASTER, VIPs removed,
	// notify STOP) and starts anew, because keepalived would not recognise
	// it as the same instance either.
	ChangeRestart
	// ChangeAdd: a new instance starts.
	ChangeAdd
	// ChangeRemove: the instance stops for good.
	ChangeRemove
)

// String names the kind for reload output.
func (k ChangeKind) String() string {
	switch k {
	case ChangeNone:
		return "unchanged"
	case ChangeInPlace:
		return "updated in place"
	case ChangeRestart:
		return "restarted"
	case ChangeAdd:
		return "added"
	case ChangeRemove:
		return "removed"
	default:
		return fmt.Sprintf("ChangeKind(%d)", uint8(k))
	}
}

// InstanceChange is what Update does with one instance, and why.
type InstanceChange struct {
	// Name is the instance name.
	Name string
	// Kind is what happens to it.
	Kind ChangeKind
	// Reason says why a restart is needed ("interface eth1 -> eth2").
	Reason string
	// Fields are the keepalived keywords changed in place, in a fixed order.
	Fields []string
}

// String is the reload output line: "VI_1: updated in place (notify)".
func (c InstanceChange) String() string {
	s := c.Name + ": " + c.Kind.String()
	switch {
	case c.Reason != "":
		s += " (" + c.Reason + ")"
	case len(c.Fields) > 0:
		s += " (" + strings.Join(c.Fields, ", ") + ")"
	}
	return s
}

// ClassifyInstance compares the running configuration of an instance with
// its new one (same name, defaults applied) and says whether the change can
// be applied in place.
//
// keepalived identifies an instance across a reload by its interface and
// VRID (vrrp_exist in vrrp.c) and restores its state (restore_vrrp_state):
// only a changed interface or VRID makes it a different instance, which is
// stopped and started, as is one whose address family changed. Everything
// else (priority, advert_int, VIPs, tracking, notify, GARP, preemption,
// authentication, and also the VRRP version, the source address and the
// unicast/multicast mode, for which the socket is reopened) is applied to
// the running instance.
func ClassifyInstance(old, new InstanceConfig) InstanceChange {
	ch := InstanceChange{Name: new.Name}
	switch {
	case old.Interface != new.Interface:
		ch.Kind, ch.Reason = ChangeRestart, fmt.Sprintf("interface %s -> %s", old.Interface, new.Interface)
		return ch
	case old.VRID != new.VRID:
		ch.Kind, ch.Reason = ChangeRestart, fmt.Sprintf("virtual_router_id %d -> %d", old.VRID, new.VRID)
		return ch
	case old.IPv6() != new.IPv6():
		// keepalived's vrrp_exist matches the address family too.
		ch.Kind, ch.Reason = ChangeRestart, fmt.Sprintf("address family %s -> %s", familyName(old.IPv6()), familyName(new.IPv6()))
		return ch
	case old.VMAC != new.VMAC || old.VMACXmitBase != new.VMACXmitBase:
		ch.Kind, ch.Reason = ChangeRestart, fmt.Sprintf("use_vmac %q -> %q", old.VMAC, new.VMAC)
	case !slices.Equal(old.AddressVMACs, new.AddressVMACs):
		ch.Kind, ch.Reason = ChangeRestart, fmt.Sprintf("address VMACs (use_vmac_addr) %v -> %v", old.AddressVMACs, new.AddressVMACs)
		return ch
	}
	fields := []struct {
		name    string
		changed bool
	}{
		{"vrrp_version", old.Version != new.Version},
		{"priority", old.Priority != new.Priority},
		{"advert_int", old.AdvertInterval != new.AdvertInterval},
		{"state", old.WantMaster != new.WantMaster},
		{"nopreempt", old.NoPreempt != new.NoPreempt},
		{"preempt_delay", old.PreemptDelay != new.PreemptDelay},
		{"authentication", old.AuthType != new.AuthType || old.AuthPass != new.AuthPass},
		{"auth_hmac", !hmacConfigEqual(old.AuthHMAC, new.AuthHMAC)},
		{"drlb_accept_from", !slices.Equal(old.AcceptFrom, new.AcceptFrom)},
		{"source address", old.SourceIP != new.SourceIP},
		{"unicast_peer", !slices.Equal(old.UnicastPeers, new.UnicastPeers)},
		{mcastGroupKeyword(new.IPv6()), old.MulticastGroup != new.MulticastGroup},
		{"virtual_ipaddress", !slices.Equal(old.VIPs, new.VIPs)},
		{"virtual_ipaddress_excluded", !slices.Equal(old.ExcludedVIPs, new.ExcludedVIPs)},
		{"dont_track_primary", old.DontTrackPrimary != new.DontTrackPrimary},
		{"track_interface", !slices.Equal(old.TrackInterfaces, new.TrackInterfaces)},
		{"track_script", !slices.Equal(old.TrackScripts, new.TrackScripts)},
		{"track_file", !slices.Equal(old.TrackFiles, new.TrackFiles)},
		{"track_process", !slices.EqualFunc(old.TrackProcesses, new.TrackProcesses, TrackProcess.equal)},
		{"notify", old.Notify != new.Notify},
		{"garp", old.GARP != new.GARP || old.GNAInterval != new.GNAInterval},
		{"virtual_routes", !slices.Equal(old.Routes, new.Routes)},
		{"strict_mode", old.Strict != new.Strict},
		{"virtual_rules", !slices.Equal(old.Rules, new.Rules)},
		{"protocol options", old.Protocol != new.Protocol},
	}
	for _, f := range fields {
		if f.changed {
			ch.Fields = append(ch.Fields, f.name)
		}
	}
	if len(ch.Fields) > 0 {
		ch.Kind = ChangeInPlace
	}
	return ch
}

// PlanUpdate lists what Update does with each instance of old and new
// (both with defaults applied): new's instances in order, then the removed
// ones. Instances are matched by name. A member of a sync group whose
// member list changed is restarted (the group's state is rebuilt), as is
// an instance that joins or leaves a group.
func PlanUpdate(old, new Config) []InstanceChange {
	oldByName := map[string]InstanceConfig{}
	for _, ic := range old.Instances {
		oldByName[ic.Name] = ic
	}
	groupOf := func(c Config, name string) (SyncGroupConfig, bool) {
		for _, g := range c.SyncGroups {
			if slices.Contains(g.Instances, name) {
				return g, true
			}
		}
		return SyncGroupConfig{}, false
	}
	var out []InstanceChange
	seen := map[string]bool{}
	for _, ic := range new.Instances {
		seen[ic.Name] = true
		prev, ok := oldByName[ic.Name]
		if !ok {
			out = append(out, InstanceChange{Name: ic.Name, Kind: ChangeAdd})
			continue
		}
		ch := ClassifyInstance(prev, ic)
		if ch.Kind != ChangeRestart {
			og, inOld := groupOf(old, ic.Name)
			ng, inNew := groupOf(new, ic.Name)
			switch {
			case inOld != inNew || (inOld && og.Name != ng.Name):
				ch = InstanceChange{Name: ic.Name, Kind: ChangeRestart, Reason: "sync group membership changed"}
			case inOld && !slices.Equal(og.Instances, ng.Instances):
				ch = InstanceChange{Name: ic.Name, Kind: ChangeRestart, Reason: fmt.Sprintf("sync group %s changed its members", ng.Name)}
			case inOld && og.Notify != ng.Notify:
				ch.Kind, ch.Fields = ChangeInPlace, append(ch.Fields, "sync group notify")
			}
		}
		out = append(out, ch)
	}
	for _, ic := range old.Instances {
		if !seen[ic.Name] {
			out = append(out, InstanceChange{Name: ic.Name, Kind: ChangeRemove})
		}
	}
	return out
}

// UpdateResult is what Update did.
type UpdateResult struct {
	// Changes has one entry per instance of the old or new configuration.
	Changes []InstanceChange
}

// Changed reports whether any instance changed.
func (r UpdateResult) Changed() bool {
	return slices.ContainsFunc(r.Changes, func(c InstanceChange) bool { return c.Kind != ChangeNone })
}

type updateRequest struct {
	cfg   Config
	reply chan updateReply
}

type updateReply struct {
	res UpdateResult
	err error
}

// ErrNotRunning is returned by Update when Run has returned.
var ErrNotRunning = errors.New("vrrp: node not running")

// Update applies cfg to the running node, instance by instance (see
// PlanUpdate and ClassifyInstance): in-place changes go through Run's
// loop, like every other event, so no timer is disturbed; only instances
// that must restart do. A configuration NewNode would refuse, or one
// whose new instances name a missing interface without
// DynamicInterfaces, is refused with nothing changed (errors wrap
// ErrConfig). Update waits for Run to start; it returns ErrNotRunning once
// Run has returned.
func (n *Node) Update(ctx context.Context, cfg Config) (UpdateResult, error) {
	req := updateRequest{cfg: cfg, reply: make(chan updateReply, 1)}
	select {
	case n.updates <- req:
	case <-n.done:
		return UpdateResult{}, ErrNotRunning
	case <-ctx.Done():
		return UpdateResult{}, fmt.Errorf("vrrp: update: %w", ctx.Err())
	}
	r := <-req.reply
	return r.res, r.err
}

// update runs in Run's loop.
func (n *Node) update(raw Config) updateReply {
	cfg, fresh, groups, err := buildConfig(raw)
	if err != nil {
		return updateReply{err: err}
	}
	changes := PlanUpdate(n.cfg, cfg)
	// New interfaces: read them now, refuse before anything changes.
	var missing []string
	for _, ic := range cfg.Instances {
		for _, name := range append([]string{ic.Interface}, trackNames(ic)...) {
			if _, known := n.ifstate[name]; !known {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		// The watcher compares against the map it sent: change a copy.
		states := maps.Clone(n.ifstate)
		for name, st := range n.readInterfaces(missing) {
			states[name] = st
		}
		n.ifstate = states
	}
	for i, ch := range changes {
		if (ch.Kind == ChangeAdd || ch.Kind == ChangeRestart) && !cfg.DynamicInterfaces {
			if ic := cfg.Instances[i]; n.ifstate[ic.Interface].Index == 0 {
				return updateReply{err: fmt.Errorf("%w: instance %q: interface %s does not exist (global_defs dynamic_interfaces allows that)", ErrConfig, ic.Name, ic.Interface)}
			}
		}
	}
	now := time.Now()
	oldByName := map[string]*instance{}
	for _, in := range n.insts {
		oldByName[in.cfg.Name] = in
	}
	// Stop what goes away first: its priority 0 and VIP removal come before
	// a replacement starts.
	oldGroups := n.groups
	for _, ch := range changes {
		if ch.Kind != ChangeRemove && ch.Kind != ChangeRestart {
			continue
		}
		in := oldByName[ch.Name]
		n.log.Info(fmt.Sprintf("(%s) reload: %s", ch.Name, ch))
		n.stepOne(n.bg, n.index(ch.Name), EventShutdown{}, now)
		n.stopScripts(in)
		n.closeInstance(in)
		n.releaseVMAC(in)
	}
	next := make([]*instance, len(cfg.Instances))
	for i, ch := range changes[:len(cfg.Instances)] {
		if ch.Kind == ChangeNone || ch.Kind == ChangeInPlace {
			next[i] = oldByName[ch.Name]
		} else {
			next[i] = fresh[i]
		}
		next[i].group = fresh[i].group
	}
	for gi := range groups {
		for _, og := range oldGroups {
			if og.cfg.Name == groups[gi].cfg.Name && slices.Equal(og.cfg.Instances, groups[gi].cfg.Instances) {
				groups[gi].state = og.state
			}
		}
	}
	threadChanged := !reflect.DeepEqual(n.cfg.Thread, cfg.Thread)
	n.applyStatic(n.cfg, cfg)
	n.insts, n.groups, n.cfg = next, groups, cfg
	n.setAcceptServices(cfg.AcceptServices)
	if threadChanged {
		n.lockThread() // the loop's thread already: re-applies the settings
	}
	n.setWatched()
	for i, ch := range changes[:len(cfg.Instances)] {
		switch ch.Kind {
		case ChangeInPlace:
			n.log.Info(fmt.Sprintf("(%s) reload: %s", ch.Name, ch))
			n.applyInPlace(i, cfg.Instances[i], now)
		case ChangeAdd, ChangeRestart:
			in := next[i]
			if err := n.syncInterfaces(in, n.ifstate, false); err != nil {
				in.counters.Errors++
				n.log.Warn(fmt.Sprintf("(%s) cannot open VRRP on %s", in.cfg.Name, in.cfg.Interface), "instance", in.cfg.Name, "err", err)
			}
			n.startScripts(in)
			delta, fault := in.trackResult()
			in.m, _ = Step(in.m, EventTrack{Delta: delta, Fault: fault}, now)
		}
	}
	for i, ch := range changes[:len(cfg.Instances)] {
		if ch.Kind == ChangeAdd || ch.Kind == ChangeRestart {
			n.step(n.bg, i, EventStartup{}, now)
		}
	}
	return updateReply{res: UpdateResult{Changes: changes}}
}

func trackNames(ic InstanceConfig) []string {
	out := make([]string, 0, len(ic.TrackInterfaces))
	for _, t := range ic.TrackInterfaces {
		out = append(out, t.Name)
	}
	return out
}

// applyInPlace gives running instance i its new configuration nc without
// a state change of its own: MASTER adds the new VIPs (and announces
// them) and removes only those no longer configured; the socket is
// reopened only when its transport changed; track scripts restart only
// when they changed, keeping their status; the new priority and weights
// take effect as a tracking change would (a MASTER advertises its new
// priority at once).
func (n *Node) applyInPlace(i int, nc InstanceConfig, now time.Time) {
	in := n.insts[i]
	old := in.cfg
	oldTransport, oldAll := in.transport(), in.allVIPs
	in.cfg = nc
	in.setAddresses()
	if !hmacConfigEqual(old.AuthHMAC, nc.AuthHMAC) {
		in.setHMAC()
	}
	if in.conn != nil && in.transport() != oldTransport {
		n.closeInstance(in) // syncInterfaces below reopens it
	} else if in.conn != nil {
		in.dsts = nc.UnicastPeers
		if len(in.dsts) == 0 {
			in.dsts = []netip.Addr{nc.MulticastGroup}
		}
		in.setParams()
	}
	p := in.machineParams()
	p.PrimaryIP = in.m.Params.PrimaryIP
	in.m.Params = p
	if !p.Preempt || p.PreemptDelay == 0 {
		in.m.PreemptAt = time.Time{}
	}
	if in.m.State == StateMaster {
		in.m.MasterAdvertInterval = p.AdvertInterval
	}
	sameVIP := func(a, b VIP) bool { return a == b }
	var added []VIP
	for _, v := range in.allVIPs {
		if !slices.ContainsFunc(oldAll, func(o VIP) bool { return sameVIP(o, v) }) {
			added = append(added, v)
		}
	}
	if in.m.State == StateMaster {
		for _, v := range oldAll {
			if slices.ContainsFunc(in.allVIPs, func(o VIP) bool { return sameVIP(o, v) }) || v.Prefix.Addr() == in.source {
				continue
			}
			if _, err := n.opts.Addresses.Remove(v); err != nil {
				in.counters.Errors++
				n.log.Error(fmt.Sprintf("(%s) cannot remove VIP %v", in.cfg.Name, v.Prefix), "instance", in.cfg.Name, "err", err)
			}
		}
		for _, v := range added {
			if err := n.opts.Addresses.Add(v); err != nil {
				in.counters.Errors++
				n.log.Error(fmt.Sprintf("(%s) cannot add VIP %v", in.cfg.Name, v.Prefix), "instance", in.cfg.Name, "err", err)
			}
		}
	}
	if in.m.State == StateMaster && (!slices.Equal(old.Routes, nc.Routes) || !slices.Equal(old.Rules, nc.Rules)) {
		n.replaceRoutes(in, old)
	}
	if in.conn != nil && !reflect.DeepEqual(oldAll, in.allVIPs) {
		// Keep a running ARP burst unless the address set changed.
		n.closeGARP(in)
		n.dialGARP(in)
		if in.m.State == StateMaster && len(added) > 0 {
			n.startGARP(n.bg, in)
		}
	}
	in.trackers = newTrackers(nc, in.trackers)
	if err := n.syncInterfaces(in, n.ifstate, false); err != nil {
		in.counters.Errors++
		n.log.Warn(fmt.Sprintf("(%s) cannot reopen VRRP on %s", in.cfg.Name, in.cfg.Interface), "instance", in.cfg.Name, "err", err)
	}
	if !slices.Equal(old.TrackScripts, nc.TrackScripts) || !slices.Equal(old.TrackFiles, nc.TrackFiles) ||
		!slices.EqualFunc(old.TrackProcesses, nc.TrackProcesses, TrackProcess.equal) {
		n.startScripts(in)
	}
	delta, fault := in.trackResult()
	n.step(n.bg, i, EventTrack{Delta: delta, Fault: fault}, now)
}

// familyName is "IPv6" or "IPv4".
func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// mcastGroupKeyword is the global_defs keyword of the family's VRRP group.
func mcastGroupKeyword(v6 bool) string {
	if v6 {
		return "vrrp_mcast_group6"
	}
	return "vrrp_mcast_group4"
}

// hmacConfigEqual compares two auth_hmac configurations (nil: none).
func hmacConfigEqual(a, b *HMACConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ActiveKey != b.ActiveKey || a.Monotonic != b.Monotonic || a.TimeWindow != b.TimeWindow || a.Mode != b.Mode || len(a.Keys) != len(b.Keys) {
		return false
	}
	for id, k := range a.Keys {
		if !bytes.Equal(k, b.Keys[id]) {
			return false
		}
	}
	return true
}
