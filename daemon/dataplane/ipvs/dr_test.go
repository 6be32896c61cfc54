package ipvs

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/internal/testenv"
)

func drTable(sched string, weights map[string]uint32) dataplane.Table {
	s := dataplane.Service{VIP: netip.MustParseAddr(nstest.VIP), Port: 80, Protocol: dataplane.TCP, Scheduler: sched, Interface: "eth1"}
	for _, addr := range []string{"172.16.1.10", "172.16.1.11"} {
		if w, ok := weights[addr]; ok {
			s.Reals = append(s.Reals, rs(addr, w))
		}
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// kernelDRBackend is an IPVS back end in ns. Outside the VM it needs
// privilege and skips on a kernel without IPVS; inside the VM (VMEnv=1) a
// missing IPVS fails.
func kernelDRBackend(t *testing.T, ns *nstest.NS) *Backend {
	t.Helper()
	opts := dataplane.Options{NetNSPath: ns.Path}
	if err := Available(opts); err != nil {
		if os.Getenv(VMEnv) == "1" {
			t.Fatal(err)
		}
		t.Skipf("kernel without IPVS (run inside e2e/ipvsvm): %v", err)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// checkDRTraffic runs real connections to vip through IPVS DR in a netns
// lab: the split follows the weights (rs1 1, rs2 3) and an established
// connection survives removal of the other server. table builds the service
// from the weights of reals rs1 and rs2. It returns the back end, which
// still serves rs2 alone.
func checkDRTraffic(t *testing.T, vip, rs1, rs2 string, table func(map[string]uint32) dataplane.Table) (*Backend, net.Conn) {
	t.Helper()
	if os.Getenv(VMEnv) != "1" {
		testenv.Privileged(t)
	}
	ctx := context.Background()
	lab := nstest.NewDRLab(t)
	b := kernelDRBackend(t, lab.LB)
	if err := b.Apply(ctx, table(map[string]uint32{rs1: 1, rs2: 3})); err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := map[string]int{}
	for range n {
		c, _, name := lab.ConnectTo(t, vip)
		c.Close()
		got[name]++
	}
	t.Logf("wrr 1:3 to %s over %d connections: %v", vip, n, got)
	if d := got["rs1"] - n/4; d < -n/10 || d > n/10 {
		t.Errorf("rs1 got %d connections, want %d ± %d", got["rs1"], n/4, n/10)
	}

	if err := b.Apply(ctx, table(map[string]uint32{rs1: 1, rs2: 1})); err != nil {
		t.Fatal(err)
	}
	conn, reader := lab.ConnectToServer(t, vip, "rs2")
	if err := b.Apply(ctx, table(map[string]uint32{rs2: 1})); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "still there?\n")
	if line, err := reader.ReadString('\n'); err != nil || line != "rs2 still there?\n" {
		conn.Close()
		t.Fatalf("after removing rs1 the connection answered %q, %v", line, err)
	}
	// The caller closes conn after it has observed it as an active connection.
	return b, conn
}

// TestKernelDRTraffic runs real connections through IPVS DR in a netns lab:
// the split follows the weights and an established connection survives
// removal of the other server. It needs IPVS, so it runs in the VM.
func TestKernelDRTraffic(t *testing.T) {
	b, conn := checkDRTraffic(t, nstest.VIP, "172.16.1.10", "172.16.1.11", func(w map[string]uint32) dataplane.Table { return drTable("wrr", w) })
	defer conn.Close()
	obs, err := b.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Services) != 1 || len(obs.Services[0].Observed) != 1 || obs.Services[0].Observed[0].ActiveConn < 1 {
		t.Errorf("observed %+v, want rs2 with an active connection", obs.Services)
	}
}

func drTable6(weights map[string]uint32) dataplane.Table {
	s := dataplane.Service{VIP: netip.MustParseAddr(nstest.VIP6), Port: 80, Protocol: dataplane.TCP, Scheduler: "wrr", Interface: "eth1"}
	for _, addr := range []string{"fd00:172:16:1::10", "fd00:172:16:1::11"} {
		if w, ok := weights[addr]; ok {
			s.Reals = append(s.Reals, rs(addr, w))
		}
	}
	return dataplane.Table{Services: []dataplane.Service{s}}
}

// TestKernelDRTraffic6 is TestKernelDRTraffic over IPv6 (issue 14 item 4):
// an IPVS IPv6 DR service splits real connections by weight, and an
// established connection survives removal of the other server. It runs in
// the VM.
func TestKernelDRTraffic6(t *testing.T) {
	b, conn := checkDRTraffic(t, nstest.VIP6, "fd00:172:16:1::10", "fd00:172:16:1::11", drTable6)
	defer conn.Close()
	obs, err := b.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Services) != 1 || len(obs.Services[0].Observed) != 1 || obs.Services[0].Observed[0].ActiveConn < 1 {
		t.Errorf("observed %+v, want rs2 with an active connection", obs.Services)
	}
	var status strings.Builder
	if err := dataplane.FormatIPVSADM(&status, obs); err != nil {
		t.Fatal(err)
	}
	t.Logf("status:\n%s", status.String())
	if !strings.Contains(status.String(), "TCP  [fd00:172:16:1::1]:80 wrr") {
		t.Errorf("status lacks the IPv6 service in ipvsadm's layout")
	}
}
