package config

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testHMACHex = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestAuthHMACParse(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vrrp51")
	if err := os.WriteFile(keyFile, []byte(testHMACHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ds, err := Parse("t.conf", []byte(inst("version 3", "auth_hmac {",
		"key 1 "+testHMACHex,
		"key 2 file:"+keyFile,
		"key 3 an-ascii-passphrase-of-32-bytes+",
		"active_key 2", "anti_replay monotonic", "time_window 7", "mode permissive", "}")), Options{})
	if err != nil {
		t.Fatalf("Parse: %v\n%v", err, ds)
	}
	assertDiags(t, ds, nil)
	a := cfg.Instances[0].AuthHMAC
	if a == nil || len(a.Keys) != 3 || a.ActiveKey != 2 || a.AntiReplay != HMACReplayMonotonic || a.TimeWindow != 7*time.Second || a.Mode != HMACModePermissive {
		t.Fatalf("auth_hmac = %+v", a)
	}
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(i)
	}
	if !bytes.Equal(a.Keys[0].Key, want) || !bytes.Equal(a.Keys[1].Key, want) || string(a.Keys[2].Key) != "an-ascii-passphrase-of-32-bytes+" {
		t.Fatalf("keys %x / %x / %q", a.Keys[0].Key, a.Keys[1].Key, a.Keys[2].Key)
	}
	if a.Keys[1].From != keyFile || a.Keys[0].From != "inline" {
		t.Fatalf("key sources %q %q", a.Keys[0].From, a.Keys[1].From)
	}
	js, err := json.Marshal(cfg.Instances[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte("AAECAwQF")) || bytes.Contains(js, []byte("000102")) || strings.Contains(string(js), "passphrase") {
		t.Fatalf("the dump shows key material: %s", js)
	}

	// Defaults: enforce, time, window derived later.
	cfg, _, err = Parse("t.conf", []byte(inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "}")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Instances[0].AuthHMAC; a.Mode != HMACModeEnforce || a.AntiReplay != HMACReplayTime || a.TimeWindow != 0 {
		t.Fatalf("defaults %+v", a)
	}
}

func TestHardeningDiagnostics(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte(testHMACHex), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		conf string
		want []want
	}{
		{"key too short", inst("auth_hmac {", "key 1 short", "active_key 1", "}"), []want{"3:7: error: auth_hmac key 1 is 5 bytes: must be 32..64"}},
		{"key too long", inst("auth_hmac {", "key 1 hex:"+strings.Repeat("00", 65), "active_key 1", "}"), []want{"3:7: error: auth_hmac key 1 is 65 bytes: must be 32..64"}},
		{"bad hex", inst("auth_hmac {", "key 1 hex:zz", "active_key 1", "}"), []want{"3:7: error: auth_hmac key 1: hex: value"}},
		{"key id range", inst("auth_hmac {", "key 0 "+testHMACHex, "}"), []want{"3:5: error: auth_hmac key id 0 is out of range: must be 1..255", "2:1: error: auth_hmac needs an active_key"}},
		{"key without value", inst("auth_hmac {", "key 1", "active_key 1", "}"), []want{"3:5: error: auth_hmac key needs an id and a value", "4:12: error: auth_hmac active_key 1 is not one of its keys"}},
		{"duplicate key", inst("auth_hmac {", "key 1 "+testHMACHex, "key 1 "+testHMACHex, "active_key 1", "}"), []want{"4:5: error: auth_hmac key id 1 is defined twice"}},
		{"no active key", inst("auth_hmac {", "key 1 "+testHMACHex, "}"), []want{"2:1: error: auth_hmac needs an active_key naming one of its keys"}},
		{"undefined active key", inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 2", "}"), []want{"4:12: error: auth_hmac active_key 2 is not one of its keys"}},
		{"bad anti_replay", inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "anti_replay sometimes", "}"), []want{"5:13: error: auth_hmac anti_replay \"sometimes\": must be time or monotonic"}},
		{"bad window", inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "time_window 301", "}"), []want{"5:13: error: auth_hmac time_window 301 is out of range: must be 1..300"}},
		{"bad mode", inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "mode strict", "}"), []want{"5:6: error: auth_hmac mode \"strict\": must be enforce, permissive or receive-only"}},
		{"unknown keyword", inst("auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "keys 2", "}"), []want{"5:1: warning: unknown keyword \"keys\" in auth_hmac"}},
		{"missing key file", inst("auth_hmac {", "key 1 file:/nonexistent/vrrp", "active_key 1", "}"), []want{"3:7: error: auth_hmac key 1: read key file: open /nonexistent/vrrp"}},
		{"key file readable by others", inst("auth_hmac {", "key 1 file:"+open, "active_key 1", "}"), []want{"3:7: warning: auth_hmac key 1: key file " + want(open) + " is readable by group or others (mode 0644)"}},
		{"with authentication", inst("authentication {", "auth_type PASS", "auth_pass x", "}", "auth_hmac {", "key 1 "+testHMACHex, "active_key 1", "}"), []want{"6:1: error: auth_hmac cannot be combined with authentication (auth_type PASS)"}},
		{"accept_from needs an address", inst("drlb_accept_from"), []want{"2:18: error: drlb_accept_from needs at least one address"}},
		{"accept_from bad address", inst("drlb_accept_from 10.0.0.2 10.0.0"), []want{"2:27: error: drlb_accept_from: \"10.0.0\" is not an IP address"}},
		{"accept_from IPv6", inst("drlb_accept_from 2001:db8::2"), []want{"2:18: error: drlb_accept_from 2001:db8::2: only IPv4 VRRP is implemented"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds, _ := Parse("t.conf", []byte(tc.conf), Options{})
			assertDiags(t, ds, tc.want)
		})
	}
}

func TestAcceptFromAndCheckUnicastSrc(t *testing.T) {
	cfg, ds, err := Parse("t.conf", []byte("global_defs {\nvrrp_check_unicast_src\n}\n"+
		inst("check_unicast_src", "drlb_accept_from 10.0.0.2 10.0.0.3", "drlb_accept_from 10.0.0.4")), Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	assertDiags(t, ds, nil)
	in := cfg.Instances[0]
	if !in.CheckUnicastSrc || len(in.AcceptFrom) != 3 || in.AcceptFrom[2] != netip.MustParseAddr("10.0.0.4") {
		t.Fatalf("instance %+v", in)
	}
}
