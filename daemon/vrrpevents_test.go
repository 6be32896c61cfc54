package daemon

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVRRPEventLines: the instance events that are not states reach the
// notify FIFO as keepalived writes them.
func TestVRRPEventLines(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, "global_defs {\nvrrp_notify_fifo "+dir+"/vrrp\n}\n"+
		"vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n")
	n := startNotifier(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if n == nil {
		t.Fatal("no notifier")
	}
	defer n.close()
	f, err := os.OpenFile(filepath.Join(dir, "vrrp"), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n.vrrpEvent("VI_1", "MASTER_PRIORITY", 150)
	n.vrrpEvent("VI_1", "MASTER_RX_LOWER_PRI", 200)
	_ = f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	r := bufio.NewReader(f)
	for _, want := range []string{"INSTANCE \"VI_1\" MASTER_PRIORITY 150\n", "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 200\n"} {
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("FIFO line %q (%v), want %q", got, err, want)
		}
	}
}
