package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/drlb/drlb/scenarios"
)

// page renders a timeline file and parses the page.
func renderPage(t *testing.T, path string) (*Model, []byte, *html.Node) {
	t.Helper()
	m := build(t, readTimeline(t, path))
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	return m, buf.Bytes(), doc
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// TestPageStructure checks the page of each recorded timeline: it parses,
// has every lane and row, a marker per step, a mark per verdict, the
// summary, the legend and the replay controls, and references nothing
// outside itself.
func TestPageStructure(t *testing.T) {
	for _, path := range []string{"testdata/master-crash.timeline.jsonl", "testdata/page-altered.timeline.jsonl", "../testdata/master-crash.timeline.jsonl"} {
		t.Run(path, func(t *testing.T) {
			m, raw, doc := renderPage(t, path)
			if bytes.Contains(raw, []byte("http://")) || bytes.Contains(raw, []byte("https://")) {
				t.Error("the page mentions http(s)://: it must open offline")
			}
			ids := map[string]*html.Node{}
			lanes := map[string]bool{}
			rowLabels := map[string]bool{}
			steps, verdicts, events := 0, 0, 0
			walk(doc, func(n *html.Node) {
				if n.Type != html.ElementNode {
					return
				}
				if id, ok := attr(n, "id"); ok {
					if ids[id] != nil {
						t.Errorf("duplicate id %q", id)
					}
					ids[id] = n
				}
				switch n.Data {
				case "link", "img", "iframe", "object", "embed", "base":
					t.Errorf("external-resource element <%s>", n.Data)
				case "script":
					if src, ok := attr(n, "src"); ok {
						t.Errorf("<script src=%q>", src)
					}
				}
				for _, key := range []string{"src", "href", "xlink:href", "action"} {
					if v, ok := attr(n, key); ok && !strings.HasPrefix(v, "#") {
						t.Errorf("<%s %s=%q> points outside the page", n.Data, key, v)
					}
				}
				cls, _ := attr(n, "class")
				switch {
				case n.Data == "g" && cls == "lane":
					host, _ := attr(n, "data-host")
					lanes[host] = true
				case n.Data == "g" && cls == "step":
					steps++
				case n.Data == "g" && strings.HasPrefix(cls, "verdict "):
					verdicts++
				case n.Data == "text" && strings.HasPrefix(cls, "row"):
					rowLabels[text(n)] = true
				case n.Data == "li" && n.Parent != nil && n.Parent.Data == "ol":
					events++
				}
			})
			for _, id := range []string{"summary", "legend", "timeline", "cursor", "play", "speed", "clock", "state", "narration", "events", "model"} {
				if ids[id] == nil {
					t.Errorf("no element #%s", id)
				}
			}
			for _, b := range m.Balancers {
				if !lanes[b.Host] {
					t.Errorf("no lane for %s", b.Host)
				}
				for _, r := range b.Servers {
					if !rowLabels["table: "+r.Server] {
						t.Errorf("no row for %s's table entry %s", b.Host, r.Server)
					}
				}
			}
			if !lanes["client"] {
				t.Error("no client lane")
			}
			for _, want := range []string{"VRRP LVS_Teste", "holds VIP", "answered", "expectations"} {
				if !rowLabels[want] {
					t.Errorf("no row %q (rows: %v)", want, rowLabels)
				}
			}
			if steps != len(m.Steps) || steps == 0 {
				t.Errorf("%d step markers, want %d (> 0)", steps, len(m.Steps))
			}
			if verdicts != len(m.Verdicts) {
				t.Errorf("%d verdict marks, want %d", verdicts, len(m.Verdicts))
			}
			if events != len(m.Events) {
				t.Errorf("%d listed events, want %d", events, len(m.Events))
			}
			summary := text(ids["summary"])
			for _, want := range []string{m.Scenario, "PASSED", "longest outage", "shares", "failovers", fmt.Sprintf("%d sent", m.Client.Requests)} {
				if !strings.Contains(summary, want) {
					t.Errorf("summary lacks %q: %s", want, summary)
				}
			}
		})
	}
}

// TestPageEscapes feeds hostile text through every field a page shows.
func TestPageEscapes(t *testing.T) {
	evil := `</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"'`
	events := []scenarios.Event{
		{T: -1, Kind: scenarios.EvScenario, Scenario: evil, Description: evil, Text: evil},
		{T: 0, Kind: scenarios.EvDaemon, Host: "lb1", Action: "start", Daemon: evil, Text: evil},
		{T: 0.5, Kind: scenarios.EvVRRP, Host: "lb1", Instance: evil, To: "MASTER", Reason: evil},
		{T: 1, Kind: scenarios.EvStep, Step: 1, Host: "lb1", Action: "kill", Text: evil, Explain: evil},
		{T: 1.5, Kind: scenarios.EvTable, Host: "lb1", Reals: []scenarios.TableReal{{Server: evil, InTable: true, Weight: 1}}, Text: evil},
		{T: 2, Kind: scenarios.EvRequest, OK: bp(true), ServedBy: evil},
		{T: 3, Kind: scenarios.EvExpectation, Text: evil, Met: bp(false), Measured: evil, Bound: evil, Scope: evil},
		{T: 4, Kind: scenarios.EvEnd, Text: evil, Passed: bp(false)},
	}
	m := build(t, events)
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	scripts := 0
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script":
			scripts++
		case "img":
			t.Error("an <img> element came from event text")
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=…> came from event text", n.Data, a.Key)
			}
		}
	})
	if scripts != 2 {
		t.Errorf("%d <script> elements, want 2 (the model and the player)", scripts)
	}
}

// TestWriteFile writes a page from a timeline file and refuses a broken one.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.html")
	if err := WriteFile("testdata/master-crash.timeline.jsonl", out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) {
		t.Errorf("page %q… (%v)", b[:min(len(b), 40)], err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"t\":1,\"kind\":\"ready\"}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(bad, filepath.Join(dir, "bad.html"))
	if err == nil || !strings.Contains(err.Error(), "bad.jsonl") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("broken timeline: error %v, want the file and line 2", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "bad.html")); !os.IsNotExist(serr) {
		t.Error("a page was written for a broken timeline")
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(empty, filepath.Join(dir, "empty.html")); err == nil {
		t.Error("empty timeline: no error")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".report-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
