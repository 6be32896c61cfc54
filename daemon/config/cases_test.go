package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParityCases: golden diagnostics for the inputs of the issue
// "keepalived.conf parity" (copied from the fault-finding cases; the
// notify.sh paths are placeholders). Each golden file ends with the
// verdict drlb check gives. Absolute paths (from ${_PWD}) are written
// relative to testdata/cases.
func TestParityCases(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/cases/include-pwd/keepalived.conf")
	if len(files) < 10 {
		t.Fatalf("cases missing: %v", files)
	}
	abs, err := filepath.Abs("testdata/cases")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, ds, err := Load(f, Options{ConfigID: "lb1"})
			if cfg == nil {
				t.Fatalf("no config: %v", err)
			}
			var b strings.Builder
			b.WriteString(strings.ReplaceAll(ds.String(), abs+"/", "testdata/cases/"))
			verdict := "usable"
			if err != nil {
				verdict = "not usable"
			}
			fmt.Fprintf(&b, "# %s: %d error(s), %d warning(s); %d vrrp_instance, %d virtual_server\n",
				verdict, len(ds.Errors()), len(ds.Warnings()), len(cfg.Instances), len(cfg.VirtualServers))
			golden := strings.TrimSuffix(f, ".conf") + ".diag"
			checkGolden(t, golden, []byte(b.String()))
		})
	}
}

// TestParityCaseVerdicts states what each case must show, so that a golden
// file rewritten by mistake cannot hide a regression.
func TestParityCaseVerdicts(t *testing.T) {
	for _, tc := range []struct {
		file      string
		usable    bool
		instances int
		mustHave  string // a substring of the diagnostics ("" for none)
		mustNot   string
	}{
		{"check-ok-run-fails-auth-ah.conf", false, 1, "check-ok-run-fails-auth-ah.conf:5:15: error: auth_type AH is not supported yet", ""},
		{"vs-without-port.conf", true, 0, "", "error"},
		{"track-reverse-dropped.conf", true, 1, "", "reverse"},
		// auth_hmac without active_key: keepalived disables the extension
		// with a configuration error, which makes keepalived -t fail too.
		{"documented-keywords-called-unknown.conf", false, 1, "auth_hmac needs an active_key", "unknown keyword"},
		{"include-pwd/keepalived.conf", true, 2, "", "matches no file"},
	} {
		cfg, ds, err := Load(filepath.Join("testdata/cases", tc.file), Options{ConfigID: "lb1"})
		if (err == nil) != tc.usable {
			t.Errorf("%s: usable=%v, err %v", tc.file, err == nil, err)
		}
		if cfg == nil || len(cfg.Instances) != tc.instances {
			t.Errorf("%s: want %d instances", tc.file, tc.instances)
		}
		s := ds.String()
		if tc.mustHave != "" && !strings.Contains(s, tc.mustHave) {
			t.Errorf("%s: diagnostics lack %q:\n%s", tc.file, tc.mustHave, s)
		}
		if tc.mustNot != "" && strings.Contains(s, tc.mustNot) {
			t.Errorf("%s: diagnostics must not say %q:\n%s", tc.file, tc.mustNot, s)
		}
	}
	// keepalived's "virtual_server IP {": a persistent service on port 0.
	cfg, _, err := Load("testdata/cases/vs-without-port.conf", Options{})
	if err != nil || cfg.VirtualServers[0].Port != 0 || cfg.VirtualServers[0].PersistenceTimeout != 60*time.Second ||
		cfg.VirtualServers[0].RealServers[0].Checkers[0].ConnectPort != 80 {
		t.Errorf("vs-without-port: %v %+v", err, cfg)
	}
	// Run's data plane accepts it only with IPVS: with nftables it is refused, at its position.
	data, err := os.ReadFile("testdata/cases/vs-without-port.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, ds, _ := Parse("vs.conf", append([]byte("global_defs {\n drlb_dataplane nft\n}\n"), data...), Options{})
	assertDiags(t, ds, []want{"4:1: error: virtual_server 172.16.1.1:0: a service without a port needs IPVS"})
}
