// Package labtest helps Ginkgo suites run real labs: it builds the drlb and
// drlab binaries once, names labs so parallel processes do not collide,
// removes every lab when a spec ends (also when it fails), and attaches the
// lab's state (addresses, processes, logs) to the report of a failed spec.
package labtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/drlb/drlb/internal/testenv"
	"github.com/drlb/drlb/topology"
)

// BinDirEnv names a directory holding prebuilt drlb and drlab binaries (make sets it).
const BinDirEnv = "DRLB_BIN_DIR"

// BuildBinaries returns a directory with drlb and drlab: DRLB_BIN_DIR if set,
// else a fresh build into a temporary directory removed after the suite.
// Call it from a (Synchronized)BeforeSuite.
func BuildBinaries() string {
	ginkgo.GinkgoHelper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		for _, b := range []string{"drlb", "drlab"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				ginkgo.Fail(fmt.Sprintf("%s=%s but %s is missing: run `make build`", BinDirEnv, dir, b))
			}
		}
		return dir
	}
	dir, err := os.MkdirTemp("", "drlb-bin-")
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("temp dir for binaries: %v", err))
	}
	ginkgo.DeferCleanup(os.RemoveAll, dir)
	// Tests run the binaries as other users too (permission checks).
	if err := os.Chmod(dir, 0o755); err != nil {
		ginkgo.Fail(fmt.Sprintf("chmod %s: %v", dir, err))
	}
	root := moduleRoot()
	for _, b := range []string{"drlb", "drlab"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b), "./cmd/"+b)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			ginkgo.Fail(fmt.Sprintf("build %s: %v\n%s", b, err, out))
		}
	}
	return dir
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// PrefixEnv names an optional prefix (lower-case letters and digits) that
// Name puts before every lab name, so that two checkouts running the same
// suites on one machine do not take each other's labs for leftovers.
const PrefixEnv = "DRLB_LAB_PREFIX"

// Name returns a lab name unique to this Ginkgo parallel process:
// $DRLB_LAB_PREFIX + prefix + process number.
func Name(prefix string) string {
	return fmt.Sprintf("%s%s%d", os.Getenv(PrefixEnv), prefix, ginkgo.GinkgoParallelProcess())
}

// Up builds a lab for the current spec (skipping or failing per
// testenv.PrivilegedGinkgo), removes leftovers of an earlier crashed run of
// the same name first, and registers its teardown with DeferCleanup.
func Up(name string, spec *topology.Spec, binDir string) *topology.Lab {
	ginkgo.GinkgoHelper()
	testenv.PrivilegedGinkgo()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := topology.Down(ctx, name, ""); err == nil {
		ginkgo.GinkgoWriter.Printf("removed leftovers of an earlier lab %s\n", name)
	}
	lab, err := topology.Up(ctx, topology.Options{
		Name:        name,
		Spec:        spec,
		DrlabBinary: filepath.Join(binDir, "drlab"),
		Progress:    func(f string, a ...any) { ginkgo.GinkgoWriter.Printf(f+"\n", a...) },
	})
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("lab up: %v", err))
	}
	ginkgo.DeferCleanup(func() {
		if ginkgo.CurrentSpecReport().Failed() {
			ginkgo.AddReportEntry("lab "+name, Diagnostics(lab))
		}
		if err := lab.Down(context.Background()); err != nil {
			ginkgo.Fail(fmt.Sprintf("lab down: %v", err))
		}
	})
	return lab
}

// Diagnostics collects what a person needs to debug a failed lab spec:
// status, every host's addresses and nft ruleset, and the process logs.
func Diagnostics(lab *topology.Lab) string {
	var b strings.Builder
	if st, err := lab.Status(); err == nil {
		st.WriteText(&b)
	} else {
		fmt.Fprintf(&b, "status: %v\n", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, host := range lab.Spec().HostNames() {
		for _, argv := range [][]string{{"ip", "-br", "addr"}, {"ip", "neigh"}, {"nft", "list", "ruleset"}} {
			out, err := lab.Output(ctx, host, argv...)
			fmt.Fprintf(&b, "\n--- %s: %s\n%s", host, strings.Join(argv, " "), out)
			if err != nil {
				fmt.Fprintf(&b, "(%v)\n", err)
			}
		}
	}
	logs, _ := filepath.Glob(filepath.Join(lab.Dir(), "logs", "*", "*.log"))
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		if len(data) > 16*1024 {
			data = data[len(data)-16*1024:]
		}
		fmt.Fprintf(&b, "\n--- log %s\n%s", f, data)
	}
	return b.String()
}

// SuiteBinaries registers a SynchronizedBeforeSuite that builds drlb and
// drlab once for all parallel Ginkgo processes and stores their directory
// in *dir. When privileged tests cannot run here (see testenv, tools are
// commands the suite needs) nothing is built and the specs skip, or fail
// in CI, on their own. Use it as `var _ = labtest.SuiteBinaries(&binDir)`.
func SuiteBinaries(dir *string, tools ...string) bool {
	return ginkgo.SynchronizedBeforeSuite(func() []byte {
		if testenv.MissingPrivilege(tools...) != "" {
			return nil
		}
		return []byte(BuildBinaries())
	}, func(built []byte) { *dir = string(built) })
}
