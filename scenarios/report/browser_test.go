package report

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/drlb/drlb/internal/testenv"
)

// chromium finds Debian's chromium (make deps installs it). Without it the
// browser test skips, or fails under DRLB_REQUIRE_PRIVILEGED=1 (CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	testenv.Unavailable(t, "no chromium for the browser test (apt-get install chromium, or make deps)")
	return ""
}

// TestPageInBrowser opens a page in headless chromium, presses space and
// checks that the replay runs: the cursor moves, the state panel follows
// (lb1 becomes master, then rs1 leaves lb1's table), the current event
// changes; the arrow keys step between events. DRLB_REPORT_SCREENSHOT=FILE
// keeps a screenshot to judge the design.
func TestPageInBrowser(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	pagePath := filepath.Join(dir, "page-altered.html")
	if err := WriteFile("testdata/page-altered.timeline.jsonl", pagePath); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		// Chromium puts its singleton socket directory in TMPDIR: the
		// test's own, so nothing is left in /tmp.
		chromedp.Env("TMPDIR=" + dir),
		chromedp.WindowSize(1366, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	cursorT := func() float64 {
		t.Helper()
		a, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#cursor"), "data-t"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := strconv.ParseFloat(a.Value, 64)
		if err != nil {
			t.Fatalf("cursor data-t %q: %v", a.Value, err)
		}
		return f
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	press := func(key string) {
		t.Helper()
		if err := chromedp.Do(bctx, chromedp.KeyEvent(key)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(js, what string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+pagePath), chromedp.WaitVisible(chromedp.ID("timeline"))); err != nil {
		t.Fatal(err)
	}
	start := cursorT()
	state0 := text("#state")
	current0 := text("#events li.current")
	if !strings.Contains(state0, "master: nobody") {
		t.Errorf("state panel at the start: %q, want nobody master", state0)
	}

	// Speed up (the + key), then play with space.
	press("+")
	press("+")
	press(" ")
	waitFor(`+document.getElementById("cursor").dataset.t > 0.5`, "the cursor did not move after space")
	state1 := text("#state")
	if state1 == state0 || !strings.Contains(state1, "master: lb1") || !strings.Contains(state1, "holds VIP") {
		t.Errorf("state panel after playing: %q (was %q), want lb1 master holding the VIP", state1, state0)
	}
	if current1 := text("#events li.current"); current1 == current0 {
		t.Errorf("the current event stayed %q", current1)
	}
	waitFor(`document.getElementById("state").innerText.includes("rs1 out")`, "rs1 never left a table in the state panel")
	visible, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(function () {
		var l = document.getElementById("events"), c = l.querySelector("li.current");
		var lr = l.getBoundingClientRect(), cr = c.getBoundingClientRect();
		return cr.top >= lr.top - 1 && cr.bottom <= lr.bottom + 1;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !visible {
		t.Error("the current event is scrolled out of the event list")
	}
	press(" ") // pause
	paused := cursorT()
	time.Sleep(300 * time.Millisecond) // proving the cursor stays still needs time to pass
	if after := cursorT(); after != paused {
		t.Errorf("cursor moved from %g to %g while paused", paused, after)
	}
	if paused <= start {
		t.Errorf("cursor at %g, not after the start %g", paused, start)
	}

	// Arrows step from event to event; Home goes back to the start.
	press(kb.ArrowRight)
	next := cursorT()
	press(kb.ArrowLeft)
	back := cursorT()
	if next <= paused || back >= next {
		t.Errorf("→ moved %g to %g, ← to %g: want forward then back", paused, next, back)
	}
	press(kb.Home)
	if home := cursorT(); home != start {
		t.Errorf("Home: cursor at %g, want %g", home, start)
	}

	// Clicking a step marker shows its narration (from the top of the page:
	// scrolled, the sticky replay bar would cover the marker).
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#timeline g.step text`))); err != nil {
		t.Fatal(err)
	}
	if n := text("#narration"); !strings.Contains(n, "page-set") && !strings.Contains(n, "test page") {
		t.Errorf("narration after clicking the first step: %q", n)
	}

	if out := os.Getenv("DRLB_REPORT_SCREENSHOT"); out != "" {
		press(" ")
		waitFor(`+document.getElementById("cursor").dataset.t > 7`, "replay to 7 s")
		press(" ")
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
