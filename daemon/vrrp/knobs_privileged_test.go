package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestLabUnicastTTLAndRxBuf: unicast_ttl is the TTL a unicast advert
// carries on the wire, multicast ones keep 255, and the socket's
// SO_RCVBUF is what kernel_rx_buf_size / vrrp_rx_bufs_policy asked (the
// kernel doubles it), read back with getsockopt.
func TestLabUnicastTTLAndRxBuf(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	listen := func(h *labHost, tc TransportConfig) *IPv4Conn {
		t.Helper()
		var c *IPv4Conn
		if err := InNamespace(h.ns, func() (err error) { c, err = ListenIPv4(tc); return err }); err != nil {
			t.Fatalf("listen in %s: %v", h.name, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	const rxBuf = 50000
	sender := listen(a, TransportConfig{Interface: "eth1", Source: a.ip, Unicast: true, TTL: 9})
	receiver := listen(b, TransportConfig{Interface: "eth1", Source: b.ip, Unicast: true, RxBufSize: rxBuf})
	control := listen(b, TransportConfig{Interface: "eth1", Source: b.ip, Unicast: true})
	got, def := rcvbuf(t, receiver), rcvbuf(t, control)
	if got != 2*rxBuf {
		t.Errorf("SO_RCVBUF %d, want %d (2 × %d: the kernel doubles it)", got, 2*rxBuf, rxBuf)
	}
	if def == got {
		t.Errorf("the control socket has the same SO_RCVBUF %d: the test cannot tell", def)
	}
	mtuSized := listen(b, TransportConfig{Interface: "eth1", Source: b.ip, Unicast: true, RxBufMTUs: 4})
	if got := rcvbuf(t, mtuSized); got != 2*4*1500 {
		t.Errorf("MTU policy: SO_RCVBUF %d, want %d (2 × 4 × MTU 1500)", got, 2*4*1500)
	}
	adv := Advertisement{Version: Version2, VRID: 51, Priority: 100, AdvertInterval: time.Second, Addresses: []netip.Addr{labVIP.Addr()}}
	msg, err := Marshal(adv, a.ip, b.ip)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Write(msg, b.ip); err != nil {
		t.Fatal(err)
	}
	info := readOne(t, receiver)
	if info.Src != a.ip || info.TTL != 9 {
		t.Fatalf("received from %v with TTL %d, want %v with unicast_ttl 9", info.Src, info.TTL, a.ip)
	}
	// Control: a multicast socket with the same TTL setting sends 255.
	msender := listen(a, TransportConfig{Interface: "eth1", Source: a.ip, TTL: 9})
	mreceiver := listen(b, TransportConfig{Interface: "eth1", Source: b.ip})
	if msg, err = Marshal(adv, a.ip, MulticastIPv4); err != nil {
		t.Fatal(err)
	}
	if err := msender.Write(msg, MulticastIPv4); err != nil {
		t.Fatal(err)
	}
	if info := readOne(t, mreceiver); info.TTL != RequiredTTL {
		t.Fatalf("multicast advert TTL %d, want %d", info.TTL, RequiredTTL)
	}
}

func rcvbuf(t *testing.T, c *IPv4Conn) int {
	t.Helper()
	var v int
	var gerr error
	if err := c.rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

func readOne(t *testing.T, c *IPv4Conn) PacketInfo {
	t.Helper()
	type res struct {
		info PacketInfo
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, 1500)
		_, info, err := c.Read(b)
		ch <- res{info, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.info
	case <-time.After(3 * time.Second):
		_ = c.Close() // ends the read
		t.Fatal("no advert received")
	}
	return PacketInfo{}
}

// TestLabKeepalivedUnicastTTL: keepalived 2.2.7 sends unicast adverts with
// unicast_ttl 10; drlb accepts them (keepalived checks the TTL of
// multicast adverts only) and stays its backup; and keepalived accepts
// drlb's unicast adverts with unicast_ttl.
func TestLabKeepalivedUnicastTTL(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	extra := fmt.Sprintf("version 3\n  advert_int 0.1\n  unicast_ttl 10\n  unicast_src_ip %v\n  unicast_peer {\n    %v\n  }", a.ip, b.ip)
	k := startKeepalivedConf(t, a, 150, extra)
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	ib := labInstance(100, Version3, 100*time.Millisecond)
	ib.SourceIP, ib.UnicastPeers = b.ip, []netip.Addr{a.ip}
	ib.Protocol.UnicastTTL = 10
	nb := l.runNode(b, ib)
	eventually(t, 3*time.Second, "drlb backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == a.ip && s.Counters.AdvertsReceived >= 5
	})
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("drlb dropped keepalived's unicast adverts: %v", d)
	}
	consistently(t, time.Second, "drlb stays backup", func() bool { return nb.status().State == StateBackup && !b.hasVIP(t, labVIP) })
	k.stop(t, unix.SIGTERM)
	eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP) })
	// keepalived, lower now, must take drlb's TTL-10 unicast adverts.
	startKeepalivedConf(t, a, 50, extra)
	consistently(t, 2*time.Second, "drlb stays the only master", func() bool {
		return !a.hasVIP(t, labVIP) && nb.status().State == StateMaster
	})
}

// TestLabKeepalivedMcastDstIP: keepalived 2.2.7 and drlb both with
// mcast_dst_ip 224.0.0.99 elect one master over that group; a drlb
// instance on the default group hears nothing of it (the control).
func TestLabKeepalivedMcastDstIP(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	c := l.addHost("c", "172.16.1.4")
	group := netip.MustParseAddr("224.0.0.99")
	startKeepalivedConf(t, a, 150, "version 3\n  advert_int 0.1\n  mcast_dst_ip "+group.String())
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	ib := labInstance(100, Version3, 100*time.Millisecond)
	ib.MulticastGroup = group
	nb := l.runNode(b, ib)
	ic := labInstance(50, Version3, 100*time.Millisecond)
	nc := l.runNode(c, ic) // 224.0.0.18: keepalived is not on its group
	eventually(t, 3*time.Second, "drlb on 224.0.0.99 backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == a.ip && s.Counters.AdvertsReceived >= 5
	})
	eventually(t, 3*time.Second, "drlb on 224.0.0.18 master (it hears no one)", func() bool {
		return nc.status().State == StateMaster && nc.status().Counters.AdvertsReceived == 0
	})
	consistently(t, time.Second, "b stays backup", func() bool { return nb.status().State == StateBackup })
}

// TestLabKeepalivedOldUnicastChecksum: keepalived 2.2.7 (built with
// OLD_CHKSUM_COMPAT) with old_unicast_checksum puts the multicast group in
// the pseudo-header of its unicast VRRPv3 adverts. drlb with
// old_unicast_checksum never drops them as bad checksums (the control);
// with old_unicast_checksum it follows keepalived; without either it
// detects the old form from keepalived's first advert and switches to it,
// as keepalived does, and keepalived takes drlb's adverts in turn.
func TestLabKeepalivedOldUnicastChecksum(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	extra := fmt.Sprintf("version 3\n  advert_int 0.1\n  old_unicast_checksum\n  unicast_src_ip %v\n  unicast_peer {\n    %v\n  }", a.ip, b.ip)
	k := startKeepalivedConf(t, a, 150, extra)
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	ib := labInstance(100, Version3, 100*time.Millisecond)
	ib.SourceIP, ib.UnicastPeers = b.ip, []netip.Addr{a.ip}
	never := ib
	never.Protocol.OldUnicastChecksumNever = true
	plain := l.runNode(b, never)
	eventually(t, 3*time.Second, "old_unicast_checksum never: keepalived's adverts dropped", func() bool {
		return plain.status().Counters.Drops[DropChecksum] >= 3
	})
	plain.stop(t)
	for _, explicit := range []bool{true, false} {
		ic := ib
		ic.Protocol.OldUnicastChecksum = explicit
		nb := l.runNode(b, ic)
		eventually(t, 3*time.Second, fmt.Sprintf("drlb (old_unicast_checksum %v) backup of keepalived", explicit), func() bool {
			s := nb.status()
			return s.State == StateBackup && s.MasterIP == a.ip && s.Counters.AdvertsReceived >= 5
		})
		if d := nb.status().Counters.Drops; d[DropChecksum] != 0 {
			t.Fatalf("drlb (old_unicast_checksum %v) dropped: %v", explicit, d)
		}
		if detected := strings.Contains(nb.logs.String(), "Setting unicast VRRPv3 checksum to old version"); detected == explicit {
			t.Fatalf("old_unicast_checksum %v: detection logged %v", explicit, detected)
		}
		if explicit {
			nb.stop(t)
			continue
		}
		k.stop(t, unix.SIGTERM)
		eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP) })
		startKeepalivedConf(t, a, 50, extra)
		consistently(t, 2*time.Second, "keepalived takes drlb's old-form adverts: drlb stays the only master", func() bool {
			return !a.hasVIP(t, labVIP) && nb.status().State == StateMaster
		})
	}
}

// TestLabPromoteSecondaries: promote_secondaries is set on the instance's
// interface while the node runs and restored when it stops; a node
// without it leaves the interface alone (the control).
func TestLabPromoteSecondaries(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	read := func() string {
		t.Helper()
		var v []byte
		if err := InNamespace(a.ns, func() (err error) {
			v, err = os.ReadFile(sysctlPath("ipv4", "eth1", "promote_secondaries"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
	}
	if v := read(); v != "0" {
		t.Fatalf("promote_secondaries starts at %s, want 0", v)
	}
	plain := l.runNode(a, labInstance(100, Version3, 100*time.Millisecond))
	eventually(t, 3*time.Second, "plain node master", func() bool { return plain.status().State == StateMaster })
	if v := read(); v != "0" {
		t.Fatalf("a node without promote_secondaries set it to %s", v)
	}
	plain.stop(t)
	ic := labInstance(100, Version3, 100*time.Millisecond)
	ic.Protocol.PromoteSecondaries = true
	n := l.runNode(a, ic)
	eventually(t, 3*time.Second, "master", func() bool { return n.status().State == StateMaster })
	if v := read(); v != "1" {
		t.Fatalf("promote_secondaries %s while running, want 1", v)
	}
	n.stop(t)
	if v := read(); v != "0" {
		t.Fatalf("promote_secondaries %s after stop, want 0 restored", v)
	}
}

// TestLabDownTimerAdverts: over a real bridge, a backup with
// down_timer_adverts N takes over N advert intervals (plus skew) after the
// master's adverts stop (VRRP dropped on the bridge), not 3.
func TestLabDownTimerAdverts(t *testing.T) {
	testenv.Privileged(t, "nft")
	advert := 100 * time.Millisecond
	for _, n := range []int{1, 3, 6} {
		l := newLab(t)
		a := l.addHost("a", "172.16.1.2")
		b := l.addHost("b", "172.16.1.3")
		ia, ib := labInstance(150, Version3, advert), labInstance(100, Version3, advert)
		ia.Protocol.DownTimerAdverts, ib.Protocol.DownTimerAdverts = n, n
		na := l.runNode(a, ia)
		nb := l.runNode(b, ib)
		eventually(t, 3*time.Second, "a master, b backup", func() bool {
			return na.status().State == StateMaster && nb.status().State == StateBackup
		})
		l.nftSwitch("add", "table", "bridge", "vrrpt")
		l.nftSwitch("add", "chain", "bridge", "vrrpt", "cvrrp", "{ type filter hook forward priority 0 ; }")
		l.nftSwitch("add", "rule", "bridge", "vrrpt", "cvrrp", "ip", "protocol", "112", "drop")
		cut := time.Now()
		eventually(t, 3*time.Second, "b master", func() bool { return nb.status().State == StateMaster })
		took := time.Since(cut)
		want := MasterDownIntervalN(Version3, n, advert, 100)
		t.Logf("down_timer_adverts %d: b master %v after the cut (Master_Down_Interval %v)", n, took.Round(time.Millisecond), want)
		// The last advert before the cut came up to one interval earlier.
		if took < want-advert || took > want+advert {
			t.Errorf("down_timer_adverts %d: takeover after %v, want %v ± one advert interval", n, took, want)
		}
		na.stop(t)
		nb.stop(t)
	}
}
