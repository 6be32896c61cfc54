package check

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// ProbeDNS runs DNS_CHECK as keepalived's check_dns does: one query over
// UDP (type, default SOA; name, default "."), recursion desired; the check
// passes when the answer carries the query's ID, is a response, has
// RCODE NOERROR and at least one answer record.
func ProbeDNS(ctx context.Context, spec Spec) Result {
	spec = spec.WithDefaults()
	start := time.Now()
	qtype := spec.DNS.Type
	if qtype == 0 {
		qtype = dns.TypeSOA
	}
	name := spec.DNS.Name
	if name == "" {
		name = "."
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	c := &dns.Client{Net: "udp", Timeout: spec.ConnectTimeout, Dialer: udpDialer(spec)}
	qctx, cancel := context.WithTimeout(ctx, spec.ConnectTimeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(qctx, q, spec.Addr.String())
	lat := time.Since(start)
	what := fmt.Sprintf("DNS_CHECK: %s %s to %s", dns.TypeToString[qtype], dns.Fqdn(name), spec.Addr)
	if err != nil {
		return Result{Reason: fmt.Sprintf("%s: %v", what, err), Latency: lat, Failure: ioKind(ctx, err)}
	}
	if resp.Id != q.Id || !resp.Response {
		return Result{Reason: what + ": reply is not the response to the query", Latency: lat}
	}
	if resp.Rcode != dns.RcodeSuccess {
		return Result{Reason: fmt.Sprintf("%s: rcode %s", what, dns.RcodeToString[resp.Rcode]), Latency: lat}
	}
	if len(resp.Answer) == 0 {
		return Result{Reason: what + ": no answer record", Latency: lat}
	}
	return Result{OK: true, Reason: fmt.Sprintf("%s: %d answer(s)", what, len(resp.Answer)), Latency: lat}
}

// ParseDNSType parses a DNS_CHECK type (A, NS, CNAME, SOA, MX, TXT, AAAA,
// the set keepalived accepts), case-insensitively.
func ParseDNSType(s string) (uint16, error) {
	switch t := dns.StringToType[upper(s)]; t {
	case dns.TypeA, dns.TypeNS, dns.TypeCNAME, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeAAAA:
		return t, nil
	}
	return 0, fmt.Errorf("check: DNS type %q: want A, NS, CNAME, SOA, MX, TXT or AAAA", s)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
