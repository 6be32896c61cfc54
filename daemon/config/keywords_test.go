package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestKeywordTableIsWellFormed: the embedded table parses, has one row per
// line sorted by block then keyword (so rows added on two branches merge
// line by line), and every block it names is reachable from the top level.
func TestKeywordTableIsWellFormed(t *testing.T) {
	if _, err := parseKeywordTable(keywordsTSV); err != nil {
		t.Fatal(err)
	}
	rows := Keywords()
	if len(rows) == 0 {
		t.Fatal("empty keyword table")
	}
	if !slices.IsSortedFunc(rows, func(a, b Keyword) int {
		if c := strings.Compare(a.Block, b.Block); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	}) {
		t.Error("keywords.tsv is not sorted by block then keyword (sort -t$'\\t' -k1,1 -k2,2)")
	}
	for _, k := range rows {
		if k.Block != "top" {
			if _, ok := parentOf(k.Block); !ok {
				t.Errorf("%s %s: no row names the block %s", k.Block, k.Name, k.Block)
			}
		}
	}
}

// parentOf returns the block that holds block (from the table's rows).
func parentOf(block string) (string, bool) {
	switch block {
	case "checker":
		return "real_server", true // the keywords of every checker block
	case "url":
		return "HTTP_GET", true
	}
	for _, k := range keywords().rows {
		if k.Name == block && k.Source != SourceDeprecated {
			return k.Block, true
		}
	}
	return "", false
}

// opener is the line that opens block with valid arguments.
func opener(block string) string {
	switch block {
	case "virtual_server":
		return "virtual_server 10.0.0.1 80 {"
	case "real_server":
		return "real_server 10.0.0.2 80 {"
	case "global_defs", "authentication", "auth_hmac", "url", "SSL", "linkbeat_interfaces",
		"static_ipaddress", "static_routes", "static_rules", "interface_up_down_delays":
		return block + " {"
	}
	if strings.ToUpper(block) == block { // checker blocks
		return block + " {"
	}
	return block + " X {"
}

// wrapIn places body inside block and its parents up to the top level. It
// returns the text and how many lines come before body.
func wrapIn(block, body string) (string, int) {
	before := 0
	for block != "top" {
		body = opener(block) + "\n" + body + "}\n"
		before++
		parent, ok := parentOf(block)
		if !ok {
			panic("no parent for " + block)
		}
		block = parent
	}
	return body, before
}

// chainSupported reports whether block and every block around it are implemented.
func chainSupported(block string) bool {
	for block != "top" {
		parent, _ := parentOf(block)
		k, ok := keywords().lookup(block, []string{parent})
		if block == "checker" || block == "url" {
			k, ok = Keyword{Status: KeywordImplemented}, true
		}
		if !ok || k.Status != KeywordImplemented {
			return false
		}
		block = parent
	}
	return true
}

// TestEveryDocumentedKeywordHasItsStatus walks the whole table: written in
// its block, a keyword is never "unknown"; an implemented one gets no "not
// supported yet" warning; a not-supported one gets exactly that warning (on
// its own line, or on the unsupported block around it).
func TestEveryDocumentedKeywordHasItsStatus(t *testing.T) {
	for _, k := range Keywords() {
		blocks := []string{k.Block}
		if k.Block == "checker" {
			blocks = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK"}
		}
		for _, block := range blocks {
			name := fmt.Sprintf("%s/%s/%s", k.Block, block, k.Name)
			conf, before := wrapIn(block, k.Name+" 1\n")
			if k.Block == "top" {
				conf, before = k.Name+" X {\n}\n", 0
			}
			line := before + 1
			_, ds, _ := Parse("k.conf", []byte(conf), Options{})
			var onLine, unsupported []string
			for _, d := range ds {
				if strings.Contains(d.Message, "unknown keyword") {
					t.Errorf("%s: reported unknown: %s\n%s", name, d, conf)
				}
				if strings.Contains(d.Message, "not supported yet") {
					unsupported = append(unsupported, d.String())
					if d.Line == line {
						onLine = append(onLine, d.String())
					}
				}
			}
			switch {
			case !chainSupported(block):
				if len(unsupported) == 0 {
					t.Errorf("%s: inside an unsupported block, but no \"not supported yet\" warning\n%s", name, conf)
				}
			case k.Status == KeywordImplemented && len(onLine) > 0:
				t.Errorf("%s: implemented, but %s", name, onLine)
			case k.Status == KeywordNotSupported && len(onLine) != 1:
				t.Errorf("%s: not supported yet, want one warning on line %d, got %q\n%s", name, line, onLine, conf)
			}
		}
	}
}

// TestSuggestionsAreCurrentNames: "did you mean" never offers a deprecated
// spelling, even for a typo of one.
func TestSuggestionsAreCurrentNames(t *testing.T) {
	tab := keywords()
	for _, k := range Keywords() {
		if k.Source != SourceDeprecated {
			continue
		}
		typo := k.Name + "x"
		s := suggest(typo, tab.suggestions([]string{k.Block}))
		if s == k.Name {
			t.Errorf("%s %s: typo %q suggests the deprecated spelling", k.Block, k.Name, typo)
		}
		if k2, ok := tab.lookup(s, []string{k.Block}); ok && k2.Source == SourceDeprecated {
			t.Errorf("%s: suggestion %q is deprecated", typo, s)
		}
	}
	_, ds, _ := Parse("k.conf", []byte(vsrv("lb_algoo rr")), Options{})
	if got := ds.String(); !strings.Contains(got, `did you mean "lvs_sched"?`) && strings.Contains(got, `"lb_algo"?`) {
		t.Errorf("lb_algoo: %s", got)
	}
}

// TestKeywordCounts reports the table's counts (kept in the README).
func TestKeywordCounts(t *testing.T) {
	documented, implemented, notSupported := 0, 0, 0
	for _, k := range Keywords() {
		if k.Source != SourceManPage {
			continue
		}
		documented++
		if k.Status == KeywordImplemented {
			implemented++
		} else {
			notSupported++
		}
	}
	t.Logf("keepalived.conf(5) keywords: %d documented, %d implemented, %d not supported yet", documented, implemented, notSupported)
	if documented != implemented+notSupported || documented < 350 {
		t.Errorf("counts do not add up or the table lost rows: %d documented", documented)
	}
}

// TestKeepalivedSourceKeywordsAreKnown: keywords keepalived 2.2.7 installs
// in its parsers (vrrp_parser.c, global_parser.c, check_parser.c), some
// documented in keepalived.conf(5), some deprecated spellings, are never
// called "unknown": an operator's file that keepalived reads gets "not
// supported yet" (or works), not a typo hint.
func TestKeepalivedSourceKeywordsAreKnown(t *testing.T) {
	for _, c := range []struct{ block, keyword string }{
		{"global_defs", "disable_local_igmp"},   // keepalived.conf(5)
		{"global_defs", "lvs_process_name"},     // deprecated: checker_process_name
		{"global_defs", "vrrp_vmac_garp_intvl"}, // deprecated: vrrp_garp_extra_if
		{"vrrp_instance", "notify_deleted"},     // keepalived.conf(5), vrrp_parser.c
		{"vrrp_instance", "vmac_garp_intvl"},    // deprecated: garp_extra_if
		{"virtual_server", "hashed"},            // check_parser.c, an IPVS service flag
		{"virtual_server", "weight"},            // check_parser.c
	} {
		conf, _ := wrapIn(c.block, c.keyword+" 1\n")
		_, ds, _ := Parse("k.conf", []byte(conf), Options{})
		for _, d := range ds {
			if strings.Contains(d.Message, "unknown keyword") {
				t.Errorf("%s %s: %s", c.block, c.keyword, d)
			}
		}
	}
}
