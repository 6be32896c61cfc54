package topology_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
)

// BenchmarkSeedUpDown builds and removes the seed lab (with its two web
// servers, ready to answer) and reports the median of each phase.
func BenchmarkSeedUpDown(b *testing.B) {
	testenv.Privileged(b)
	dir := b.TempDir()
	drlab := filepath.Join(dir, "drlab")
	build := exec.Command("go", "build", "-o", drlab, "../cmd/drlab")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build drlab: %v\n%s", err, out)
	}
	name := os.Getenv("DRLB_LAB_PREFIX") + "tbench"
	_, _ = topology.Down(context.Background(), name, "")
	var ups, downs []time.Duration
	for b.Loop() {
		start := time.Now()
		lab, err := topology.Up(context.Background(), topology.Options{Name: name, DrlabBinary: drlab})
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := lab.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
		ups = append(ups, mid.Sub(start))
		downs = append(downs, time.Since(mid))
	}
	b.ReportMetric(float64(median(ups).Microseconds())/1000, "up-median-ms")
	b.ReportMetric(float64(median(downs).Microseconds())/1000, "down-median-ms")
	if _, err := os.Stat(topology.NSPath(name + "-lb1")); err == nil {
		b.Fatal("lab left a namespace behind")
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
