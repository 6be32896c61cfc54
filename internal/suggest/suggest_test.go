package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"kill", "kill", 0}, {"kil", "kill", 1}, {"persistense", "persistence", 1}, {"lb9", "lb1", 1}, {"abc", "", 3}, {"flaw", "lawn", 2}} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	cands := []string{"lb1", "lb2", "rs1", "client"}
	if got := DidYouMean("lb9", cands); got != ` (did you mean "lb1"?)` {
		t.Errorf("lb9: %q", got)
	}
	if got := DidYouMean("database", cands); got != "" {
		t.Errorf("database: %q, want no suggestion", got)
	}
}

func FuzzDistance(f *testing.F) {
	f.Add("kill", "kil") // one deletion
	f.Add("", "abc")     // empty side
	f.Fuzz(func(t *testing.T, a, b string) {
		d := Distance(a, b)
		if d != Distance(b, a) || d < 0 || d > max(len(a), len(b)) || (d == 0) != (a == b) {
			t.Fatalf("Distance(%q, %q) = %d breaks a metric property", a, b, d)
		}
	})
}
