package vrrp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/drlb/drlb/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// labSeq numbers the labs of this test process: vrrpt<pid%10000><seq>-x.
var labSeq atomic.Int32

// lab is a switch namespace with a bridge and hosts attached by veth, each
// host with eth1 in 172.16.1.0/24. Everything is removed in t.Cleanup.
type lab struct {
	t      testing.TB
	prefix string
	sw     netns.NsHandle
	hsw    *netlink.Handle
	hosts  map[string]*labHost
}

type labHost struct {
	name string // full namespace name
	ns   netns.NsHandle
	h    *netlink.Handle
	ip   netip.Addr
	ip6  netip.Addr // invalid unless added with one
}

func newLab(t testing.TB) *lab {
	t.Helper()
	testenv.Privileged(t, "ip")
	l := &lab{t: t, prefix: fmt.Sprintf("vrrpt%d%d", os.Getpid()%10000, labSeq.Add(1)), hosts: map[string]*labHost{}}
	l.sw, l.hsw = l.newNS("sw")
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := l.hsw.LinkAdd(br); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	if err := l.hsw.LinkSetUp(br); err != nil {
		t.Fatalf("bridge up: %v", err)
	}
	return l
}

// newNS creates namespace <prefix>-<suffix> (the name keepalived and nft
// are run in by `ip netns exec`) without moving this goroutine's thread:
// containernetworking's TempNetNS unshares on a thread of its own, retired
// if it cannot go back, and a bind mount under /run/netns names it.
func (l *lab) newNS(suffix string) (netns.NsHandle, *netlink.Handle) {
	l.t.Helper()
	name := l.prefix + "-" + suffix
	path := filepath.Join("/run/netns", name)
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		l.t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		l.t.Fatalf("create netns %s: %v", name, err)
	}
	_ = f.Close()
	tmp, err := cnins.TempNetNS()
	if err == nil {
		err = unix.Mount(fmt.Sprintf("/proc/self/fd/%d", tmp.Fd()), path, "none", unix.MS_BIND, "")
		_ = tmp.Close()
	}
	var ns netns.NsHandle
	if err == nil {
		ns, err = netns.GetFromPath(path)
	}
	if err != nil {
		_ = netns.DeleteNamed(name)
		l.t.Fatalf("create netns %s: %v", name, err)
	}
	l.t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			l.t.Errorf("delete netns %s: %v", name, err)
		}
	})
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		l.t.Fatalf("netlink handle for %s: %v", name, err)
	}
	l.t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		l.t.Fatalf("lo up in %s: %v", name, err)
	}
	return ns, h
}

// addHost creates namespace <prefix>-<suffix> with eth1 = ip/24 on the
// bridge and, when ip6 is given, ip6/64 as well, without duplicate address
// detection (so that the link-local address is usable at once too).
func (l *lab) addHost(suffix, ip string, ip6 ...string) *labHost {
	l.t.Helper()
	ns, h := l.newNS(suffix)
	host := &labHost{name: l.prefix + "-" + suffix, ns: ns, h: h, ip: netip.MustParseAddr(ip)}
	if len(ip6) > 0 {
		host.ip6 = netip.MustParseAddr(ip6[0])
		if err := InNamespace(ns, noDAD); err != nil {
			l.t.Fatalf("%s: %v", suffix, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "p-" + suffix}, PeerName: "eth1", PeerNamespace: netlink.NsFd(int(ns))}
	if err := l.hsw.LinkAdd(veth); err != nil {
		l.t.Fatalf("add veth for %s: %v", suffix, err)
	}
	port, err := l.hsw.LinkByName("p-" + suffix)
	if err != nil {
		l.t.Fatal(err)
	}
	br, err := l.hsw.LinkByName("br0")
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.hsw.LinkSetMaster(port, br); err != nil {
		l.t.Fatalf("attach %s: %v", suffix, err)
	}
	if err := l.hsw.LinkSetUp(port); err != nil {
		l.t.Fatal(err)
	}
	eth1, err := h.LinkByName("eth1")
	if err != nil {
		l.t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr(ip + "/24")
	if err := h.AddrAdd(eth1, addr); err != nil {
		l.t.Fatalf("address %s: %v", ip, err)
	}
	if host.ip6.IsValid() {
		addr6, _ := netlink.ParseAddr(host.ip6.String() + "/64")
		addr6.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(eth1, addr6); err != nil {
			l.t.Fatalf("address %s: %v", host.ip6, err)
		}
	}
	if err := h.LinkSetUp(eth1); err != nil {
		l.t.Fatal(err)
	}
	l.hosts[suffix] = host
	return host
}

// family is ip's netlink address family.
func family(ip netip.Addr) int {
	if ip.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// addrs returns host's eth1 addresses of the family.
func (h *labHost) addrs(t *testing.T, family int) []netlink.Addr {
	t.Helper()
	eth1, err := h.h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := h.h.AddrList(eth1, family)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// hasVIP reports whether host has vip (IPv4 or IPv6) on eth1.
func (h *labHost) hasVIP(t *testing.T, vip netip.Prefix) bool {
	t.Helper()
	for _, a := range h.addrs(t, family(vip.Addr())) {
		if a.IP.Equal(vip.Addr().AsSlice()) {
			return true
		}
	}
	return false
}

func (h *labHost) mac(t testing.TB) net.HardwareAddr {
	t.Helper()
	eth1, err := h.h.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	return eth1.Attrs().HardwareAddr
}

// neighMAC returns the host's ARP or neighbour entry for ip, nil if none.
func (h *labHost) neighMAC(t *testing.T, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	neighs, err := h.h.NeighList(0, family(ip))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if n.IP.Equal(ip.AsSlice()) && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) != 0 {
			return n.HardwareAddr
		}
	}
	return nil
}

// poke sends one UDP datagram from host to ip (discard port), which makes
// the host resolve ip with ARP or a neighbour solicitation.
func (h *labHost) poke(t *testing.T, ip netip.Addr) {
	t.Helper()
	err := InNamespace(h.ns, func() error {
		network := "udp4"
		if ip.Is6() {
			network = "udp6"
		}
		conn, err := net.Dial(network, netip.AddrPortFrom(ip, 9).String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte("arp"))
		return err
	})
	if err != nil {
		t.Fatalf("poke %v from %s: %v", ip, h.name, err)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type runningNode struct {
	node   *Node
	cancel context.CancelFunc
	done   chan error
	logs   *lockedBuffer
}

func (l *lab) runNode(host *labHost, ic InstanceConfig) *runningNode {
	l.t.Helper()
	return l.runNodeConfig(host, Config{Instances: []InstanceConfig{ic}})
}

// runNodeConfig runs a Node with cfg in host's namespace until t ends.
func (l *lab) runNodeConfig(host *labHost, cfg Config) *runningNode {
	l.t.Helper()
	rn := &runningNode{done: make(chan error, 1), logs: &lockedBuffer{}}
	node, err := NewNode(cfg, Options{
		NetNS:  host.ns,
		Logger: slog.New(slog.NewTextHandler(rn.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		l.t.Fatalf("NewNode: %v", err)
	}
	rn.node = node
	ctx, cancel := context.WithCancel(context.Background())
	rn.cancel = cancel
	go func() { rn.done <- node.Run(ctx) }()
	l.t.Cleanup(func() {
		rn.stop(l.t)
		if l.t.Failed() {
			l.t.Logf("logs of %s:\n%s", host.name, rn.logs.String())
		}
	})
	return rn
}

func (rn *runningNode) stop(t testing.TB) {
	t.Helper()
	if rn.cancel == nil {
		return
	}
	rn.cancel()
	rn.cancel = nil
	select {
	case err := <-rn.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not return")
	}
}

func (rn *runningNode) status() InstanceStatus { return rn.node.Status()[0] }

var labVIP = netip.MustParsePrefix("172.16.1.1/24")

func labInstance(prio uint8, v Version, advert time.Duration) InstanceConfig {
	ic := InstanceConfig{Name: "VI_1", Interface: "eth1", VRID: 51, Version: v, Priority: prio, AdvertInterval: advert,
		VIPs: []VIP{{Prefix: labVIP}}, GARP: GARPSchedule{Repeat: 5, Delay: time.Second}}
	if v == Version2 {
		ic.AuthType, ic.AuthPass = AuthPass, "dlpass"
	}
	return ic
}

// TestLabTwoNodes: two drlb instances in their own namespaces over a real
// bridge elect one master, the client's ARP entry follows the VIP, and
// stopping the master moves the VIP after skew time.
func TestLabTwoNodes(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	c := l.addHost("c", "172.16.1.100")
	// A VIP a killed predecessor left on b must go away at start.
	eth1, _ := b.h.LinkByName("eth1")
	stale, _ := netlink.ParseAddr(labVIP.String())
	if err := b.h.AddrAdd(eth1, stale); err != nil {
		t.Fatal(err)
	}
	advert := 100 * time.Millisecond
	na := l.runNode(a, labInstance(150, Version3, advert))
	nb := l.runNode(b, labInstance(100, Version3, advert))
	eventually(t, 3*time.Second, "a master, b backup of a", func() bool {
		return na.status().State == StateMaster && nb.status().State == StateBackup && nb.status().MasterIP == a.ip
	})
	if !a.hasVIP(t, labVIP) || b.hasVIP(t, labVIP) {
		t.Fatalf("VIP on a %v, b %v", a.hasVIP(t, labVIP), b.hasVIP(t, labVIP))
	}
	// The client resolves the VIP to a.
	c.poke(t, labVIP.Addr())
	eventually(t, 2*time.Second, "client ARP entry for the VIP points at a", func() bool {
		return c.neighMAC(t, labVIP.Addr()).String() == a.mac(t).String()
	})
	eventually(t, 2*time.Second, "b heard 3 adverts", func() bool { return nb.status().Counters.AdvertsReceived >= 3 })
	stopped := time.Now()
	na.stop(t)
	eventually(t, 2*time.Second, "b master", func() bool { return nb.status().State == StateMaster })
	took := time.Since(stopped)
	t.Logf("takeover after priority 0: %v (skew %v, Master_Down_Interval %v)", took,
		SkewTime(Version3, advert, 100), MasterDownInterval(Version3, advert, 100))
	if took >= MasterDownInterval(Version3, advert, 100) {
		t.Fatalf("takeover took %v, not faster than Master_Down_Interval", took)
	}
	if a.hasVIP(t, labVIP) || !b.hasVIP(t, labVIP) {
		t.Fatalf("after failover VIP on a %v, b %v", a.hasVIP(t, labVIP), b.hasVIP(t, labVIP))
	}
	// Gratuitous ARP updates the client's existing entry (the second burst
	// comes after the neighbour locktime).
	eventually(t, 3*time.Second, "client ARP entry points at b", func() bool {
		return c.neighMAC(t, labVIP.Addr()).String() == b.mac(t).String()
	})
	if st := nb.status(); st.Counters.PriorityZeroReceived == 0 || st.Counters.AdvertsReceived == 0 || st.SourceIP != b.ip {
		t.Fatalf("b status %+v", st)
	}
	if !strings.Contains(nb.logs.String(), "(VI_1) Entering MASTER STATE") {
		t.Fatalf("no keepalived-like log line:\n%s", nb.logs.String())
	}
}

// keepalived runs keepalived 2.2.7 VRRP-only in host's namespace.
type keepalived struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startKeepalived(t *testing.T, host *labHost, prio uint8, pass string) *keepalived {
	t.Helper()
	auth := fmt.Sprintf("authentication {\n    auth_type PASS\n    auth_pass %s\n  }", pass)
	return startKeepalivedConf(t, host, prio, "advert_int 1\n  "+auth)
}

// startKeepalivedConf starts keepalived with extra lines in its vrrp_instance.
func startKeepalivedConf(t *testing.T, host *labHost, prio uint8, extra string) *keepalived {
	t.Helper()
	testenv.Privileged(t, "keepalived")
	dir := t.TempDir()
	text := fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_garp_master_delay 1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth1
  virtual_router_id 51
  priority %d
  %s
  virtual_ipaddress {
    %s
  }
}
`, host.name, prio, extra, labVIP)
	return runKeepalived(t, host, dir, text)
}

// runKeepalived starts keepalived with the configuration text in host's
// namespace (files in dir) and stops it in t.Cleanup.
func runKeepalived(t *testing.T, host *labHost, dir, text string) *keepalived {
	t.Helper()
	testenv.Privileged(t, "keepalived")
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &keepalived{out: &lockedBuffer{}, done: make(chan struct{})}
	k.cmd = exec.Command("ip", "netns", "exec", host.name, "keepalived", "-n", "-l", "-D", "-P", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start keepalived: %v", err)
	}
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("keepalived output:\n%s", k.out.String())
		}
	})
	return k
}

// stop signals the keepalived we started (by its PID) and waits for it.
func (k *keepalived) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-k.done:
		return
	default:
	}
	if err := k.cmd.Process.Signal(sig); err != nil {
		t.Logf("signal keepalived: %v", err)
	}
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

// TestLabKeepalivedInterop: drlb and keepalived 2.2.7 as a VRRPv2 pair
// with PASS authentication, master in turn both ways.
func TestLabKeepalivedInterop(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	k := startKeepalived(t, a, 150, "dlpass")
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	nb := l.runNode(b, labInstance(100, Version2, time.Second))
	eventually(t, 3*time.Second, "drlb backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == a.ip && s.Counters.AdvertsReceived >= 2
	})
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("drlb dropped keepalived's adverts: %v", d)
	}
	// SIGTERM: keepalived sends priority 0, drlb takes over after skew time.
	stopped := time.Now()
	k.stop(t, syscall.SIGTERM)
	eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster })
	took := time.Since(stopped)
	t.Logf("drlb took over %v after keepalived's SIGTERM (skew %v, Master_Down_Interval %v)", took,
		SkewTime(Version2, time.Second, 100), MasterDownInterval(Version2, time.Second, 100))
	if took >= MasterDownInterval(Version2, time.Second, 100) || nb.status().Counters.PriorityZeroReceived == 0 {
		t.Fatalf("takeover after %v, priority 0 received %d", took, nb.status().Counters.PriorityZeroReceived)
	}
	if !b.hasVIP(t, labVIP) {
		t.Fatal("drlb master without VIP")
	}
	// keepalived returns with a higher priority and preempts drlb.
	startKeepalived(t, a, 150, "dlpass")
	eventually(t, 8*time.Second, "keepalived preempts drlb", func() bool {
		return nb.status().State == StateBackup && a.hasVIP(t, labVIP) && !b.hasVIP(t, labVIP)
	})
	// And the other way: drlb with higher priority as master, keepalived backup.
	nb.stop(t)
	nb2 := l.runNode(b, labInstance(200, Version2, time.Second))
	eventually(t, 8*time.Second, "drlb preempts keepalived", func() bool {
		return nb2.status().State == StateMaster && b.hasVIP(t, labVIP) && !a.hasVIP(t, labVIP)
	})
	// drlb stops: keepalived takes over (it accepted our adverts and priority 0).
	nb2.stop(t)
	eventually(t, 3*time.Second, "keepalived master again", func() bool { return a.hasVIP(t, labVIP) })
}

// TestLabKeepalivedWrongPassword: with different auth_pass both become
// master and drlb's drop counter says why.
func TestLabKeepalivedWrongPassword(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	startKeepalived(t, a, 150, "dlpass")
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	ic := labInstance(100, Version2, time.Second)
	ic.AuthPass = "wrong"
	nb := l.runNode(b, ic)
	eventually(t, 6*time.Second, "both master", func() bool {
		return nb.status().State == StateMaster && a.hasVIP(t, labVIP) && b.hasVIP(t, labVIP)
	})
	if d := nb.status().Counters.Drops[DropAuth]; d == 0 {
		t.Fatalf("no auth drops counted: %v", nb.status().Counters.Drops)
	}
}

// nftSwitch runs an nft command in the lab's switch namespace.
func (l *lab) nftSwitch(args ...string) {
	l.t.Helper()
	full := append([]string{"netns", "exec", l.prefix + "-sw", "nft"}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		l.t.Fatalf("nft %v: %v\n%s", args, err, out)
	}
}

// TestLabPartition: VRRP dropped on the bridge makes both masters (the
// backup after Master_Down_Interval); healing leaves exactly one master,
// and the client's ARP entry points at it.
func TestLabPartition(t *testing.T) {
	testenv.Privileged(t, "nft")
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	c := l.addHost("c", "172.16.1.100")
	advert := 100 * time.Millisecond
	na := l.runNode(a, labInstance(150, Version3, advert))
	nb := l.runNode(b, labInstance(100, Version3, advert))
	eventually(t, 3*time.Second, "a master, b backup", func() bool {
		return na.status().State == StateMaster && nb.status().State == StateBackup
	})
	c.poke(t, labVIP.Addr())
	eventually(t, 2*time.Second, "client ARP entry points at a", func() bool {
		return c.neighMAC(t, labVIP.Addr()).String() == a.mac(t).String()
	})
	l.nftSwitch("add", "table", "bridge", "vrrpt")
	l.nftSwitch("add", "chain", "bridge", "vrrpt", "cvrrp", "{ type filter hook forward priority 0 ; }")
	l.nftSwitch("add", "rule", "bridge", "vrrpt", "cvrrp", "ip", "protocol", "112", "drop")
	cut := time.Now()
	eventually(t, 2*time.Second, "b master in the partition", func() bool { return nb.status().State == StateMaster })
	took := time.Since(cut)
	t.Logf("partition: b master after %v (Master_Down_Interval %v)", took, MasterDownInterval(Version3, advert, 100))
	if took < 3*advert {
		t.Fatalf("b took over after %v, before 3 advert intervals", took)
	}
	if na.status().State != StateMaster {
		t.Fatal("a left MASTER although it heard nothing")
	}
	// ARP is not VRRP: b's gratuitous ARPs reach the client.
	eventually(t, 3*time.Second, "client ARP entry points at b in the partition", func() bool {
		return c.neighMAC(t, labVIP.Addr()).String() == b.mac(t).String()
	})
	l.nftSwitch("delete", "table", "bridge", "vrrpt")
	eventually(t, 2*time.Second, "one master after healing", func() bool {
		return na.status().State == StateMaster && nb.status().State == StateBackup && a.hasVIP(t, labVIP) && !b.hasVIP(t, labVIP)
	})
	// a heard b's lower-priority adverts and announced the VIP again.
	eventually(t, 3*time.Second, "client ARP entry points at a again", func() bool {
		return c.neighMAC(t, labVIP.Addr()).String() == a.mac(t).String()
	})
}

// TestLabUnicast: unicast_peer mode with unicast_src_ip.
func TestLabUnicast(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	advert := 100 * time.Millisecond
	ia := labInstance(150, Version3, advert)
	ia.SourceIP, ia.UnicastPeers = a.ip, []netip.Addr{b.ip}
	ib := labInstance(100, Version3, advert)
	ib.SourceIP, ib.UnicastPeers = b.ip, []netip.Addr{a.ip}
	na := l.runNode(a, ia)
	nb := l.runNode(b, ib)
	eventually(t, 3*time.Second, "a master, b backup of a", func() bool {
		return na.status().State == StateMaster && nb.status().State == StateBackup && nb.status().MasterIP == a.ip
	})
	na.stop(t)
	eventually(t, time.Second, "b master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP) })
	if nb.status().Counters.PriorityZeroReceived != 1 {
		t.Fatalf("b counters %+v", nb.status().Counters)
	}
}

// TestLabKeepalivedV3: keepalived with vrrp_version 3 and advert_int 0.1
// checks our pseudo-header checksum and centisecond interval both ways.
func TestLabKeepalivedV3(t *testing.T) {
	l := newLab(t)
	a := l.addHost("a", "172.16.1.2")
	b := l.addHost("b", "172.16.1.3")
	advert := 100 * time.Millisecond
	k := startKeepalivedConf(t, a, 150, "version 3\n  advert_int 0.1")
	eventually(t, 8*time.Second, "keepalived master", func() bool { return a.hasVIP(t, labVIP) })
	nb := l.runNode(b, labInstance(100, Version3, advert))
	eventually(t, 3*time.Second, "drlb backup of keepalived", func() bool {
		s := nb.status()
		return s.State == StateBackup && s.MasterIP == a.ip && s.Counters.AdvertsReceived >= 5
	})
	if d := nb.status().Counters.Drops; len(d) != 0 {
		t.Fatalf("drlb dropped keepalived's v3 adverts: %v", d)
	}
	k.stop(t, syscall.SIGTERM)
	eventually(t, 3*time.Second, "drlb master", func() bool { return nb.status().State == StateMaster && b.hasVIP(t, labVIP) })
	// keepalived (lower priority now) must accept our v3 adverts and stay backup.
	startKeepalivedConf(t, a, 50, "version 3\n  advert_int 0.1")
	// keepalived's own Master_Down_Interval is about 0.5 s: watch for 2 s.
	consistently(t, 2*time.Second, "drlb stays the only master", func() bool {
		return !a.hasVIP(t, labVIP) && nb.status().State == StateMaster
	})
}
