package ipvs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/daemon/dataplane/nft"
)

// Ports of BenchmarkRateIPVSvsNFT: UDP through the VIP, UDP straight to
// rs1's own address, and the lab's TCP name server (port 80).
const (
	rateUDPPort    = 5201
	rateDirectPort = 5202
	rateRun        = time.Second
	rateRounds     = 5
	ratePayload    = 64
)

// udpCounter counts the datagrams a socket receives until it is closed.
type udpCounter struct {
	n  atomic.Int64
	pc net.PacketConn
	wg sync.WaitGroup
}

// countUDP listens on addr inside the namespace at nsPath and counts what
// arrives; the socket closes when the benchmark ends.
func countUDP(b *testing.B, nsPath string, addr netip.AddrPort) *udpCounter {
	b.Helper()
	c := &udpCounter{}
	err := dataplane.InNetNS(nsPath, func() error {
		var err error
		c.pc, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	if err != nil {
		b.Fatalf("listen udp %s: %v", addr, err)
	}
	c.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.pc.ReadFrom(buf); err != nil {
				return
			}
			c.n.Add(1)
		}
	})
	b.Cleanup(func() {
		_ = c.pc.Close() // ends the reader
		c.wg.Wait()
	})
	return c
}

// udpRate sends 64-byte datagrams from the namespace at nsPath to dst for
// rateRun, as fast as one socket can, and returns the datagrams per second
// that c received (counted until 100 ms after the last send, for the
// queue to drain).
func udpRate(nsPath string, dst netip.AddrPort, c *udpCounter) (float64, error) {
	before := c.n.Load()
	err := dataplane.InNetNS(nsPath, func() error {
		conn, err := net.Dial("udp4", dst.String())
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }() // a UDP socket: nothing buffered to lose
		payload := make([]byte, ratePayload)
		end := time.Now().Add(rateRun)
		for i := 0; ; i++ {
			if i%64 == 0 && time.Now().After(end) {
				return nil
			}
			// A full queue on the way (ENOBUFS) or an ICMP error from an
			// earlier datagram is part of the measurement, not a failure.
			_, _ = conn.Write(payload)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("udp to %s: %w", dst, err)
	}
	time.Sleep(100 * time.Millisecond) // let the receiver drain its queue
	return float64(c.n.Load()-before) / rateRun.Seconds(), nil
}

// tcpRate opens connections from the namespace at nsPath to dst one after
// the other for rateRun, each reading the server's first line and closing,
// and returns the connections per second.
func tcpRate(nsPath string, dst netip.AddrPort) (float64, error) {
	n := 0
	err := dataplane.InNetNS(nsPath, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		end := time.Now().Add(rateRun)
		for time.Now().Before(end) {
			conn, err := d.Dial("tcp4", dst.String())
			if err != nil {
				return fmt.Errorf("connection %d: %w", n+1, err)
			}
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = bufio.NewReader(conn).ReadString('\n')
			_ = conn.Close() // read side done; nothing to flush
			if err != nil {
				return fmt.Errorf("connection %d: read the server's name: %w", n+1, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("tcp to %s: %w", dst, err)
	}
	return float64(n) / rateRun.Seconds(), nil
}

// median returns the middle of xs (the mean of the two middle ones), 0 for none.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkRateIPVSvsNFT compares the two data planes on one kernel (the
// qemu VM of e2e/ipvsvm, whose kernel has IPVS and nftables; `nft` is
// copied in with -host-program nft): 64-byte UDP datagrams per second and
// new TCP connections per second from the client through the VIP (lb
// forwarding to rs1, scheduler wlc) with IPVS and with nft, and the same
// straight to rs1, five rounds of 1 s runs, each round starting with
// another target. It reports the medians and the ratios nft ÷ IPVS and
// nft VIP ÷ direct. The VM is emulated (TCG, one
// CPU): the rates are far below the host's, the ratios are what counts.
//
//	go run ./e2e/ipvsvm -host-program nft -testflags "-test.run ^$ -test.bench RateIPVSvsNFT -test.benchtime 1x" ./daemon/dataplane/ipvs
func BenchmarkRateIPVSvsNFT(b *testing.B) {
	if os.Getenv(VMEnv) != "1" {
		b.Skip("runs inside e2e/ipvsvm (make bench): this kernel has no IPVS")
	}
	ctx := context.Background()
	lab := nstest.NewDRLab(b)
	rs1 := lab.Reals[0]
	vip := netip.MustParseAddr(nstest.VIP)
	rs1Addr := netip.MustParseAddr("172.16.1.10")
	viaVIP := countUDP(b, rs1.Path, netip.AddrPortFrom(vip, rateUDPPort))
	direct := countUDP(b, rs1.Path, netip.AddrPortFrom(rs1Addr, rateDirectPort))

	opts := dataplane.Options{NetNSPath: lab.LB.Path}
	ipvsBE, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { // runs after the cleanup below: cleanups run last first
		if err := ipvsBE.Close(); err != nil {
			b.Errorf("ipvs: close: %v", err)
		}
	})
	nftBE, err := nft.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	svc := func(p dataplane.Protocol, port uint16) dataplane.Service {
		return dataplane.Service{VIP: vip, Port: port, Protocol: p, Scheduler: "wlc", Interface: "eth1",
			Reals: []dataplane.Real{{Addr: rs1Addr, Port: port, Weight: 1}}}
	}
	// A persistent service rides along, unused, so that the run proves the
	// nft ruleset of one loads on this kernel too.
	persistent := svc(dataplane.TCP, 443)
	persistent.PersistenceTimeout, persistent.PersistenceBits = 300*time.Second, 24
	table := dataplane.Table{Services: []dataplane.Service{svc(dataplane.UDP, rateUDPPort), svc(dataplane.TCP, 80), persistent}}
	b.Cleanup(func() {
		for name, be := range map[string]dataplane.Dataplane{"ipvs": ipvsBE, "nft": nftBE} {
			if err := be.Apply(ctx, dataplane.Table{}); err != nil {
				b.Errorf("%s: remove the table: %v", name, err)
			}
		}
	})

	measure := func(udpDst netip.AddrPort, c *udpCounter, tcpDst netip.AddrPort) (pps, cps float64) {
		b.Helper()
		pps, err := udpRate(lab.Client.Path, udpDst, c)
		if err == nil {
			cps, err = tcpRate(lab.Client.Path, tcpDst)
		}
		if err != nil {
			b.Fatal(err)
		}
		return pps, cps
	}
	for b.Loop() {
		pps := map[string][]float64{}
		cps := map[string][]float64{}
		targets := []string{"direct", "ipvs", "nft"}
		for round := range rateRounds {
			// Each round starts with another target, so that a change of the
			// host's load (the emulated CPU feels every one) biases none.
			for i := range targets {
				name := targets[(round+i)%len(targets)]
				if name == "direct" {
					p, c := measure(netip.AddrPortFrom(rs1Addr, rateDirectPort), direct, netip.AddrPortFrom(rs1Addr, 80))
					pps[name], cps[name] = append(pps[name], p), append(cps[name], c)
					continue
				}
				var be dataplane.Dataplane = ipvsBE
				if name == "nft" {
					be = nftBE
				}
				if err := be.Apply(ctx, table); err != nil {
					b.Fatalf("%s: apply: %v", name, err)
				}
				p, c := measure(netip.AddrPortFrom(vip, rateUDPPort), viaVIP, netip.AddrPortFrom(vip, 80))
				pps[name], cps[name] = append(pps[name], p), append(cps[name], c)
				if err := be.Apply(ctx, dataplane.Table{}); err != nil {
					b.Fatalf("%s: remove: %v", name, err)
				}
			}
		}
		for _, k := range targets {
			b.ReportMetric(median(pps[k]), "udp-pps-"+k)
			b.ReportMetric(median(cps[k]), "tcp-cps-"+k)
		}
		b.ReportMetric(median(pps["nft"])/median(pps["ipvs"]), "udp-nft/ipvs")
		b.ReportMetric(median(cps["nft"])/median(cps["ipvs"]), "tcp-nft/ipvs")
		b.ReportMetric(median(pps["nft"])/median(pps["direct"]), "udp-nft/direct")
	}
	b.ReportMetric(0, "ns/op") // one op is many timed runs; its duration says nothing
}
