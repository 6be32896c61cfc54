package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TestPage is the page the how-to's health checks hash.
const TestPage = "/teste.html"

// controlDir holds the web server's runtime knobs inside a docroot; it is
// never served.
const controlDir = ".drlab"

// DefaultPage returns the original content of a lab page for host, or false
// if the page has no default. The content is distinct per host and
// deterministic, so MD5 digests in configs stay valid across labs.
func DefaultPage(host, urlPath string) (string, bool) {
	switch urlPath {
	case TestPage:
		return fmt.Sprintf("<html><body><h1>drlab %s</h1><p>Health-check test page of real server %s.</p></body></html>\n", host, host), true
	case "/index.html":
		return fmt.Sprintf("<html><body><h1>%s</h1><p>drlab real server. Try /data, /teste.html, /blob?size=1048576.</p></body></html>\n", host), true
	}
	return "", false
}

// WebRoot is the docroot of host's lab web server.
func (l *Lab) WebRoot(host string) string { return filepath.Join(l.dir, "www", host) }

func (l *Lab) writePages() error {
	for _, h := range l.spec.Hosts {
		if len(h.Services) == 0 {
			continue
		}
		for _, p := range []string{TestPage, "/index.html"} {
			if err := l.ResetPage(h.Name, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// pageFile maps a URL path to a file in host's docroot, refusing escapes.
func (l *Lab) pageFile(host, urlPath string) (string, error) {
	if err := l.checkHost(host); err != nil {
		return "", err
	}
	if !strings.HasPrefix(urlPath, "/") || path.Clean(urlPath) != urlPath || urlPath == "/" {
		return "", fmt.Errorf("page path %q: give a clean absolute path such as %s", urlPath, TestPage)
	}
	if strings.HasPrefix(urlPath, "/"+controlDir) {
		return "", fmt.Errorf("page path %q is reserved", urlPath)
	}
	return filepath.Join(l.WebRoot(host), filepath.FromSlash(urlPath)), nil
}

// SetPage replaces a page on host's web server; the next request sees it.
func (l *Lab) SetPage(host, urlPath, content string) error {
	file, err := l.pageFile(host, urlPath)
	if err != nil {
		return err
	}
	return writeAtomic(file, []byte(content))
}

// ResetPage restores a page's original content (or removes a page that has none).
func (l *Lab) ResetPage(host, urlPath string) error {
	file, err := l.pageFile(host, urlPath)
	if err != nil {
		return err
	}
	content, ok := DefaultPage(host, urlPath)
	if !ok {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reset %s on %s: %w", urlPath, host, err)
		}
		return nil
	}
	return writeAtomic(file, []byte(content))
}

// SetDelay makes host's web server wait d before answering each request
// (0 restores normal speed): a slow backend.
func (l *Lab) SetDelay(host string, d time.Duration) error {
	if err := l.checkHost(host); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(l.WebRoot(host), controlDir, "delay"), []byte(d.String()))
}

func writeAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// MaxBlobSize bounds /blob downloads.
const MaxBlobSize = 1 << 30

// BlobByte is byte i of every /blob response, so a client can verify a
// download without a copy of it.
func BlobByte(i int64) byte { return byte(i*131 + i>>10) }

// WebHandler is the lab web server of host serving root:
//
//	/data          "<host> <time>" like the how-to's data.php
//	/blob?size=N   N deterministic bytes (see BlobByte); &rate=B bytes/second paces it
//	other paths    files from root, byte for byte
//
// Every response carries "X-Real-Server: <host>". A duration in
// root/.drlab/delay delays every answer (a slow backend).
func WebHandler(host, root string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Real-Server", host)
		if d := readDelay(root); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		switch r.URL.Path {
		case "/data":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s %s\n", host, time.Now().UTC().Format(time.RFC3339Nano))
		case "/blob":
			serveBlob(w, r)
		default:
			serveFile(w, r, root)
		}
	})
}

func readDelay(root string) time.Duration {
	b, err := os.ReadFile(filepath.Join(root, controlDir, "delay"))
	if err != nil {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

func serveFile(w http.ResponseWriter, r *http.Request, root string) {
	p := path.Clean("/" + r.URL.Path)
	if p == "/" {
		p = "/index.html"
	}
	if strings.HasPrefix(p, "/"+controlDir) {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(p))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method != http.MethodHead {
		w.Write(data) //nolint:errcheck // the client went away; nothing to do
	}
}

func serveBlob(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err != nil || size < 0 || size > MaxBlobSize {
		http.Error(w, fmt.Sprintf("size must be 0..%d bytes", MaxBlobSize), http.StatusBadRequest)
		return
	}
	var rate int64
	if s := r.URL.Query().Get("rate"); s != "" {
		rate, err = strconv.ParseInt(s, 10, 64)
		if err != nil || rate <= 0 {
			http.Error(w, "rate must be a positive number of bytes per second", http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	buf := make([]byte, 32*1024)
	chunk := int64(len(buf))
	if rate > 0 {
		chunk = max(1, min(chunk, rate/10)) // ten writes a second
	}
	start := time.Now()
	flusher, _ := w.(http.Flusher)
	for off := int64(0); off < size; {
		n := min(chunk, size-off)
		for i := range n {
			buf[i] = BlobByte(off + i)
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return
		}
		off += n
		if rate > 0 {
			if flusher != nil {
				flusher.Flush()
			}
			due := start.Add(time.Duration(float64(off) / float64(rate) * float64(time.Second)))
			select {
			case <-time.After(time.Until(due)):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// VerifyBlob reads a /blob body and checks every byte; it returns the length read.
func VerifyBlob(r io.Reader) (int64, error) {
	buf := make([]byte, 32*1024)
	var off int64
	for {
		n, err := r.Read(buf)
		for i := range n {
			if buf[i] != BlobByte(off+int64(i)) {
				return off + int64(i), fmt.Errorf("blob corrupt at byte %d", off+int64(i))
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// Serve runs the lab web server on addr until ctx ends.
func Serve(ctx context.Context, host, root, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web server for %s: %w", host, err)
	}
	srv := &http.Server{Handler: WebHandler(host, root), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web server for %s: %w", host, err)
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

// HTTPClient returns a client whose connections start inside host. Keep-alive
// is off so every request is a new connection (a new balancing decision).
func (l *Lab) HTTPClient(host string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return l.DialContext(ctx, host, network, addr)
			},
			DisableKeepAlives: true,
		},
	}
}
