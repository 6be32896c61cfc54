package ipvs

import (
	"testing"

	"github.com/drlb/drlb/daemon/dataplane"
)

// TestApplySorryServerSteps applies the tables the daemon computes for
// keepalived's quorum loss with a sorry server (daemon
// TestDesiredSorryServerReplacesPool, first case): the sorry server
// replaces the pool, the inhibit_on_failure real server stays at weight 0,
// and the pool comes back on quorum regain. The nft back end gets the same
// tables (nft TestApplySorryServerSteps).
func TestApplySorryServerSteps(t *testing.T) {
	applyStepsGolden(t, "apply-sorry-steps", []applyStep{
		{"quorum", dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1), rs("172.16.1.11", 1))}}},
		{"quorum lost: sorry server replaces the pool", dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 0), rs("172.16.1.3", 1))}}},
		{"quorum regained", dataplane.Table{Services: []dataplane.Service{web("rr", rs("172.16.1.10", 1), rs("172.16.1.11", 1))}}},
	})
}
