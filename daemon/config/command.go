package config

import "errors"

// Errors CheckCommand returns.
var (
	// ErrCommandQuote: a quote or a trailing backslash is not closed.
	ErrCommandQuote = errors.New("unterminated quote or escape")
	// ErrCommandEmpty: the line holds no command word.
	ErrCommandEmpty = errors.New("empty command")
)

// CheckCommand reports whether a script line (vrrp_script's script, notify
// scripts, misc_path, quorum_up/down) splits into a command the daemon can
// run: words separated by blanks, single and double quotes grouping words,
// a backslash escaping the next character outside single quotes. It
// returns ErrCommandQuote or ErrCommandEmpty otherwise. The daemon's
// splitters follow the same rules (a test in package daemon compares them),
// so a line check accepts is a line run can run.
func CheckCommand(line string) error {
	var quote rune
	escaped, words := false, false
	for _, r := range line {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, words = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote, words = r, true
		case r == ' ' || r == '\t':
		default:
			words = true
		}
	}
	if quote != 0 || escaped {
		return ErrCommandQuote
	}
	if !words {
		return ErrCommandEmpty
	}
	return nil
}

// command checks a script line given by keyword key at t's position.
func (p *parser) command(key string, t token, line string) bool {
	if err := CheckCommand(line); err != nil {
		p.errAt(t.pos, "%s %q: %v: the script could not be run", key, line, err)
		return false
	}
	return true
}
