package nft

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/netnsdo"
)

// Version is what Observe reports after "IP Virtual Server version".
const Version = "0.0.0 (nftables data plane, no IPVS)"

// parseServiceDesc reads a service chain's description comment.
func parseServiceDesc(comment string) (dataplane.Service, error) {
	var s dataplane.Service
	f := strings.Fields(comment)
	if len(f) < 3 || f[0] != "svc" {
		return s, fmt.Errorf("nft: not a service description: %q", comment)
	}
	proto, err := dataplane.ParseProtocol(f[1])
	if err != nil {
		return s, err
	}
	ap, err := netip.ParseAddrPort(f[2])
	if err != nil {
		return s, fmt.Errorf("nft: service description %q: %w", comment, err)
	}
	s.Protocol, s.VIP, s.Port = proto, ap.Addr(), ap.Port()
	for _, kv := range f[3:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "sched":
			s.Scheduler = v
		case "method":
			if s.Method, err = dataplane.ParseMethod(v); err != nil {
				return s, err
			}
		case "persist":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return s, fmt.Errorf("nft: service description %q: %w", comment, err)
			}
			s.PersistenceTimeout = time.Duration(n) * time.Second
		case "bits":
			if s.PersistenceBits, err = strconv.Atoi(v); err != nil {
				return s, fmt.Errorf("nft: service description %q: %w", comment, err)
			}
		case "dev":
			s.Interface = v
		}
	}
	return s, nil
}

// parseRealDesc reads a real-server chain's description comment.
func parseRealDesc(comment string) (dataplane.Real, error) {
	f := strings.Fields(comment)
	if len(f) < 3 || f[0] != "real" || !strings.HasPrefix(f[2], "w=") {
		return dataplane.Real{}, fmt.Errorf("nft: not a real-server description: %q", comment)
	}
	ap, err := netip.ParseAddrPort(f[1])
	if err != nil {
		return dataplane.Real{}, fmt.Errorf("nft: real-server description %q: %w", comment, err)
	}
	w, err := strconv.ParseUint(strings.TrimPrefix(f[2], "w="), 10, 32)
	if err != nil {
		return dataplane.Real{}, fmt.Errorf("nft: real-server description %q: %w", comment, err)
	}
	return dataplane.Real{Addr: ap.Addr(), Port: ap.Port(), Weight: uint32(w)}, nil
}

// normalizeMark turns a mark as nft lists it (decimal or hex) into markOf's form.
func normalizeMark(v string) string {
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return v
	}
	return fmt.Sprintf("0x%08x", n)
}

// Observe implements dataplane.Dataplane. ActiveConn counts a real
// server's entries in its service's connection (or persistence) map, that
// is connections (or clients) seen within the timeout; InActConn is 0.
func (b *Backend) Observe(ctx context.Context) (dataplane.Observation, error) {
	obs := dataplane.Observation{Kind: dataplane.KindNFT, Version: Version}
	err := netnsdo.Do(b.netns, func() error {
		cur, err := b.read(ctx)
		if err != nil {
			return err
		}
		if cur.exists {
			rules, err := b.nft.ListRules(ctx, "")
			if err != nil {
				return fmt.Errorf("nft: list rules of netdev %s: %w", b.table, err)
			}
			for _, r := range rules {
				cur.chains[r.Chain] = append(cur.chains[r.Chain], r)
			}
		}
		var sets []string
		for name := range cur.sets {
			sets = append(sets, name)
		}
		slices.Sort(sets)
		for chain, rules := range cur.chains {
			sid, ok := strings.CutPrefix(chain, "svc_")
			if i := strings.LastIndexByte(sid, '_'); i > 0 {
				sid = sid[:i] // drop the content hash
			}
			if !ok || len(rules) == 0 || rules[len(rules)-1].Comment == nil {
				continue
			}
			svc, err := parseServiceDesc(*rules[len(rules)-1].Comment)
			if err != nil {
				return err
			}
			os := dataplane.ObservedService{Service: svc}
			counts := map[string]uint32{}
			for _, set := range sets {
				if set != "c_"+sid && !strings.HasPrefix(set, "p_"+sid+"_") {
					continue
				}
				elems, err := b.nft.ListElements(ctx, "map", set)
				if err != nil {
					return fmt.Errorf("nft: list map %s: %w", set, err)
				}
				for _, e := range elems {
					if len(e.Value) == 1 {
						counts[normalizeMark(e.Value[0])]++
					}
				}
			}
			for _, r := range rules {
				if r.Comment == nil || !strings.HasPrefix(*r.Comment, "real ") {
					continue
				}
				real, err := parseRealDesc(*r.Comment)
				if err != nil {
					return err
				}
				os.Observed = append(os.Observed, dataplane.ObservedReal{Real: real, ActiveConn: counts[markOf(real.Addr)]})
			}
			slices.SortFunc(os.Observed, func(a, b dataplane.ObservedReal) int {
				return a.AddrPort().Compare(b.AddrPort())
			})
			obs.Services = append(obs.Services, os)
		}
		return nil
	})
	if err != nil {
		return dataplane.Observation{}, err
	}
	slices.SortFunc(obs.Services, func(a, b dataplane.ObservedService) int { return a.Key().Compare(b.Key()) })
	return obs, nil
}
