package daemon

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/daemon/vrrp"
)

// TestVRRPProtocolTranslation: the protocol keywords reach vrrp's
// InstanceConfig.Protocol, mcast_dst_ip the instance's group, the start
// delays the node's Config, and the receive buffer policy a size.
func TestVRRPProtocolTranslation(t *testing.T) {
	instance := func(name string, vrid int, lines ...string) string {
		return "vrrp_instance " + name + " {\ninterface eth0\nvirtual_router_id " + strconv.Itoa(vrid) + "\n" + strings.Join(lines, "\n") +
			"\nvirtual_ipaddress {\n10.0.0.1\n10.0.0.2\n}\n}\n"
	}
	conf := "global_defs {\nvrrp_higher_prio_send_advert\nvrrp_down_timer_adverts 4\nvrrp_skip_check_adv_addr\nv3_checksum_as_v2\n" +
		"vrrp_startup_delay 2.5\nvrrp_delay_after_boot 30\nlog_unknown_vrids\nvrrp_rx_bufs_policy ADVERT\nvrrp_rx_bufs_multiplier 4\n}\n" +
		instance("A", 1, "lower_prio_no_advert", "unicast_ttl 9", "old_unicast_checksum", "notify_master_rx_lower_pri /bin/true",
			"mcast_dst_ip 224.0.0.99", "higher_prio_send_advert off", "version 3", "promote_secondaries", "track_src_ip") +
		instance("B", 2, "kernel_rx_buf_size 70000", "nopreempt", "timer_expired_backup 180")
	v, err := VRRPConfig(parse(t, conf))
	if err != nil {
		t.Fatal(err)
	}
	if v.StartupDelay != 2500*time.Millisecond || v.DelayAfterBoot != 30*time.Second || !v.LogUnknownVRIDs {
		t.Errorf("delays %v %v, log_unknown_vrids %v", v.StartupDelay, v.DelayAfterBoot, v.LogUnknownVRIDs)
	}
	a, b := v.Instances[0], v.Instances[1]
	wantA := vrrp.ProtocolOptions{LowerPrioNoAdvert: true, DownTimerAdverts: 4, SkipCheckAdvAddr: true, UnicastTTL: 9,
		V3ChecksumAsV2: true, OldUnicastChecksum: true, RxBufSize: 4 * (20 + 8 + 2*4), NotifyMasterRxLowerPri: "/bin/true", PromoteSecondaries: true, TrackSrcIP: true}
	if a.Protocol != wantA {
		t.Errorf("A: %+v\nwant %+v", a.Protocol, wantA)
	}
	if a.MulticastGroup != netip.MustParseAddr("224.0.0.99") {
		t.Errorf("A: group %v, want mcast_dst_ip 224.0.0.99", a.MulticastGroup)
	}
	wantB := vrrp.ProtocolOptions{HigherPrioSendAdvert: true, DownTimerAdverts: 4, SkipCheckAdvAddr: true, V3ChecksumAsV2: true, RxBufSize: 70000, TimerExpiredBackup: 180}
	if b.Protocol != wantB {
		t.Errorf("B: %+v\nwant %+v", b.Protocol, wantB)
	}
	if b.MulticastGroup != netip.MustParseAddr("224.0.0.18") {
		t.Errorf("B: group %v, want the default", b.MulticastGroup)
	}
	v, err = VRRPConfig(parse(t, "global_defs {\nvrrp_rx_bufs_policy MTU\n}\n"+instance("C", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Instances[0].Protocol; p.RxBufMTUs != 3 || p.RxBufSize != 0 {
		t.Errorf("MTU policy: %+v, want RxBufMTUs 3 (the default multiplier)", p)
	}
}
