package script

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEmptyCommand is returned by Split for a line without a word.
var ErrEmptyCommand = errors.New("script: empty command")

// Split splits a keepalived script line into arguments: blanks (space, tab,
// newline) separate words, single and double quotes group them (the quotes
// are removed), a backslash escapes the next character outside single
// quotes. An unterminated quote or a trailing backslash is an error, and so
// is a line without any word (ErrEmptyCommand).
func Split(line string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quote   byte
		escaped bool
	)
	// Bytes, not runes: every special character is ASCII, and an argument
	// that is not valid UTF-8 must reach the script unchanged.
	for i := 0; i < len(line); i++ {
		r := line[i]
		switch {
		case escaped:
			cur.WriteByte(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inArg = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteByte(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(r)
			inArg = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("script: %q: unterminated quote or escape", line)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrEmptyCommand, line)
	}
	return args, nil
}
