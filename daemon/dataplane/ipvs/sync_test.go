package ipvs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	cipvs "github.com/cloudflare/ipvs"

	"github.com/drlb/drlb/daemon/dataplane/internal/nstest"
	"github.com/drlb/drlb/internal/testenv"
)

// TestKernelSyncDaemonCarriesConnectionsAcrossFailover is lvs_sync_daemon's
// promise: a connection established through the master keeps its real
// server after the VIP moves to the backup, because the backup's IPVS
// learnt the connection from the master's sync daemon. Without the synced
// entry the backup's IPVS would not take the connection's next segment
// (not a SYN), its own stack would answer it with a reset, and the read
// below would fail. It needs IPVS, so it runs in the VM.
func TestKernelSyncDaemonCarriesConnectionsAcrossFailover(t *testing.T) {
	if os.Getenv(VMEnv) != "1" {
		testenv.Privileged(t)
	}
	ctx := context.Background()
	lab := nstest.NewDRPair(t)
	var backends []*Backend
	var hks []*Housekeeping
	for _, ns := range []*nstest.NS{lab.LB, lab.LB2} {
		b := kernelDRBackend(t, ns)
		if err := b.Apply(ctx, drTable("rr", map[string]uint32{"172.16.1.10": 1, "172.16.1.11": 1})); err != nil {
			t.Fatal(err)
		}
		hk, err := OpenHousekeeping(ns.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer hk.Close()
		backends, hks = append(backends, b), append(hks, hk)
	}
	master, backup := hks[0], hks[1]
	if err := master.StartSyncDaemon(SyncDaemon{State: SyncMaster, Interface: "eth1", SyncID: 9}); err != nil {
		t.Fatal(err)
	}
	defer master.StopSyncDaemon(SyncMaster)
	if err := backup.StartSyncDaemon(SyncDaemon{State: SyncBackup, Interface: "eth1", SyncID: 9}); err != nil {
		t.Fatal(err)
	}
	defer backup.StopSyncDaemon(SyncBackup)
	ds, err := backup.SyncDaemons()
	if err != nil || len(ds) != 1 || ds[0].State != SyncBackup || ds[0].Interface != "eth1" || ds[0].SyncID != 9 {
		t.Fatalf("backup's daemons %+v, %v", ds, err)
	}

	conn, reader, name := lab.Connect(t)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	// The master syncs a connection at its third packet (sync_threshold
	// 3): a few lines make sure it has seen them.
	for i := range 4 {
		fmt.Fprintf(conn, "before %d\n", i)
		if line, err := reader.ReadString('\n'); err != nil || line != fmt.Sprintf("%s before %d\n", name, i) {
			t.Fatalf("through the master: %q, %v", line, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		table, err := lab.LB2.ReadProc("ip_vs_conn")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToUpper(table), "ESTABLISHED") {
			t.Logf("backup's connection table:\n%s", table)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backup never learnt the connection; its table:\n%s", table)
		}
		time.Sleep(100 * time.Millisecond) // polling the kernel's table
	}

	lab.Failover(t)
	fmt.Fprintf(conn, "after\n")
	if line, err := reader.ReadString('\n'); err != nil || line != name+" after\n" {
		t.Fatalf("after the failover the connection answered %q, %v; want %q from the same real server", line, err, name+" after")
	}
	obs, err := backends[1].Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup observes %+v", obs.Services)
}

// TestKernelTimeoutsAndFlush: lvs_timeouts reaches the kernel and
// lvs_flush empties the table, other programs' services included.
func TestKernelTimeoutsAndFlush(t *testing.T) {
	b, _, opts := kernelBackend(t)
	table := drTable("rr", map[string]uint32{"172.16.1.10": 1})
	table.Services[0].Interface = "" // kernelBackend's namespace has no eth1
	hk, err := OpenHousekeeping(opts.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer hk.Close()
	if err := hk.SetTimeouts(901*time.Second, 31*time.Second, 61*time.Second); err != nil {
		t.Fatal(err)
	}
	getter, ok := b.client.(*countingClient).Client.(interface{ Config() (cipvs.Config, error) })
	if !ok {
		t.Fatal("the client cannot read IPVS's configuration")
	}
	if c, err := getter.Config(); err != nil || c.TCPTimeout != 901 || c.TCPFinTimeout != 31 || c.UDPTimeout != 61 {
		t.Errorf("kernel timeouts %+v, %v; want 901/31/61", c, err)
	}
	if err := b.Apply(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	if err := hk.FlushAll(); err != nil {
		t.Fatal(err)
	}
	obs, err := b.Observe(context.Background())
	if err != nil || len(obs.Services) != 0 {
		t.Fatalf("after FlushAll: %+v, %v", obs.Services, err)
	}
	// Leave the back end's own service for its cleanup to remove.
	if err := b.Apply(context.Background(), table); err != nil {
		t.Fatal(err)
	}
}
