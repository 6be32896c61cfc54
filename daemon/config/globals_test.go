package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseUmask(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
		err  string
	}{
		{"0077", 0o077, ""},
		{"077", 0o077, ""},
		{"63", 0o077, ""}, // decimal, as strtol base 0
		{"0x3f", 0o077, ""},
		{"0", 0, ""},
		{"IWGRP|IWOTH", 0o022, ""},
		{"IWGRP | IWOTH", 0o022, ""},
		{"IWGRP |IWOTH", 0o022, ""},
		{"IXUSR|IRWXG|IRWXO", 0o177, ""}, // keepalived's default
		{"IRWXU", 0o700, ""},
		{"01000", 0, "invalid value 01000"},
		{"-1", 0, "unknown bit"},
		{"0o77", 0, "invalid value"},
		{"077 022", 0, "extra parameter"},
		{"IWGRP IWOTH", 0, "invalid syntax"},
		{"IWGRP|", 0, "missing bit value"},
		{"IWGRPX", 0, "invalid syntax"},
		{"IWFOO", 0, "unknown bit"},
		{"", 0, "needs a value"},
	}
	for _, c := range cases {
		got, err := ParseUmask(strings.Fields(c.in))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseUmask(%q) = %#o, %v; want error containing %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseUmask(%q) = %#o, %v; want %#o", c.in, got, err, c.want)
		}
	}
}

func FuzzParseUmask(f *testing.F) {
	for _, s := range []string{"0077", "0x1ff", "IWGRP|IWOTH", "IRWXU | IRWXG", "|", "IRUS"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseUmask(strings.Fields(s))
		if err == nil && v&^0o777 != 0 {
			t.Fatalf("ParseUmask(%q) = %#o: not permission bits", s, v)
		}
	})
}

func TestDumpFile(t *testing.T) {
	cases := []struct {
		name, location, netns, id string
		useInstance               bool
		want                      string
	}{
		{"default", "", "", "", false, "/tmp/keepalived.data"},
		{"directory", "/run/ka/", "", "", false, "/run/ka/keepalived.data"},
		{"file", "/run/ka/state.txt", "", "", false, "/run/ka/state.txt"},
		{"relative name in tmp", "mine.data", "", "", false, "/tmp/mine.data"},
		{"instance ignored without data_use_instance", "", "ns1", "lb1", false, "/tmp/keepalived.data"},
		{"namespace and id", "", "ns1", "lb1", true, "/tmp/keepalived.ns1_lb1.data"},
		{"id only", "/run/ka/", "", "lb1", true, "/run/ka/keepalived.lb1.data"},
		{"namespace only, no extension", "/run/ka/state", "ns1", "", true, "/run/ka/state.ns1"},
		{"nothing to add", "", "", "", true, "/tmp/keepalived.data"},
		{"root directory", "/", "", "", false, "/keepalived.data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := HousekeepingDefs{DataUseInstance: c.useInstance}
			if got := h.DumpFile(c.location, DefaultStateFile, "/tmp", c.netns, c.id); got != c.want {
				t.Errorf("DumpFile(%q) = %q, want %q", c.location, got, c.want)
			}
		})
	}
}

func TestHousekeepingGlobals(t *testing.T) {
	conf := "global_defs {\n" +
		"startup_script \"/bin/echo up\" nobody :nogroup\nstartup_script_timeout 3\n" +
		"shutdown_script /bin/true\nshutdown_script_timeout 1000\n" +
		"umask IWGRP | IWOTH\nset_supplementary_groups\nno_email_faults\nrs_init_notifies\nfifo_write_vrrp_states_on_reload yes\n" +
		"vrrp_netlink_cmd_rcv_bufs 1048576\nvrrp_netlink_cmd_rcv_bufs_force\nvrrp_netlink_monitor_rcv_bufs 524288\nvrrp_netlink_monitor_rcv_bufs_force off\n" +
		"state_file_location /run/ka/\nstats_file_location /run/ka/s.txt\njson_file_location /run/ka/j.json\ndata_use_instance\njson_version 2\n" +
		"reload_check_config /var/log/ka-check.log\n}\n" + inst()
	cfg, ds, err := Parse("k.conf", []byte(conf), Options{})
	if err != nil || len(ds) > 0 {
		t.Fatalf("parse: %v\n%s", err, ds)
	}
	h := cfg.Global.Housekeeping
	if h.StartupScript != "/bin/echo up" || h.StartupScriptTimeout != 3*time.Second || h.ShutdownScript != "/bin/true" || h.ShutdownScriptTimeout != 1000*time.Second {
		t.Errorf("scripts %+v", h)
	}
	if h.Umask == nil || *h.Umask != 0o022 || !h.SetSupplementaryGroups || !h.NoEmailFaults || !h.RSInitNotifies || !h.FIFOWriteVRRPStatesOnReload {
		t.Errorf("flags %+v", h)
	}
	if h.VRRPNetlinkCmd != (RcvBuf{1 << 20, true}) || h.VRRPNetlinkMonitor != (RcvBuf{512 << 10, false}) {
		t.Errorf("netlink %+v %+v", h.VRRPNetlinkCmd, h.VRRPNetlinkMonitor)
	}
	if h.StateFile != "/run/ka/" || h.StatsFile != "/run/ka/s.txt" || h.JSONFile != "/run/ka/j.json" || !h.DataUseInstance || h.JSONVersion != 2 {
		t.Errorf("dumps %+v", h)
	}
	if !h.ReloadCheckConfig || h.ReloadCheckConfigLog != "/var/log/ka-check.log" {
		t.Errorf("reload_check_config %+v", h)
	}
	var refs []string
	for _, r := range cfg.ScriptRefs {
		refs = append(refs, r.Keyword+"|"+r.Command+"|"+r.User)
	}
	if got := strings.Join(refs, ","); got != "startup_script|/bin/echo up|nobody :nogroup,shutdown_script|/bin/true|" {
		t.Errorf("script refs %s", got)
	}

	cfg, _, _ = Parse("k.conf", []byte(inst()), Options{})
	if d := cfg.Global.Housekeeping; d.StartupScriptTimeout != 10*time.Second || d.ShutdownScriptTimeout != 10*time.Second || d.JSONVersion != 1 || d.Umask != nil {
		t.Errorf("defaults %+v", d)
	}
}

func TestHousekeepingGlobalDiagnostics(t *testing.T) {
	g := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" + inst() }
	cases := []struct{ name, conf, want string }{
		{"timeout range", g("startup_script_timeout 0"), "2:24: error: startup_script_timeout 0 is out of range: must be 1..1000"},
		{"timeout range high", g("shutdown_script_timeout 1001"), "2:25: error: shutdown_script_timeout 1001 is out of range"},
		{"umask bits", g("umask 0777777"), "2:7: error: umask: invalid value 0777777"},
		{"umask name", g("umask IWGRP|IWOTX"), `2:7: error: umask: unknown bit "IWOTX"`},
		{"umask missing", g("umask"), "2:7: error: umask needs a value"},
		{"script missing", g("startup_script"), "2:16: error: startup_script needs a script"},
		{"json version", g("json_version 3"), "2:14: error: json_version 3 is out of range: must be 1..2"},
		{"relative dir", g("state_file_location run/"), `2:21: error: state_file_location "run/": a directory needs an absolute path`},
		{"relative log", g("reload_check_config check.log"), `2:21: error: reload_check_config "check.log": the log file needs an absolute path`},
		{"rcv bufs", g("vrrp_netlink_cmd_rcv_bufs lots"), `2:27: error: vrrp_netlink_cmd_rcv_bufs: "lots" is not a whole number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, ds, _ := Parse("k.conf", []byte(c.conf), Options{})
			for _, d := range ds {
				if strings.HasPrefix(d.String(), "k.conf:"+c.want) {
					return
				}
			}
			t.Errorf("want %q, got:\n%s", c.want, ds)
		})
	}
}

func TestDeprecatedMiscUserAndSyncDaemonInterface(t *testing.T) {
	conf := inst() + "virtual_server 10.0.0.1 80 {\nreal_server 10.0.0.2 80 {\nMISC_CHECK {\nmisc_path /bin/true\nmisc_user nobody\n}\n}\n}\n"
	cfg, ds, _ := Parse("k.conf", []byte(conf), Options{})
	if !strings.Contains(ds.String(), "misc_user is deprecated (keepalived 2 reads only user): read as user") {
		t.Errorf("no deprecation warning:\n%s", ds)
	}
	if len(cfg.ScriptRefs) != 1 || cfg.ScriptRefs[0].User != "nobody" {
		t.Errorf("misc_user not read as user: %+v", cfg.ScriptRefs)
	}

	withIface := strings.Replace(inst(), "{\n", "{\nlvs_sync_daemon_interface eth7\n", 1)
	cfg, ds, _ = Parse("k.conf", []byte("global_defs {\ndrlb_dataplane ipvs\n}\n"+withIface), Options{})
	if !strings.Contains(ds.String(), "specifying lvs_sync_daemon_interface against a vrrp is deprecated: please use global lvs_sync_daemon eth7 VI") {
		t.Errorf("no deprecation warning:\n%s", ds)
	}
	if sd := cfg.Global.LVS.SyncDaemon; sd == nil || sd.Interface != "eth7" || sd.Instance != "VI" {
		t.Fatalf("sync daemon %+v", sd)
	}
	cfg, ds, _ = Parse("k.conf", []byte("global_defs {\ndrlb_dataplane ipvs\nlvs_sync_daemon eth1 VI\n}\n"+withIface), Options{})
	if sd := cfg.Global.LVS.SyncDaemon; sd == nil || sd.Interface != "eth1" || !strings.Contains(ds.String(), "already been specified as eth1 - ignoring") {
		t.Errorf("global lvs_sync_daemon must win: %+v\n%s", sd, ds)
	}
}

func TestNFTablesGlobals(t *testing.T) {
	g := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" + inst() }
	cfg, ds, _ := Parse("k.conf", []byte(g("nftables ka_1", "nftables_priority -5", "nftables_counters")), Options{})
	if h := cfg.Global.Housekeeping; len(ds) > 0 || h.NFTTable != "ka_1" || h.NFTPriority == nil || *h.NFTPriority != -5 || !h.NFTCounters {
		t.Errorf("%+v\n%s", h, ds)
	}
	cfg, _, _ = Parse("k.conf", []byte(g("nftables")), Options{})
	if h := cfg.Global.Housekeeping; h.NFTTable != "keepalived" || h.NFTPriority != nil || h.NFTCounters {
		t.Errorf("nftables alone: keepalived's default name, got %+v", h)
	}
	cfg, _, _ = Parse("k.conf", []byte(inst()), Options{})
	if h := cfg.Global.Housekeeping; h.NFTTable != "" {
		t.Errorf("without the keyword drlb's own table, got %q", h.NFTTable)
	}
	_, ds, _ = Parse("k.conf", []byte(g("nftables 1abc")), Options{})
	if !strings.Contains(ds.String(), `k.conf:2:10: error: nftables "1abc": a table name is a letter`) {
		t.Errorf("bad name:\n%s", ds)
	}
}

func TestReloadFile(t *testing.T) {
	g := func(lines ...string) string { return "global_defs {\n" + strings.Join(lines, "\n") + "\n}\n" + inst() }
	for conf, want := range map[string]string{"reload_file /run/ka.reload": "/run/ka.reload", "reload_file": DefaultReloadFile, "": ""} {
		cfg, ds, _ := Parse("k.conf", []byte(g(conf)), Options{})
		if got := cfg.Global.Housekeeping.ReloadFile; got != want || len(ds) > 0 {
			t.Errorf("%q: %q, want %q\n%s", conf, got, want, ds)
		}
	}
	if _, ds, _ := Parse("k.conf", []byte(g("reload_file ka.reload")), Options{}); !strings.Contains(ds.String(), `k.conf:2:13: error: reload_file "ka.reload": needs an absolute path`) {
		t.Errorf("relative path:\n%s", ds)
	}
	cfg, ds, _ := Parse("k.conf", []byte(g("reload_file /run/a /run/b")), Options{})
	if cfg.Global.Housekeeping.ReloadFile != "/run/a" || !strings.Contains(ds.String(), `k.conf:2:20: warning: reload_file takes one value; extra "/run/b" ignored`) {
		t.Errorf("extra value: %q\n%s", cfg.Global.Housekeeping.ReloadFile, ds)
	}
}

// TestRandomSeed: random_seed makes the ${_RANDOM} expansions after it
// repeatable (the same seed gives the same file), and only those after it.
func TestRandomSeed(t *testing.T) {
	conf := func(seed string) string {
		return "global_defs {\nrouter_id before_${_RANDOM}\n" + seed + "\nvrrp_garp_master_repeat ${_RANDOM 1 255}\n}\n" +
			"vrrp_instance VI {\ninterface eth0\nvirtual_router_id ${_RANDOM 1 255}\npriority ${_RANDOM 1 254}\nvirtual_ipaddress {\n10.0.0.1\n}\n}\n"
	}
	draw := func(seed string) string {
		cfg, ds, err := Parse("k.conf", []byte(conf(seed)), Options{})
		if err != nil || ds.HasErrors() {
			t.Fatalf("%v\n%s", err, ds)
		}
		return fmt.Sprintf("%d %d %d", cfg.Global.VRRPGarp.MasterRepeat, cfg.Instances[0].VirtualRouterID, cfg.Instances[0].Priority)
	}
	a, b, c := draw("random_seed 42"), draw("random_seed 42"), draw("random_seed 43")
	if a != b {
		t.Errorf("seed 42 twice: %q and %q", a, b)
	}
	if a == c {
		t.Errorf("seeds 42 and 43 draw the same %q", a)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[draw("")] = true
	}
	if len(seen) == 1 {
		t.Errorf("without random_seed four files drew the same %v", seen)
	}
	_, ds, _ := Parse("k.conf", []byte(conf("random_seed -1")), Options{})
	if !strings.Contains(ds.String(), `k.conf:3:13: error: random_seed "-1": want an unsigned number`) {
		t.Errorf("bad seed:\n%s", ds)
	}
}
