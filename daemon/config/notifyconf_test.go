package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNotifyAndLVSGlobals(t *testing.T) {
	conf := "global_defs {\n" +
		"notify_fifo /run/ka/fifo\nnotify_fifo_script /usr/bin/reader\n" +
		"vrrp_notify_fifo /run/ka/vrrp\nlvs_notify_fifo /run/ka/lvs\n" +
		"notification_email {\nops@example.com\npager@example.com\n}\nnotification_email_from lb@example.com\n" +
		"smtp_server 127.0.0.1 2525\nsmtp_helo_name lb1.example\nsmtp_connect_timeout 7\nsmtp_alert\nsmtp_alert_checker false\n" +
		"lvs_timeouts tcp 900 tcpfin 30 udp 60\nlvs_flush\nlvs_flush_on_stop VS\n" +
		"lvs_sync_daemon eth1 VI id 7 maxlen 1400 port 8848 ttl 2 group 224.0.0.81\n}\n" + inst()
	cfg, ds, err := Parse("k.conf", []byte(conf), Options{})
	if err != nil || ds.HasErrors() || len(ds) > 0 {
		t.Fatalf("parse: %v\n%s", err, ds)
	}
	n, l := cfg.Global.Notify, cfg.Global.LVS
	if n.FIFO != (FIFOConf{"/run/ka/fifo", "/usr/bin/reader"}) || n.VRRPFIFO.Path != "/run/ka/vrrp" || n.LVSFIFO.Path != "/run/ka/lvs" {
		t.Errorf("fifos %+v", n)
	}
	if strings.Join(n.Email, ",") != "ops@example.com,pager@example.com" || n.EmailFrom != "lb@example.com" ||
		n.SMTPServer != "127.0.0.1:2525" || n.SMTPHelo != "lb1.example" || n.SMTPTimeout != 7*time.Second {
		t.Errorf("mail %+v", n)
	}
	if !n.AlertVRRP(nil) || n.AlertChecker(nil) || !n.AlertChecker(new(true)) {
		t.Errorf("smtp_alert precedence: vrrp %v checker %v", n.AlertVRRP(nil), n.AlertChecker(nil))
	}
	if l.Timeouts != (LVSTimeouts{900 * time.Second, 30 * time.Second, 60 * time.Second}) || !l.Flush || l.FlushOnStop != "VS" {
		t.Errorf("lvs %+v", l)
	}
	want := SyncDaemon{Pos: l.SyncDaemon.Pos, Interface: "eth1", Instance: "VI", SyncID: 7, MaxLen: 1400, Port: 8848, TTL: 2, Group: netip.MustParseAddr("224.0.0.81")}
	if *l.SyncDaemon != want {
		t.Errorf("sync daemon %+v, want %+v", *l.SyncDaemon, want)
	}
}

func TestNotifyAndLVSGlobalDiagnostics(t *testing.T) {
	g := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" + inst() }
	cases := []struct{ name, conf, want string }{
		{"relative fifo", g("notify_fifo fifo"), `2:13: error: notify_fifo "fifo": the FIFO needs an absolute path`},
		{"fifo owner", g("notify_fifo /run/f root"), `2:20: warning: notify_fifo: the FIFO's owner ("root") is not supported yet`},
		{"smtp port", g("smtp_server 10.0.0.1 0"), "2:22: error: smtp_server port 0 is out of range"},
		{"timeouts key", g("lvs_timeouts tcp 5 fin 3"), `2:20: error: lvs_timeouts: unexpected "fin"`},
		{"timeouts value", g("lvs_timeouts udp"), "2:14: error: lvs_timeouts udp needs a number of seconds"},
		{"flush on stop", g("lvs_flush_on_stop ALL"), `2:19: error: lvs_flush_on_stop "ALL": must be VS or FULL`},
		{"sync daemon short", g("lvs_sync_daemon eth1"), "2:17: error: lvs_sync_daemon needs INTERFACE VRRP_INSTANCE"},
		{"sync daemon instance", g("lvs_sync_daemon eth1 VJ"), `2:1: error: lvs_sync_daemon: vrrp_instance "VJ" does not exist; did you mean "VI"?`},
		{"sync daemon group", g("lvs_sync_daemon eth1 VI group 10.0.0.1"), "2:31: error: lvs_sync_daemon group 10.0.0.1 is not a multicast address"},
		{"sync daemon id", g("lvs_sync_daemon eth1 VI id 256"), "2:28: error: lvs_sync_daemon id 256 is out of range"},
		{"udp timeout on nft", g("drlb_dataplane nft", "lvs_timeouts tcp 900 udp 30"), "3:1: warning: lvs_timeouts tcpfin and udp are IPVS's; the nftables data plane has one idle timeout"},
		{"smtp_alert without a server", g("smtp_alert"), "1:1: warning: smtp_alert is set but global_defs has no smtp_server and notification_email: no e-mail is sent"},
		{"sync daemon on nft", g("drlb_dataplane nft", "lvs_sync_daemon eth1 VI"), "3:1: error: lvs_sync_daemon needs IPVS: the kernel's sync daemon copies IPVS connection entries, and the nftables data plane has none (drlb_dataplane nft)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ds, _ := Parse("k.conf", []byte(c.conf), Options{})
			var all []string
			for _, d := range ds {
				all = append(all, d.String())
				if strings.HasPrefix(d.String(), "k.conf:"+c.want) {
					return
				}
			}
			t.Errorf("want %q, got:\n%s", c.want, strings.Join(all, "\n"))
		})
	}
}

func TestSyncDaemonOnNFTNamesTheAlternatives(t *testing.T) {
	conf := "global_defs {\ndrlb_dataplane auto\nlvs_sync_daemon eth1 VI\n}\n" + inst()
	_, ds, _ := Parse("k.conf", []byte(conf), Options{IPVSAvailable: func() bool { return false }})
	if !ds.HasErrors() || !strings.Contains(ds.String(), "lvs_sched mh or sh") || !strings.Contains(ds.String(), "drlb_dataplane ipvs") {
		t.Fatalf("want a located refusal naming Maglev and IPVS, got:\n%s", ds)
	}
	_, ds, _ = Parse("k.conf", []byte(conf), Options{IPVSAvailable: func() bool { return true }})
	if ds.HasErrors() {
		t.Fatalf("with IPVS: %s", ds)
	}
}

func TestSyncDaemonInterfaceHostCheck(t *testing.T) {
	conf := "global_defs {\nlvs_sync_daemon eth9 VI\n}\n" + inst()
	opts := Options{HostChecks: true, InterfaceExists: func(name string) bool { return name == "eth0" }}
	_, ds, _ := Parse("k.conf", []byte(conf), opts)
	if !strings.Contains(ds.String(), "k.conf:2:1: warning: lvs_sync_daemon: interface eth9 does not exist on this host") {
		t.Fatalf("want a warning at the keyword, got:\n%s", ds)
	}
}
