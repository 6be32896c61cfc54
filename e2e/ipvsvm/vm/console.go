package vm

import (
	"fmt"
	"strconv"
	"strings"
)

// Marker lines the guest's /init prints on the serial console. qemu has no
// channel for the guest's exit status, so the host reads these instead.
const (
	// ResultPrefix starts the one line that carries the whole run's verdict:
	// "DRLB-VM-RESULT: PASS" or "DRLB-VM-RESULT: FAIL rc=N".
	ResultPrefix = "DRLB-VM-RESULT:"
	// TestPrefix starts one line per test binary: "DRLB-VM-TEST: name rc=N".
	TestPrefix = "DRLB-VM-TEST:"
)

// Verdict is a parsed marker line.
type Verdict struct {
	// Name is the test binary's name (empty for the overall result).
	Name string
	// Passed is true for "PASS" and for rc=0.
	Passed bool
	// RC is the exit status the guest reported (0 when passed).
	RC int
}

// ParseResultLine parses a console line. It reports ok=false for a line that
// is not a result marker. Serial consoles add "\r" and the kernel may prefix
// a line with its own output, so the marker is searched within the line.
func ParseResultLine(line string) (v Verdict, ok bool) {
	i := strings.Index(line, ResultPrefix)
	if i < 0 {
		return Verdict{}, false
	}
	fields := strings.Fields(line[i+len(ResultPrefix):])
	switch {
	case len(fields) == 1 && fields[0] == "PASS":
		return Verdict{Passed: true}, true
	case len(fields) == 2 && fields[0] == "FAIL":
		rc, err := parseRC(fields[1])
		if err != nil || rc == 0 {
			return Verdict{}, false
		}
		return Verdict{RC: rc}, true
	}
	return Verdict{}, false
}

// ParseTestLine parses a per-binary marker "DRLB-VM-TEST: name rc=N".
func ParseTestLine(line string) (v Verdict, ok bool) {
	i := strings.Index(line, TestPrefix)
	if i < 0 {
		return Verdict{}, false
	}
	fields := strings.Fields(line[i+len(TestPrefix):])
	if len(fields) != 2 {
		return Verdict{}, false
	}
	rc, err := parseRC(fields[1])
	if err != nil {
		return Verdict{}, false
	}
	return Verdict{Name: fields[0], Passed: rc == 0, RC: rc}, true
}

func parseRC(field string) (int, error) {
	num, ok := strings.CutPrefix(field, "rc=")
	if !ok {
		return 0, fmt.Errorf("vm: want rc=N, got %q", field)
	}
	rc, err := strconv.Atoi(num)
	if err != nil || rc < 0 || rc > 255 {
		return 0, fmt.Errorf("vm: bad exit status %q", field)
	}
	return rc, nil
}
