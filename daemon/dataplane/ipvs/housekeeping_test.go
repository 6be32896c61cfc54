package ipvs

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
)

func TestSyncDaemonEncoding(t *testing.T) {
	cases := []SyncDaemon{
		{State: SyncMaster, Interface: "eth1", SyncID: 7},
		{State: SyncBackup, Interface: "eth2", SyncID: 255, MaxLen: 1400, Port: 8849, TTL: 3, Group: netip.MustParseAddr("224.0.0.82")},
		{State: SyncBackup, Interface: "eth1", Group: netip.MustParseAddr("ff02::81")},
	}
	for _, d := range cases {
		b, err := encodeDaemon(d, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDaemon(b)
		if err != nil || got != d {
			t.Errorf("round trip of %+v: %+v, %v", d, got, err)
		}
	}
	// The port goes in network order, as the kernel reads it (nla_get_be16).
	b, _ := encodeDaemon(SyncDaemon{State: SyncMaster, Interface: "e", Port: 0x2290}, false)
	ad, _ := netlink.NewAttributeDecoder(b)
	var port []byte
	for ad.Next() {
		ad.Nested(func(n *netlink.AttributeDecoder) error {
			for n.Next() {
				if n.Type() == daemonAttrMcastPort {
					port = n.Bytes()
				}
			}
			return nil
		})
	}
	if len(port) != 2 || port[0] != 0x22 || port[1] != 0x90 {
		t.Errorf("port bytes %x, want 2290", port)
	}
	// Stopping sends the state only.
	b, _ = encodeDaemon(SyncDaemon{State: SyncBackup, Interface: "eth1", SyncID: 3}, true)
	if got, _ := decodeDaemon(b); got != (SyncDaemon{State: SyncBackup}) {
		t.Errorf("stop message carries %+v", got)
	}
}

func TestTimeoutsEncoding(t *testing.T) {
	b, err := encodeTimeouts(900*time.Second, 30*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := netlink.NewAttributeDecoder(b)
	got := map[uint16]uint32{}
	for ad.Next() {
		got[ad.Type()] = ad.Uint32()
	}
	if got[cmdAttrTimeoutTCP] != 900 || got[cmdAttrTimeoutTCPFin] != 30 || got[cmdAttrTimeoutUDP] != 0 {
		t.Errorf("timeouts %v", got)
	}
}
