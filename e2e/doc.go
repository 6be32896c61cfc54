// Package e2e holds drlb's end-to-end Ginkgo suites: every scenario file of
// the library (github.com/drlb/drlb/scenarios) played in a real lab as one
// spec, plus hand-written specs for what a scenario file cannot express.
// They need root; run them with `make e2e` (a lab per Ginkgo process).
package e2e
