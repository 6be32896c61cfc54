package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// labVIP6 is the IPv6 VIP of the lab (as the dual-stack seed lab's).
var labVIP6 = netip.MustParsePrefix("fd00:172:16:1::1/128")

// noDAD turns duplicate address detection off for the calling thread's
// namespace, for interfaces created from now on.
func noDAD() error {
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/accept_dad", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("accept_dad off: %w", err)
		}
	}
	return nil
}

func labInstance6(prio uint8, v Version, advert time.Duration) InstanceConfig {
	return InstanceConfig{Name: "VI_6", Interface: "eth1", VRID: 61, Version: v, Priority: prio, AdvertInterval: advert,
		VIPs: []VIP{{Prefix: labVIP6}}, GARP: GARPSchedule{Repeat: 5, Delay: time.Second}}
}

// linkLocal returns host's link-local address on eth1.
func (h *labHost) linkLocal(t *testing.T) netip.Addr {
	t.Helper()
	for _, a := range h.addrs(t, netlink.FAMILY_V6) {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	t.Fatalf("%s has no link-local address", h.name)
	return netip.Addr{}
}

// vip6 returns host's eth1 address vip, nil if absent.
func (h *labHost) vip6(t *testing.T, vip netip.Prefix) *netlink.Addr {
	t.Helper()
	for _, a := range h.addrs(t, netlink.FAMILY_V6) {
		if a.IP.Equal(vip.Addr().AsSlice()) {
			return &a
		}
	}
	return nil
}

// TestLabIPv6TwoNodes: two drlb nodes elect a master over IPv6 (VRRPv3 to
// ff02::12 from their link-local addresses); the VIP is added without DAD
// and deprecated (/128); when the master stops, the backup takes over and
// its unsolicited neighbour advertisements move the client's entry.
func TestLabIPv6TwoNodes(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
	c := l.addHost("c", "172.16.1.100", "fd00:172:16:1::100")
	advert := 100 * time.Millisecond
	na := l.runNode(a, labInstance6(150, Version3, advert))
	nb := l.runNode(b, labInstance6(100, Version3, advert))
	aLL := a.linkLocal(t)
	eventually(t, 3*time.Second, "a master, b backup of a", func() bool {
		return na.status().State == StateMaster && nb.status().State == StateBackup && nb.status().MasterIP == aLL
	})
	if st := na.status(); st.SourceIP != aLL || st.Version != Version3 {
		t.Fatalf("a's source %v version %v, want %v v3", st.SourceIP, st.Version, aLL)
	}
	v := a.vip6(t, labVIP6)
	if v == nil || b.hasVIP(t, labVIP6) {
		t.Fatalf("VIP on a %v, on b %v", v, b.hasVIP(t, labVIP6))
	}
	if v.Flags&unix.IFA_F_NODAD == 0 || v.Flags&unix.IFA_F_TENTATIVE != 0 || v.PreferedLft != 0 {
		t.Fatalf("VIP flags %#x preferred_lft %d: want nodad, not tentative, deprecated", v.Flags, v.PreferedLft)
	}
	c.poke(t, labVIP6.Addr())
	eventually(t, 2*time.Second, "client neighbour entry for the VIP points at a", func() bool {
		return c.neighMAC(t, labVIP6.Addr()).String() == a.mac(t).String()
	})
	eventually(t, 2*time.Second, "b heard 3 adverts", func() bool { return nb.status().Counters.AdvertsReceived >= 3 })
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("b dropped adverts: %v", d)
	}
	stopped := time.Now()
	na.stop(t)
	eventually(t, 2*time.Second, "b master", func() bool { return nb.status().State == StateMaster })
	took := time.Since(stopped)
	t.Logf("IPv6 takeover after priority 0: %v (Master_Down_Interval %v)", took, MasterDownInterval(Version3, advert, 100))
	if took >= MasterDownInterval(Version3, advert, 100) {
		t.Fatalf("takeover took %v", took)
	}
	if a.hasVIP(t, labVIP6) || !b.hasVIP(t, labVIP6) {
		t.Fatalf("after failover VIP on a %v, b %v", a.hasVIP(t, labVIP6), b.hasVIP(t, labVIP6))
	}
	// No traffic from the client: only b's unsolicited NA can move its entry.
	eventually(t, 3*time.Second, "client neighbour entry points at b", func() bool {
		return c.neighMAC(t, labVIP6.Addr()).String() == b.mac(t).String()
	})
	// Counted once both bursts are out (the second after GARP.Delay).
	eventually(t, 3*time.Second, "b counted its neighbour advertisements", func() bool {
		return nb.status().Counters.GARPsSent >= 10
	})
}

// TestLabIPv6Unicast: unicast_peer over IPv6, with global addresses and
// unicast_src_ip, and with link-local peers and the default (link-local)
// source, which need the interface as their zone.
func TestLabIPv6Unicast(t *testing.T) {
	for _, kind := range []string{"global", "link-local"} {
		t.Run(kind, func(t *testing.T) {
			l := newLab(t)
			a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
			b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
			advert := 100 * time.Millisecond
			ia := labInstance6(150, Version3, advert)
			ib := labInstance6(100, Version3, advert)
			aIP, bIP := a.ip6, b.ip6
			if kind == "link-local" {
				aIP, bIP = a.linkLocal(t), b.linkLocal(t)
				ia.UnicastPeers, ib.UnicastPeers = []netip.Addr{bIP}, []netip.Addr{aIP}
			} else {
				ia.SourceIP, ia.UnicastPeers = aIP, []netip.Addr{bIP}
				ib.SourceIP, ib.UnicastPeers = bIP, []netip.Addr{aIP}
			}
			na := l.runNode(a, ia)
			nb := l.runNode(b, ib)
			eventually(t, 3*time.Second, "a master, b backup of a", func() bool {
				return na.status().State == StateMaster && nb.status().State == StateBackup && nb.status().MasterIP == aIP
			})
			na.stop(t)
			eventually(t, time.Second, "b master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP6) })
			if nb.status().Counters.PriorityZeroReceived != 1 {
				t.Fatalf("b counters %+v", nb.status().Counters)
			}
		})
	}
}

// TestLabIPv6HopLimit: an advert with a higher priority but hop limit 254
// (it may come from off-link) is dropped and counted; the same advert with
// hop limit 255 makes the master step down.
func TestLabIPv6HopLimit(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	c := l.addHost("c", "172.16.1.100", "fd00:172:16:1::100")
	na := l.runNode(a, labInstance6(100, Version3, 100*time.Millisecond))
	eventually(t, 3*time.Second, "a master", func() bool { return na.status().State == StateMaster })
	src := c.linkLocal(t)
	msg, err := Marshal(Advertisement{Version: Version3, VRID: 61, Priority: 200, AdvertInterval: 100 * time.Millisecond,
		Addresses: []netip.Addr{labVIP6.Addr()}}, src, MulticastIPv6)
	if err != nil {
		t.Fatal(err)
	}
	send := func(hops, count int) {
		t.Helper()
		err := InNamespace(c.ns, func() error {
			pc, err := net.ListenPacket("ip6:112", "::")
			if err != nil {
				return err
			}
			defer pc.Close()
			ifi, err := net.InterfaceByName("eth1")
			if err != nil {
				return err
			}
			p := ipv6.NewPacketConn(pc)
			cm := &ipv6.ControlMessage{HopLimit: hops, Src: src.AsSlice(), IfIndex: ifi.Index}
			for range count {
				if _, err := p.WriteTo(msg, cm, &net.IPAddr{IP: MulticastIPv6.AsSlice(), Zone: "eth1"}); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("send adverts from c: %v", err)
		}
	}
	send(254, 10)
	// The node's loop may still be working through them: wait for the count.
	eventually(t, 2*time.Second, "10 adverts dropped for their hop limit", func() bool { return na.status().Counters.Drops[DropTTL] >= 10 })
	if st := na.status(); st.State != StateMaster {
		t.Fatalf("after hop limit 254: state %v drops %v", st.State, st.Counters.Drops)
	}
	send(255, 3)
	eventually(t, time.Second, "a backup of c", func() bool {
		st := na.status()
		return st.State == StateBackup && st.MasterIP == src
	})
}

// TestLabIPv6DualStackSyncGroup: one IPv4 and one IPv6 instance in a sync
// group on each node (the usual dual-stack pair) move together.
func TestLabIPv6DualStackSyncGroup(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
	advert := 100 * time.Millisecond
	cfg := func(prio uint8) Config {
		return Config{Instances: []InstanceConfig{labInstance(prio, Version3, advert), labInstance6(prio, Version3, advert)},
			SyncGroups: []SyncGroupConfig{{Name: "G_DS", Instances: []string{"VI_1", "VI_6"}}}}
	}
	na := l.runNodeConfig(a, cfg(150))
	nb := l.runNodeConfig(b, cfg(100))
	states := func(rn *runningNode) (State, State) { s := rn.node.Status(); return s[0].State, s[1].State }
	eventually(t, 3*time.Second, "a master of both, b backup of both", func() bool {
		a4, a6 := states(na)
		b4, b6 := states(nb)
		return a4 == StateMaster && a6 == StateMaster && b4 == StateBackup && b6 == StateBackup
	})
	if !a.hasVIP(t, labVIP) || !a.hasVIP(t, labVIP6) {
		t.Fatal("a master without both VIPs")
	}
	// b is BACKUP of both from the start (the group syncs it); it learns
	// each master's address from that instance's first advert.
	aLL := a.linkLocal(t)
	eventually(t, 2*time.Second, "b following a's IPv4 and link-local addresses", func() bool {
		st := nb.node.Status()
		return st[0].MasterIP == a.ip && st[1].MasterIP == aLL
	})
	// Only the IPv6 instance hears of a's fault: the group still moves.
	na.stop(t)
	eventually(t, 2*time.Second, "b master of both", func() bool {
		b4, b6 := states(nb)
		return b4 == StateMaster && b6 == StateMaster && b.hasVIP(t, labVIP) && b.hasVIP(t, labVIP6)
	})
}

// keepalivedConf6 is a keepalived VRRP-only configuration of one IPv6
// instance (VRID 61, labVIP6 on eth1, version 3 by default for IPv6).
func keepalivedConf6(host *labHost, prio uint8, extra string) string {
	return fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_garp_master_delay 1
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth1
  virtual_router_id 61
  priority %d
  %s
  virtual_ipaddress {
    %s
  }
}
`, host.name, prio, extra, labVIP6)
}

// TestLabIPv6KeepalivedInterop: drlb and keepalived 2.2.7 as an IPv6
// VRRPv3 pair, master in turn both ways: each accepts the other's
// pseudo-header checksum, link-local source and hop limit.
func TestLabIPv6KeepalivedInterop(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
	advert := 100 * time.Millisecond
	k := runKeepalived(t, a, t.TempDir(), keepalivedConf6(a, 150, "advert_int 0.1"))
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP6) })
	nb := l.runNode(b, labInstance6(100, 0, advert))
	aLL := a.linkLocal(t)
	eventually(t, 3*time.Second, "drlb backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == aLL && s.Counters.AdvertsReceived >= 5
	})
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("drlb dropped keepalived's IPv6 adverts: %v", d)
	}
	stopped := time.Now()
	k.stop(t, syscall.SIGTERM)
	eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP6) })
	t.Logf("drlb took over %v after keepalived's SIGTERM", time.Since(stopped))
	if nb.status().Counters.PriorityZeroReceived == 0 {
		t.Fatal("no priority 0 from keepalived")
	}
	// keepalived (lower priority now) must accept our adverts and stay backup.
	k2 := runKeepalived(t, a, t.TempDir(), keepalivedConf6(a, 50, "advert_int 0.1"))
	consistently(t, 2*time.Second, "drlb stays the only master", func() bool {
		return !a.hasVIP(t, labVIP6) && nb.status().State == StateMaster
	})
	// drlb stops: keepalived takes over (it accepted our priority 0).
	nb.stop(t)
	eventually(t, 3*time.Second, "keepalived master after drlb stopped", func() bool { return a.hasVIP(t, labVIP6) })
	k2.stop(t, syscall.SIGTERM)
}

// failoverRounds measures failover per family: one pair of nodes runs an
// IPv4 and an IPv6 instance (not synced, so each fails over on its own
// timer); the master's VRRP is dropped on the bridge in one nft
// transaction (a silent death, as kill -9), and the time until the
// backup's instance of each family is MASTER is measured, rounds times in
// the same run. It returns the mean takeover time of each family (each is
// Master_Down_Interval less the time since the master's last advert).
func failoverRounds(tb testing.TB, rounds int, advert time.Duration) (mean4, mean6 time.Duration) {
	tb.Helper()
	testenv.Privileged(tb, "nft")
	l := newLab(tb)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
	cfg := func(prio uint8) Config {
		return Config{Instances: []InstanceConfig{labInstance(prio, Version3, advert), labInstance6(prio, Version3, advert)}}
	}
	na := l.runNodeConfig(a, cfg(150))
	nb := l.runNodeConfig(b, cfg(100))
	settled := func() bool {
		sa, sb := na.node.Status(), nb.node.Status()
		return sa[0].State == StateMaster && sa[1].State == StateMaster && sb[0].State == StateBackup && sb[1].State == StateBackup
	}
	l.nftSwitch("add", "table", "bridge", "vrrpb")
	l.nftSwitch("add", "chain", "bridge", "vrrpb", "cb", "{ type filter hook forward priority 0 ; }")
	mac := a.mac(tb).String()
	var sum4, sum6 time.Duration
	for r := range rounds {
		eventually(tb, 3*time.Second, "a master of both, b backup of both", settled)
		time.Sleep(time.Duration(r%4) * advert / 4) // vary the phase against a's advert timers
		l.nftSwitch("add", "rule", "bridge", "vrrpb", "cb", "ether", "saddr", mac, "ip", "protocol", "112", "drop", ";",
			"add", "rule", "bridge", "vrrpb", "cb", "ether", "saddr", mac, "ip6", "nexthdr", "112", "drop")
		cut := time.Now()
		var t4, t6 time.Duration
		for deadline := cut.Add(3 * time.Second); (t4 == 0 || t6 == 0) && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			st := nb.node.Status()
			if t4 == 0 && st[0].State == StateMaster {
				t4 = time.Since(cut)
			}
			if t6 == 0 && st[1].State == StateMaster {
				t6 = time.Since(cut)
			}
		}
		l.nftSwitch("flush", "chain", "bridge", "vrrpb", "cb")
		if t4 == 0 || t6 == 0 {
			tb.Fatalf("round %d: b master after IPv4 %v, IPv6 %v", r, t4, t6)
		}
		sum4, sum6 = sum4+t4, sum6+t6
		tb.Logf("round %d: IPv4 %v, IPv6 %v, IPv6/IPv4 %.2f", r, t4.Round(time.Millisecond), t6.Round(time.Millisecond), float64(t6)/float64(t4))
	}
	return sum4 / time.Duration(rounds), sum6 / time.Duration(rounds)
}

// TestLabFailoverIPv6vsIPv4 is the failover comparison of issue 14 (see
// failoverRounds): the IPv6 ÷ IPv4 ratio of the mean takeover times in one
// run should be about 1, and each mean within Master_Down_Interval.
func TestLabFailoverIPv6vsIPv4(t *testing.T) {
	if testing.Short() {
		t.Skip("about 0.5 s per round")
	}
	const rounds = 8
	advert := 100 * time.Millisecond
	mean4, mean6 := failoverRounds(t, rounds, advert)
	mdi := MasterDownInterval(Version3, advert, 100)
	ratio := float64(mean6) / float64(mean4)
	t.Logf("failover over %d rounds (Master_Down_Interval %v): IPv4 mean %v, IPv6 mean %v, IPv6 ÷ IPv4 = %.2f",
		rounds, mdi.Round(time.Millisecond), mean4.Round(time.Millisecond), mean6.Round(time.Millisecond), ratio)
	for _, m := range []time.Duration{mean4, mean6} {
		if m > mdi+50*time.Millisecond || m < mdi-advert-50*time.Millisecond {
			t.Errorf("mean failover %v outside [Master_Down_Interval − advert_int, Master_Down_Interval] = [%v, %v] (±50 ms)", m, mdi-advert, mdi)
		}
	}
	if ratio < 0.75 || ratio > 1.33 {
		t.Errorf("IPv6 ÷ IPv4 failover time %.2f, want about 1", ratio)
	}
}

// BenchmarkLabFailoverIPv6vsIPv4 reports the mean takeover time per
// family (ms) and their ratio over b.N silent master deaths (make bench;
// -benchtime 8x for a fixed count).
func BenchmarkLabFailoverIPv6vsIPv4(b *testing.B) {
	mean4, mean6 := failoverRounds(b, b.N, 100*time.Millisecond)
	b.ReportMetric(float64(mean4)/float64(time.Millisecond), "ipv4-ms")
	b.ReportMetric(float64(mean6)/float64(time.Millisecond), "ipv6-ms")
	b.ReportMetric(float64(mean6)/float64(mean4), "ipv6/ipv4")
	b.ReportMetric(0, "ns/op") // the wall time of a round is the lab's, not a cost
}

// TestLabIPv6KeepalivedV2: an IPv6 instance with "version 2" runs
// keepalived's VRRPv2 over IPv6 (without vrrp_strict keepalived keeps the
// configured version): drlb and keepalived 2.2.7 accept each other's
// adverts (no authentication data, IPv6 pseudo-header checksum).
func TestLabIPv6KeepalivedV2(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2", "fd00:172:16:1::2")
	b := l.addHost("b", "172.16.1.3", "fd00:172:16:1::3")
	k := runKeepalived(t, a, t.TempDir(), keepalivedConf6(a, 150, "version 2\n  advert_int 1"))
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP6) })
	nb := l.runNode(b, labInstance6(100, Version2, time.Second))
	aLL := a.linkLocal(t)
	eventually(t, 4*time.Second, "drlb backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == aLL && s.Version == Version2 && s.Counters.AdvertsReceived >= 2
	})
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("drlb dropped keepalived's v2 IPv6 adverts: %v", d)
	}
	k.stop(t, syscall.SIGTERM)
	eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP6) })
	// keepalived with a lower priority accepts our v2 adverts and stays backup.
	runKeepalived(t, a, t.TempDir(), keepalivedConf6(a, 50, "version 2\n  advert_int 1"))
	consistently(t, 5*time.Second, "drlb stays the only master", func() bool {
		return !a.hasVIP(t, labVIP6) && nb.status().State == StateMaster
	})
}
