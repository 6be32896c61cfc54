package scenarios

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"text/template"

	"github.com/drlb/drlb/topology"
)

// LabValues are the lab facts templates may use.
type LabValues struct {
	// VIP is the lab's first virtual address.
	VIP string
	// Addrs maps each host to its primary address.
	Addrs map[string]string
	// Page returns a host's original page content (topology.DefaultPage).
	Page func(host, path string) (string, bool)
}

// ValuesFor returns the template values of a topology spec.
func ValuesFor(spec *topology.Spec) LabValues { return ValuesForFamily(spec, false) }

// ValuesForFamily returns the template values of a topology spec for one
// address family: with ipv6 set, the first IPv6 VIP and the hosts' IPv6
// addresses (a scenario's "family: ipv6").
func ValuesForFamily(spec *topology.Spec, ipv6 bool) LabValues {
	v := LabValues{Addrs: map[string]string{}, Page: topology.DefaultPage}
	for _, s := range spec.VIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() == ipv6 {
			v.VIP = s
			break
		}
	}
	primary := spec.PrimaryAddr
	if ipv6 {
		primary = spec.PrimaryAddr6
	}
	for _, h := range spec.HostNames() {
		if a, ok := primary(h); ok {
			v.Addrs[h] = a.String()
		}
	}
	return v
}

// TemplateData is what a template sees as "." : {{.VIP}}, {{.Host}}, {{.Addr}}.
type TemplateData struct {
	VIP  string            // the lab's VIP
	Host string            // the host the text is for
	Addr string            // that host's address
	Vars map[string]string // the host's vars
}

// Render fills a template (a daemon config, a URL, a page) for host.
// Functions:
//
//	{{addr "rs1"}}                  rs1's address
//	{{digest "rs1" "/teste.html"}}  MD5 hex of rs1's original page (what genhash prints)
//	{{var "priority" "100"}}        the host's var, or the default (an error without one)
//	{{list "rs1 rs2"}}              split on spaces, for range
//	{{has "rs1 rs2" "rs1"}}         whether a space-separated list holds a word
func Render(name, text string, lab LabValues, host string, vars map[string]string) (string, error) {
	funcs := template.FuncMap{
		"addr": func(h string) (string, error) {
			a, ok := lab.Addrs[h]
			if !ok {
				return "", fmt.Errorf("addr: no host %q (hosts: %s)", h, strings.Join(sortedKeys(lab.Addrs), ", "))
			}
			return a, nil
		},
		"digest": func(h, path string) (string, error) {
			if lab.Page == nil {
				return "", fmt.Errorf("digest: no pages")
			}
			body, ok := lab.Page(h, path)
			if !ok {
				return "", fmt.Errorf("digest: %s has no original page %s", h, path)
			}
			return Digest([]byte(body)), nil
		},
		"var": func(key string, def ...string) (string, error) {
			if v, ok := vars[key]; ok {
				return v, nil
			}
			if len(def) > 0 {
				return def[0], nil
			}
			return "", fmt.Errorf("var %q is not set for %s and has no default", key, host)
		},
		"list": strings.Fields,
		"has": func(list, word string) bool {
			for _, w := range strings.Fields(list) {
				if w == word {
					return true
				}
			}
			return false
		},
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b strings.Builder
	data := TemplateData{VIP: lab.VIP, Host: host, Addr: lab.Addrs[host], Vars: vars}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s for %s: %w", name, host, err)
	}
	return b.String(), nil
}

// Digest is the lowercase hex MD5 of body, as keepalived's genhash prints it.
func Digest(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// ResolveServer turns a real-server reference (a host name, an IP, or
// IP:PORT) into an address prefix to match against table entries ("IP:").
func ResolveServer(ref string, addrs map[string]string) string {
	a, ok := addrs[ref]
	if !ok {
		a = ref
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		if ip.Is6() {
			return "[" + a + "]:" // as drlb status writes IPv6 servers
		}
		return a + ":"
	}
	return ref
}

// HostOfAddr maps an address (with or without port) back to a host name, or returns it unchanged.
func HostOfAddr(addr string, addrs map[string]string) string {
	ip := addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr().String()
	}
	hosts := sortedKeys(addrs)
	sort.Strings(hosts)
	for _, h := range hosts {
		if addrs[h] == ip {
			return h
		}
	}
	return addr
}
