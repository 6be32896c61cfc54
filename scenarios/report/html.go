package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"

	"github.com/drlb/drlb/scenarios"
)

var (
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.js
	reportJS string

	page = template.Must(template.New("page").Parse(pageHTML))
)

// serverKey is one legend entry for the client's bars.
type serverKey struct {
	Server, Colour, Pattern string
}

// pageData is what the page template shows.
type pageData struct {
	M          *Model
	Duration   float64
	Shares     []string
	Met        int
	Failed     []Verdict
	ServerKeys []serverKey
	SVG        template.HTML
	CSS        template.CSS
	JS         template.JS
	JSON       template.JS
}

// Write renders the model as one self-contained HTML page: the summary,
// the legend, the timeline drawing (inline SVG), the replay controls and the
// narrated event list. Styles, script and data are inline; the page fetches
// nothing, so it opens offline.
func (m *Model) Write(w io.Writer) error {
	data, err := json.Marshal(m) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("report: encode model: %w", err)
	}
	pd := pageData{M: m, Duration: m.End - m.Start, SVG: template.HTML(m.SVG()), //nolint:gosec // built with escaped text
		CSS: template.CSS(reportCSS), JS: template.JS(reportJS), JSON: template.JS(data)} //nolint:gosec // our own assets and JSON
	for i, s := range m.Client.Servers {
		pd.Shares = append(pd.Shares, fmt.Sprintf("%s %.0f%%", s, 100*m.Client.Shares[i]))
		pd.ServerKeys = append(pd.ServerKeys, serverKey{Server: s, Colour: serverColours[i%len(serverColours)], Pattern: serverPatterns[i%len(serverPatterns)]})
	}
	for _, v := range m.Verdicts {
		if v.Met {
			pd.Met++
		} else {
			pd.Failed = append(pd.Failed, v)
		}
	}
	if err := page.Execute(w, pd); err != nil {
		return fmt.Errorf("report: write page: %w", err)
	}
	return nil
}

// Render builds the model of a timeline's events and writes its page to w.
func Render(events []scenarios.Event, w io.Writer) error {
	m, err := Build(events)
	if err != nil {
		return err
	}
	return m.Write(w)
}

// WriteFile reads the timeline at timelinePath and writes its page to
// htmlPath (through a temporary file in the same directory, so a reader
// never sees half a page). It is what `drlab scenario report`, `drlab
// scenario run --report` and `drlab demo` call.
func WriteFile(timelinePath, htmlPath string) error {
	f, err := os.Open(timelinePath)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	events, err := scenarios.ReadTimeline(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("report: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("report: %s: %w", timelinePath, err)
	}
	m, err := Build(events)
	if err != nil {
		return fmt.Errorf("report: %s: %w", timelinePath, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(htmlPath), ".report-*.html")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := m.Write(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), htmlPath); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
