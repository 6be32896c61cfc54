package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/api"
	"github.com/drlb/drlb/daemon/notify/notifytest"
	"github.com/drlb/drlb/daemon/vrrp"
	"golang.org/x/sys/unix"
)

// TestNoEmailFaults: with no_email_faults a FAULT state sends no mail (the
// next state's mail is the first the sink gets); without it, it does.
func TestNoEmailFaults(t *testing.T) {
	for _, c := range []struct {
		global string
		first  string
	}{
		{"", "[lb1] VRRP Instance VI_1 - Entering FAULT state"},
		{"no_email_faults\n", "[lb1] VRRP Instance VI_1 - Entering BACKUP state"},
	} {
		sink, err := notifytest.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := strings.Cut(sink.Addr(), ":")
		cfg := parse(t, "global_defs {\nrouter_id lb1\n"+c.global+"notification_email {\nops@example.com\n}\nsmtp_server "+host+" "+port+"\nsmtp_alert\n}\n"+
			"vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n")
		n := startNotifier(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		t.Cleanup(n.close)
		t.Cleanup(func() { _ = sink.Close() })
		n.vrrpNotify("INSTANCE", "VI_1", vrrp.StateFault, 100)
		n.vrrpNotify("INSTANCE", "VI_1", vrrp.StateBackup, 100)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := sink.Next(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header("Subject"); got != c.first {
			t.Errorf("%q: first mail %q, want %q", c.global, got, c.first)
		}
	}
}

// TestWriteVRRPStates: fifo_write_vrrp_states_on_reload's lines, one per
// instance and per sync group (FAULT when a member is in FAULT).
func TestWriteVRRPStates(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, "global_defs {\nnotify_fifo "+dir+"/all\nvrrp_notify_fifo "+dir+"/vrrp\n}\n"+
		"vrrp_sync_group G {\ngroup {\nVI_1\nVI_2\n}\n}\n"+
		"vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n"+
		"vrrp_instance VI_2 {\ninterface eth1\nvirtual_router_id 52\nvirtual_ipaddress {\n172.16.1.2\n}\n}\n")
	n := startNotifier(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	defer n.close()
	var readers []*bufio.Reader
	var files []*os.File
	for _, name := range []string{"all", "vrrp"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files, readers = append(files, f), append(readers, bufio.NewReader(f))
	}
	n.writeVRRPStates(cfg, []vrrp.InstanceStatus{
		{Name: "VI_1", State: vrrp.StateBackup, EffectivePriority: 90},
		{Name: "VI_2", State: vrrp.StateFault, EffectivePriority: 100},
	})
	want := "INSTANCE \"VI_1\" BACKUP 90\nINSTANCE \"VI_2\" FAULT 100\nGROUP \"G\" FAULT 0\n"
	for i, r := range readers {
		_ = files[i].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var got strings.Builder
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break
			}
			got.WriteString(l)
		}
		if got.String() != want {
			t.Errorf("fifo %d: got %q, want %q", i, got.String(), want)
		}
	}
}

// TestDumps: the SIGUSR2 and SIGRTMIN+2 files in keepalived's layouts, at
// keepalived's default names or the configured locations, with the
// umask's mode.
func TestDumps(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	cfg := parse(t, "vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n")
	if got := DumpPath(cfg, DumpStats, ""); got != dir+"/keepalived.stats" {
		t.Errorf("default stats file %s", got)
	}
	st := &api.Status{Version: "test", Instances: []api.Instance{{Name: "VI_1", Interface: "eth1", VRID: 51, Version: 2, State: "MASTER",
		Priority: 100, EffectivePriority: 100, VIPs: []string{"172.16.1.1"}, AdvertsSent: 7, AdvertsReceived: 3,
		Drops: map[string]uint64{"bad_ttl": 2, "hmac_replay": 1}, Transitions: 2}}}
	old := unix.Umask(0o027)
	defer unix.Umask(old)
	stats := filepath.Join(dir, "s")
	if err := writeDump(stats, DumpStats, st, 1); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(stats)
	for _, want := range []string{"VRRP Instance: VI_1\n  Advertisements:\n    Received: 3\n    Sent: 7\n", "    TTL: 2\n", "    Replay: 1\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stats file lacks %q:\n%s", want, b)
		}
	}
	if fi, err := os.Stat(stats); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("stats file mode %v (%v), want 0640 under umask 027", fi.Mode().Perm(), err)
	}
	for v, prefix := range map[int]string{1: "[", 2: "{\n  \"vrrp\": ["} {
		js := filepath.Join(dir, "j")
		if err := writeDump(js, DumpJSON, st, v); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(js)
		if !strings.HasPrefix(string(b), prefix) || !strings.Contains(string(b), `"iname": "VI_1"`) || !strings.Contains(string(b), `"state": 2`) ||
			!strings.Contains(string(b), `"ip_ttl_err": 2`) || !strings.Contains(string(b), `"advert_sent": 7`) {
			t.Errorf("json_version %d:\n%s", v, b)
		}
	}
}

// TestDumpOverStaleTemporary: a temporary file a crashed predecessor with
// the same PID left (drlb as PID 1 of a container) does not block every
// later dump; a link there is replaced, not followed.
func TestDumpOverStaleTemporary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.stats")
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := writeDump(path, DumpStats, &api.Status{}, 1); err != nil {
		t.Fatalf("dump over a stale temporary: %v", err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the dump followed the link to %s (%v)", target, err)
	}
	if _, err := os.Lstat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary %s left (%v)", tmp, err)
	}
}
