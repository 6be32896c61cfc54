package config

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxIncludeDepth bounds include recursion (keepalived allows 32 levels too).
const maxIncludeDepth = 32

// maxBlockDepth bounds block nesting; keepalived's deepest real block is 4 levels.
const maxBlockDepth = 64

type tokenKind uint8

const (
	tokWord tokenKind = iota
	tokOpen
	tokClose
	tokEOL
)

// srcPos is a compact Position for tokens: file is an index into
// parser.files. Large configurations make hundreds of thousands of tokens,
// so they stay small and pointer-free.
type srcPos struct {
	file, line, col int32
}

// positioner is a source position, compact or not, for diagnostics.
type positioner interface {
	resolve(files []string) Position
}

func (s srcPos) resolve(files []string) Position {
	name := ""
	if int(s.file) < len(files) {
		name = files[s.file]
	}
	return Position{File: name, Line: int(s.line), Col: int(s.col)}
}

func (p Position) resolve([]string) Position { return p }

// token is one lexical element with the position of its first character.
type token struct {
	// Field order keeps a token at 32 bytes (kind first would pad it to 40):
	// a large file has hundreds of thousands.
	text string
	pos  srcPos
	kind tokenKind
}

// lexState carries what the lexer needs across lines and included files.
type lexState struct {
	defs  map[string]string
	stack []string // files being read, for include cycle detection
}

// lexFile appends the tokens of data (named name) to out, splicing includes.
func (p *parser) lexFile(name string, data []byte, st *lexState, out []token) []token {
	fileIdx := slices.Index(p.files, name)
	if fileIdx < 0 {
		fileIdx = len(p.files)
		p.files = append(p.files, name)
	}
	st.stack = append(st.stack, name)
	// ${_PWD} is the directory of the file being read (keepalived's
	// built-in definition), restored when an include ends.
	prevPWD, hadPWD := st.defs["_PWD"]
	st.defs["_PWD"] = pwdOf(name)
	defer func() {
		st.stack = st.stack[:len(st.stack)-1]
		if hadPWD {
			st.defs["_PWD"] = prevPWD
		} else {
			delete(st.defs, "_PWD")
		}
	}()

	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i := 0; i < len(lines); i++ {
		p.tick()
		line := p.cleanLine(int32(fileIdx), i+1, lines[i])
		var extra int
		out, extra = p.lexLine(int32(fileIdx), i+1, line, lines[i+1:], st, out, 0)
		i += extra
	}
	return out
}

// cleanLine drops a trailing CR and replaces invalid UTF-8, with a warning.
func (p *parser) cleanLine(file int32, lineNo int, line string) string {
	line = strings.TrimSuffix(line, "\r")
	if !utf8.ValidString(line) {
		p.warnAt(srcPos{file, int32(lineNo), int32(invalidUTF8Col(line))}, "invalid UTF-8 replaced by U+FFFD")
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	return line
}

func invalidUTF8Col(s string) int {
	col := 1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return col
		}
		i += size
		col++
	}
	return col
}

// maxMacroDepth bounds re-lexing of lines produced by multi-line definitions.
const maxMacroDepth = 8

// lexLine handles one line: conditionals, definitions, tokens, include.
// following holds the file's next lines (for multi-line definitions); it
// returns how many of them it consumed. depth > 0 means the line came from
// a definition's expansion.
func (p *parser) lexLine(file int32, lineNo int, line string, following []string, st *lexState, out []token, depth int) ([]token, int) {
	// Skip leading blanks, counting columns.
	col := 1
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
		col++
	}
	// "@ID rest" keeps rest only for config id ID; "@^ID rest" only for others.
	if i < len(line) && line[i] == '@' {
		j := i + 1
		negate := j < len(line) && line[j] == '^'
		if negate {
			j++
		}
		k := j
		for k < len(line) && line[k] != ' ' && line[k] != '\t' {
			k++
		}
		id := line[j:k]
		if id == "" {
			p.errAt(srcPos{file, int32(lineNo), int32(col)}, "conditional '@' without a config id")
			return out, 0
		}
		if (id == p.opts.ConfigID) == negate {
			return out, 0
		}
		col += utf8.RuneCountInString(line[i:k])
		i = k
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
			col++
		}
	}
	start := srcPos{file, int32(lineNo), int32(col)}
	rest := line[i:]
	// "~SEQ(VAR, START, STEP, END) rest", "~SEQx(...)" and "~LST(VAR, V1,
	// V2...)" repeat the rest of the line for each value of $VAR.
	if strings.HasPrefix(rest, "~SEQ") || strings.HasPrefix(rest, "~LST") {
		return p.repeatLine(file, lineNo, start, rest, st, out, depth), 0
	}
	// "$NAME=value" defines NAME; a value ending in '\' continues on the next line.
	if strings.HasPrefix(rest, "$") {
		if eq := strings.IndexByte(rest, '='); eq > 1 && isIdent(rest[1:eq]) {
			value := strings.TrimSpace(stripComment(rest[eq+1:]))
			consumed := 0
			if strings.HasSuffix(value, "\\") {
				parts := []string{strings.TrimSpace(strings.TrimSuffix(value, "\\"))}
				for consumed < len(following) {
					next := strings.TrimSuffix(following[consumed], "\r")
					consumed++
					more := strings.HasSuffix(strings.TrimSpace(next), "\\")
					parts = append(parts, strings.TrimSuffix(strings.TrimRight(next, " \t"), "\\"))
					if !more {
						break
					}
				}
				if parts[0] == "" {
					parts = parts[1:]
				}
				value = strings.Join(parts, "\n")
			}
			st.defs[rest[1:eq]] = value
			return out, consumed
		}
	}
	// global_defs random_seed N seeds the ${_RANDOM} expansions that
	// follow it (keepalived's random_seed: srandom when the keyword is read).
	if f := strings.Fields(stripComment(rest)); len(f) == 2 && f[0] == "random_seed" {
		if seed, err := strconv.ParseUint(f[1], 10, 32); err == nil {
			p.pcg = rand.NewPCG(seed, seed)
			p.rng = rand.New(p.pcg)
		}
	}
	// A definition that spans lines or starts with '@' is re-read line by
	// line, every token placed at the reference.
	if len(st.defs) > 0 && strings.IndexByte(rest, '$') >= 0 {
		budget := p.expandBudget // a trial run: scan below spends the budget for real
		expanded, changed, _ := expandDefs(rest, st.defs, &budget, p.trialRNG())
		if changed && (strings.Contains(expanded, "\n") || strings.HasPrefix(strings.TrimSpace(expanded), "@")) {
			if depth >= maxMacroDepth {
				p.errAt(start, "definitions expand into each other more than %d levels deep", maxMacroDepth)
				return out, 0
			}
			for _, piece := range strings.Split(expanded, "\n") {
				mark := len(out)
				out, _ = p.lexLine(file, lineNo, piece, nil, st, out, depth+1)
				for k := mark; k < len(out); k++ {
					out[k].pos = start
				}
			}
			return out, 0
		}
	}
	if kw, ok := includeKeyword(rest); ok {
		return p.include(kw, start, rest[len(kw):], st, out), 0
	}
	mark := len(out)
	out = p.scan(out, rest, start, st.defs, true)
	if len(out) == mark {
		return out, 0
	}
	return append(out, token{kind: tokEOL, pos: srcPos{file, int32(lineNo), int32(col + utf8.RuneCountInString(rest))}}), 0
}

// includeChecks are keepalived's include variants and the checks each
// adds (keepalived.conf(5), "include_check"): r an unreadable match or a
// directory, m a name without wildcards that matches nothing, w a pattern
// with wildcards that matches nothing, b a brace alternative that matches
// nothing. Plain include only warns, as keepalived reports nothing; drlb
// still refuses an unreadable file, since its instances would be lost.
var includeChecks = map[string]string{"include": "r", "includer": "r", "includem": "rm", "includew": "rw", "includeb": "rb", "includea": "rmwb"}

// includeKeyword reports whether line starts with an include keyword
// followed by a blank or the end.
func includeKeyword(line string) (string, bool) {
	kw, _, _ := strings.Cut(line, " ")
	kw, _, _ = strings.Cut(kw, "\t")
	_, ok := includeChecks[kw]
	return kw, ok
}

// includeArg is one file name or pattern of an include line.
type includeArg struct {
	text string
	pos  srcPos
}

// splitIncludeArgs splits the rest of an include line into words: blanks
// separate them except inside double quotes or "${...}"; a comment ends
// the line. Braces stay in the words (they are csh brace expressions).
func splitIncludeArgs(rest string, at srcPos) []includeArg {
	var out []includeArg
	var cur strings.Builder
	col, startCol := at.col, at.col
	inWord, quoted, inDef := false, false, 0
	flush := func() {
		if inWord {
			out = append(out, includeArg{text: cur.String(), pos: srcPos{at.file, at.line, startCol}})
			cur.Reset()
			inWord = false
		}
	}
	prev := rune(0)
	for _, r := range rest {
		switch {
		case r == '"':
			if !inWord {
				inWord, startCol = true, col
			}
			quoted = !quoted
		case !quoted && inDef == 0 && (r == ' ' || r == '\t'):
			flush()
		case !quoted && inDef == 0 && (r == '#' || r == '!'):
			flush()
			return out
		default:
			if !inWord {
				inWord, startCol = true, col
			}
			if r == '{' && prev == '$' {
				inDef++
			} else if r == '}' && inDef > 0 {
				inDef--
			}
			cur.WriteRune(r)
		}
		prev = r
		col++
	}
	flush()
	return out
}

// expandBraces expands csh brace expressions: "a{b,c{d,e}}f" is abf, acdf,
// acef. A brace pair without a comma at its level stays as written.
func expandBraces(s string) []string {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || (i > 0 && s[i-1] == '$') {
			continue
		}
		level, closing := 0, -1
		var commas []int
		for j := i; j < len(s) && closing < 0; j++ {
			switch s[j] {
			case '{':
				level++
			case ',':
				if level == 1 {
					commas = append(commas, j)
				}
			case '}':
				level--
				if level == 0 {
					closing = j
				}
			}
		}
		if closing < 0 {
			break // unbalanced: the rest stays as written
		}
		if len(commas) == 0 {
			i = closing // literal braces
			continue
		}
		var out []string
		from := i + 1
		for _, c := range append(commas, closing) {
			for _, rest := range expandBraces(s[from:c] + s[closing+1:]) {
				out = append(out, s[:i]+rest)
			}
			from = c + 1
		}
		return out
	}
	return []string{s}
}

// include lexes the files an include line names. kw is include or one of
// its variants; rest is the line after the keyword.
func (p *parser) include(kw string, start srcPos, rest string, st *lexState, out []token) []token {
	argsAt := start
	argsAt.col += int32(utf8.RuneCountInString(kw))
	args := splitIncludeArgs(rest, argsAt)
	if len(args) == 0 {
		p.errAt(start, "%s needs a file name or pattern", kw)
		return out
	}
	if len(st.stack) > maxIncludeDepth {
		p.errAt(start, "includes nested more than %d deep", maxIncludeDepth)
		return out
	}
	checks := includeChecks[kw]
	dir := filepath.Dir(p.files[start.file])
	for _, a := range args {
		text, _ := p.expand(a.text, st.defs, a.pos)
		var matches []string
		for _, alt := range expandBraces(text) {
			pattern := alt
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(dir, pattern)
			}
			m, err := p.opts.glob(pattern)
			if err != nil {
				p.errAt(a.pos, "bad include pattern %q: %v", alt, err)
				continue
			}
			if len(m) == 0 && text != alt && strings.Contains(checks, "b") {
				p.errAt(a.pos, "%s %q: the alternative %q matches no file", kw, a.text, alt)
			}
			matches = append(matches, m...)
		}
		if len(matches) == 0 {
			wild := strings.ContainsAny(text, "*?[")
			switch {
			case wild && strings.Contains(checks, "w"), !wild && strings.Contains(checks, "m"):
				p.errAt(a.pos, "%s %q matches no file", kw, a.text)
			default:
				p.warnAt(a.pos, "include %q matches no file", a.text)
			}
			continue
		}
		slices.Sort(matches)
		matches = slices.Compact(matches)
		for _, m := range matches {
			if slices.Contains(st.stack, m) {
				p.errAt(a.pos, "include cycle: %s includes itself (via %s)", m, strings.Join(st.stack, " -> "))
				continue
			}
			data, err := p.opts.readFile(m)
			if err != nil {
				p.errAt(a.pos, "cannot read included file %s: %v", m, err)
				continue
			}
			out = p.lexFile(m, data, st, out)
		}
	}
	return out
}

// scan appends the tokens of text to toks. Braces are tokens of their own
// even when they touch a word; '#' and '!' start a comment outside quotes.
func (p *parser) scan(toks []token, text string, start srcPos, defs map[string]string, expand bool) []token {
	col := int(start.col)
	i := 0
	for i < len(text) {
		c := text[i]
		switch c {
		case ' ', '\t', '\v', '\f', '\r':
			i++
			col++
			continue
		case '#', '!':
			return toks
		case '{', '}':
			kind := tokOpen
			if c == '}' {
				kind = tokClose
			}
			toks = append(toks, token{kind: kind, text: string(c), pos: srcPos{start.file, start.line, int32(col)}})
			i++
			col++
			continue
		}
		pos := srcPos{start.file, start.line, int32(col)}
		if c == '"' {
			j := strings.IndexByte(text[i+1:], '"')
			if j < 0 {
				p.errAt(pos, "unterminated quoted string")
				word := text[i+1:]
				toks = append(toks, token{kind: tokWord, text: p.expandOne(word, defs, pos, expand), pos: pos})
				return toks
			}
			word := text[i+1 : i+1+j]
			toks = append(toks, token{kind: tokWord, text: p.expandOne(word, defs, pos, expand), pos: pos})
			col += utf8.RuneCountInString(text[i : i+j+2])
			i += j + 2
			continue
		}
		j := i
		for j < len(text) {
			d := text[j]
			// "${NAME}" belongs to the word although it contains braces.
			if d == '$' && j+1 < len(text) && text[j+1] == '{' {
				if k := strings.IndexByte(text[j+2:], '}'); k >= 0 && (isIdent(text[j+2:j+2+k]) || isBuiltinCall(text[j+2:j+2+k])) {
					j += k + 3
					continue
				}
			}
			if d == ' ' || d == '\t' || d == '\v' || d == '\f' || d == '\r' || d == '{' || d == '}' || d == '#' || d == '!' || d == '"' {
				break
			}
			j++
		}
		word := text[i:j]
		if expand && strings.IndexByte(word, '$') >= 0 && defs != nil {
			value, changed := p.expand(word, defs, pos)
			if changed {
				// A definition may hold several words (or braces): re-scan it,
				// giving every resulting token the reference's position.
				mark := len(toks)
				toks = p.scan(toks, value, pos, nil, false)
				for k := mark; k < len(toks); k++ {
					toks[k].pos = pos
				}
				col += utf8.RuneCountInString(word)
				i = j
				continue
			}
		}
		toks = append(toks, token{kind: tokWord, text: word, pos: pos})
		col += utf8.RuneCountInString(word)
		i = j
	}
	return toks
}

func (p *parser) expandOne(s string, defs map[string]string, pos srcPos, expand bool) string {
	if !expand || defs == nil || strings.IndexByte(s, '$') < 0 {
		return s
	}
	v, _ := p.expand(s, defs, pos)
	return v
}

// maxExpansion bounds the text produced by definitions referring to each other.
const maxExpansion = 1 << 16

// expand replaces $NAME (followed by a non-name character) and ${NAME} by
// their definitions, reporting runaway definitions at pos.
func (p *parser) expand(s string, defs map[string]string, pos srcPos) (string, bool) {
	out, changed, problem := expandDefs(s, defs, &p.expandBudget, p.rng)
	if problem != "" && !p.expandReported {
		p.expandReported = true
		p.errAt(pos, "%s", problem)
	}
	return out, changed
}

// expandDefs expands repeatedly, as keepalived does at the point of use.
// Unknown names are left as written, so a '$' in a password survives.
// budget bounds the bytes produced over a whole parse, so definitions that
// double themselves cannot stall it; problem says why expansion stopped.
// rng draws ${_RANDOM} (nil: the global source).
func expandDefs(s string, defs map[string]string, budget *int, rng *rand.Rand) (out string, changed bool, problem string) {
	if *budget <= 0 {
		return s, false, "definitions expand to too much text; expansion stopped"
	}
	for pass := 0; pass < 16; pass++ {
		next, c := expandOnce(s, defs, rng)
		if !c {
			return s, changed, ""
		}
		*budget -= len(next)
		if len(next) > maxExpansion || *budget <= 0 {
			return s, changed, "definitions expand to too much text; expansion stopped"
		}
		s, changed = next, true
	}
	return s, changed, "definitions refer to each other more than 16 levels deep"
}

func expandOnce(s string, defs map[string]string, rng *rand.Rand) (string, bool) {
	if strings.IndexByte(s, '$') < 0 {
		return s, false
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		name, end := "", i+1
		if end < len(s) && s[end] == '{' {
			if k := strings.IndexByte(s[end:], '}'); k > 0 {
				name, end = s[end+1:end+k], end+k+1
			}
		} else {
			for end < len(s) && isIdentByte(s[end], end > i+1) {
				end++
			}
			name = s[i+1 : end]
		}
		v, ok := defs[name]
		if !ok {
			v, ok = builtinValue(name, rng)
		}
		if ok && name != "" {
			b.WriteString(v)
			changed = true
			i = end
			if b.Len() > maxExpansion {
				break // expand reports it
			}
			continue
		}
		b.WriteByte('$')
		i++
	}
	return b.String(), changed
}

func isIdentByte(c byte, notFirst bool) bool {
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (notFirst && c >= '0' && c <= '9')
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i], i > 0) {
			return false
		}
	}
	return true
}

// stripComment cuts s at the first '#' or '!' outside double quotes.
func stripComment(s string) string {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '#', '!':
			if !quoted {
				return s[:i]
			}
		}
	}
	return s
}

// node is one statement: a keyword, its arguments and an optional block.
type node struct {
	key      token
	args     []token
	children []*node
	hasBlock bool
	open     srcPos
}

// newNode hands out nodes from slabs: one allocation per 512 statements.
func (p *parser) newNode() *node {
	if len(p.nodeSlab) == 0 {
		p.nodeSlab = make([]node, 512)
	}
	n := &p.nodeSlab[0]
	p.nodeSlab = p.nodeSlab[1:]
	return n
}

// parseTree builds statements from tokens. It reports unbalanced braces.
func (p *parser) parseTree(toks []token) []*node {
	i := 0
	var top []*node
	for i < len(toks) {
		var nodes []*node
		nodes, i = p.parseBlock(toks, i, 0)
		top = append(top, nodes...)
		if i < len(toks) && toks[i].kind == tokClose {
			p.errAt(toks[i].pos, "unbalanced '}': no block is open here")
			i++
		}
	}
	return top
}

// parseBlock parses statements until a '}' (left unconsumed) or the end.
func (p *parser) parseBlock(toks []token, i, depth int) ([]*node, int) {
	var nodes []*node
	for i < len(toks) {
		p.tick()
		t := toks[i]
		switch t.kind {
		case tokEOL:
			i++
			continue
		case tokClose:
			return nodes, i
		case tokOpen:
			// A '{' starting a statement belongs to the previous keyword
			// when that one has no block yet ("keyword\n{").
			var n *node
			if len(nodes) > 0 && !nodes[len(nodes)-1].hasBlock {
				n = nodes[len(nodes)-1]
			} else {
				p.errAt(t.pos, "'{' without a keyword before it")
				n = p.newNode()
				n.key = token{kind: tokWord, pos: t.pos}
				nodes = append(nodes, n)
			}
			i = p.parseChildren(toks, i, depth, n)
			continue
		}
		n := p.newNode()
		n.key = t
		i++
		start := i
		for i < len(toks) && toks[i].kind == tokWord {
			i++
		}
		if i > start {
			n.args = toks[start:i:i] // shares the token array: no copy
		}
		nodes = append(nodes, n)
		if i < len(toks) && toks[i].kind == tokOpen {
			i = p.parseChildren(toks, i, depth, n)
		}
	}
	return nodes, i
}

// parseChildren parses the block opened by toks[i] into n and returns the
// index after its '}'.
func (p *parser) parseChildren(toks []token, i, depth int, n *node) int {
	open := toks[i]
	n.hasBlock = true
	n.open = open.pos
	i++
	if depth+1 > maxBlockDepth {
		p.errAt(open.pos, "blocks nested more than %d deep", maxBlockDepth)
		// Skip to the matching brace without recursing.
		level := 1
		for ; i < len(toks); i++ {
			switch toks[i].kind {
			case tokOpen:
				level++
			case tokClose:
				level--
				if level == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	n.children, i = p.parseBlock(toks, i, depth+1)
	if i >= len(toks) {
		name := n.key.text
		if name == "" {
			name = "block"
		}
		p.errAt(open.pos, "unbalanced '{': %s block opened here is never closed", name)
		return i
	}
	return i + 1 // the '}'
}

// trialRNG is a copy of the seeded ${_RANDOM} source for a trial expansion,
// so that trying does not draw numbers (nil when unseeded: the global
// source).
func (p *parser) trialRNG() *rand.Rand {
	if p.pcg == nil {
		return nil
	}
	c := *p.pcg
	return rand.New(&c)
}
