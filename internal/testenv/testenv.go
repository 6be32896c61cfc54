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
	if reason := MissingPrivilege(tools...); reason != "" {
		skipOrFail(t, "privileged test", reason)
	}
}

// Unavailable skips t because something it needs is missing here (reason
// says what and how to install it), or fails it when DRLB_REQUIRE_PRIVILEGED=1,
// so CI cannot pass by skipping. Use it for a missing tool such as chromium
// or keepalived's genhash; Privileged covers root and commands on PATH.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	skipOrFail(t, "test", reason)
}

func skipOrFail(t testing.TB, what, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s cannot run: %s (%s=1 forbids skipping)", what, reason, RequireEnv)
	}
	t.Skipf("%s skipped: %s", what, reason)
}

// PrivilegedGinkgo is Privileged for Ginkgo specs and suites (call it in a
// BeforeEach or at the top of an It).
func PrivilegedGinkgo(tools ...string) {
	ginkgo.GinkgoHelper()
	if reason := MissingPrivilege(tools...); reason != "" {
		skipOrFailGinkgo("privileged test", reason)
	}
}

// UnavailableGinkgo is Unavailable for Ginkgo specs.
func UnavailableGinkgo(reason string) {
	ginkgo.GinkgoHelper()
	skipOrFailGinkgo("test", reason)
}

func skipOrFailGinkgo(what, reason string) {
	ginkgo.GinkgoHelper()
	if Required() {
		ginkgo.Fail(fmt.Sprintf("%s cannot run: %s (%s=1 forbids skipping)", what, reason, RequireEnv))
	}
	ginkgo.Skip(what + " skipped: " + reason)
}
