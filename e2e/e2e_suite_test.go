package e2e_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology/labtest"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "drlb end-to-end scenarios")
}

// binDir holds drlb and drlab, built once for all parallel processes.
var binDir string

var _ = SynchronizedBeforeSuite(func() []byte {
	if testenv.MissingPrivilege() != "" {
		return nil // the specs skip (or fail in CI) on their own
	}
	return []byte(labtest.BuildBinaries())
}, func(dir []byte) {
	binDir = string(dir)
})
