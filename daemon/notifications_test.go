package daemon

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/notify/notifytest"
	"github.com/drlb/drlb/daemon/vrrp"
	"github.com/drlb/drlb/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestNotifierLinesAndMail drives a notifier as the daemon does and reads
// what keepalived's FIFO readers and mail filters would get.
func TestNotifierLinesAndMail(t *testing.T) {
	dir := t.TempDir()
	sink, err := notifytest.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := strings.Cut(sink.Addr(), ":")
	conf := "global_defs {\nrouter_id lb1\n" +
		"notify_fifo " + dir + "/all\nvrrp_notify_fifo " + dir + "/vrrp\nlvs_notify_fifo " + dir + "/lvs\n" +
		"notification_email {\nops@example.com\n}\nnotification_email_from lb1@example.com\nsmtp_server " + host + " " + port + "\n" +
		"smtp_alert_vrrp\n}\n" +
		"vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n" +
		"virtual_server 172.16.1.1 80 {\nprotocol TCP\nlvs_sched rr\nlvs_method DR\nsmtp_alert\n" +
		"real_server 172.16.1.10 80 {\nTCP_CHECK {\n}\n}\n}\n"
	cfg := parse(t, conf)
	n := startNotifier(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if n == nil {
		t.Fatal("no notifier")
	}
	readers := map[string]*bufio.Reader{}
	files := map[string]*os.File{}
	for _, name := range []string{"all", "vrrp", "lvs"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		readers[name], files[name] = bufio.NewReader(f), f
	}
	n.vrrpNotify("INSTANCE", "VI_1", vrrp.StateMaster, 100)
	target := check.Target{VirtualServer: "TCP 172.16.1.1:80", RealServer: "172.16.1.10:80"}
	n.healthChanged(cfg, check.Transition{Target: target, Up: false, WasUp: true, Reason: "connection refused"})
	n.quorumChanged(cfg, map[check.Target]Health{target: {Up: false, Weight: 1}},
		map[string]ServiceState{"TCP 172.16.1.1:80": {QuorumUp: true}}, map[string]ServiceState{"TCP 172.16.1.1:80": {QuorumUp: false}})

	lines := func(name string) []string {
		var out []string
		// What was written is in the pipe already: a short deadline ends the read.
		_ = files[name].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			l, err := readers[name].ReadString('\n')
			if err != nil {
				return out
			}
			out = append(out, l)
		}
	}
	want := map[string][]string{
		"all":  {"INSTANCE \"VI_1\" MASTER 100\n", "RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 DOWN\n", "VS [172.16.1.1]:tcp:80 DOWN\n"},
		"vrrp": {"INSTANCE \"VI_1\" MASTER 100\n"},
		"lvs":  {"RS [172.16.1.10]:tcp:80 [172.16.1.1]:tcp:80 DOWN\n", "VS [172.16.1.1]:tcp:80 DOWN\n"},
	}
	for name, w := range want {
		if got := lines(name); strings.Join(got, "") != strings.Join(w, "") {
			t.Errorf("%s fifo: got %q, want %q", name, got, w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var subjects []string
	for range 3 {
		m, err := sink.Next(ctx)
		if err != nil {
			t.Fatalf("mails %q: %v", subjects, err)
		}
		subjects = append(subjects, m.Header("Subject"))
	}
	wantSubjects := "[lb1] VRRP Instance VI_1 - Entering MASTER state|[lb1] Realserver [172.16.1.10]:tcp:80 of virtual server [172.16.1.1]:tcp:80 - DOWN|[lb1] Virtualserver [172.16.1.1]:tcp:80 - DOWN"
	if strings.Join(subjects, "|") != wantSubjects {
		t.Errorf("subjects %q, want %q", subjects, wantSubjects)
	}
	n.close()
	for _, name := range []string{"all", "vrrp", "lvs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("fifo %s left behind: %v", name, err)
		}
	}
}

func TestNoNotifierWithoutSettings(t *testing.T) {
	cfg := parse(t, "vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n")
	n := startNotifier(context.Background(), cfg, slog.Default(), nil)
	if n != nil {
		t.Fatal("a notifier without any notification setting")
	}
	n.vrrpNotify("INSTANCE", "VI_1", vrrp.StateMaster, 100) // nil-safe
	n.close()
}

// TestFIFOScriptReadsTheFIFO: notify_fifo_script is started with the
// FIFO's path as its last argument, reads the lines, and is stopped with
// the notifier (as keepalived starts and stops it).
func TestFIFOScriptReadsTheFIFO(t *testing.T) {
	// Scripts run as root here: the script runner's security checks need
	// root-owned files.
	testenv.Privileged(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	reader := filepath.Join(dir, "reader.sh")
	if err := os.WriteFile(reader, []byte("#!/bin/sh\nexec cat \"$1\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, "global_defs {\nnotify_fifo "+dir+"/fifo\nnotify_fifo_script "+reader+"\n}\n"+
		"vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 51\nvirtual_ipaddress {\n172.16.1.1\n}\n}\n")
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tbl, _ := prepareScripts(cfg, &d.scriptStats)
	d.scriptTable.Store(tbl)
	n := startNotifier(context.Background(), cfg, d.log, d.runFIFOScript)
	defer n.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.vrrpNotify("INSTANCE", "VI_1", vrrp.StateBackup, 90)
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "INSTANCE \"VI_1\" BACKUP 90\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the FIFO script wrote %q", b)
		}
		time.Sleep(50 * time.Millisecond) // the script starts in the background
	}
	done := make(chan struct{})
	go func() { n.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the notifier did not stop its FIFO script")
	}
}
