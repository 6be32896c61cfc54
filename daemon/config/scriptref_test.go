package config

import (
	"reflect"
	"testing"
)

// TestScriptRefs checks that every script keyword is recorded with its
// position, owner and user, which the script runner needs for located
// diagnostics and for running each script as its user.
func TestScriptRefs(t *testing.T) {
	conf := `global_defs {
 script_user nobody
}
vrrp_script chk {
  user nobody nogroup
  script "/bin/true arg"
}
vrrp_instance VI_1 {
  interface eth1
  virtual_router_id 1
  priority 100
  virtual_ipaddress {
    10.0.0.1/32
  }
  notify_master /bin/m.sh www-data
  notify "/bin/n.sh x" root :wheel
  track_script {
    chk
  }
}
vrrp_sync_group G {
  group {
    VI_1
  }
  notify_backup /bin/g.sh
}
virtual_server 10.0.0.1 80 {
  lb_kind DR
  protocol TCP
  lvs_sched rr
  quorum_up /bin/q.sh
  real_server 10.0.0.2 80 {
    notify_up /bin/u.sh nobody
    MISC_CHECK {
      misc_path "/bin/c.sh 1"
      user daemon
    }
  }
}
`
	cfg, diags, err := Parse("k.conf", []byte(conf), Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, diags)
	}
	want := []ScriptRef{
		{Pos: Position{File: "k.conf", Line: 6, Col: 3}, Keyword: "script", Owner: "vrrp_script chk", Command: "/bin/true arg", User: "nobody nogroup"},
		{Pos: Position{File: "k.conf", Line: 15, Col: 3}, Keyword: "notify_master", Owner: "vrrp_instance VI_1", Command: "/bin/m.sh", User: "www-data"},
		{Pos: Position{File: "k.conf", Line: 16, Col: 3}, Keyword: "notify", Owner: "vrrp_instance VI_1", Command: "/bin/n.sh x", User: "root :wheel"},
		{Pos: Position{File: "k.conf", Line: 25, Col: 3}, Keyword: "notify_backup", Owner: "vrrp_sync_group G", Command: "/bin/g.sh"},
		{Pos: Position{File: "k.conf", Line: 31, Col: 3}, Keyword: "quorum_up", Owner: "virtual_server 10.0.0.1 80", Command: "/bin/q.sh"},
		{Pos: Position{File: "k.conf", Line: 33, Col: 5}, Keyword: "notify_up", Owner: "real_server 10.0.0.2 80", Command: "/bin/u.sh", User: "nobody"},
		{Pos: Position{File: "k.conf", Line: 35, Col: 7}, Keyword: "misc_path", Owner: "MISC_CHECK of real_server 10.0.0.2", Command: "/bin/c.sh 1", User: "daemon"},
	}
	if !reflect.DeepEqual(cfg.ScriptRefs, want) {
		t.Errorf("ScriptRefs:\n got %+v\nwant %+v", cfg.ScriptRefs, want)
	}
	for _, d := range diags {
		t.Errorf("unexpected diagnostic %s", d)
	}
}
