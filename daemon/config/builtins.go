package config

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Private-use runes stand for '#' and '!' produced by ${_HASH} and
// ${_BANG} until the tokens are built, so that a re-scanned expansion does
// not take them for the start of a comment.
const (
	hashStandIn = '\uE023'
	bangStandIn = '\uE021'
)

// pwdOf is ${_PWD} for a file: its directory, absolute when the working
// directory is known (keepalived resolves it the same way).
func pwdOf(name string) string {
	dir := filepath.Dir(name)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// instanceName is ${_INSTANCE}: the configuration id (keepalived's -i),
// which defaults to the short host name.
func (p *parser) instanceName() string {
	if p.opts.ConfigID != "" {
		return p.opts.ConfigID
	}
	return DefaultConfigID()
}

// isBuiltinCall reports whether s (the inside of "${...}") is a built-in
// definition with arguments: "_RANDOM [MIN [MAX]]" or "_ENV NAME".
func isBuiltinCall(s string) bool {
	f := strings.Fields(s)
	return len(f) > 0 && (f[0] == "_RANDOM" || f[0] == "_ENV")
}

// builtinValue expands keepalived's built-in definitions that are not
// fixed strings: ${_RANDOM [MIN [MAX]]} (an integer in [MIN, MAX], default
// 0..32767), ${_ENV NAME} (the environment variable), ${_HASH} ('#') and
// ${_BANG} ('!'). ${_PWD} and ${_INSTANCE} are ordinary definitions set by
// the lexer.
// rng draws _RANDOM (nil: the global source).
func builtinValue(name string, rng *rand.Rand) (string, bool) {
	switch name {
	case "_HASH":
		return string(hashStandIn), true
	case "_BANG":
		return string(bangStandIn), true
	}
	f := strings.Fields(name)
	if len(f) == 0 {
		return "", false
	}
	switch f[0] {
	case "_ENV":
		if len(f) != 2 {
			return "", false
		}
		return os.Getenv(f[1]), true
	case "_RANDOM":
		lo, hi := 0, 32767
		var err error
		if len(f) > 1 {
			if lo, err = strconv.Atoi(f[1]); err != nil || lo < 0 {
				return "", false
			}
		}
		if len(f) > 2 {
			if hi, err = strconv.Atoi(f[2]); err != nil || hi < lo {
				return "", false
			}
		}
		if len(f) > 3 {
			return "", false
		}
		if rng != nil {
			return strconv.Itoa(lo + rng.IntN(hi-lo+1)), true
		}
		return strconv.Itoa(lo + rand.IntN(hi-lo+1)), true
	}
	return "", false
}

// restoreComment turns the stand-ins for '#' and '!' back into the characters.
func restoreComment(toks []token) {
	for i := range toks {
		if strings.ContainsRune(toks[i].text, hashStandIn) || strings.ContainsRune(toks[i].text, bangStandIn) {
			toks[i].text = strings.NewReplacer(string(hashStandIn), "#", string(bangStandIn), "!").Replace(toks[i].text)
		}
	}
}

// maxRepeat bounds how many lines one ~SEQ / ~LST line may produce.
const maxRepeat = 1 << 16

// repeatLine handles a line starting with ~SEQ(...), ~SEQx(...) or
// ~LST(...): the rest of the line is lexed once per value, with the
// variable(s) defined for it (and removed afterwards). Blocks nest:
// "~SEQ(A,1,2) ~SEQ(B,1,2) x" makes four lines.
func (p *parser) repeatLine(file int32, lineNo int, start srcPos, rest string, st *lexState, out []token, depth int) []token {
	if depth >= maxMacroDepth {
		p.errAt(start, "~SEQ/~LST blocks nested more than %d deep", maxMacroDepth)
		return out
	}
	open := strings.IndexByte(rest, '(')
	closing := matchingParen(rest, open)
	if open < 0 || closing < 0 {
		kind, _, _ := strings.Cut(rest, "(")
		p.errAt(start, "%s without a closing ')'", kind)
		return out
	}
	kind, spec, body := rest[:open], rest[open+1:closing], strings.TrimLeft(rest[closing+1:], " \t")
	var vars []string
	var values [][]string
	var err error
	switch kind {
	case "~SEQ", "~SEQx":
		var v string
		var seq []string
		v, seq, err = parseSeq(spec, kind == "~SEQx")
		vars = []string{v}
		for _, s := range seq {
			values = append(values, []string{s})
		}
	case "~LST":
		vars, values, err = parseList(spec)
	default:
		err = fmt.Errorf("unknown block %s (want ~SEQ, ~SEQx or ~LST)", kind)
	}
	if err != nil {
		p.errAt(start, "%s(%s): %v", kind, spec, err)
		return out
	}
	saved := map[string]*string{}
	for _, v := range vars {
		if old, ok := st.defs[v]; ok {
			saved[v] = &old
		} else {
			saved[v] = nil
		}
	}
	defer func() {
		for v, old := range saved {
			if old == nil {
				delete(st.defs, v)
			} else {
				st.defs[v] = *old
			}
		}
	}()
	bodyStart := start
	bodyStart.col += int32(len([]rune(rest)) - len([]rune(body)))
	for _, vals := range values {
		p.expandBudget -= len(body) + 16
		if p.expandBudget <= 0 {
			if !p.expandReported {
				p.expandReported = true
				p.errAt(start, "%s produces too much text; expansion stopped", kind)
			}
			return out
		}
		for k, v := range vars {
			st.defs[v] = vals[k]
		}
		line := strings.Repeat(" ", int(bodyStart.col)-1) + body
		out, _ = p.lexLine(file, lineNo, line, nil, st, out, depth+1)
	}
	return out
}

// matchingParen returns the index of the ')' closing the '(' at open, or -1.
func matchingParen(s string, open int) int {
	if open < 0 {
		return -1
	}
	level := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			level++
		case ')':
			level--
			if level == 0 {
				return i
			}
		}
	}
	return -1
}

// parseSeq reads "VAR, [START, [STEP,]] END" and returns the values.
func parseSeq(spec string, hex bool) (string, []string, error) {
	parts := strings.Split(spec, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if len(parts) < 2 || len(parts) > 4 || !isIdent(parts[0]) {
		return "", nil, fmt.Errorf("want (VAR, [START, [STEP,]] END)")
	}
	nums := make([]int64, 0, 3)
	for _, s := range parts[1:] {
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return "", nil, fmt.Errorf("%q is not a number", s)
		}
		nums = append(nums, n)
	}
	var lo, step, hi int64
	switch len(nums) {
	case 1:
		hi = nums[0]
		lo = 1
		if hi < 0 {
			lo = -1
		}
	case 2:
		lo, hi = nums[0], nums[1]
	case 3:
		lo, step, hi = nums[0], nums[1], nums[2]
	}
	if step == 0 {
		step = 1
		if hi < lo {
			step = -1
		}
	}
	var out []string
	for v := lo; (step > 0 && v <= hi) || (step < 0 && v >= hi); v += step {
		if len(out) >= maxRepeat {
			return "", nil, fmt.Errorf("more than %d values", maxRepeat)
		}
		if hex {
			out = append(out, strconv.FormatInt(v, 16))
		} else {
			out = append(out, strconv.FormatInt(v, 10))
		}
	}
	return parts[0], out, nil
}

// parseList reads "VAR, V1, V2..." or "{VAR1, VAR2}, {V1, V2}, {V3, V4}...".
func parseList(spec string) ([]string, [][]string, error) {
	items, err := splitTop(spec)
	if err != nil {
		return nil, nil, err
	}
	if len(items) < 2 {
		return nil, nil, fmt.Errorf("want (VAR, VALUE...) with at least one value")
	}
	vars := unbrace(items[0])
	for _, v := range vars {
		if !isIdent(v) {
			return nil, nil, fmt.Errorf("%q is not a variable name", v)
		}
	}
	var values [][]string
	for _, it := range items[1:] {
		vals := unbrace(it)
		if len(vals) != len(vars) {
			return nil, nil, fmt.Errorf("%q: want %d values, one per variable", it, len(vars))
		}
		values = append(values, vals)
	}
	if len(values) > maxRepeat {
		return nil, nil, fmt.Errorf("more than %d values", maxRepeat)
	}
	return vars, values, nil
}

// splitTop splits s at commas outside braces.
func splitTop(s string) ([]string, error) {
	var out []string
	level, startAt := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			level++
		case '}':
			level--
			if level < 0 {
				return nil, fmt.Errorf("unbalanced '}'")
			}
		case ',':
			if level == 0 {
				out = append(out, strings.TrimSpace(s[startAt:i]))
				startAt = i + 1
			}
		}
	}
	if level != 0 {
		return nil, fmt.Errorf("unbalanced '{'")
	}
	return append(out, strings.TrimSpace(s[startAt:])), nil
}

// unbrace returns the comma-separated items of "{a, b}", or [s].
func unbrace(s string) []string {
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return []string{s}
	}
	parts := strings.Split(s[1:len(s)-1], ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
