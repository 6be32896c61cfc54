package checkstorm

import (
	"runtime"
	"testing"
	"time"
)

// TestStartRunsTheCollectorAndStops: the storm makes garbage enough for
// the collector to run, and stop returns once it has ended.
func TestStartRunsTheCollectorAndStops(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := Start()
	time.Sleep(200 * time.Millisecond) // let it run: the measured window
	stop()
	runtime.ReadMemStats(&after)
	if after.NumGC == before.NumGC {
		t.Fatalf("no collection during 200 ms of storm")
	}
	g := runtime.NumGoroutine()
	if g > 4 {
		t.Fatalf("%d goroutines after stop: the storm's did not all end", g)
	}
}
