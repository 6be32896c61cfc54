package config

import (
	"bytes"
	"strings"
	"testing"
)

// parseOne parses conf and returns its first checker with the diagnostics.
func parseOne(t *testing.T, conf string) (*Config, Checker, string) {
	t.Helper()
	cfg, ds, _ := Parse("k.conf", []byte(conf), Options{})
	var msgs []string
	for _, d := range ds {
		msgs = append(msgs, d.String())
	}
	var c Checker
	if cfg != nil && len(cfg.VirtualServers) > 0 && len(cfg.VirtualServers[0].RealServers) > 0 && len(cfg.VirtualServers[0].RealServers[0].Checkers) > 0 {
		c = cfg.VirtualServers[0].RealServers[0].Checkers[0]
	}
	return cfg, c, strings.Join(msgs, "\n")
}

func TestParityIICheckers(t *testing.T) {
	t.Run("DNS_CHECK defaults", func(t *testing.T) {
		_, c, d := parseOne(t, vsrv("delay_loop 7", "real_server 10.0.0.2 53 {", "DNS_CHECK {", "}", "}"))
		if c.Kind != CheckDNS || c.DNSType != "SOA" || c.DNSName != "." || c.Retry != 3 || c.DelayBeforeRetry != c.DelayLoop || c.DelayLoop.Seconds() != 7 {
			t.Fatalf("checker = %+v (%s), want SOA of . with retry 3 and delay_before_retry = delay_loop", c, d)
		}
	})
	t.Run("DNS_CHECK type and name", func(t *testing.T) {
		_, c, _ := parseOne(t, vsrv("real_server 10.0.0.2 53 {", "DNS_CHECK {", "type aaaa", "name www.example", "}", "}"))
		if c.DNSType != "AAAA" || c.DNSName != "www.example" {
			t.Fatalf("checker = %+v", c)
		}
		_, _, d := parseOne(t, vsrv("real_server 10.0.0.2 53 {", "DNS_CHECK {", "type SRV", "}", "}"))
		if !strings.Contains(d, "4:6: error: DNS_CHECK type \"SRV\"") {
			t.Fatalf("diagnostics = %s, want a located error for SRV", d)
		}
	})
	t.Run("UDP_CHECK hex strings", func(t *testing.T) {
		_, c, d := parseOne(t, vsrv("real_server 10.0.0.2 53 {", "UDP_CHECK {", "payload Ab12f 3 456 546443123", "require_reply a1x2", "min_reply_length 2", "}", "}"))
		want := []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}
		if !bytes.Equal(c.UDPPayload, want) || !c.UDPRequireReply || !bytes.Equal(c.UDPReply, []byte{0xa1, 0x02}) ||
			!bytes.Equal(c.UDPReplyMask, []byte{0xff, 0x0f}) || c.UDPMinReplyLength != 2 || c.UDPMaxReplyLength != 255 {
			t.Fatalf("checker = %+v (%s)", c, d)
		}
		_, _, d = parseOne(t, vsrv("real_server 10.0.0.2 53 {", "UDP_CHECK {", "payload 12zz", "}", "}"))
		if !strings.Contains(d, "4:9: error: payload: \"12zz\" is not a hex string") {
			t.Fatalf("diagnostics = %s", d)
		}
	})
	t.Run("SMTP_CHECK helo_name", func(t *testing.T) {
		_, c, _ := parseOne(t, vsrv("real_server 10.0.0.2 25 {", "SMTP_CHECK {", "helo_name lb1.example", "}", "}"))
		if c.HeloName != "lb1.example" {
			t.Fatalf("checker = %+v", c)
		}
		_, c, _ = parseOne(t, vsrv("real_server 10.0.0.2 25 {", "SMTP_CHECK {", "}", "}"))
		if c.HeloName != "localhost" {
			t.Fatalf("default helo_name = %q", c.HeloName)
		}
	})
	t.Run("PING_CHECK needs no port", func(t *testing.T) {
		_, c, d := parseOne(t, "virtual_server fwmark 1 {\nreal_server 10.0.0.2 {\nPING_CHECK {\n}\n}\n}\n")
		if c.Kind != CheckPing || strings.Contains(d, "error") {
			t.Fatalf("checker = %+v, diagnostics %s", c, d)
		}
	})
	t.Run("common options and alpha", func(t *testing.T) {
		_, c, d := parseOne(t, vsrv("real_server 10.0.0.2 80 {", "alpha", "TCP_CHECK {", "bind_if eth1", "fwmark 7", "}", "}"))
		if c.BindIf != "eth1" || c.FWMark != 7 || c.AlphaSet {
			t.Fatalf("checker = %+v (%s)", c, d)
		}
		cfg, _, _ := parseOne(t, vsrv("real_server 10.0.0.2 80 {", "alpha", "TCP_CHECK {", "}", "}"))
		if a := cfg.VirtualServers[0].RealServers[0].Alpha; a == nil || !*a {
			t.Fatal("real_server alpha not recorded")
		}
	})
	t.Run("HTTP options and regex", func(t *testing.T) {
		_, c, d := parseOne(t, vsrv("real_server 10.0.0.2 443 {", "SSL_GET {", "http_protocol 1.0C", "fast_recovery", "enable_sni", "sni_name www.example",
			"tls_compliant", "url {", "path /", "regex \"^ok [0-9]+$\"", "regex_no_match", "}", "}", "}"))
		if c.HTTPProtocol != "1.0C" || !c.FastRecovery || !c.EnableSNI || c.SNIName != "www.example" || !c.TLSCompliant ||
			c.URLs[0].Regex != "^ok [0-9]+$" || !c.URLs[0].RegexNoMatch || strings.Contains(d, "error") {
			t.Fatalf("checker = %+v (%s)", c, d)
		}
		_, _, d = parseOne(t, vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "path /", "regex \"(?<=a)b\"", "}", "}", "}"))
		if !strings.Contains(d, "6:7: error: regex \"(?<=a)b\" cannot be compiled by Go's RE2") {
			t.Fatalf("diagnostics = %s, want a located RE2 error", d)
		}
		_, _, d = parseOne(t, vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "http_protocol 2", "url {", "path /", "}", "}", "}"))
		if !strings.Contains(d, "4:15: error: http_protocol \"2\"") {
			t.Fatalf("diagnostics = %s", d)
		}
	})
}

func TestTrackFilesAndSSL(t *testing.T) {
	conf := "SSL {\nca /etc/ca.pem\ncertificate /etc/c.pem\nkey /etc/k.pem\npassword secret\n}\n" +
		"track_file tf1 {\nfile /run/tf1\nweight -3 reverse\ninit_file 5 overwrite\n}\n" +
		"vrrp_track_file tf2 {\nfile /run/tf2\n}\n" +
		inst("track_file {", "tf1 weight 10", "nosuch", "}") +
		"vrrp_sync_group G {\ngroup {\nVI\n}\ntrack_file {\ntf2\n}\ntrack_interface {\neth9 weight 5\n}\nsync_group_tracking_weight\n}\n" +
		vsrv("real_server 10.0.0.2 80 {", "FILE_CHECK {", "track_file tf1", "weight 2 reverse", "dynamic", "}", "}")
	cfg, ds, err := Parse("k.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, ds)
	}
	if s := cfg.SSL; s == nil || s.CA != "/etc/ca.pem" || s.Certificate != "/etc/c.pem" || s.Key != "/etc/k.pem" || s.Password != "secret" {
		t.Errorf("SSL = %+v", cfg.SSL)
	}
	if len(cfg.TrackFiles) != 2 {
		t.Fatalf("track files = %+v", cfg.TrackFiles)
	}
	tf := cfg.TrackFiles[0]
	if tf.File != "/run/tf1" || tf.Weight != -3 || !tf.Reverse || !tf.InitFile || tf.InitValue != 5 || !tf.InitOverwrite || cfg.TrackFiles[1].Weight != 1 {
		t.Errorf("track_file = %+v, %+v", tf, cfg.TrackFiles[1])
	}
	in := cfg.Instances[0]
	if len(in.TrackFiles) != 1 || in.TrackFiles[0].Name != "tf1" || in.TrackFiles[0].Weight != 10 || !in.TrackFiles[0].WeightSet {
		t.Errorf("instance track_file = %+v", in.TrackFiles)
	}
	g := cfg.SyncGroups[0]
	if len(g.TrackFiles) != 1 || len(g.TrackInterfaces) != 1 || g.TrackInterfaces[0].Weight != 5 || !g.TrackingWeight {
		t.Errorf("group = %+v", g)
	}
	c := cfg.VirtualServers[0].RealServers[0].Checkers[0]
	if c.TrackFile != "tf1" || c.FileWeight != 2 || !c.FileReverse || !c.FileDynamic {
		t.Errorf("FILE_CHECK = %+v", c)
	}
	text := ds.String()
	for _, w := range []string{"vrrp_track_file is deprecated", `track_file "nosuch": no track_file block has that name`} {
		if !strings.Contains(text, w) {
			t.Errorf("diagnostics lack %q:\n%s", w, text)
		}
	}
	_, ds, _ = Parse("k.conf", []byte(vsrv("real_server 10.0.0.2 80 {", "FILE_CHECK {", "track_file tf9", "}", "}")), Options{})
	if !strings.Contains(ds.String(), "4:12: error: FILE_CHECK track_file \"tf9\": no track_file block has that name") {
		t.Errorf("diagnostics = %s, want a located error", ds)
	}
}

func TestTrackProcess(t *testing.T) {
	conf := "vrrp_track_process haproxy {\nprocess /usr/sbin/haproxy -f \"/etc/haproxy/a b.cfg\"\nparam_match initial\nweight -20 reverse\nquorum 2\nquorum_max 4\ndelay 1.5\nfull_command\n}\n" +
		"vrrp_track_process bad {\nprocess x\nquorum 3\nquorum_max 1\n}\n" +
		inst("track_process {", "haproxy weight 5", "nope", "}")
	cfg, ds, _ := Parse("k.conf", []byte(conf), Options{})
	if cfg == nil || len(cfg.TrackProcesses) != 2 {
		t.Fatalf("parse: %v", ds)
	}
	tp := cfg.TrackProcesses[0]
	if tp.Process != "/usr/sbin/haproxy" || len(tp.Params) != 2 || tp.Params[1] != "/etc/haproxy/a b.cfg" || tp.ParamMatch != "initial" ||
		tp.Weight != -20 || !tp.Reverse || tp.Quorum != 2 || tp.QuorumMax != 4 || tp.ForkDelay.Seconds() != 1.5 ||
		tp.TerminateDelay != tp.ForkDelay || !tp.FullCommand {
		t.Errorf("vrrp_track_process = %+v", tp)
	}
	if d := cfg.TrackProcesses[1]; d.Weight != 1 || d.QuorumMax != 1 {
		t.Errorf("defaults: %+v", d)
	}
	in := cfg.Instances[0]
	if len(in.TrackProcesses) != 1 || in.TrackProcesses[0].Weight != 5 {
		t.Errorf("instance track_process = %+v", in.TrackProcesses)
	}
	text := ds.String()
	for _, w := range []string{"vrrp_track_process bad: quorum_max 1 is below quorum 3", `track_process "nope": no vrrp_track_process has that name`} {
		if !strings.Contains(text, w) {
			t.Errorf("diagnostics lack %q:\n%s", w, text)
		}
	}
}

func TestThresholds(t *testing.T) {
	cfg, _, d := parseOne(t, vsrv("real_server 10.0.0.2 80 {", "uthreshold 100", "lthreshold 10", "TCP_CHECK {", "}", "}"))
	if rs := cfg.VirtualServers[0].RealServers[0]; rs.UThreshold != 100 || rs.LThreshold != 10 {
		t.Fatalf("real server = %+v (%s)", rs, d)
	}
}

func TestRegexOptions(t *testing.T) {
	_, c, d := parseOne(t, vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "path /", "regex ok", "regex_options caseless dotall no_start_optimize caseless",
		"regex_min_offset 4", "regex_max_offset 0", "regex_stack 32768 65536", "}", "}", "}"))
	u := c.URLs[0]
	if u.RegexFlags != "is" || u.RegexMinOffset != 4 || u.RegexMaxOffset == nil || *u.RegexMaxOffset != 0 || strings.Contains(d, "error") {
		t.Fatalf("url = %+v (%s)", u, d)
	}
	_, _, d = parseOne(t, vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", "path /", "regex ok", "regex_options extended", "}", "}", "}"))
	if !strings.Contains(d, "7:15: error: regex_options extended: Go's RE2 has no such option") {
		t.Fatalf("diagnostics = %s", d)
	}
}
