package daemon

import (
	"fmt"
	"strings"

	"github.com/drlb/drlb/daemon/config"
)

// reloadRefusal says why a reload from running to next would be refused
// as destructive, or "" when it may go ahead. A truncated deploy or a full
// disk leaves a file with nothing in it; loading it would send priority 0,
// drop every VIP and empty the forwarding table. So a reload is refused
// when next has no directives at all (config.Config.Empty), or when it
// would remove every VRRP instance and every virtual server that runs now
// (with opts.VRRPOnly only instances run, with opts.CheckOnly only virtual
// servers). allowEmpty (drlb reload --allow-empty) lets both through: the
// operator means it. keepalived has no such guard; it reloads into
// anything valid.
func reloadRefusal(running, next *config.Config, opts Options, allowEmpty bool) string {
	if allowEmpty {
		return ""
	}
	runs := func(c *config.Config) (instances []config.VRRPInstance, services []config.VirtualServer) {
		if !opts.CheckOnly {
			instances = c.Instances
		}
		if !opts.VRRPOnly {
			services = c.VirtualServers
		}
		return instances, services
	}
	nowInstances, nowServices := runs(running)
	nextInstances, nextServices := runs(next)
	empty := next.Empty()
	removesAll := len(nextInstances) == 0 && len(nextServices) == 0 && (len(nowInstances) > 0 || len(nowServices) > 0)
	if !empty && !removesAll {
		return ""
	}
	var why []string
	if empty {
		why = append(why, "the file has no directives")
	}
	if removesAll {
		var what []string
		if len(nowInstances) > 0 {
			names := make([]string, len(nowInstances))
			for i, in := range nowInstances {
				names[i] = in.Name
			}
			what = append(what, "every VRRP instance ("+listSome(names)+")")
		}
		if len(nowServices) > 0 {
			ids := make([]string, len(nowServices))
			for i := range nowServices {
				ids[i] = ServiceID(&nowServices[i])
			}
			what = append(what, "every virtual server ("+listSome(ids)+")")
		}
		why = append(why, "it would remove "+strings.Join(what, " and "))
	}
	return "reload refused: " + strings.Join(why, ", and ") +
		"; the running configuration stays (drlb reload --allow-empty if you mean it)"
}

// listSome joins up to five names and says how many more there are.
func listSome(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}
