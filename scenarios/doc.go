// Package scenarios plays failure scenarios in a drlab lab: scenario files
// (YAML, embedded under library/, one per scenario, written for a trainee to
// read), and the engine that runs one in a fresh lab, drives its steps,
// measures client traffic and writes a timeline.
//
// A scenario names a topology, the daemon configuration of each balancer
// (keepalived syntax as a Go text/template filled with the lab's values),
// bounded background traffic, and steps that happen at a time or once a
// condition holds (kill the master, partition the balancers, alter a page…),
// each with expectations and bounds (VIP owner, VRRP states, real servers in
// the table, share of requests per server, longest outage, errors).
//
// Pure parts are plain functions: Parse and Validate (with file:line
// diagnostics), Render, Outages and Distribution over a request log,
// Evaluate over an Observation, Narrator and Replay over a timeline,
// StatusEvents over two samples of a drlb's status. Run is the only part
// that touches a lab. The subpackage report draws a timeline as an HTML page.
package scenarios
