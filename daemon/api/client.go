package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// Client talks to a daemon's control socket.
type Client struct {
	socket string
	http   *http.Client
}

// RunDir resolves the run directory: the flag value if set, else
// DRLB_RUN_DIR, else /run/drlb.
func RunDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv(RunDirEnv); env != "" {
		return env
	}
	return DefaultRunDir
}

// NewClient returns a client for the daemon whose run directory is runDir.
func NewClient(runDir string) *Client {
	socket := filepath.Join(runDir, SocketName)
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
		}},
	}
}

// Socket is the control socket path.
func (c *Client) Socket() string { return c.socket }

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://drlb"+path, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("control socket %s: %w (is drlb running with this run directory?)", c.socket, err)
		}
		// Connected, then no (complete) answer: the daemon is there and
		// may still carry out the request (a reload waits for a stopped
		// VRRP child, for instance).
		return fmt.Errorf("control socket %s: no answer from drlb: %w (it took the request and may still carry it out; its log says)", c.socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Reload asks the daemon to reload its configuration file.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	return c.ReloadWith(ctx, ReloadOptions{})
}

// ReloadWith asks the daemon to reload its configuration file with the
// operator's options (AllowEmpty: remove everything if the file says so).
func (c *Client) ReloadWith(ctx context.Context, opts ReloadOptions) (*ReloadResult, error) {
	path := "/reload"
	if opts.AllowEmpty {
		path += "?" + AllowEmptyParam + "=1"
	}
	var res ReloadResult
	if err := c.do(ctx, http.MethodPost, path, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Events streams the daemon's events to fn until ctx ends or the daemon
// goes away (then it returns the error that ended the stream).
func (c *Client) Events(ctx context.Context, fn func(Event)) error {
	body, err := c.openEvents(ctx)
	if err != nil {
		return err
	}
	return c.readEvents(ctx, body, fn)
}

// Subscribe opens the event stream and returns once the daemon has
// registered it (every event after Subscribe returns is delivered), with a
// channel closed when the stream ends. The caller drains it until ctx ends.
func (c *Client) Subscribe(ctx context.Context) (<-chan Event, error) {
	body, err := c.openEvents(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan Event, 256)
	go func() {
		defer close(ch)
		_ = c.readEvents(ctx, body, func(e Event) {
			select {
			case ch <- e:
			case <-ctx.Done():
			}
		})
	}()
	return ch, nil
}

// openEvents returns the stream's body once the daemon answered: it
// subscribes the stream before it sends the response header.
func (c *Client) openEvents(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://drlb/events", nil)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("events from %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("events from %s: %s", c.socket, resp.Status)
	}
	return resp.Body, nil
}

func (c *Client) readEvents(ctx context.Context, body io.ReadCloser, fn func(Event)) error {
	defer func() { _ = body.Close() }()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("events from %s: bad line %q: %w", c.socket, sc.Text(), err)
		}
		fn(ev)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("events from %s: %w", c.socket, err)
	}
	return ctx.Err()
}
