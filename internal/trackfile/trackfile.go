// Package trackfile reads the number a keepalived track_file holds. Both
// the VRRP trackers (daemon/vrrp) and FILE_CHECK (daemon/check) read these
// files and must agree on what a file's content means.
package trackfile

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// Read reads the number in the file at path, as keepalived does (see
// Parse). The error is os.ReadFile's, unwrapped.
func Read(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return Parse(string(b)), nil
}

// Parse is the number at the start of s as keepalived reads it: leading
// blanks skipped, an optional sign, decimal digits; anything after is
// ignored, and no number reads as 0. The value saturates to the int32
// range keepalived reads.
func Parse(s string) int64 {
	s = strings.TrimLeft(s, " \t\r\n")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			if s[0] == '-' {
				return -1 << 31
			}
			return 1<<31 - 1
		}
		return 0
	}
	return max(min(v, 1<<31-1), -1<<31)
}
