// Package report turns a recorded scenario timeline (the JSON lines
// scenarios.Timeline writes) into a training view: one self-contained HTML
// page with the run drawn on a shared time axis in seconds.
//
// Build derives a Model from the events (pure, no I/O): one lane per
// balancer with its VRRP state spans (MASTER, BACKUP, FAULT, STOP, INIT,
// DOWN when no daemon runs), the VIP it holds (also when a dead daemon
// left it in the kernel), the faults a step injected, its priority
// changes, the adverts it sent and heard, and one row per real server of
// its forwarding table (in, weight 0, out, with the check result that
// changed it); the client's requests in buckets of BucketWidth seconds by
// the real server that answered, failures apart, and its outages computed
// as the engine does (scenarios.Outages); the steps as markers and the
// expectations as verdicts at the time they were decided. Every event but
// single requests and advert samples is listed with its narration
// (scenarios.Narrator).
//
// Model.Write renders the page: inline SVG (every state has a pattern as
// well as a colour, and a label where it fits, so it reads in black and
// white), inline CSS and a small script of our own (no library: a cursor,
// play/pause, speed, keyboard, and the state of every lane at the cursor
// is all it needs). The page fetches nothing and opens offline.
//
// Timelines recorded before status sampling (scenarios.EvTable, EvAdvert,
// EvPriority) have no table rows and no advert ticks; the page says so.
package report
