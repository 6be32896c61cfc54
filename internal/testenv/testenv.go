// Package testenv decides whether privileged tests (network namespaces, raw
// sockets, nftables) can run, and turns their skips into failures in CI.
//
// A privileged test calls Privileged(t) (go test) or PrivilegedGinkgo()
// (Ginkgo) first. Without root the test is skipped with a message that says
// why and how to run it; with DRLB_REQUIRE_PRIVILEGED=1 in the environment the
// same situation fails the test instead, so CI cannot pass by skipping.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/onsi/ginkgo/v2"
)

// RequireEnv is the environment variable that turns privileged skips into failures.
const RequireEnv = "DRLB_REQUIRE_PRIVILEGED"

// Required reports whether privileged tests must run (CI sets DRLB_REQUIRE_PRIVILEGED=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// MissingPrivilege returns why privileged tests cannot run here, or "" when they can.
// tools lists external commands the test needs (for example "nft").
func MissingPrivilege(tools ...string) string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, raw sockets, nftables); run `sudo make test`"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("needs the %q command; install it (see README: make deps)", tool)
		}
	}
	return ""
}

// Privileged skips t when privileged tests cannot run here, or fails it when
// DRLB_REQUIRE_PRIVILEGED=1.
func Privileged(t testing.TB, tools ...string) {
	t.Helper()
	reason := MissingPrivilege(tools...)
	if reason == "" {
		return
	}
	if Required() {
		t.Fatalf("privileged test cannot run: %s (%s=1 forbids skipping)", reason, RequireEnv)
	}
	t.Skipf("privileged test skipped: %s", reason)
}

// PrivilegedGinkgo is Privileged for Ginkgo specs and suites (call it in a
// BeforeEach or at the top of an It).
func PrivilegedGinkgo(tools ...string) {
	ginkgo.GinkgoHelper()
	reason := MissingPrivilege(tools...)
	if reason == "" {
		return
	}
	if Required() {
		ginkgo.Fail(fmt.Sprintf("privileged test cannot run: %s (%s=1 forbids skipping)", reason, RequireEnv))
	}
	ginkgo.Skip("privileged test skipped: " + reason)
}
