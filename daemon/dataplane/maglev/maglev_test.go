package maglev

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func backends(n int) []Backend {
	var bs []Backend
	for i := range n {
		bs = append(bs, Backend{ID: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: 1})
	}
	return bs
}

func counts(table []string) map[string]int {
	c := map[string]int{}
	for _, id := range table {
		c[id]++
	}
	return c
}

func TestBuildShares(t *testing.T) {
	tests := []struct {
		name     string
		backends []Backend
		size     int
		want     map[string]int
	}{
		{"equal", []Backend{{"a", 1}, {"b", 1}}, 7, map[string]int{"a": 4, "b": 3}},
		{"weighted 1:2", []Backend{{"a", 1}, {"b", 2}}, 31, map[string]int{"a": 10, "b": 21}},
		{"inhibited left out", []Backend{{"a", 1}, {"b", 0}, {"c", 1}}, 11, map[string]int{"a": 6, "c": 5}},
		{"single", []Backend{{"only", 5}}, 5, map[string]int{"only": 5}},
		{"none weighted", []Backend{{"a", 0}}, 5, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := Build(tt.backends, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			got := counts(table)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("shares = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(backends(2), 8); !errors.Is(err, ErrSize) {
		t.Errorf("size 8: err = %v, want ErrSize", err)
	}
	if _, err := Build([]Backend{{"a", 1}, {"a", 2}}, 7); err == nil {
		t.Error("duplicate IDs accepted")
	}
}

func TestBuildOrderIndependent(t *testing.T) {
	bs := backends(10)
	want, err := Build(bs, SizeFor(10))
	if err != nil {
		t.Fatal(err)
	}
	rev := slices.Clone(bs)
	slices.Reverse(rev)
	got, err := Build(rev, SizeFor(10))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("table depends on input order")
	}
}

func TestNextPrime(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{0, 2}, {2, 2}, {8, 11}, {31, 31}, {320, 331}, {65536, 65537}} {
		if got := NextPrime(tt.in); got != tt.want {
			t.Errorf("NextPrime(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestRemovalDisruption measures the share of the remaining backends'
// slots that move when one backend is removed; Maglev promises few.
func TestRemovalDisruption(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10, 50} {
		size := SizeFor(n)
		bs := backends(n)
		before, err := Build(bs, size)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for drop := range n {
			after, err := Build(slices.Delete(slices.Clone(bs), drop, drop+1), size)
			if err != nil {
				t.Fatal(err)
			}
			worst = max(worst, Disruption(before, after))
		}
		t.Logf("n=%d size=%d: worst share of other flows moved on removing one backend: %.1f%%", n, size, 100*worst)
		if worst > 0.15 {
			t.Errorf("n=%d: %.1f%% of other flows moved, want <= 15%%", n, 100*worst)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	bs := backends(10)
	size := SizeFor(10)
	for b.Loop() {
		if _, err := Build(bs, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild65537(b *testing.B) {
	bs := backends(100)
	for b.Loop() {
		if _, err := Build(bs, 65537); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzBuild(f *testing.F) {
	f.Add("a,b,c", uint32(1), uint32(2), 31)
	f.Add("x", uint32(0), uint32(5), 7)
	f.Fuzz(func(t *testing.T, ids string, w1, w2 uint32, size int) {
		if size < 2 || size > 5000 {
			return
		}
		bs := []Backend{{ID: ids, Weight: w1 % 100}, {ID: ids + "#", Weight: w2 % 100}}
		table, err := Build(bs, size)
		if err != nil {
			if !isPrime(size) {
				return
			}
			t.Fatal(err)
		}
		if table != nil && len(table) != size {
			t.Fatalf("len = %d, want %d", len(table), size)
		}
	})
}

// worstDisruption is the largest share of the other backends' slots that
// move when one of bs (each in drops) is removed, at size.
func worstDisruption(t testing.TB, bs []Backend, size int, drops []int) float64 {
	t.Helper()
	before, err := Build(bs, size)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, drop := range drops {
		after, err := Build(slices.Delete(slices.Clone(bs), drop, drop+1), size)
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, Disruption(before, after))
	}
	return worst
}

// TestScaleOutDisruption: at ScaleOutSize, removing a backend moves at
// most 1 % of the other backends' flows for every N from 2 to 64 (issue
// 16). The first, middle and last backend are removed here;
// TestDisruptionTable removes each one.
func TestScaleOutDisruption(t *testing.T) {
	for n := 2; n <= 64; n++ {
		bs := backends(n)
		if w := worstDisruption(t, bs, ScaleOutSize, []int{0, n / 2, n - 1}); w > 0.01 {
			t.Errorf("n=%d: %.2f%% of the other flows moved at size %d, want <= 1%%", n, 100*w, ScaleOutSize)
		}
	}
}

// TestDisruptionTable prints the disruption table of the README (every
// backend removed in turn, N = 2…64, SizeFor's size beside ScaleOutSize).
// It takes about 15 s: run it with DRLB_MAGLEV_TABLE=1 go test -run
// TestDisruptionTable -v ./daemon/dataplane/maglev/.
func TestDisruptionTable(t *testing.T) {
	if os.Getenv("DRLB_MAGLEV_TABLE") == "" {
		t.Skip("set DRLB_MAGLEV_TABLE=1 to print the disruption table (about 15 s)")
	}
	var b strings.Builder
	b.WriteString("| N | SizeFor(N) | moved at SizeFor | moved at 65537 |\n|---|---|---|---|\n")
	worst := 0.0
	for n := 2; n <= 64; n++ {
		bs := backends(n)
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		old := worstDisruption(t, bs, SizeFor(n), all)
		now := worstDisruption(t, bs, ScaleOutSize, all)
		worst = max(worst, now)
		fmt.Fprintf(&b, "| %d | %d | %.1f %% | %.2f %% |\n", n, SizeFor(n), 100*old, 100*now)
		if now > 0.01 {
			t.Errorf("n=%d: %.2f%% at %d", n, 100*now, ScaleOutSize)
		}
	}
	t.Logf("worst at %d: %.2f %%\n%s", ScaleOutSize, 100*worst, b.String())
}
