package topology

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vishvananda/netlink"
)

// Status is a snapshot of a running lab.
type Status struct {
	Name     string       `json:"name"`
	Topology string       `json:"topology"`
	Created  time.Time    `json:"created"`
	Dir      string       `json:"dir"`
	Hosts    []HostStatus `json:"hosts"`
	VIPs     []VIPStatus  `json:"vips"`
	// Routers are the FRR hosts' BGP sessions and ECMP next hops (routed topologies).
	Routers []RouterStatus `json:"routers,omitempty"`
}

// HostStatus is one host's namespace, interfaces and processes.
type HostStatus struct {
	Name       string            `json:"name"`
	Role       string            `json:"role,omitempty"`
	Namespace  string            `json:"namespace"`
	Interfaces []InterfaceStatus `json:"interfaces"`
	Processes  []ProcessStatus   `json:"processes,omitempty"`
}

// InterfaceStatus is an interface and its IPv4/IPv6 global addresses.
type InterfaceStatus struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac,omitempty"`
	Up        bool     `json:"up"`
	Addresses []string `json:"addresses,omitempty"`
}

// ProcessStatus is a recorded process.
type ProcessStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}

// VIPStatus says which hosts hold a VIP on a non-loopback interface (the
// balancer answering ARP for it). More than one owner is a split brain.
type VIPStatus struct {
	VIP    string   `json:"vip"`
	Owners []string `json:"owners"`
}

// Status reads the lab's current state from the kernel and the process table.
func (l *Lab) Status() (*Status, error) {
	st, err := l.store.read()
	if err != nil {
		return nil, err
	}
	out := &Status{Name: l.name, Topology: l.spec.Name, Created: st.Created, Dir: l.dir}
	owners := map[string][]string{}
	for _, host := range l.spec.Hosts {
		hs := HostStatus{Name: host.Name, Role: host.Role, Namespace: l.NSName(host.Name)}
		h, err := l.Handle(host.Name)
		if err != nil {
			return nil, err
		}
		links, err := h.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list links of %s: %w", host.Name, err)
		}
		sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
		for _, link := range links {
			a := link.Attrs()
			is := InterfaceStatus{Name: a.Name, Up: a.Flags&(1<<0) != 0}
			if len(a.HardwareAddr) > 0 && a.Name != "lo" {
				is.MAC = a.HardwareAddr.String()
			}
			addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
			if err != nil {
				return nil, fmt.Errorf("list addresses of %s %s: %w", host.Name, a.Name, err)
			}
			for _, addr := range addrs {
				if addr.IP.IsLinkLocalUnicast() || addr.IP.IsLoopback() {
					continue
				}
				is.Addresses = append(is.Addresses, addr.IPNet.String())
				if a.Name != "lo" {
					ip, _ := netip.AddrFromSlice(addr.IP)
					owners[ip.Unmap().String()] = append(owners[ip.Unmap().String()], host.Name)
				}
			}
			hs.Interfaces = append(hs.Interfaces, is)
		}
		for _, p := range st.Processes {
			if p.Host == host.Name {
				hs.Processes = append(hs.Processes, ProcessStatus{Name: p.Name, PID: p.PID, Running: p.alive(), Log: p.Log})
			}
		}
		out.Hosts = append(out.Hosts, hs)
	}
	for _, vip := range l.spec.VIPs {
		out.VIPs = append(out.VIPs, VIPStatus{VIP: vip, Owners: owners[vip]})
	}
	out.Routers = l.routerStatus()
	return out, nil
}

// VIPOwners lists the hosts holding vip on a non-loopback interface.
func (l *Lab) VIPOwners(vip netip.Addr) ([]string, error) {
	var out []string
	for _, host := range l.spec.Hosts {
		h, err := l.Handle(host.Name)
		if err != nil {
			return nil, err
		}
		addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", host.Name, err)
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.Unmap() != vip {
				continue
			}
			link, err := h.LinkByIndex(a.LinkIndex)
			if err == nil && link.Attrs().Name != "lo" {
				out = append(out, host.Name)
				break
			}
		}
	}
	return out, nil
}

// WriteText prints the status for people.
func (s *Status) WriteText(w io.Writer) {
	fmt.Fprintf(w, "lab %s (topology %s), up since %s, state in %s\n", s.Name, s.Topology, s.Created.Local().Format(time.TimeOnly), s.Dir)
	for _, v := range s.VIPs {
		switch len(v.Owners) {
		case 0:
			if len(s.Routers) > 0 {
				fmt.Fprintf(w, "VIP %s: routed by BGP (router next hops below)\n", v.VIP)
				continue
			}
			fmt.Fprintf(w, "VIP %s: no balancer holds it\n", v.VIP)
		case 1:
			fmt.Fprintf(w, "VIP %s: held by %s\n", v.VIP, v.Owners[0])
		default:
			fmt.Fprintf(w, "VIP %s: held by %s (SPLIT BRAIN)\n", v.VIP, strings.Join(v.Owners, ", "))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nHOST\tROLE\tINTERFACE\tADDRESSES\tPROCESSES")
	for _, h := range s.Hosts {
		var procs []string
		for _, p := range h.Processes {
			state := "exited"
			if p.Running {
				state = fmt.Sprintf("pid %d", p.PID)
			}
			procs = append(procs, fmt.Sprintf("%s (%s)", p.Name, state))
		}
		first := true
		for _, i := range h.Interfaces {
			if len(i.Addresses) == 0 {
				continue
			}
			name, role, ps := "", "", ""
			if first {
				name, role, ps = h.Name, h.Role, strings.Join(procs, ", ")
				first = false
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, role, i.Name, strings.Join(i.Addresses, " "), ps)
		}
	}
	tw.Flush()
	writeRouters(w, s.Routers)
}
