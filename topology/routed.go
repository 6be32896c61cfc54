package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vishvananda/netlink"
)

// FRRService runs FRRouting (Debian package frr) in a lab host: zebra,
// which installs routes in the host's namespace, and bgpd. Each lab host
// gets its own FRR pathspace (`-N <lab>-<host>`: sockets under
// /var/run/frr/<lab>-<host>), so labs run side by side; `drlab down`
// stops both by PID and removes the pathspace.
type FRRService struct {
	// Config is bgpd's configuration (frr.conf syntax).
	Config string `yaml:"config" json:"config"`
}

// FRRDir is where FRR keeps its per-pathspace sockets and pid files.
const FRRDir = "/var/run/frr"

// FRRBin is where Debian installs the FRR daemons.
const FRRBin = "/usr/lib/frr"

// FRRPathspace is the FRR pathspace of a lab host (vtysh -N).
func (l *Lab) FRRPathspace(host string) string { return l.NSName(host) }

func kinds(svc Service) int {
	n := 0
	if svc.Web != nil {
		n++
	}
	if len(svc.Command) > 0 {
		n++
	}
	if svc.FRR != nil {
		n++
	}
	return n
}

// Route is one static route of a host: Dst (zero for the default route) via Gateway.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// ParseRoute parses "DEST via GATEWAY", DEST a prefix or "default".
func ParseRoute(s string) (Route, error) {
	f := strings.Fields(s)
	if len(f) != 3 || f[1] != "via" {
		return Route{}, fmt.Errorf("route %q: want \"DEST via GATEWAY\"", s)
	}
	gw, err := netip.ParseAddr(f[2])
	if err != nil {
		return Route{}, fmt.Errorf("route %q: gateway: %w", s, err)
	}
	r := Route{Gateway: gw}
	if f[0] == "default" {
		r.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if gw.Is6() {
			r.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return r, nil
	}
	if r.Dst, err = netip.ParsePrefix(f[0]); err != nil {
		return Route{}, fmt.Errorf("route %q: destination: %w", s, err)
	}
	if r.Dst.Addr().Is4() != gw.Is4() {
		return Route{}, fmt.Errorf("route %q: destination and gateway are of different families", s)
	}
	r.Dst = r.Dst.Masked()
	return r, nil
}

// addRoutes installs every host's static routes.
func (l *Lab) addRoutes() error {
	for _, host := range l.spec.Hosts {
		if len(host.Routes) == 0 {
			continue
		}
		h, err := l.Handle(host.Name)
		if err != nil {
			return err
		}
		for _, s := range host.Routes {
			r, err := ParseRoute(s)
			if err != nil {
				return fmt.Errorf("host %s: %w", host.Name, err)
			}
			dst := &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}
			if err := h.RouteReplace(&netlink.Route{Dst: dst, Gw: r.Gateway.AsSlice()}); err != nil {
				return fmt.Errorf("host %s: route %s: %w", host.Name, s, err)
			}
		}
	}
	return nil
}

// startFRR writes the FRR configuration of a host and starts zebra, then
// bgpd, as lab processes (<service>-zebra, <service>-bgpd) in the
// foreground, so the lab records and later stops them by PID.
func (l *Lab) startFRR(ctx context.Context, host string, svc Service) error {
	if _, err := os.Stat(filepath.Join(FRRBin, "bgpd")); err != nil {
		return fmt.Errorf("service %s in %s: FRR is not installed (Debian package frr; `make deps`): %w", svc.Name, host, err)
	}
	ps := l.FRRPathspace(host)
	dir := filepath.Join(l.dir, "frr", host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("service %s in %s: %w", svc.Name, host, err)
	}
	zebraConf := filepath.Join(dir, "zebra.conf")
	bgpdConf := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(zebraConf, []byte("hostname "+host+"\nlog stdout informational\n"), 0o644); err != nil {
		return fmt.Errorf("service %s in %s: %w", svc.Name, host, err)
	}
	if err := os.WriteFile(bgpdConf, []byte(svc.FRR.Config), 0o644); err != nil {
		return fmt.Errorf("service %s in %s: %w", svc.Name, host, err)
	}
	if err := ensureFRRDir(); err != nil {
		return fmt.Errorf("service %s in %s: %w", svc.Name, host, err)
	}
	// A pathspace left by a crashed run would hold stale sockets and pid files.
	_ = os.RemoveAll(filepath.Join(FRRDir, ps))
	// -P 0: no vty TCP port; vtysh talks over the pathspace's unix sockets.
	common := []string{"-N", ps, "-P", "0", "--log", "stdout"}
	if _, err := l.Start(host, ProcSpec{Name: svc.Name + "-zebra", Argv: append([]string{filepath.Join(FRRBin, "zebra"), "-f", zebraConf}, common...)}); err != nil {
		return err
	}
	if err := waitFile(ctx, filepath.Join(FRRDir, ps, "zserv.api")); err != nil {
		return fmt.Errorf("service %s in %s: zebra not ready: %w", svc.Name, host, err)
	}
	if _, err := l.Start(host, ProcSpec{Name: svc.Name + "-bgpd", Argv: append([]string{filepath.Join(FRRBin, "bgpd"), "-f", bgpdConf}, common...)}); err != nil {
		return err
	}
	if err := waitFile(ctx, filepath.Join(FRRDir, ps, "bgpd.vty")); err != nil {
		return fmt.Errorf("service %s in %s: bgpd not ready: %w", svc.Name, host, err)
	}
	return nil
}

// ensureFRRDir makes FRRDir if a reboot (a tmpfs /run without systemd's
// tmpfiles) removed it: owned by user frr, whom the daemons drop to.
func ensureFRRDir() error {
	if _, err := os.Stat(FRRDir); err == nil {
		return nil
	}
	if err := os.MkdirAll(FRRDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", FRRDir, err)
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("FRR's user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(FRRDir, uid, gid); err != nil {
		return fmt.Errorf("chown %s to frr: %w", FRRDir, err)
	}
	return nil
}

func waitFile(ctx context.Context, path string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// removeFRRPathspaces removes the FRR pathspaces of a lab's hosts (after
// its processes are gone).
func removeFRRPathspaces(lab string, spec *Spec) error {
	var errs []error
	for _, h := range spec.Hosts {
		for _, svc := range h.Services {
			if svc.FRR == nil {
				continue
			}
			if err := os.RemoveAll(filepath.Join(FRRDir, nsName(lab, h.Name))); err != nil { // FRRPathspace
				errs = append(errs, fmt.Errorf("remove FRR pathspace of %s: %w", h.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Vtysh runs one vtysh command against the FRR of host (its pathspace).
func (l *Lab) Vtysh(ctx context.Context, host, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "vtysh", "-N", l.FRRPathspace(host), "-c", command)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("vtysh -N %s -c %q: %w: %s", l.FRRPathspace(host), command, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return string(out), fmt.Errorf("vtysh -N %s -c %q: %w", l.FRRPathspace(host), command, err)
	}
	return string(out), nil
}

// NextHops returns the next hops of host's route to dst as the kernel
// holds it (an ECMP route has several), sorted; none when there is no route.
func (l *Lab) NextHops(host string, dst netip.Addr) ([]netip.Addr, error) {
	h, err := l.Handle(host)
	if err != nil {
		return nil, err
	}
	family := netlink.FAMILY_V4
	if dst.Is6() {
		family = netlink.FAMILY_V6
	}
	routes, err := h.RouteListFiltered(family, &netlink.Route{Dst: &net.IPNet{IP: dst.AsSlice(), Mask: net.CIDRMask(dst.BitLen(), dst.BitLen())}},
		netlink.RT_FILTER_DST)
	if err != nil {
		return nil, fmt.Errorf("routes of %s to %s: %w", host, dst, err)
	}
	var out []netip.Addr
	for _, r := range routes {
		if gw, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
			out = append(out, gw.Unmap())
		}
		for _, nh := range r.MultiPath {
			if gw, ok := netip.AddrFromSlice(nh.Gw); ok && nh.Gw != nil {
				out = append(out, gw.Unmap())
			}
		}
	}
	sortAddrs(out)
	return out, nil
}

func sortAddrs(as []netip.Addr) { slices.SortFunc(as, netip.Addr.Compare) }

// RouterStatus is an FRR router's BGP sessions and its routes to the lab's VIPs.
type RouterStatus struct {
	Host     string          `json:"host"`
	Sessions []BGPPeerStatus `json:"sessions"`
	// NextHops maps each VIP to the router's next hops for it (ECMP).
	NextHops map[string][]string `json:"next_hops"`
	// Error is set when FRR could not be asked.
	Error string `json:"error,omitempty"`
}

// BGPPeerStatus is one BGP neighbor of a router, from `show bgp summary json`.
type BGPPeerStatus struct {
	Neighbor string `json:"neighbor"`
	RemoteAS uint32 `json:"remote_as"`
	State    string `json:"state"`
	Prefixes int    `json:"prefixes_received"`
	Uptime   string `json:"uptime"`
}

// BGPPeers asks the FRR of host for its IPv4 unicast BGP neighbors, sorted by address.
func (l *Lab) BGPPeers(ctx context.Context, host string) ([]BGPPeerStatus, error) {
	out, err := l.Vtysh(ctx, host, bgpSummary)
	if err != nil {
		return nil, err
	}
	return parsePeers(host, out)
}

const bgpSummary = "show bgp ipv4 unicast summary json"

// parsePeers reads `show bgp ipv4 unicast summary json`.
func parsePeers(host, out string) ([]BGPPeerStatus, error) {
	var doc struct {
		Peers map[string]struct {
			RemoteAS      uint32 `json:"remoteAs"`
			State         string `json:"state"`
			PfxRcd        int    `json:"pfxRcd"`
			PeerUptime    string `json:"peerUptime"`
			DynamicPeerOK bool   `json:"dynamicPeer"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("show bgp summary of %s: %w", host, err)
	}
	var peers []BGPPeerStatus
	for addr, p := range doc.Peers {
		peers = append(peers, BGPPeerStatus{Neighbor: addr, RemoteAS: p.RemoteAS, State: p.State, Prefixes: p.PfxRcd, Uptime: p.PeerUptime})
	}
	slices.SortFunc(peers, func(a, b BGPPeerStatus) int {
		x, _ := netip.ParseAddr(a.Neighbor)
		y, _ := netip.ParseAddr(b.Neighbor)
		return x.Compare(y)
	})
	return peers, nil
}

// routerStatus reports every FRR host of the lab.
func (l *Lab) routerStatus() []RouterStatus {
	var out []RouterStatus
	for _, h := range l.spec.Hosts {
		frr := false
		for _, svc := range h.Services {
			frr = frr || svc.FRR != nil
		}
		if !frr {
			continue
		}
		rs := RouterStatus{Host: h.Name, NextHops: map[string][]string{}}
		var err error
		// Vtysh bounds the command at 5 s: Status has no context to pass.
		if rs.Sessions, err = l.BGPPeers(context.Background(), h.Name); err != nil {
			rs.Error = err.Error()
		}
		for _, v := range l.spec.VIPs {
			vip, err := netip.ParseAddr(v)
			if err != nil {
				continue
			}
			hops, err := l.NextHops(h.Name, vip)
			if err != nil {
				rs.Error = err.Error()
				continue
			}
			for _, a := range hops {
				rs.NextHops[v] = append(rs.NextHops[v], a.String())
			}
		}
		out = append(out, rs)
	}
	return out
}

// writeRouters prints routers' BGP sessions and ECMP next hops.
func writeRouters(w io.Writer, routers []RouterStatus) {
	for _, r := range routers {
		fmt.Fprintf(w, "\nrouter %s: BGP sessions\n", r.Host)
		if r.Error != "" {
			fmt.Fprintf(w, "  (%s)\n", r.Error)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NEIGHBOR\tAS\tSTATE\tPREFIXES\tUP/DOWN")
		for _, p := range r.Sessions {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\n", p.Neighbor, p.RemoteAS, p.State, p.Prefixes, p.Uptime)
		}
		tw.Flush()
		vips := make([]string, 0, len(r.NextHops))
		for v := range r.NextHops {
			vips = append(vips, v)
		}
		slices.Sort(vips)
		for _, v := range vips {
			fmt.Fprintf(w, "  route to %s: ECMP over %d next hops: %s\n", v, len(r.NextHops[v]), strings.Join(r.NextHops[v], ", "))
		}
	}
}
