package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/drlb/drlb/daemon/config"
	"github.com/drlb/drlb/daemon/dataplane"
)

// TestDataplaneOpensInNetNamespaceIPVS: net_namespace_ipvs NAME opens the
// data plane (and IPVS housekeeping) in /run/netns/NAME, a bare one in the
// default namespace, and without it in drlb's own.
func TestDataplaneOpensInNetNamespaceIPVS(t *testing.T) {
	for _, tt := range []struct {
		name, conf, want string
	}{
		{"none", "", ""},
		{"named", "net_namespace_ipvs lvs\n", "/run/netns/lvs"},
		{"default", "net_namespace_ipvs\n", "/proc/1/ns/net"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf + "global_defs {\n drlb_dataplane ipvs\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n real_server 10.0.0.2 80 {\n }\n}\n"
			cfg, diags, err := config.Parse("t.conf", []byte(conf), config.Options{})
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, diags)
			}
			var got *dataplane.Options
			d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			d.newDataplane = func(_ dataplane.Kind, o dataplane.Options) (dataplane.Dataplane, error) {
				got = &o
				return &fakeDataplane{}, nil
			}
			c := &components{}
			if err := d.startDataplane(context.Background(), c, cfg); err != nil {
				t.Fatal(err)
			}
			if got == nil || got.NetNSPath != tt.want {
				t.Fatalf("data plane options %+v, want NetNSPath %q", got, tt.want)
			}
			if c.hk == nil || c.hk.netns != tt.want {
				t.Errorf("housekeeping namespace %+v, want %q", c.hk, tt.want)
			}
		})
	}
}
