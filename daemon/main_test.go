package daemon

import (
	"os"
	"testing"

	"github.com/drlb/drlb/daemon/vrrpproc"
)

// TestMain lets this test binary be the VRRP child of daemons the tests
// run in process with Options.VRRPChild.
func TestMain(m *testing.M) {
	vrrpproc.MaybeChild()
	os.Exit(m.Run())
}
