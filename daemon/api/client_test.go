package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadCarriesAllowEmpty checks the query parameter the daemon reads.
func TestReloadCarriesAllowEmpty(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.URL.Query().Get(AllowEmptyParam)
		_ = json.NewEncoder(w).Encode(ReloadResult{OK: true})
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := NewClient(dir)
	for _, tt := range []struct {
		call func() (*ReloadResult, error)
		want string
	}{
		{func() (*ReloadResult, error) { return c.Reload(ctx) }, "POST /reload "},
		{func() (*ReloadResult, error) { return c.ReloadWith(ctx, ReloadOptions{AllowEmpty: true}) }, "POST /reload 1"},
	} {
		res, err := tt.call()
		if err != nil || !res.OK {
			t.Fatalf("reload: %+v, %v", res, err)
		}
		if r := <-got; r != tt.want {
			t.Errorf("request %q, want %q", r, tt.want)
		}
	}
}

// TestNoAnswerIsNotCalledNoDaemon: a daemon that takes the request but does
// not answer in time (its VRRP child stopped during a reload) is not
// reported as "is drlb running?", which sent operators looking for a
// missing daemon while their reload was still going to be applied.
func TestNoAnswerIsNotCalledNoDaemon(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(release); _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = NewClient(dir).Reload(ctx)
	if err == nil {
		t.Fatal("reload answered, want a timeout")
	}
	if strings.Contains(err.Error(), "is drlb running") {
		t.Errorf("a daemon that accepted the request is called missing: %v", err)
	}
	if !strings.Contains(err.Error(), "no answer") {
		t.Errorf("error does not say the daemon did not answer: %v", err)
	}

	// Nobody listening: the hint stays.
	_, err = NewClient(t.TempDir()).Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is drlb running with this run directory?") {
		t.Errorf("no socket: %v, want the run directory hint", err)
	}
}
