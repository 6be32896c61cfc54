package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
	"github.com/drlb/drlb/daemon/dataplane/ipvs"
)

const checkTestdata = "../../daemon/config/testdata/"

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cmdCheck(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckSeedHasErrors(t *testing.T) {
	code, out, errOut := runCheck(t, "-f", checkTestdata+"seed.conf")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout should be empty on errors, got %q", out)
	}
	for _, s := range []string{
		"seed.conf:12:22: error: virtual_router_id 500 is out of range",
		`seed.conf:27:7: warning: unknown keyword "persistense_timeout" in virtual_server; did you mean "persistence_timeout"?`,
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
}

func TestCheckFixedIsUsable(t *testing.T) {
	code, out, errOut := runCheck(t, "-f", checkTestdata+"seed-fixed.conf", "--config-id", "lb1")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(out, "usable, 3 warning(s)") || strings.Count(errOut, "warning:") != 3 {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

func TestCheckDump(t *testing.T) {
	code, out, errOut := runCheck(t, "--dump", "-f", checkTestdata+"seed-fixed.conf")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	var doc struct {
		VirtualServers []struct {
			LbKind      string `json:"lb_kind"`
			DelayLoop   string `json:"delay_loop"`
			RealServers []struct {
				Checkers []struct {
					ConnectTimeout string `json:"connect_timeout"`
				} `json:"checkers"`
			} `json:"real_servers"`
		} `json:"virtual_servers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("dump is not JSON: %v\n%s", err, out)
	}
	vs := doc.VirtualServers[0]
	if vs.LbKind != "DR" || vs.DelayLoop != "1s" || len(vs.RealServers) != 2 || vs.RealServers[0].Checkers[0].ConnectTimeout != "1s" {
		t.Errorf("dump: %+v", doc)
	}
	// With errors the dump is still printed, and the exit code says unusable.
	code, out, _ = runCheck(t, "--dump", "-f", checkTestdata+"seed.conf")
	if code != 1 || !json.Valid([]byte(out)) {
		t.Errorf("dump of an unusable file: exit %d, valid JSON %v", code, json.Valid([]byte(out)))
	}
}

func TestCheckHostChecks(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "k.conf")
	body := "vrrp_instance V {\n interface drlbnosuchif0\n virtual_router_id 5\n virtual_ipaddress {\n  10.9.9.9\n }\n}\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCheck(t, "-f", conf); code != 0 {
		t.Fatalf("without --host-checks: exit %d\n%s", code, errOut)
	}
	code, _, errOut := runCheck(t, "-f", conf, "--host-checks")
	if code != 1 || !strings.Contains(errOut, "k.conf:2:12: error: interface drlbnosuchif0 (vrrp_instance V) does not exist on this host") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// TestCheckHostChecksDataplane: with --host-checks on a kernel without
// IPVS (drlb_dataplane auto then uses nftables), a NAT service is refused
// at its position, as run's data plane would refuse the table.
func TestCheckHostChecksDataplane(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "k.conf")
	body := "virtual_server 10.9.9.9 80 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server 10.9.9.10 80 {\n  TCP_CHECK {\n  }\n }\n}\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCheck(t, "-f", conf, "--host-checks")
	if ipvs.Available(dataplane.Options{}) == nil {
		if code != 0 {
			t.Errorf("this kernel has IPVS, which does NAT: exit %d\n%s", code, errOut)
		}
		return
	}
	if code != 1 || !strings.Contains(errOut, "k.conf:1:1: error: virtual_server 10.9.9.9:80: lvs_method NAT needs IPVS") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

func TestCheckEmptyFileWarns(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(conf, []byte("\x00\x00\x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCheck(t, "-f", conf)
	if code != 0 || !strings.Contains(out, "usable, 2 warning(s)") ||
		!strings.Contains(errOut, "k.conf:1:1: warning: the file has no directives") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}

func TestCheckArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"extra.conf"}, 2, "unexpected argument"},
		{[]string{"-h"}, 0, "/etc/drlb/keepalived.conf"},
		{[]string{"-f", filepath.Join(os.TempDir(), "drlb-no-such-file.conf")}, 1, "no such file"},
	} {
		// --help goes to stdout (GNU), diagnostics to stderr.
		code, out, errOut := runCheck(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.msg) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
}
