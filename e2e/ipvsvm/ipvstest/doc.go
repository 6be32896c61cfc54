// Package ipvstest is the ipvsvm harness's self-test: tests that run only
// inside the harness's VM (a Debian cloud kernel with IPVS modules) and prove
// that IPVS services, destinations and a small direct-routing lab work there
// through github.com/cloudflare/ipvs.
//
// Build it with `CGO_ENABLED=0 go test -c ./e2e/ipvsvm/ipvstest` and pass the
// binary to the harness. On any other machine every test skips.
package ipvstest
