package config

import (
	"strings"
	"testing"
)

// TestEveryListedKeywordIsHandled keeps the "did you mean" lists and the
// parsers' switches in step: a listed keyword must never be reported as
// unknown or unsupported in its block.
func TestEveryListedKeywordIsHandled(t *testing.T) {
	blocks := []struct {
		name     string
		keywords []string
		wrap     func(kw string) string
	}{
		{"top", topKeywords(), func(kw string) string { return kw + " X {\n}\n" }},
		{"global_defs", globalKeywords(), func(kw string) string { return "global_defs {\n" + kw + " 1\n}\n" }},
		{"vrrp_script", scriptKeywords(), func(kw string) string { return "vrrp_script s {\n" + kw + " 1\n}\n" }},
		{"vrrp_sync_group", groupKeywords(), func(kw string) string { return "vrrp_sync_group g {\n" + kw + " 1\n}\n" }},
		{"vrrp_instance", instanceKeywords(), func(kw string) string { return inst(kw + " 1") }},
		{"virtual_server", vsKeywords(), func(kw string) string { return vsrv(kw + " 1") }},
		{"real_server", rsKeywords(), func(kw string) string { return vsrv("real_server 10.0.0.2 80 {", kw+" 1", "}") }},
		{"HTTP_GET", checkerKeywords(CheckHTTP), func(kw string) string { return vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", kw+" 1", "}", "}") }},
		{"MISC_CHECK", checkerKeywords(CheckMisc), func(kw string) string { return vsrv("real_server 10.0.0.2 80 {", "MISC_CHECK {", kw+" 1", "}", "}") }},
		{"url", urlKeywords(), func(kw string) string {
			return vsrv("real_server 10.0.0.2 80 {", "HTTP_GET {", "url {", kw+" 1", "}", "}", "}")
		}},
	}
	for _, b := range blocks {
		for _, kw := range b.keywords {
			_, ds, _ := Parse("k.conf", []byte(b.wrap(kw)), Options{})
			for _, d := range ds {
				if strings.Contains(d.Message, "unknown keyword") || strings.Contains(d.Message, "not supported yet") {
					t.Errorf("%s: listed keyword %q reported: %s", b.name, kw, d)
				}
			}
		}
	}
}

// TestUnsupportedListsDoNotOverlapKnown: a keyword cannot be both.
func TestUnsupportedListsDoNotOverlapKnown(t *testing.T) {
	pairs := [][2][]string{
		{topKeywords(), topUnsupported()}, {globalKeywords(), globalUnsupported()},
		{groupKeywords(), groupUnsupported()}, {instanceKeywords(), instanceUnsupported()},
		{vsKeywords(), vsUnsupported()}, {rsKeywords(), rsUnsupported()},
		{checkerKeywords(CheckHTTP), checkerUnsupported()}, {urlKeywords(), urlUnsupported()},
	}
	for _, p := range pairs {
		for _, k := range p[0] {
			for _, u := range p[1] {
				if k == u {
					t.Errorf("%q is both supported and unsupported", k)
				}
			}
		}
	}
}
