package vrrp

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"
)

func TestInstanceConfigIPv6Defaults(t *testing.T) {
	vip6 := []VIP{{Prefix: netip.MustParsePrefix("fd00:172:16:1::1/128")}}
	vip4 := []VIP{{Prefix: netip.MustParsePrefix("172.16.1.1/32")}}
	base := func(vips []VIP) InstanceConfig {
		return InstanceConfig{Name: "VI_6", Interface: "eth1", VRID: 61, VIPs: vips}
	}
	tests := []struct {
		name      string
		mod       func(*InstanceConfig)
		wantErr   string
		version   Version
		group     netip.Addr
		wantIPv6  bool
		vipIfaces string
	}{
		{name: "IPv6 defaults to version 3 and ff02::12", mod: func(*InstanceConfig) {}, version: Version3, group: MulticastIPv6, wantIPv6: true},
		{name: "IPv4 keeps version 2 and 224.0.0.18", mod: func(c *InstanceConfig) { c.VIPs = vip4 }, version: Version2, group: MulticastIPv4},
		{name: "explicit version 2 over IPv6 kept (keepalived without vrrp_strict)", mod: func(c *InstanceConfig) { c.Version = Version2 }, version: Version2, group: MulticastIPv6, wantIPv6: true},
		{name: "vrrp_mcast_group6", mod: func(c *InstanceConfig) { c.MulticastGroup = netip.MustParseAddr("ff02::1:12") }, version: Version3, group: netip.MustParseAddr("ff02::1:12"), wantIPv6: true},
		{name: "IPv4 group for an IPv6 instance", mod: func(c *InstanceConfig) { c.MulticastGroup = MulticastIPv4 }, wantErr: "vrrp_mcast_group6 224.0.0.18 is not an IPv6 multicast address"},
		{name: "unicast group", mod: func(c *InstanceConfig) { c.MulticastGroup = netip.MustParseAddr("fd00::1") }, wantErr: "not an IPv6 multicast"},
		{name: "mixed virtual_ipaddress", mod: func(c *InstanceConfig) { c.VIPs = append(c.VIPs, vip4...) }, wantErr: "of one family (IPv6, as the first)"},
		{name: "IPv4 first then IPv6", mod: func(c *InstanceConfig) { c.VIPs = append(slices.Clone(vip4), vip6...) }, wantErr: "of one family (IPv4, as the first)"},
		{name: "excluded of the other family allowed", mod: func(c *InstanceConfig) { c.ExcludedVIPs = vip4 }, version: Version3, group: MulticastIPv6, wantIPv6: true},
		{name: "IPv4 source for IPv6", mod: func(c *InstanceConfig) { c.SourceIP = netip.MustParseAddr("172.16.1.2") }, wantErr: "source 172.16.1.2 is not IPv6"},
		{name: "IPv6 source for IPv4", mod: func(c *InstanceConfig) { c.VIPs = vip4; c.SourceIP = netip.MustParseAddr("fd00::2") }, wantErr: "source fd00::2 is not IPv4"},
		{name: "IPv4 peer for IPv6", mod: func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr("172.16.1.3")} }, wantErr: "unicast_peer 172.16.1.3 is not IPv6"},
		{name: "IPv6 unicast", mod: func(c *InstanceConfig) {
			c.SourceIP, c.UnicastPeers = netip.MustParseAddr("fd00::2"), []netip.Addr{netip.MustParseAddr("fd00::3")}
		}, version: Version3, group: MulticastIPv6, wantIPv6: true},
		{name: "PASS over IPv6 v2", mod: func(c *InstanceConfig) { c.Version, c.AuthType, c.AuthPass = Version2, AuthPass, "x" }, wantErr: "not carried by VRRPv2 over IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base(vip6)
			tt.mod(&c)
			got, err := c.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrConfig) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.version || got.MulticastGroup != tt.group || got.IPv6() != tt.wantIPv6 {
				t.Fatalf("version %v group %v IPv6 %v", got.Version, got.MulticastGroup, got.IPv6())
			}
		})
	}
}

func TestSourceAddressIPv6(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1")
	st := InterfaceState{Index: 2, Up: true, IPv4: []netip.Addr{netip.MustParseAddr("172.16.1.2")}, LinkLocal: []netip.Addr{ll}}
	vip6 := []VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}}
	if got := SourceAddress(netip.Addr{}, st, vip6); got != ll {
		t.Fatalf("IPv6 source %v, want %v", got, ll)
	}
	if got := SourceAddress(netip.Addr{}, InterfaceState{Index: 2, IPv4: st.IPv4}, vip6); got.IsValid() {
		t.Fatalf("IPv6 instance without link-local got source %v", got)
	}
	if got := SourceAddress(netip.Addr{}, st, []VIP{{Prefix: netip.MustParsePrefix("172.16.1.1/32")}}); got != st.IPv4[0] {
		t.Fatalf("IPv4 source %v", got)
	}
	cfg := netip.MustParseAddr("fd00::2")
	if got := SourceAddress(cfg, st, vip6); got != cfg {
		t.Fatalf("configured source %v", got)
	}
}

func TestIPv6VIPAttrs(t *testing.T) {
	for _, tt := range []struct {
		prefix    string
		preferred int
	}{{"fd00::1/128", 0}, {"fd00::1/64", lifetimeForever}} {
		flags, valid, preferred := ipv6VIPAttrs(netip.MustParsePrefix(tt.prefix))
		if flags != unix.IFA_F_NODAD || valid != lifetimeForever || preferred != tt.preferred {
			t.Errorf("%s: flags %#x valid %d preferred %d", tt.prefix, flags, valid, preferred)
		}
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	vip := netip.MustParseAddr("fd00:172:16:1::1")
	na, err := UnsolicitedNA(vip, mac, false)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("fe80::2")
	b, err := ndp.MarshalMessageChecksum(na, src, AllNodes)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 4861 4.4: type 136, code 0, flags R|S|O in the first byte after the checksum.
	if b[0] != 136 || b[1] != 0 || b[4] != 0x20 {
		t.Fatalf("header % x: want type 136 and Override only", b[:8])
	}
	back, err := ndp.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	got := back.(*ndp.NeighborAdvertisement)
	lla, ok := got.Options[0].(*ndp.LinkLayerAddress)
	if got.TargetAddress != vip || got.Solicited || !got.Override || !ok || lla.Direction != ndp.Target || lla.Addr.String() != mac.String() {
		t.Fatalf("parsed %+v", got)
	}
	if na, _ := UnsolicitedNA(vip, mac, true); !na.Router {
		t.Fatal("router flag not set")
	}
	if _, err := UnsolicitedNA(netip.MustParseAddr("172.16.1.1"), mac, false); err == nil {
		t.Fatal("IPv4 target accepted")
	}
}

func TestCodecIPv6V3(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::2"), MulticastIPv6
	a := Advertisement{Version: Version3, VRID: 61, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{netip.MustParseAddr("fd00:172:16:1::1"), netip.MustParseAddr("fd00:172:16:1::2")}}
	b, err := Marshal(a, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+2*16 {
		t.Fatalf("length %d", len(b))
	}
	got, err := Parse(b, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got.VRID != 61 || got.Priority != 150 || got.AdvertInterval != a.AdvertInterval || len(got.Addresses) != 2 || got.Addresses[1] != a.Addresses[1] {
		t.Fatalf("round trip %+v", got)
	}
	// The pseudo-header covers the addresses: another source fails.
	if _, err := Parse(b, netip.MustParseAddr("fe80::3"), dst); !errors.Is(err, ErrChecksum) {
		t.Fatalf("other source: %v", err)
	}
}

func TestClassifyInstanceFamilyChange(t *testing.T) {
	old := InstanceConfig{Name: "VI_1", Interface: "eth1", VRID: 51, VIPs: []VIP{{Prefix: netip.MustParsePrefix("172.16.1.1/32")}}}
	nc := old
	nc.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}}
	if ch := ClassifyInstance(old, nc); ch.Kind != ChangeRestart || !strings.Contains(ch.Reason, "IPv4 -> IPv6") {
		t.Fatalf("%v", ch)
	}
}

// TestCodecIPv6V2 is keepalived's VRRPv2 over IPv6 (an IPv6 instance with
// "version 2" and no vrrp_strict): the v2 header (auth type, whole-second
// interval), IPv6 addresses, no authentication data, and the checksum over
// the IPv6 pseudo-header (keepalived sets IPV6_CHECKSUM on the socket).
func TestCodecIPv6V2(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::2"), MulticastIPv6
	a := Advertisement{Version: Version2, VRID: 61, Priority: 100, AdvertInterval: 2 * time.Second,
		Addresses: []netip.Addr{netip.MustParseAddr("fd00:172:16:1::1")}}
	b, err := Marshal(a, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+16 || b[0] != 0x21 || b[4] != 0 || b[5] != 2 {
		t.Fatalf("message % x: want a 24-byte v2 header with auth type 0 and interval 2", b)
	}
	got, err := Parse(b, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != Version2 || got.AdvertInterval != 2*time.Second || len(got.Addresses) != 1 || got.Addresses[0] != a.Addresses[0] {
		t.Fatalf("round trip %+v", got)
	}
	if _, err := Parse(b, netip.MustParseAddr("fe80::3"), dst); !errors.Is(err, ErrChecksum) {
		t.Fatalf("the pseudo-header is not covered: %v", err)
	}
	a.AuthType, a.AuthData = AuthPass, PassAuthData("x")
	if _, err := Marshal(a, src, dst); !errors.Is(err, ErrAddressFamily) {
		t.Fatalf("PASS over IPv6 marshalled: %v", err)
	}
}
