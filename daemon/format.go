package daemon

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drlb/drlb/daemon/api"
)

// WriteStatus prints a status for people: the daemon, its VRRP instances,
// then the forwarding table in `ipvsadm -ln` layout with each real server's
// health and last check result.
func WriteStatus(w io.Writer, st *api.Status, now time.Time) {
	fmt.Fprintf(w, "drlb %s, pid %d, config %s", st.Version, st.PID, st.ConfigFile)
	if st.ConfigID != "" {
		fmt.Fprintf(w, " (config-id %s)", st.ConfigID)
	}
	fmt.Fprintf(w, ", up %s, %d reloads, data plane %s\n", now.Sub(st.Started).Round(time.Second), st.Reloads, st.Dataplane)
	if c := st.VRRPChild; c != nil {
		fmt.Fprintf(w, "VRRP child pid %d, %s, %d restarts\n", c.PID, c.State, c.Restarts)
	}
	if len(st.Instances) > 0 {
		fmt.Fprintln(w, "\nVRRP")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tINTERFACE\tVRID\tVER\tSTATE\tPRIO\tMASTER\tVIPS\tSINCE\tSENT\tRECV\tDROPS")
		for _, in := range st.Instances {
			prio := fmt.Sprint(in.Priority)
			if in.EffectivePriority != in.Priority {
				prio = fmt.Sprintf("%d (%d)", in.EffectivePriority, in.Priority)
			}
			master := in.MasterAddr
			if master == "" {
				master = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\tv%d\t%s\t%s\t%s\t%s\t%s ago\t%d\t%d\t%s\n", in.Name, in.Interface, in.VRID, in.Version,
				in.State, prio, master, strings.Join(in.VIPs, ","), now.Sub(in.Since).Round(time.Second),
				in.AdvertsSent, in.AdvertsReceived, formatDrops(in.Drops))
		}
		tw.Flush()
	}
	writeBGP(w, st.BGP, now)
	if len(st.Services) == 0 {
		return
	}
	fmt.Fprintf(w, "\nIP Virtual Server (drlb, data plane %s)\n", st.Dataplane)
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health")
	for _, s := range st.Services {
		flags := s.Flags
		if !s.Quorum {
			flags = strings.TrimSpace(flags + " quorum-lost")
		}
		if s.FWMark() {
			fmt.Fprintf(w, "FWM  %s %s %s\n", strings.TrimPrefix(s.Address, "FWM "), s.Scheduler, flags)
		} else {
			fmt.Fprintf(w, "%-4s %s %s %s\n", s.Protocol, s.Address, s.Scheduler, flags)
		}
		for _, r := range s.Reals {
			weight := fmt.Sprint(r.Weight)
			if !r.InTable {
				weight = "-"
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-6s %-10d %-9d %s\n", r.Address, s.Method, weight, r.ActiveConn, r.InActConn, healthText(r, now))
		}
		if s.SorryServer != "" {
			fmt.Fprintf(w, "  -> %-28s %-7s %-6s %-10s %-9s sorry server (no quorum)\n", s.SorryServer, s.Method, "1", "-", "-")
		}
	}
}

func healthText(r api.Real, now time.Time) string {
	state := "DOWN"
	if r.Healthy {
		state = "up"
	}
	if !r.InTable {
		state += ", not in table"
	}
	if r.LastCheck.IsZero() {
		return state + " (not checked yet)"
	}
	return fmt.Sprintf("%s (%s, %s, %s ago)", state, r.LastReason, r.Latency.Round(10*time.Microsecond), now.Sub(r.LastCheck).Round(100*time.Millisecond))
}

func formatDrops(drops map[string]uint64) string {
	if len(drops) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, drops[k])
	}
	return strings.Join(parts, ",")
}

// writeBGP prints the BGP speaker's sessions and routes.
func writeBGP(w io.Writer, b *api.BGP, now time.Time) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nBGP (router id %s, AS %d)\n", b.RouterID, b.LocalAS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NEIGHBOR\tAS\tSTATE\tSINCE\tHOLD\tUPDATES SENT\tRECV\tLAST ERROR")
	for _, s := range b.Sessions {
		since, hold, lastErr := "-", "-", s.LastError
		if !s.Since.IsZero() {
			since = now.Sub(s.Since).Round(time.Second).String() + " ago"
		}
		if s.HoldTime > 0 {
			hold = s.HoldTime.String()
		}
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Neighbor, s.RemoteAS, s.State, since, hold, s.UpdatesSent, s.UpdatesReceived, lastErr)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSERVICE\tANNOUNCED\tWHY")
	for _, r := range b.Routes {
		ann := "no"
		if r.Announced {
			ann = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Prefix, r.Service, ann, r.Reason)
	}
	tw.Flush()
}
