package main

import (
	"context"
	"fmt"
	"io"
)

// cmdStatus is owned by the issue that delivers it; until then it says so.
func cmdStatus(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "drlb status: not implemented yet")
	return 1
}
