package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/drlb/drlb/daemon/check"
)

// cmdGenhash prints the MD5 digest of a page the way keepalived's genhash
// does (32 lowercase hex digits and a newline), using the same request and
// the same raw-body digest as the HTTP_GET checker. Unlike genhash, a
// connection failure or timeout is an error on stderr with exit status 1.
func cmdGenhash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genhash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("s", "", "server `IP` address (required)")
	port := fs.Int("p", 0, "server `PORT` (required)")
	path := fs.String("u", "", "request `PATH` (required)")
	vhost := fs.String("V", "", "virtual `HOST` for the Host header (default IP:PORT)")
	proto := fs.String("P", "1.0", "HTTP `VERSION`: 1.0, 1.0C (1.0 with Connection: close) or 1.1")
	timeout := fs.String("t", "5", "timeout in `SECONDS` for the whole exchange")
	useTLS := fs.Bool("S", false, "use TLS (certificate not verified)")
	sni := fs.Bool("I", false, "send the virtual host as TLS SNI (with -S and -V)")
	verbose := fs.Bool("v", false, "show request, response headers, body length and timing")
	maxBytes := fs.Int64("max-bytes", 0, "fail when the response exceeds this many bytes (0: unlimited)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: drlb genhash -s IP -p PORT -u PATH [-V vhost] [-P 1.0|1.0C|1.1] [-t SECONDS] [-S [-I]] [-v]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "drlb genhash: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	req, err := genhashRequest(*server, *port, *path, *vhost, *proto, *timeout, *useTLS, *sni, *maxBytes)
	if err != nil {
		fmt.Fprintf(stderr, "drlb genhash: %v\n", err)
		fs.Usage()
		return 2
	}
	if *verbose {
		fmt.Fprintf(stdout, "--- request to %s ---\n%s", req.Addr,
			strings.ReplaceAll(string(check.RequestBytes(req.Path, check.HostHeader(req.VirtualHost, req.Addr), req.Protocol)), "\r\n", "\n"))
		req.OnHead = func(head []byte) {
			fmt.Fprintf(stdout, "--- response headers (%d bytes) ---\n%s", len(head), strings.ReplaceAll(string(head), "\r\n", "\n"))
		}
	}
	res, err := check.Fetch(ctx, req)
	if err != nil {
		fmt.Fprintf(stderr, "drlb genhash: %v\n", err)
		return 1
	}
	if *verbose {
		cl := "absent"
		if res.Head.ContentLength >= 0 {
			cl = strconv.FormatInt(res.Head.ContentLength, 10)
		}
		status := strconv.Itoa(res.Head.Status)
		if res.Head.StatusErr != nil {
			status = "malformed (" + res.Head.StatusErr.Error() + ")"
		}
		fmt.Fprintf(stdout, "--- result ---\nstatus: %s\ncontent-length: %s\nbody: %d bytes received, %d bytes hashed\n",
			status, cl, res.BodyBytes, res.HashedBytes)
		fmt.Fprintf(stdout, "timing: connect %s, first byte %s, total %s\n",
			res.Connect.Round(time.Microsecond), res.FirstByte.Round(time.Microsecond), res.Total.Round(time.Microsecond))
	}
	fmt.Fprintln(stdout, hex.EncodeToString(res.Digest[:]))
	return 0
}

// genhashRequest validates genhash's flags into a fetch request.
func genhashRequest(server string, port int, path, vhost, proto, timeout string, useTLS, sni bool, maxBytes int64) (check.FetchRequest, error) {
	var req check.FetchRequest
	if server == "" || port == 0 || path == "" {
		return req, errors.New("-s, -p and -u are required")
	}
	ip, err := netip.ParseAddr(server)
	if err != nil {
		return req, fmt.Errorf("server should be an IP address, not %q", server)
	}
	if port < 1 || port > 65535 {
		return req, fmt.Errorf("invalid port number %d", port)
	}
	p, err := check.ParseHTTPProtocol(proto)
	if err != nil {
		return req, err
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(timeout), 64)
	if err != nil || secs <= 0 {
		return req, fmt.Errorf("invalid timeout %q", timeout)
	}
	req = check.FetchRequest{
		Addr:             netip.AddrPortFrom(ip.Unmap(), uint16(port)),
		Path:             path,
		VirtualHost:      vhost,
		Protocol:         p,
		Timeout:          time.Duration(secs * float64(time.Second)),
		MaxResponseBytes: maxBytes,
	}
	if useTLS {
		req.TLS = check.TLSConfig(vhost, sni, false, ip.String())
	}
	return req, nil
}
