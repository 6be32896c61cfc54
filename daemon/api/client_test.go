package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
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
