package dataplane_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/nft"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// ruleHandle matches a rule's handle in `nft -a list` output.
var ruleHandle = regexp.MustCompile(`# handle (\d+)$`)

// findRule returns the chain, handle and text of the first rule of lb1's
// drlb table whose line matches re.
func findRule(ctx context.Context, b *testing.B, lab *topology.Lab, re *regexp.Regexp) (chain, handle, text string) {
	b.Helper()
	chainLine := regexp.MustCompile(`^\s*chain (\S+) \{`)
	for _, line := range strings.Split(nftCmd(ctx, b, lab, "-a", "list", "table", "netdev", nft.DefaultTable), "\n") {
		if m := chainLine.FindStringSubmatch(line); m != nil {
			chain = m[1]
		}
		if h := ruleHandle.FindStringSubmatch(line); h != nil && re.MatchString(line) {
			return chain, h[1], strings.TrimSpace(line[:strings.LastIndex(line, "#")])
		}
	}
	b.Fatalf("no rule matches %s", re)
	return "", "", ""
}

// BenchmarkDataplaneRuleSteps splits what drlb's rules cost an established
// flow (64-byte UDP, sender CPU per datagram, see udpRate) by measuring
// copies of drlb's table with one step taken out, in one lab, alternating
// three 3 s runs of each:
//
//   - direct: straight to rs1; drlb: the table as rendered;
//   - no-dispatch: without the service dispatch (the service chain with its
//     counters and, for persistent services, the affinity refresh);
//   - no-refresh: the connection lookup without the timeout refresh;
//   - one-shard: one connection map per protocol, chosen by protocol alone
//     (no shard hash);
//   - barefwd: one fwd rule instead of drlb's table (see bareFwdTable).
//
// The variants drop behaviour, so they exist only here, to say which step
// would be worth making cheaper. About 70 s; use -benchtime 1x.
func BenchmarkDataplaneRuleSteps(b *testing.B) {
	testenv.Privileged(b, "nft", "iperf3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab, _, _, be := benchDirector(b, ctx, labtest.Name("steps"))
	oneShard, err := nft.New(dataplane.Options{NetNSPath: lab.NSPath("lb1"), ConnTableShards: 1})
	if err != nil {
		b.Fatal(err)
	}
	vip, rs1 := netip.MustParseAddr(benchVIP), lab.Addr("rs1")
	svc := func(p dataplane.Protocol) dataplane.Service {
		return dataplane.Service{VIP: vip, Port: ppsVIPPort, Protocol: p, Scheduler: "wlc", Interface: "eth1",
			Reals: []dataplane.Real{{Addr: rs1, Port: ppsVIPPort, Weight: 1}}}
	}
	table := dataplane.Table{Services: []dataplane.Service{svc(dataplane.TCP), svc(dataplane.UDP)}}
	startIperfServers(ctx, b, lab, vip, rs1)
	udp := func(addr netip.Addr, port int) float64 { return iperfUDP(ctx, b, lab, addr, port).SenderNsPerPacket }
	fresh := func(with *nft.Backend) {
		b.Helper()
		for _, x := range []*nft.Backend{be, oneShard} {
			if err := x.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if with != nil {
			if err := with.Apply(ctx, table); err != nil {
				b.Fatal(err)
			}
		}
	}
	lookupGoto := regexp.MustCompile(`map @conn_udp_\d+ goto \S+`)
	steps := []struct {
		name  string
		setUp func()
	}{
		{"direct", nil},
		{"drlb", func() { fresh(be) }},
		{"no-dispatch", func() {
			fresh(be)
			chain, h, _ := findRule(ctx, b, lab, regexp.MustCompile(`comment "dispatch `))
			nftCmd(ctx, b, lab, "delete", "rule", "netdev", nft.DefaultTable, chain, "handle", h)
		}},
		{"no-refresh", func() {
			fresh(be)
			for range 1000 { // every UDP shard's lookup; each replaced one stops matching
				if !lookupGoto.MatchString(nftCmd(ctx, b, lab, "list", "table", "netdev", nft.DefaultTable)) {
					break
				}
				chain, h, text := findRule(ctx, b, lab, lookupGoto)
				text, _, _ = strings.Cut(text, " goto ")
				nftCmd(ctx, b, lab, "replace", "rule", "netdev", nft.DefaultTable, chain, "handle", h, text)
			}
		}},
		{"one-shard", func() {
			fresh(oneShard)
			chain, h, _ := findRule(ctx, b, lab, regexp.MustCompile(`comment "connection `))
			cl, _, _ := findRule(ctx, b, lab, regexp.MustCompile(`map @conn_udp_0 goto`))
			nftCmd(ctx, b, lab, "replace", "rule", "netdev", nft.DefaultTable, chain, "handle", h, "meta l4proto udp jump "+cl)
		}},
		{"barefwd", func() {
			fresh(nil)
			nftCmd(ctx, b, lab, bareFwdTable(vip, rs1, ppsVIPPort))
		}},
	}
	for b.Loop() {
		cost := map[string][]float64{}
		for range ppsRounds {
			for _, s := range steps {
				if s.setUp == nil {
					cost[s.name] = append(cost[s.name], udp(rs1, ppsDirectPort))
					continue
				}
				s.setUp()
				cost[s.name] = append(cost[s.name], udp(vip, ppsVIPPort))
				if s.name == "barefwd" {
					nftCmd(ctx, b, lab, "delete", "table", "netdev", ppsBareTable)
				}
			}
		}
		for _, s := range steps {
			b.ReportMetric(median(cost[s.name]), "udp-cpu-ns/pkt-"+s.name)
		}
	}
	fresh(nil)
	b.ReportMetric(0, "ns/op") // one op is eighteen 3 s runs; its duration says nothing
}
