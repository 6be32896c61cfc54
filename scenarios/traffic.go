package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Request is one client request of the background traffic.
type Request struct {
	// Start is when the request was sent, since time 0 of the run.
	Start   time.Duration `json:"start"`
	Latency time.Duration `json:"latency"`
	OK      bool          `json:"ok"`
	// Server is the X-Real-Server header of a successful answer.
	Server string `json:"server,omitempty"`
	Error  string `json:"error,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Window is a time interval since time 0.
type Window struct {
	From, To time.Duration
}

// Len is the window's length.
func (w Window) Len() time.Duration { return w.To - w.From }

// String formats the window as "from..to (length)" in seconds.
func (w Window) String() string {
	return fmt.Sprintf("%s..%s (%s)", secs(w.From), secs(w.To), secs(w.Len()))
}

// secs formats a duration as seconds with two decimals ("3.61s").
func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// sortRequests returns reqs ordered by start time (stable, a copy).
func sortRequests(reqs []Request) []Request {
	out := append([]Request(nil), reqs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Outages returns the windows in which the client got no successful answer:
// each opens when a request fails after a success (or at the first request)
// and closes when the next request that succeeds was sent. An outage still
// open at the end closes when the last request finished.
func Outages(reqs []Request) []Window {
	reqs = sortRequests(reqs)
	var out []Window
	open := false
	var from time.Duration
	for _, r := range reqs {
		switch {
		case !r.OK && !open:
			open, from = true, r.Start
		case r.OK && open:
			out = append(out, Window{From: from, To: r.Start})
			open = false
		}
	}
	if open {
		last := reqs[len(reqs)-1]
		out = append(out, Window{From: from, To: max(last.Start+last.Latency, from)})
	}
	return out
}

// LongestOutage is the longest of Outages (zero without outages).
func LongestOutage(reqs []Request) time.Duration {
	var longest time.Duration
	for _, w := range Outages(reqs) {
		longest = max(longest, w.Len())
	}
	return longest
}

// Distribution counts requests by outcome.
type Distribution struct {
	Total    int            `json:"total"`
	OK       int            `json:"ok"`
	Errors   int            `json:"errors"`
	ByServer map[string]int `json:"by_server"`
}

// Distribute counts reqs: total, successes, errors, successes per server.
func Distribute(reqs []Request) Distribution {
	d := Distribution{ByServer: map[string]int{}}
	for _, r := range reqs {
		d.Total++
		if r.OK {
			d.OK++
			d.ByServer[r.Server]++
		} else {
			d.Errors++
		}
	}
	return d
}

// Share is server's fraction of the successful requests (0 when none succeeded).
func (d Distribution) Share(server string) float64 {
	if d.OK == 0 {
		return 0
	}
	return float64(d.ByServer[server]) / float64(d.OK)
}

// String summarizes the distribution for people.
func (d Distribution) String() string {
	var parts []string
	for _, s := range sortedKeys(d.ByServer) {
		parts = append(parts, fmt.Sprintf("%s %d (%.0f%%)", s, d.ByServer[s], 100*d.Share(s)))
	}
	if len(parts) == 0 {
		parts = append(parts, "no successful request")
	}
	return fmt.Sprintf("%d requests: %s; %d errors", d.Total, strings.Join(parts, ", "), d.Errors)
}

// InWindow returns the requests sent within w (From inclusive, To exclusive).
func InWindow(reqs []Request, w Window) []Request {
	var out []Request
	for _, r := range reqs {
		if r.Start >= w.From && r.Start < w.To {
			out = append(out, r)
		}
	}
	return out
}
