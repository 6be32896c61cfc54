// Package checkstorm makes the load a daemon's health checker puts on the
// Go runtime when thousands of real servers flap: producers hand a fresh
// 4 KiB result each to one consumer, on every processor, so the collector
// runs hundreds of times a second. The VRRP timing tests and benchmarks
// (daemon/vrrp, daemon/vrrpproc) run it beside a node to see whether the
// node's adverts stay on time.
package checkstorm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Start runs the storm until the returned stop is called; stop waits for
// every goroutine of the storm to end. Producers: 4 per GOMAXPROCS.
func Start() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var sink atomic.Int64
	events := make(chan []byte, 1024)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case ev := <-events:
				sink.Add(int64(ev[len(ev)-1]))
			}
		}
	})
	for range runtime.GOMAXPROCS(0) * 4 {
		wg.Go(func() {
			for k := 0; ; k++ {
				ev := make([]byte, 4<<10)
				for i := range ev {
					ev[i] = byte(i + k)
				}
				select {
				case <-done:
					return
				case events <- ev:
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
