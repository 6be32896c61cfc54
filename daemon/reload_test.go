package daemon

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/drlb/drlb/daemon/check"
	"github.com/drlb/drlb/daemon/config"
)

// BenchmarkReloadComponents is the CPU of a reload's components phase for
// 1,000 virtual servers × 10 real servers with the file unchanged: health
// carried over, the checkers' configuration rebuilt, and the scheduler
// updated, which compares server by server (nothing restarts).
func BenchmarkReloadComponents(b *testing.B) {
	var c strings.Builder
	for v := range 1000 {
		fmt.Fprintf(&c, "virtual_server 172.16.1.1 %d {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n", 10000+v)
		for r := range 10 {
			fmt.Fprintf(&c, " real_server 172.16.1.%d %d {\n  TCP_CHECK {\n   connect_ip 172.16.1.%d\n   connect_port 80\n   connect_timeout 1\n  }\n }\n", 20+r, 10000+v, 10+r%2)
		}
		c.WriteString("}\n")
	}
	cfg, _, err := config.Parse("big.conf", []byte(c.String()), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	health := initialHealth(cfg, nil, nil)
	servers, err := CheckServers(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	sched, err := check.NewScheduler(check.Config{Servers: servers})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		health = initialHealth(cfg, health, nil)
		start := make(map[check.Target]bool, len(health))
		for t, h := range health {
			start[t] = h.Up
		}
		next, err := CheckServers(cfg, start)
		if err != nil {
			b.Fatal(err)
		}
		res, err := sched.Update(next)
		if err != nil || res.Kept != 10000 {
			b.Fatalf("Update = %+v, %v", res, err)
		}
	}
}

func TestRelaxGCRaisesAndRestores(t *testing.T) {
	gogc := func() int { v := debug.SetGCPercent(100); debug.SetGCPercent(v); return v }
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tt := range []struct{ set, during int }{
		{100, reloadGCPercent}, // raised for the reload
		{50, reloadGCPercent},
		{800, 800}, // an operator's higher GOGC stays
		{-1, -1},   // GOGC=off stays off
	} {
		debug.SetGCPercent(tt.set)
		restore := relaxGC()
		if got := gogc(); got != tt.during {
			t.Errorf("GOGC %d: during reload %d, want %d", tt.set, got, tt.during)
		}
		restore()
		if got := gogc(); got != tt.set {
			t.Errorf("GOGC %d: after reload %d, want it restored", tt.set, got)
		}
	}
}
