package daemon

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestClaimPIDFileSeesRenamedDaemon: a running drlb renamed by
// process_name (its comm is no longer "drlb") still owns its pid file.
func TestClaimPIDFileSeesRenamedDaemon(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drlb.pid")

	// A process running this very executable, with another name: the
	// test binary re-executed, parked until the test ends.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run", "^TestParkedHelper$", "-test.timeout", "30s")
	cmd.Args[0] = "renamed"
	cmd.Env = append(os.Environ(), "DRLB_TEST_PARK=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Running, not yet exited: its comm is the binary's file name, not
	// "drlb", so only the executable can tell.
	waitFor(t, "the parked process to run", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		return err == nil && !strings.Contains(string(b), ") Z ")
	})
	if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = claimPIDFile(path)
	if err == nil || !strings.Contains(err.Error(), "another drlb") {
		t.Fatalf("claimPIDFile over a live process of our executable = %v, want refusal", err)
	}

	// A stale file naming a process of another executable is taken over.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	if err := os.WriteFile(path, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := claimPIDFile(path); err != nil {
		t.Fatalf("claimPIDFile over another program's pid = %v, want it taken", err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q, want our pid", b)
	}
}

// TestParkedHelper is the process TestClaimPIDFileSeesRenamedDaemon runs:
// with DRLB_TEST_PARK set it waits until its stdin closes.
func TestParkedHelper(t *testing.T) {
	if os.Getenv("DRLB_TEST_PARK") == "" {
		return // only as the helper process
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}
