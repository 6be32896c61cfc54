package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// TestVRRPConfigIPv6: an IPv6 instance gets vrrp_mcast_group6 and
// gna_interval, runs version 3 whatever vrrp_version says, and builds
// beside an IPv4 instance with the same VRID in one sync group.
func TestVRRPConfigIPv6(t *testing.T) {
	cfg := parse(t, `global_defs {
  vrrp_version 2
  vrrp_mcast_group6 ff02::1:12
  vrrp_gna_interval 0.01
}
vrrp_sync_group G {
  group {
    VI_4
    VI_6
  }
}
vrrp_instance VI_4 {
  interface eth1
  virtual_router_id 51
  virtual_ipaddress {
    172.16.1.1/24
  }
}
vrrp_instance VI_6 {
  interface eth1
  virtual_router_id 51
  virtual_ipaddress {
    fd00:172:16:1::1/128
  }
}
`)
	out, err := VRRPConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := out.Instances[0], out.Instances[1]
	if v4.Version != vrrp.Version2 || v4.MulticastGroup != netip.MustParseAddr("224.0.0.18") || v4.IPv6() {
		t.Fatalf("IPv4 instance %+v", v4)
	}
	if v6.Version != vrrp.Version3 || v6.MulticastGroup != netip.MustParseAddr("ff02::1:12") || !v6.IPv6() || v6.GNAInterval != 10*time.Millisecond {
		t.Fatalf("IPv6 instance %+v", v6)
	}
	if _, err := vrrp.NewNode(out, vrrp.Options{}); err != nil {
		t.Fatalf("NewNode: %v", err)
	}
}
