package yield

import (
	"testing"
	"time"
)

func TestBeforeYieldsOnlyWhileDue(t *testing.T) {
	yields := 0
	clock := time.Unix(1000, 0)
	gosched, now = func() { yields++ }, func() time.Time { return clock }
	t.Cleanup(func() { gosched, now = realGosched, realNow })

	var due time.Time
	y := Before(func() time.Time { return due })
	count := func(f func()) int {
		n := yields
		f()
		return yields - n
	}
	if n := count(func() { y(); y() }); n != 0 {
		t.Fatalf("no timer set: %d yields", n)
	}
	due = clock.Add(time.Second)
	if n := count(func() { y(); y() }); n != 0 {
		t.Fatalf("timer not due: %d yields", n)
	}
	clock = due
	if n := count(func() { y(); y(); y() }); n != 1 {
		t.Fatalf("timer due, same instant: %d yields, want 1", n)
	}
	clock = clock.Add(Retry)
	if n := count(func() { y(); y() }); n != 1 {
		t.Fatalf("still due after Retry: %d yields, want 1", n)
	}
	due = due.Add(time.Second) // the timer ran: the next advert is a second away
	clock = clock.Add(Retry)
	if n := count(func() { y(); y() }); n != 0 {
		t.Fatalf("next timer not due: %d yields", n)
	}
	if n := count(func() { Before(nil)() }); n != 0 {
		t.Fatalf("nil next: %d yields", n)
	}
}

var (
	realGosched = gosched
	realNow     = now
)
