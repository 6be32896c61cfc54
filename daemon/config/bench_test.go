package config

import (
	"fmt"
	"strings"
	"testing"
)

// generateConfig writes a config with nVS virtual servers of nRS real servers
// each, every real server with an HTTP_GET checker.
func generateConfig(nVS, nRS int) []byte {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id bench\n}\n")
	b.WriteString("vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n")
	for i := 0; i < nVS/250+1; i++ {
		fmt.Fprintf(&b, "    10.%d.0.1/16\n", i)
	}
	b.WriteString("  }\n}\n")
	for v := 0; v < nVS; v++ {
		fmt.Fprintf(&b, "virtual_server 10.%d.%d.%d 80 { # service %d\n", v/250, (v%250)/250, v%250+1, v)
		b.WriteString("    delay_loop 5\n    lb_algo wrr\n    lb_kind DR\n    persistence_timeout 300\n    protocol TCP\n")
		for r := 0; r < nRS; r++ {
			fmt.Fprintf(&b, "    real_server 172.%d.%d.%d 80 {\n", 16+v/250, v%250, r+1)
			b.WriteString("        weight 1\n        HTTP_GET {\n            url {\n                path /health\n")
			b.WriteString("                digest dcec999b7ece0cc82e62145eb832731f\n            }\n")
			b.WriteString("            connect_timeout 2\n            retry 2\n            delay_before_retry 1\n        }\n    }\n")
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

func TestGeneratedConfigIsClean(t *testing.T) {
	cfg, ds, err := Parse("gen.conf", generateConfig(20, 3), Options{})
	if err != nil || len(ds) != 0 {
		t.Fatalf("err %v:\n%s", err, ds)
	}
	if len(cfg.VirtualServers) != 20 || len(cfg.VirtualServers[19].RealServers) != 3 {
		t.Fatalf("got %d virtual servers", len(cfg.VirtualServers))
	}
}

// BenchmarkLoad1000x10 parses and validates 1,000 virtual servers × 10 real
// servers (about 160,000 lines). Goal: < 100 ms.
func BenchmarkLoad1000x10(b *testing.B) {
	data := generateConfig(1000, 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, ds, err := Parse("gen.conf", data, Options{})
		if err != nil || len(ds) != 0 || len(cfg.VirtualServers) != 1000 {
			b.Fatalf("err %v, %d diagnostics", err, len(ds))
		}
	}
}
