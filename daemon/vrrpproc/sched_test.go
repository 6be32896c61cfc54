package vrrpproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetProcessNameNamesEveryThread: process_name and vrrp_process_name
// show in /proc/PID/comm and in every thread's comm (ps -L, top -H).
func TestSetProcessNameNamesEveryThread(t *testing.T) {
	orig, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	t.Cleanup(func() { SetProcessName(strings.TrimSpace(string(orig))) })
	SetProcessName("drlb_vrrp_with_a_long_name")
	comms, _ := filepath.Glob("/proc/self/task/*/comm")
	if len(comms) == 0 {
		t.Fatal("no threads listed")
	}
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil {
			continue // the thread ended
		}
		if got := strings.TrimSpace(string(b)); got != "drlb_vrrp_with_" {
			t.Errorf("%s: %q, want the first 15 bytes %q", c, got, "drlb_vrrp_with_")
		}
	}
	SetProcessName("") // keeps it
	if b, _ := os.ReadFile("/proc/self/comm"); strings.TrimSpace(string(b)) != "drlb_vrrp_with_" {
		t.Errorf("an empty name changed it to %q", b)
	}
}
