package config

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// keywordsTSV is the keyword status table: one row per line, sorted by
// block then keyword, columns block, keyword, status, source and note,
// separated by tabs. Lines starting with '#' are comments.
//
//go:embed keywords.tsv
var keywordsTSV string

// KeywordStatus says what drlb does with a keepalived keyword.
type KeywordStatus string

// Keyword statuses.
const (
	// KeywordImplemented keywords are parsed into the model and used.
	KeywordImplemented KeywordStatus = "implemented"
	// KeywordNotSupported keywords are accepted with a "not supported yet"
	// warning and ignored (with their block, if they have one).
	KeywordNotSupported KeywordStatus = "not-supported-yet"
)

// Keyword sources: where a keyword's spelling comes from.
const (
	// SourceManPage: documented in keepalived.conf(5) of current keepalived.
	SourceManPage = "man"
	// SourceKeepalived: accepted by keepalived's parser but not documented.
	SourceKeepalived = "src"
	// SourceDeprecated: an old spelling keepalived still accepts; the note names the current one.
	SourceDeprecated = "deprecated"
	// SourceDrlb: a drlb extension.
	SourceDrlb = "drlb"
)

// Keyword is one row of the keyword status table.
type Keyword struct {
	// Block is where the keyword is written: "top" for the top level, a
	// block keyword ("global_defs", "vrrp_instance", "real_server", "url"),
	// or "checker" for the keywords every health checker block takes.
	Block string
	// Name is the keyword as written.
	Name string
	// Status is implemented or not-supported-yet.
	Status KeywordStatus
	// Source is SourceManPage, SourceKeepalived, SourceDeprecated or SourceDrlb.
	Source string
	// Note qualifies the status ("IPv4 only", "use lvs_sched").
	Note string
}

// keywordTable is the parsed table with an index by block and name.
type keywordTable struct {
	rows  []Keyword
	index map[string]map[string]Keyword
}

// keywords parses keywordsTSV once; the table is read-only afterwards.
var keywords = sync.OnceValue(func() *keywordTable {
	t, err := parseKeywordTable(keywordsTSV)
	if err != nil {
		panic(err) // the embedded file is checked by TestKeywordTableIsWellFormed
	}
	return t
})

func parseKeywordTable(text string) (*keywordTable, error) {
	t := &keywordTable{index: map[string]map[string]Keyword{}}
	for i, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 4 || len(f) > 5 {
			return nil, fmt.Errorf("config: keywords.tsv:%d: want 4 or 5 tab-separated fields, got %d", i+1, len(f))
		}
		k := Keyword{Block: f[0], Name: f[1], Status: KeywordStatus(f[2]), Source: f[3]}
		if len(f) == 5 {
			k.Note = f[4]
		}
		if k.Status != KeywordImplemented && k.Status != KeywordNotSupported {
			return nil, fmt.Errorf("config: keywords.tsv:%d: status %q: want implemented or not-supported-yet", i+1, k.Status)
		}
		switch k.Source {
		case SourceManPage, SourceKeepalived, SourceDeprecated, SourceDrlb:
		default:
			return nil, fmt.Errorf("config: keywords.tsv:%d: source %q: want man, src, deprecated or drlb", i+1, k.Source)
		}
		if t.index[k.Block] == nil {
			t.index[k.Block] = map[string]Keyword{}
		}
		if _, dup := t.index[k.Block][k.Name]; dup {
			return nil, fmt.Errorf("config: keywords.tsv:%d: %s %s listed twice", i+1, k.Block, k.Name)
		}
		t.index[k.Block][k.Name] = k
		t.rows = append(t.rows, k)
	}
	return t, nil
}

// Keywords returns the keyword status table, sorted by block then keyword.
func Keywords() []Keyword { return slices.Clone(keywords().rows) }

// lookup finds kw in the first of blocks that lists it.
func (t *keywordTable) lookup(kw string, blocks []string) (Keyword, bool) {
	for _, b := range blocks {
		if k, ok := t.index[b][kw]; ok {
			return k, true
		}
	}
	return Keyword{}, false
}

// suggestions lists the current (not deprecated) keywords of blocks.
func (t *keywordTable) suggestions(blocks []string) []string {
	var out []string
	for _, b := range blocks {
		for name, k := range t.index[b] {
			if k.Source != SourceDeprecated {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out) // map order must not pick between equally close suggestions
	return out
}

// checkerBlocks is the table's block chain for a checker kind: its own
// keywords, then those every checker takes.
func checkerBlocks(kind CheckerKind) []string {
	switch kind {
	case CheckSSL:
		return []string{string(CheckSSL), string(CheckHTTP), "checker"}
	default:
		return []string{string(kind), "checker"}
	}
}
