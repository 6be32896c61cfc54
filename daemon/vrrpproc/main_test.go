package vrrpproc

import (
	"os"
	"testing"
)

// TestMain lets this test binary be the VRRP child the tests start.
func TestMain(m *testing.M) {
	MaybeChild()
	os.Exit(m.Run())
}
