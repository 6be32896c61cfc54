package main

import (
	"context"
	"fmt"
	"io"
)

// cmdRun is owned by the issue that delivers it; until then it says so.
func cmdRun(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "drlb run: not implemented yet")
	return 1
}
