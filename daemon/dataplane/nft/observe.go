package nft

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/drlb/drlb/daemon/dataplane"
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
		case "flags":
			n, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return s, fmt.Errorf("nft: service description %q: %w", comment, err)
			}
			s.Flags = dataplane.ServiceFlags(n)
		}
	}
	return s, nil
}

// parseRealsDesc reads a real-server description comment (see realsDesc).
func parseRealsDesc(comment string) ([]dataplane.Real, error) {
	f := strings.Fields(comment)
	if len(f) < 3 || f[0] != "real" {
		return nil, fmt.Errorf("nft: not a real-server description: %q", comment)
	}
	var out []dataplane.Real
	for i := 1; i < len(f); i += 2 {
		if strings.HasPrefix(f[i], "h=") {
			break // the rule's hash
		}
		if i+1 >= len(f) || !strings.HasPrefix(f[i+1], "w=") {
			return nil, fmt.Errorf("nft: real-server description %q: no weight after %s", comment, f[i])
		}
		ap, err := netip.ParseAddrPort(f[i])
		if err != nil {
			return nil, fmt.Errorf("nft: real-server description %q: %w", comment, err)
		}
		w, err := strconv.ParseUint(strings.TrimPrefix(f[i+1], "w="), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("nft: real-server description %q: %w", comment, err)
		}
		out = append(out, dataplane.Real{Addr: ap.Addr(), Port: ap.Port(), Weight: uint32(w)})
	}
	return out, nil
}

// listRuleCommentsAPI lists the comments of each chain's rules through
// knftables (for the fake; the kernel uses ruleCommentsNetlink).
func (b *Backend) listRuleCommentsAPI(ctx context.Context) (map[string][]string, error) {
	rules, err := b.nft.ListRules(ctx, "")
	if err != nil {
		if knftables.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("nft: list rules of netdev %s: %w", b.table, err)
	}
	chains := map[string][]string{}
	for _, r := range rules {
		c := ""
		if r.Comment != nil {
			c = *r.Comment
		}
		chains[r.Chain] = append(chains[r.Chain], c)
	}
	return chains, nil
}

// servicesFromComments rebuilds the services from the description
// comments of the service chains.
func servicesFromComments(chains map[string][]string) ([]dataplane.Service, error) {
	var out []dataplane.Service
	for chain, comments := range chains {
		if !strings.HasPrefix(chain, "svc_") || len(comments) == 0 {
			continue
		}
		svc, err := parseServiceDesc(stripHash(comments[len(comments)-1]))
		if err != nil {
			return nil, err
		}
		for _, c := range comments {
			if !strings.HasPrefix(c, "real ") {
				continue
			}
			reals, err := parseRealsDesc(c)
			if err != nil {
				return nil, err
			}
			svc.Reals = append(svc.Reals, reals...)
		}
		out = append(out, svc)
	}
	return out, nil
}

// stripHash drops the " h=…" suffix of a comment.
func stripHash(c string) string {
	if i := strings.LastIndex(c, " h="); i >= 0 {
		return c[:i]
	}
	return c
}

// Observe implements dataplane.Dataplane. ActiveConn counts a real
// server's entries in the connection maps, that is connections seen within
// the connection timeout (persistent services included); InActConn is 0.
//
// After our own Apply (and nobody committed since) the services come from
// memory and Observe only lists the connection maps; otherwise it reads the
// rule comments of the table as text, without map elements.
func (b *Backend) Observe(ctx context.Context) (dataplane.Observation, error) {
	obs := dataplane.Observation{Kind: dataplane.KindNFT, Version: Version}
	var services []dataplane.Service
	counts := map[dataplane.Protocol]map[connKey]uint32{}
	err := dataplane.InNetNS(b.netns, func() error {
		var maps map[string]bool
		if c := b.cached(); c != nil {
			services, maps = c.table.Services, c.maps
		} else {
			objs, err := b.nft.ListAll(ctx)
			if err != nil {
				if knftables.IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "no such file or directory") {
					return nil
				}
				return fmt.Errorf("nft: list table netdev %s: %w", b.table, err)
			}
			maps = map[string]bool{}
			for _, m := range objs["map"] {
				maps[m] = true
			}
			comments, err := b.ruleComments(ctx)
			if err != nil {
				return err
			}
			if services, err = servicesFromComments(comments); err != nil {
				return err
			}
		}
		for _, p := range protocols {
			counts[p] = map[connKey]uint32{}
			for _, f := range []family{ipv4, ipv6} {
				for k := 0; maps[f.connMap(p, k)]; k++ {
					c, err := b.connCounts(ctx, f.connMap(p, k))
					if err != nil {
						return err
					}
					for key, n := range c {
						counts[p][key] += n
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return dataplane.Observation{}, err
	}
	for _, s := range services {
		os := dataplane.ObservedService{Service: s}
		os.Reals = nil
		marks := realMarks(s.Reals)
		vip := s.VIP.Unmap()
		if vip.Is6() {
			// IPv6 connection keys hold no VIP (see connHash6): services on one
			// port that share a real server share its count.
			vip = netip.IPv6Unspecified()
		}
		for _, r := range s.Reals {
			k := connKey{vip: vip, port: s.Port, mark: marks[r.Addr.Unmap()]}
			os.Observed = append(os.Observed, dataplane.ObservedReal{Real: r, ActiveConn: counts[s.Protocol][k]})
		}
		slices.SortFunc(os.Observed, func(a, b dataplane.ObservedReal) int {
			return a.AddrPort().Compare(b.AddrPort())
		})
		obs.Services = append(obs.Services, os)
	}
	slices.SortFunc(obs.Services, func(a, b dataplane.ObservedService) int { return a.Key().Compare(b.Key()) })
	return obs, nil
}
