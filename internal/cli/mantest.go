package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// UpdateManEnv is the environment variable that, set to 1, makes
// TestManPages rewrite the pages instead of comparing them (make docs).
const UpdateManEnv = "DRLB_UPDATE_MAN"

// TestManPages is each program's man-page test: it fails when the pages
// under repoRoot/ManDir do not match root's commands, or rewrites them
// when $DRLB_UPDATE_MAN is 1.
func TestManPages(t testing.TB, root *cobra.Command, repoRoot string) {
	t.Helper()
	stale, err := StaleManPages(root, filepath.Join(repoRoot, ManDir), os.Getenv(UpdateManEnv) == "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		t.Errorf("%s", s)
	}
	if len(stale) > 0 {
		t.Log("the man pages are stale: run make docs and commit docs/man")
	}
}
