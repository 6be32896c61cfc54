package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Geometry of the timeline drawing, in SVG user units. The drawing scales to
// the page's width (viewBox), so these are proportions, not pixels.
const (
	svgWidth  = 1000.0
	plotX0    = 148.0 // left edge of the time axis; lane labels sit left of it
	plotX1    = 980.0
	stepBandH = 44.0
	laneHeadH = 22.0
	instRowH  = 28.0
	vipRowH   = 16.0
	condRowH  = 16.0
	advRowH   = 16.0
	srvRowH   = 20.0
	laneGap   = 10.0
	clientH   = 110.0
	verdictH  = 26.0
	axisH     = 28.0
)

// stateFill maps a lane state to its fill: a colour and, for print and
// colour-blind readers, a pattern (every span also carries its label).
var stateFill = map[string]string{
	StateMaster:   "url(#p-master)",
	StateBackup:   "url(#p-backup)",
	StateFault:    "url(#p-fault)",
	StateStop:     "url(#p-stop)",
	StateInit:     "url(#p-init)",
	StateDown:     "url(#p-down)",
	ServerIn:      "url(#p-in)",
	ServerWeight0: "url(#p-w0)",
	ServerOut:     "url(#p-out)",
	ServerUnknown: "url(#p-unknown)",
	"frozen":      "url(#p-cond)",
	"link down":   "url(#p-cond)",
	"partitioned": "url(#p-cond)",
}

// serverColours colour the client's bars by the real server that answered;
// serverPatterns tell them apart without colour.
var (
	serverColours  = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2"}
	serverPatterns = []string{"", "p-srv-diag", "p-srv-dots", "p-srv-cross", "p-srv-horiz", "p-srv-vert"}
)

// drawing renders the model's timeline as one SVG element.
type drawing struct {
	m   *Model
	b   strings.Builder
	y   float64
	top float64 // y of the first lane (below the step labels)
}

func (d *drawing) x(t float64) float64 {
	return plotX0 + (t-d.m.Start)/(d.m.End-d.m.Start)*(plotX1-plotX0)
}

func (d *drawing) printf(format string, a ...any) { fmt.Fprintf(&d.b, format, a...) }

// esc escapes text for SVG/HTML content and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// svgDefs are the patterns: each state has its own texture, so the
// drawing reads in black and white.
const svgDefs = `<defs>
<pattern id="p-master" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#7fcf8f"/></pattern>
<pattern id="p-backup" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#c7dcf7"/><line x1="0" y1="0" x2="0" y2="8" stroke="#7fa7d9" stroke-width="3"/></pattern>
<pattern id="p-fault" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#ffc98a"/><path d="M0 0L8 8M8 0L0 8" stroke="#d9822b" stroke-width="1.2"/></pattern>
<pattern id="p-stop" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#e3e3e3"/><circle cx="3" cy="3" r="1" fill="#888"/></pattern>
<pattern id="p-init" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#f3f3f3"/></pattern>
<pattern id="p-down" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#ffffff"/><line x1="0" y1="4" x2="8" y2="4" stroke="#9a9a9a" stroke-width="1"/></pattern>
<pattern id="p-in" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#a8dcb0"/></pattern>
<pattern id="p-w0" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#fde3b5"/><line x1="0" y1="0" x2="0" y2="6" stroke="#e0a040" stroke-width="2"/></pattern>
<pattern id="p-out" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="8" height="8" fill="#fff"/><path d="M0 8L8 0" stroke="#d04848" stroke-width="0.8"/></pattern>
<pattern id="p-unknown" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#fafafa"/><circle cx="3" cy="3" r="0.7" fill="#bbb"/></pattern>
<pattern id="p-cond" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6d0d0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b03030" stroke-width="2"/></pattern>
<pattern id="p-vip-stale" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d9c6ea"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6a3d9a" stroke-width="2"/></pattern>
<pattern id="p-fail" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#d62728"/><path d="M0 0L4 4M4 0L0 4" stroke="#fff" stroke-width="0.7"/></pattern>
<pattern id="p-srv-diag" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" stroke="#fff" stroke-width="1.2"/></pattern>
<pattern id="p-srv-dots" width="4" height="4" patternUnits="userSpaceOnUse"><circle cx="2" cy="2" r="0.9" fill="#fff"/></pattern>
<pattern id="p-srv-cross" width="4" height="4" patternUnits="userSpaceOnUse"><path d="M0 0L4 4M4 0L0 4" stroke="#fff" stroke-width="0.7"/></pattern>
<pattern id="p-srv-horiz" width="4" height="4" patternUnits="userSpaceOnUse"><line x1="0" y1="2" x2="4" y2="2" stroke="#fff" stroke-width="1"/></pattern>
<pattern id="p-srv-vert" width="4" height="4" patternUnits="userSpaceOnUse"><line x1="2" y1="0" x2="2" y2="4" stroke="#fff" stroke-width="1"/></pattern>
</defs>`

// SVG renders the timeline: step markers, a lane per balancer, the client,
// the verdicts and the time axis. Elements tied to an event carry
// data-ev (the index into Model.Events) for the page's script.
func (m *Model) SVG() string {
	d := &drawing{m: m}
	d.y = stepBandH
	d.top = d.y
	for i := range m.Balancers {
		d.lane(&m.Balancers[i])
	}
	d.client()
	d.verdicts()
	bottom := d.y
	d.axis(bottom)
	lanes := d.b.String()

	d.b = strings.Builder{}
	d.grid(bottom)
	grid := d.b.String()
	d.b = strings.Builder{}
	d.steps(bottom)
	steps := d.b.String()

	height := bottom + axisH
	var out strings.Builder
	fmt.Fprintf(&out, `<svg id="timeline" viewBox="0 0 %g %g" role="img" aria-label="timeline of scenario %s" data-x0="%g" data-x1="%g" data-start="%g" data-end="%g" data-top="%g" data-bottom="%g">`,
		svgWidth, height, esc(m.Scenario), plotX0, plotX1, m.Start, m.End, d.top, bottom)
	out.WriteString(svgDefs)
	out.WriteString(grid)
	fmt.Fprintf(&out, `<rect id="plot-hit" x="%g" y="0" width="%g" height="%g" fill="transparent"/>`, plotX0, plotX1-plotX0, bottom)
	out.WriteString(lanes)
	out.WriteString(steps)
	fmt.Fprintf(&out, `<g id="cursor" pointer-events="none"><line x1="0" y1="%g" x2="0" y2="%g" stroke="#000" stroke-width="1.6"/><path d="M-6 %g L6 %g L0 %g Z" fill="#000"/></g>`,
		d.top-4, bottom, d.top-10, d.top-10, d.top-2)
	out.WriteString(`</svg>`)
	return out.String()
}

// tickStep picks a time-axis step of 1, 2 or 5 × 10^k seconds (at least
// 0.5 s) giving at most 16 labelled ticks, whatever the span.
func tickStep(span float64) float64 {
	if !(span > 0) || math.IsInf(span, 0) {
		return 1
	}
	step := math.Pow(10, math.Floor(math.Log10(span/16)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 16 {
			return math.Max(step*m, 0.5)
		}
	}
	return math.Max(step*10, 0.5)
}

// ticks are the labelled times of the axis over [start, end] (at most 17;
// none when the span is not a finite positive number).
func ticks(start, end float64) []float64 {
	span := end - start
	if !(span > 0) || math.IsInf(span, 0) {
		return nil
	}
	step := tickStep(span)
	first := math.Ceil(start/step - 1e-9)
	var out []float64
	for i := 0.0; i <= 17; i++ {
		t := (first + i) * step
		if t > end+1e-9 {
			break
		}
		out = append(out, math.Round(t*1000)/1000)
	}
	return out
}

func (d *drawing) grid(bottom float64) {
	d.printf(`<g class="grid">`)
	for _, t := range ticks(d.m.Start, d.m.End) {
		w := "0.5"
		if math.Abs(t) < 1e-9 {
			w = "1.5" // time 0: ready, traffic starts
		}
		d.printf(`<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#ddd" stroke-width="%s"/>`, d.x(t), d.top, d.x(t), bottom, w)
	}
	d.printf(`</g>`)
}

func (d *drawing) axis(bottom float64) {
	d.printf(`<g class="axis"><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`, plotX0, bottom, plotX1, bottom)
	for _, t := range ticks(d.m.Start, d.m.End) {
		x := d.x(t)
		d.printf(`<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#333"/><text x="%.1f" y="%g" text-anchor="middle" class="tick">%s</text>`,
			x, bottom, x, bottom+5, x, bottom+17, trimFloat(t))
	}
	d.printf(`<text x="%g" y="%g" text-anchor="end" class="tick">time (s)</text></g>`, plotX0-6, bottom+17)
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// label draws a row label left of the plot.
func (d *drawing) label(y, h float64, text, class string) {
	d.printf(`<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle" class="%s">%s</text>`, plotX0-6, y+h/2, class, esc(text))
}

// span draws one state span with its label when it fits.
func (d *drawing) span(s Span, y, h float64, fill, label, title string) {
	x0, x1 := d.x(s.From), d.x(s.To)
	w := math.Max(x1-x0, 0.8)
	d.printf(`<g class="span"%s><rect x="%.1f" y="%.1f" width="%.1f" height="%g" fill="%s" stroke="#555" stroke-width="0.4"/>`,
		evAttr(s.Event), x0, y, w, h, fill)
	if label != "" && w > float64(len([]rune(label)))*7+6 {
		d.printf(`<text x="%.1f" y="%.1f" dominant-baseline="middle" class="in-span">%s</text>`, x0+4, y+h/2+0.5, esc(label))
	}
	d.printf(`<title>%s</title></g>`, esc(title))
}

func evAttr(i int) string {
	if i < 0 {
		return ""
	}
	return fmt.Sprintf(` data-ev="%d"`, i)
}

func spanTitle(what string, s Span) string {
	t := fmt.Sprintf("%s: %s from %.2f s to %.2f s (%.2f s)", what, s.State, s.From, s.To, s.To-s.From)
	if s.Note != "" {
		t += "\n" + s.Note
	}
	return t
}

func (d *drawing) lane(bal *Balancer) {
	// Header: host, daemon, priorities.
	head := bal.Host
	if bal.Daemon != "" {
		head += " · " + bal.Daemon
	}
	if len(bal.Priorities) > 0 {
		var ps []string
		for _, p := range bal.Priorities {
			ps = append(ps, fmt.Sprint(p.Value))
		}
		head += " · priority " + strings.Join(ps, "→")
	}
	d.printf(`<g class="lane" data-host="%s"><rect x="0" y="%g" width="%g" height="%g" fill="#f2f4f7"/>`, esc(bal.Host), d.y, svgWidth, laneHeadH)
	d.printf(`<text x="6" y="%.1f" dominant-baseline="middle" class="lane-head">%s</text>`, d.y+laneHeadH/2, esc(head))
	for _, p := range bal.Priorities[min(1, len(bal.Priorities)):] {
		d.printf(`<g%s><text x="%.1f" y="%.1f" dominant-baseline="middle" class="prio">▼ prio %d</text><title>effective priority %d at %.2f s</title></g>`,
			evAttr(p.Event), d.x(p.T), d.y+laneHeadH/2, p.Value, p.Value, p.T)
	}
	d.y += laneHeadH
	for _, in := range bal.Instances {
		name := "VRRP"
		if in.Name != "VRRP" {
			name = "VRRP " + in.Name
		}
		d.label(d.y, instRowH, name, "row")
		for _, s := range in.Spans {
			lbl := s.State
			if s.State == StateDown {
				lbl = "no daemon"
			}
			d.span(s, d.y+1, instRowH-2, stateFill[s.State], lbl, spanTitle(bal.Host+" "+in.Name, s))
		}
		d.y += instRowH
	}
	// The VIP held, drawn on the lane.
	d.label(d.y, vipRowH, "holds VIP", "row small")
	for _, s := range bal.VIP {
		fill, lbl := "#6a3d9a", "VIP"
		if s.Note != "" {
			fill, lbl = "url(#p-vip-stale)", "VIP (dead daemon's, kept by the kernel)"
		}
		x0, x1 := d.x(s.From), d.x(s.To)
		d.printf(`<g class="vip"><rect x="%.1f" y="%.1f" width="%.1f" height="%g" fill="%s" rx="2"/>`, x0, d.y+2, math.Max(x1-x0, 0.8), vipRowH-4, fill)
		if x1-x0 > float64(len([]rune(lbl)))*6.2+6 {
			cls := "in-vip"
			if s.Note != "" {
				cls = "in-vip stale"
			}
			d.printf(`<text x="%.1f" y="%.1f" dominant-baseline="middle" class="%s">%s</text>`, x0+4, d.y+vipRowH/2+0.5, cls, esc(lbl))
		}
		d.printf(`<title>%s holds the VIP from %.2f s to %.2f s%s</title></g>`, esc(bal.Host), s.From, s.To, esc(strings.TrimPrefix(" ("+s.Note+")", " ()")))
	}
	d.y += vipRowH
	if len(bal.Conditions) > 0 {
		d.label(d.y, condRowH, "fault injected", "row small")
		for _, s := range bal.Conditions {
			d.span(s, d.y+1, condRowH-2, stateFill[s.State], s.State, spanTitle(bal.Host, s))
		}
		d.y += condRowH
	}
	if len(bal.Adverts) > 0 {
		d.label(d.y, advRowH, "adverts ↑sent ↓heard", "row small")
		mid := d.y + advRowH/2
		for _, a := range bal.Adverts {
			x := d.x(a.T)
			if a.Sent > 0 {
				d.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1.2"><title>%.2f s: %d advert(s) sent</title></line>`, x, mid, x, d.y+1, a.T, a.Sent)
			}
			if a.Received > 0 {
				d.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#777" stroke-width="1.2"><title>%.2f s: %d advert(s) received</title></line>`, x, mid, x, d.y+advRowH-1, a.T, a.Received)
			}
		}
		d.y += advRowH
	}
	for _, row := range bal.Servers {
		d.label(d.y, srvRowH, "table: "+row.Server, "row")
		for _, s := range row.Spans {
			lbl := s.State
			if s.State == ServerUnknown {
				lbl = "? " + s.Note
			}
			d.span(s, d.y+1, srvRowH-2, stateFill[s.State], lbl, spanTitle(bal.Host+"'s table, "+row.Server, s))
		}
		d.y += srvRowH
	}
	if len(bal.Servers) == 0 {
		d.printf(`<text x="%g" y="%.1f" dominant-baseline="middle" class="note">no table recorded for %s (keepalived, or a timeline without table samples)</text>`, plotX0+4, d.y+srvRowH/2, esc(bal.Host))
		d.y += srvRowH
	}
	d.printf(`</g>`)
	d.y += laneGap
}

func (d *drawing) client() {
	c := &d.m.Client
	d.printf(`<g class="lane" data-host="client"><rect x="0" y="%g" width="%g" height="%g" fill="#f2f4f7"/>`, d.y, svgWidth, laneHeadH)
	d.printf(`<text x="6" y="%.1f" dominant-baseline="middle" class="lane-head">client · requests per %g ms by the real server that answered</text>`, d.y+laneHeadH/2, BucketWidth*1000)
	d.y += laneHeadH
	if c.Requests == 0 {
		d.printf(`<text x="%g" y="%.1f" class="note">no client traffic in this scenario</text></g>`, plotX0+4, d.y+14)
		d.y += 24 + laneGap
		return
	}
	okH, failH := clientH*0.72, clientH*0.28
	base := d.y + okH
	scale := okH / float64(max(c.MaxBucket, 1))
	bw := d.x(d.m.Start+BucketWidth) - d.x(d.m.Start)
	d.label(d.y, okH, "answered", "row")
	d.label(base, failH, "failed", "row small")
	// The longest outage: shaded band first, under the bars.
	if l := c.Longest; l != nil && l.Len() > 0 {
		x0, x1 := d.x(l.From), d.x(l.To)
		d.printf(`<g class="outage"><rect x="%.1f" y="%.1f" width="%.1f" height="%g" fill="#d62728" fill-opacity="0.12" stroke="#d62728" stroke-dasharray="3 2"/><text x="%.1f" y="%.1f" class="outage-label">longest outage %.2f s</text><title>longest outage: no request answered from %.2f s to %.2f s</title></g>`,
			x0, d.y, math.Max(x1-x0, 1), clientH, x0+3, d.y+10, l.Len(), l.From, l.To)
	}
	for _, bk := range c.Buckets {
		x := d.x(bk.From)
		y := base
		var parts []string
		for i, n := range bk.ByServer {
			if n == 0 {
				continue
			}
			h := float64(n) * scale
			y -= h
			col := serverColours[i%len(serverColours)]
			d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, y, math.Max(bw-0.6, 0.6), h, col)
			if p := serverPatterns[i%len(serverPatterns)]; p != "" {
				d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#%s)"/>`, x, y, math.Max(bw-0.6, 0.6), h, p)
			}
			parts = append(parts, fmt.Sprintf("%s %d", c.Servers[i], n))
		}
		if bk.Failed > 0 {
			h := math.Min(float64(bk.Failed)*scale, failH-2)
			d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#p-fail)"/>`, x, base+1, math.Max(bw-0.6, 0.6), h)
			parts = append(parts, fmt.Sprintf("failed %d", bk.Failed))
		}
		d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%g" fill="transparent"><title>%.1f–%.1f s: %s</title></rect>`,
			x, d.y, math.Max(bw, 0.6), clientH, bk.From, bk.From+BucketWidth, esc(strings.Join(parts, ", ")))
	}
	d.printf(`<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#333" stroke-width="0.6"/>`, plotX0, base, plotX1, base)
	d.printf(`<text x="%g" y="%.1f" class="tick" text-anchor="start">%d</text>`, plotX1+2, d.y+8, c.MaxBucket)
	d.printf(`</g>`)
	d.y += clientH + laneGap
}

func (d *drawing) verdicts() {
	d.label(d.y, verdictH, "expectations", "row")
	const gap = 12.0
	// Verdicts decided together (the end of a run) form a group laid out
	// side by side around their time, inside the drawing.
	vs := d.m.Verdicts
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && d.x(vs[j].T)-d.x(vs[i].T) < gap {
			j++
		}
		n := float64(j - i)
		left := d.x(vs[i].T) - (n-1)*gap/2
		left = math.Max(plotX0+gap/2, math.Min(left, svgWidth-gap/2-(n-1)*gap))
		for k := i; k < j; k++ {
			v := vs[k]
			glyph, cls := "✓", "pass"
			if !v.Met {
				glyph, cls = "✗", "fail"
			}
			d.printf(`<g class="verdict %s"%s><text x="%.1f" y="%.1f" text-anchor="middle" dominant-baseline="middle">%s</text><title>%s %s (%s) at %.2f s&#10;measured %s, bound %s</title></g>`,
				cls, evAttr(v.Event), left+float64(k-i)*gap, d.y+verdictH/2, glyph, glyph, esc(v.Text), esc(v.Scope), v.T, esc(v.Measured), esc(v.Bound))
		}
		i = j
	}
	d.y += verdictH
}

func (d *drawing) steps(bottom float64) {
	lastX := []float64{-1000, -1000}
	for _, s := range d.m.Steps {
		x := d.x(s.T)
		level := 0
		if x-lastX[0] < 150 {
			level = 1
			if x-lastX[1] < 150 {
				level = 0 // both crowded: overlap on the top line rather than hide
			}
		}
		lastX[level] = x
		y := 14 + float64(level)*16
		d.printf(`<g class="step"%s><line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#b03030" stroke-width="1.1" stroke-dasharray="5 3"/><line class="hit" x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="transparent" stroke-width="9"/>`,
			evAttr(s.Event), x, y+3, x, bottom, x, y+3, x, bottom)
		d.printf(`<text x="%.1f" y="%g" class="step-label">%d %s</text><title>step %d at %.2f s: %s</title></g>`,
			x+3, y, s.Number, esc(s.Label), s.Number, s.T, esc(s.Text))
	}
}
