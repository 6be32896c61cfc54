// Package check implements keepalived-compatible health checks for real
// servers and the scheduler that runs them.
//
// Probes (HTTP_GET, SSL_GET, TCP_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK,
// PING_CHECK, FILE_CHECK, MISC_CHECK) are functions of a context and a Spec
// that return a Result; they keep no state. DNS queries are
// github.com/miekg/dns messages, echo requests golang.org/x/net/icmp ones;
// every probe socket takes the checker's bind_if and fwmark. The HTTP
// probe speaks raw TCP exactly as keepalived does: it sends
//
//	GET path HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: host[:port]\r\n\r\n
//
// and computes the MD5 digest over the raw body bytes after the header
// terminator, capped at Content-Length (no chunked decoding), so a digest
// printed by keepalived's genhash matches ours.
//
// Probe connections are opened with a non-blocking connect(2) of their own:
// at most GOMAXPROCS threads are inside connect(2) at once (the kernel can
// run a local handshake or a source-port search there), while waiting for
// a remote handshake happens in the runtime poller. They close with a reset
// (SO_LINGER 0), as HAProxy's checks do, so thousands of checks a second
// against one backend port leave no TIME_WAIT sockets to exhaust the
// balancer's source ports.
//
// The Scheduler runs thousands of checkers with a bounded worker pool,
// applies retry / delay_before_retry / delay_loop / warmup / alpha, and
// emits a Transition whenever a real server goes up or down or its dynamic
// weight changes. Scheduler.Update changes the set of servers while it
// runs: unchanged servers keep their state and timers, new or changed ones
// start, removed ones stop. AggregateVirtualServer computes quorum, hysteresis and
// sorry-server state from real-server states as a pure function.
//
// The package does not import daemon/config: the supervisor translates the
// configuration into Spec values.
package check
