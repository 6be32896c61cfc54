package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drlb/drlb/e2e/ipvsvm/vm"
	"github.com/drlb/drlb/internal/testenv"
)

// requireQEMU skips without root, installs qemu when it is missing (the
// harness does the same on its own) and then insists on it.
func requireQEMU(t *testing.T) {
	t.Helper()
	testenv.Privileged(t)
	if testenv.MissingPrivilege(vm.QEMUBinary) != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := vm.EnsureHostTools(ctx, testLog{t}, true); err != nil {
			t.Logf("installing qemu: %v", err)
		}
	}
	testenv.Privileged(t, vm.QEMUBinary)
}

// testLog sends harness progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildSelfTest compiles e2e/ipvsvm/ipvstest as a static test binary.
func buildSelfTest(t *testing.T) string {
	t.Helper()
	bin, err := vm.BuildTestBinary(context.Background(), "ipvstest", t.TempDir())
	if err != nil {
		t.Fatalf("build self-test: %v", err)
	}
	return bin
}

func runVM(t *testing.T, cfg vm.Config) (vm.Result, string, error) {
	t.Helper()
	var console bytes.Buffer
	cfg.Console = &console
	cfg.Log = testLog{t}
	cfg.InstallQEMU = true
	res, err := vm.Run(context.Background(), cfg)
	return res, console.String(), err
}

// TestHarnessSelfTest boots the VM with the IPVS self-test and requires the
// guest's PASS marker and a PASS line for every self-test (a skip inside the
// VM would mean DRLB_IPVS_VM did not reach the guest).
func TestHarnessSelfTest(t *testing.T) {
	requireQEMU(t)
	bin := buildSelfTest(t)
	res, console, err := runVM(t, vm.Config{Binaries: []vm.TestBinary{{Path: bin}}, Timeout: 4 * time.Minute})
	t.Logf("guest console:\n%s", console)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if !res.Passed || res.RC != 0 {
		t.Fatalf("guest reported FAIL rc=%d", res.RC)
	}
	if len(res.Tests) != 1 || res.Tests[0].Name != "ipvstest.test" || !res.Tests[0].Passed {
		t.Errorf("per-binary verdicts %+v, want one passing ipvstest.test", res.Tests)
	}
	for _, name := range []string{"TestServiceWithTwoDRDestinationsReadsBack", "TestEverySchedulerIsAvailable", "TestDirectRoutingCountsConnections"} {
		if !strings.Contains(console, "--- PASS: "+name+" ") {
			t.Errorf("guest console has no PASS line for %s", name)
		}
	}
	t.Logf("kernel %s, prepare %s, qemu %s", res.Kernel, res.Prepare, res.Boot)
}

// TestHarnessReportsFailure proves the verdict can be FAIL: the second
// binary exits 2 on an unknown flag, so the run fails with its status while
// the first binary's pass is still recorded.
func TestHarnessReportsFailure(t *testing.T) {
	requireQEMU(t)
	bin := buildSelfTest(t)
	res, console, err := runVM(t, vm.Config{
		Binaries: []vm.TestBinary{
			{Path: bin, Args: []string{"-test.run", "TestEverySchedulerIsAvailable"}},
			{Path: bin, Args: []string{"-test.no-such-flag"}},
		},
		Timeout: 3 * time.Minute,
	})
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, console)
	}
	if res.Passed || res.RC != 2 {
		t.Errorf("verdict passed=%v rc=%d, want FAIL rc=2\n%s", res.Passed, res.RC, console)
	}
	want := []vm.Verdict{{Name: "ipvstest.test", Passed: true}, {Name: "ipvstest.test-2", RC: 2}}
	if len(res.Tests) != len(want) || res.Tests[0] != want[0] || res.Tests[1] != want[1] {
		t.Errorf("per-binary verdicts %+v, want %+v", res.Tests, want)
	}
}

// TestHarnessTimeoutKillsQEMU proves the bound: a timeout shorter than a boot
// kills qemu and reports that no verdict arrived.
func TestHarnessTimeoutKillsQEMU(t *testing.T) {
	requireQEMU(t)
	bin := buildSelfTest(t)
	start := time.Now()
	_, _, err := runVM(t, vm.Config{Binaries: []vm.TestBinary{{Path: bin}}, Timeout: 500 * time.Millisecond})
	if !errors.Is(err, vm.ErrNoResult) {
		t.Fatalf("err = %v, want ErrNoResult", err)
	}
	if elapsed := time.Since(start); elapsed > time.Minute {
		t.Errorf("run took %s after a 500ms timeout", elapsed)
	}
}

func TestCommandLineErrors(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"-no-such-flag"}, {"/nonexistent.test"}, {"-env", "not-a-pair", self}, {"-testflags", "-x", " "}} {
		if rc := run(args); rc != 2 {
			t.Errorf("run(%q) = %d, want 2", args, rc)
		}
	}
}
