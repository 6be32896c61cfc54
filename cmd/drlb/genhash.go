package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/internal/cli"
)

// genhashOptions are drlb genhash's flags, named as keepalived's genhash
// names them.
type genhashOptions struct {
	server, path, vhost, proto, timeout string
	port                                int
	useTLS, sni, verbose                bool
	maxBytes                            int64
}

func newGenhashCmd() *cobra.Command {
	var o genhashOptions
	c := &cobra.Command{
		Use:   "genhash -s IP -p PORT -u PATH [-V vhost] [-P 1.0|1.0C|1.1] [-t SECONDS] [-S [-I]] [-v]",
		Short: "print a page's MD5 digest like keepalived's genhash",
		Long: `Prints the MD5 digest of a page the way keepalived's genhash does (32 lowercase
hex digits and a newline), with the same request and the same raw-body digest as
the HTTP_GET checker. Unlike genhash, a connection failure or timeout is an error
on stderr with exit status 1; bad flags exit 2.`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: cli.NoFileCompletion,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "drlb genhash: unexpected arguments: %s\n", strings.Join(args, " "))
				return cli.Exit(2)
			}
			return cli.Exit(o.run(c, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	f := c.Flags()
	f.StringVarP(&o.server, "server", "s", "", "server `IP` address (required)")
	f.IntVarP(&o.port, "port", "p", 0, "server `PORT` (required)")
	f.StringVarP(&o.path, "url", "u", "", "request `PATH` (required)")
	f.StringVarP(&o.vhost, "use-virtualhost", "V", "", "virtual `HOST` for the Host header (default IP:PORT)")
	f.StringVarP(&o.proto, "protocol", "P", "1.0", "HTTP `VERSION`: 1.0, 1.0C (1.0 with Connection: close) or 1.1")
	f.StringVarP(&o.timeout, "timeout", "t", "5", "timeout in `SECONDS` for the whole exchange")
	f.BoolVarP(&o.useTLS, "use-ssl", "S", false, "use TLS (certificate not verified)")
	f.BoolVarP(&o.sni, "use-sni", "I", false, "send the virtual host as TLS SNI (with -S and -V)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "show request, response headers, body length and timing")
	f.Int64Var(&o.maxBytes, "max-bytes", 0, "fail when the response exceeds this many bytes (0: unlimited)")
	_ = c.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"1.0", "1.0C", "1.1"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// cmdGenhash runs `drlb genhash args...` and returns its exit status.
func cmdGenhash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, newRootCmd(), append([]string{"genhash"}, args...), stdout, stderr) //nolint:contextcheck // ctx reaches the command through ExecuteContext
}

// run fetches the page and prints its digest; it returns the exit status.
func (o genhashOptions) run(c *cobra.Command, stdout, stderr io.Writer) int {
	ctx := c.Context()
	req, err := genhashRequest(o.server, o.port, o.path, o.vhost, o.proto, o.timeout, o.useTLS, o.sni, o.maxBytes)
	if err != nil {
		fmt.Fprintf(stderr, "drlb genhash: %v\n", err)
		c.SetOut(stderr)
		_ = c.Usage()
		return 2
	}
	if o.verbose {
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
	if o.verbose {
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
