package e2e_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/drlb/drlb/topology/labtest"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "drlb end-to-end scenarios")
}

// binDir holds drlb and drlab, built once for all parallel processes.
var binDir string

var _ = labtest.SuiteBinaries(&binDir)
