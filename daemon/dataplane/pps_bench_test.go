package dataplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
	"github.com/drlb/drlb/topology/labtest"
)

// udpRate is what one iperf3 UDP run measured.
type udpRate struct {
	// ReceivedPPS is the datagrams per second the server received.
	ReceivedPPS float64
	// SenderNsPerPacket is the CPU time of the sending process (user and
	// system, which on veths includes the softirq that carries the packet
	// through the bridge, the director and into the receiver's socket) per
	// datagram sent, in nanoseconds: the cost of the path, less sensitive
	// to other load on the machine than the rate.
	SenderNsPerPacket float64
}

// parseIperfUDP reads an iperf3 -J report of a UDP test.
func parseIperfUDP(out []byte) (udpRate, error) {
	var r struct {
		End struct {
			Sum struct {
				Seconds     float64 `json:"seconds"`
				Packets     int64   `json:"packets"`
				LostPackets int64   `json:"lost_packets"`
			} `json:"sum"`
			CPU struct {
				HostTotal float64 `json:"host_total"`
			} `json:"cpu_utilization_percent"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return udpRate{}, fmt.Errorf("iperf3 report: %w", err)
	}
	if r.Error != "" {
		return udpRate{}, fmt.Errorf("iperf3: %s", r.Error)
	}
	s := r.End.Sum
	if s.Seconds <= 0 || s.Packets <= 0 || s.LostPackets > s.Packets {
		return udpRate{}, fmt.Errorf("iperf3 report without a usable sum (%+v)", s)
	}
	return udpRate{
		ReceivedPPS:       float64(s.Packets-s.LostPackets) / s.Seconds,
		SenderNsPerPacket: r.End.CPU.HostTotal / 100 * s.Seconds * 1e9 / float64(s.Packets),
	}, nil
}

func TestParseIperfUDP(t *testing.T) {
	const report = `{"start":{},"end":{"sum":{"seconds":2.0,"packets":200000,"lost_packets":50000},
		"cpu_utilization_percent":{"host_total":80.0,"host_user":10.0,"host_system":70.0}}}`
	got, err := parseIperfUDP([]byte(report))
	if err != nil {
		t.Fatal(err)
	}
	if got.ReceivedPPS != 75000 || got.SenderNsPerPacket != 8000 {
		t.Errorf("parseIperfUDP = %+v; want 75000 pps, 8000 ns/packet", got)
	}
	for _, bad := range []string{`{"error":"unable to connect to server"}`, `{"end":{"sum":{}}}`, `not json`} {
		if _, err := parseIperfUDP([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// bareFwdTable is the nft command that makes lb1 the floor of any nft
// director: one rule that forwards port (iperf3 controls over TCP, then
// sends UDP) of vip to rs, with no connection table and no scheduling, so
// the hop itself (lb1's veth, its ingress hook, fwd, the second pass
// through the bridge) is measured apart from drlb's rules. drlb's table
// must be gone meanwhile.
func bareFwdTable(vip, rs netip.Addr, port int) string {
	return fmt.Sprintf(`add table netdev %[1]s; add chain netdev %[1]s in { type filter hook ingress device "eth1" priority 0; }; `+
		`add rule netdev %[1]s in meta pkttype host ip daddr %[2]s th dport %[3]d fwd ip to %[4]s device "eth1"`,
		ppsBareTable, vip, port, rs)
}

// nftCmd runs nft with args in lb1.
func nftCmd(ctx context.Context, b *testing.B, lab *topology.Lab, args ...string) string {
	b.Helper()
	out, err := lab.Output(ctx, "lb1", append([]string{"nft"}, args...)...)
	if err != nil {
		b.Fatalf("nft %s: %v\n%s", args, err, out)
	}
	return string(out)
}

// median returns the middle of xs (the mean of the two middle ones).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Ports of BenchmarkDataplanePPS: iperf3 through the VIP, iperf3 straight
// to rs1 (a second server bound to rs1's own address), HTTP for wrk.
const (
	ppsVIPPort    = 5201
	ppsDirectPort = 5202
	cpsPort       = 80
	ppsRounds     = 3
	ppsRunSeconds = 3
	// ppsBareTable is the table of the one-rule director.
	ppsBareTable = "drlbbarefwd"
)

// BenchmarkDataplanePPS measures the nft data plane's packet rate in the
// seed lab: 64-byte UDP datagrams per second (`iperf3 -u -l 64 -b 0` from
// the client) and new TCP connections per second (wrk with
// "Connection: close", one connection per request), each through the VIP
// (nft on lb1, one real server, rs1, scheduler wlc: the Maglev path) and
// straight to rs1, alternating three 3 s runs of each so that a change of
// the shared machine's load biases neither. It reports medians, the
// ratios VIP ÷ direct, and the sender's CPU per datagram (see udpRate).
// A third UDP run per round goes through lb1 with drlb's table replaced by
// a single `fwd` rule ("barefwd"): what the hop costs without drlb's rules,
// the best any nft director could do.
//
// rs1's iperf3 for the VIP is bound to the VIP: a DR real server must
// answer from the VIP, or its UDP replies leave from its own address.
// About 50 s; use -benchtime 1x.
func BenchmarkDataplanePPS(b *testing.B) {
	testenv.Privileged(b, "nft", "iperf3", "wrk")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := labtest.Name("pps")
	lab, _, _, be := benchDirector(b, ctx, name)
	vip := netip.MustParseAddr(benchVIP)
	rs1 := lab.Addr("rs1")
	svc := func(p dataplane.Protocol, port uint16) dataplane.Service {
		return dataplane.Service{VIP: vip, Port: port, Protocol: p, Scheduler: "wlc", Interface: "eth1",
			Reals: []dataplane.Real{{Addr: rs1, Port: port, Weight: 1}}}
	}
	table := dataplane.Table{Services: []dataplane.Service{
		svc(dataplane.TCP, cpsPort), svc(dataplane.TCP, ppsVIPPort), svc(dataplane.UDP, ppsVIPPort)}}
	if err := be.Apply(ctx, table); err != nil {
		b.Fatal(err)
	}
	startIperfServers(ctx, b, lab, vip, rs1)
	udp := func(addr netip.Addr, port int) udpRate { return iperfUDP(ctx, b, lab, addr, port) }
	cps := func(addr netip.Addr) float64 {
		b.Helper()
		rctx, cancel := context.WithTimeout(ctx, (ppsRunSeconds+10)*time.Second)
		defer cancel()
		out, err := lab.Output(rctx, "client", "wrk", "-t1", "-c8", fmt.Sprintf("-d%ds", ppsRunSeconds), "--timeout", "2s",
			"-H", "Connection: close", fmt.Sprintf("http://%s:%d/data", addr, cpsPort))
		if err != nil {
			b.Fatalf("wrk to %s: %v\n%s", addr, err, out)
		}
		rps, err := parseWrk(string(out))
		if err != nil {
			b.Fatal(err)
		}
		return rps
	}
	bare := func() udpRate {
		b.Helper()
		if err := be.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		nftCmd(ctx, b, lab, bareFwdTable(vip, rs1, ppsVIPPort))
		r := udp(vip, ppsVIPPort)
		nftCmd(ctx, b, lab, "delete table netdev "+ppsBareTable)
		if err := be.Apply(ctx, table); err != nil {
			b.Fatal(err)
		}
		return r
	}
	for b.Loop() {
		var pd, pv, pb, nd, nv, nb, cd, cv []float64
		for range ppsRounds {
			d, v, f := udp(rs1, ppsDirectPort), udp(vip, ppsVIPPort), bare()
			pd, pv, pb = append(pd, d.ReceivedPPS), append(pv, v.ReceivedPPS), append(pb, f.ReceivedPPS)
			nd, nv, nb = append(nd, d.SenderNsPerPacket), append(nv, v.SenderNsPerPacket), append(nb, f.SenderNsPerPacket)
			cd, cv = append(cd, cps(rs1)), append(cv, cps(vip))
		}
		b.ReportMetric(median(pd), "udp-pps-direct")
		b.ReportMetric(median(pv), "udp-pps-vip")
		b.ReportMetric(median(pb), "udp-pps-barefwd")
		b.ReportMetric(median(pv)/median(pd), "udp-ratio")
		b.ReportMetric(median(pb)/median(pd), "udp-ratio-barefwd")
		b.ReportMetric(median(nd), "udp-cpu-ns/pkt-direct")
		b.ReportMetric(median(nv), "udp-cpu-ns/pkt-vip")
		b.ReportMetric(median(nb), "udp-cpu-ns/pkt-barefwd")
		b.ReportMetric(median(cd), "tcp-cps-direct")
		b.ReportMetric(median(cv), "tcp-cps-vip")
		b.ReportMetric(median(cv)/median(cd), "tcp-ratio")
	}
	b.ReportMetric(0, "ns/op") // one op is fifteen 3 s runs; its duration says nothing
}

// startIperfServers starts iperf3 servers on rs1 at the VIP (bound to it:
// the director forwards to it) and at rs1's own address, and waits for
// both to listen.
func startIperfServers(ctx context.Context, b *testing.B, lab *topology.Lab, vip, rs1 netip.Addr) {
	b.Helper()
	for _, s := range []struct {
		name string
		addr netip.Addr
		port int
	}{{"iperf3-vip", vip, ppsVIPPort}, {"iperf3-direct", rs1, ppsDirectPort}} {
		if _, err := lab.Start("rs1", topology.ProcSpec{Name: s.name,
			Argv: []string{"iperf3", "-s", "-B", s.addr.String(), "-p", strconv.Itoa(s.port)}}); err != nil {
			b.Fatal(err)
		}
		if err := lab.WaitTCP(ctx, "rs1", netip.AddrPortFrom(s.addr, uint16(s.port)).String()); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
	}
}

// iperfUDP runs iperf3's 64-byte UDP flood from the client to addr:port
// for ppsRunSeconds and returns its rates.
func iperfUDP(ctx context.Context, b *testing.B, lab *topology.Lab, addr netip.Addr, port int) udpRate {
	b.Helper()
	rctx, cancel := context.WithTimeout(ctx, (ppsRunSeconds+10)*time.Second)
	defer cancel()
	out, err := lab.Output(rctx, "client", "iperf3", "-c", addr.String(), "-p", strconv.Itoa(port),
		"-u", "-l", "64", "-b", "0", "-t", strconv.Itoa(ppsRunSeconds), "-J")
	r, perr := parseIperfUDP(out)
	if perr != nil {
		b.Fatalf("iperf3 to %s:%d: %v (%v)", addr, port, perr, err)
	}
	return r
}
