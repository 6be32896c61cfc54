package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// ManDir is where the man pages are committed, relative to the repository
// root (make docs writes them; the staleness tests compare against them).
const ManDir = "docs/man"

// manDate is the date in every page's header. It is fixed so that
// generating the pages twice gives the same bytes (the staleness test
// compares bytes); man(1) shows it as the month of the page.
var manDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// ManPages renders the section-1 man page of root and of each of its
// subcommands (not help or completion): file name (root-sub-subsub.1) to
// roff text.
func ManPages(root *cobra.Command) (map[string][]byte, error) {
	pages := map[string][]byte{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() || sub.Name() == "completion" || sub.Name() == "help" {
				continue
			}
			if err := walk(sub); err != nil {
				return err
			}
		}
		c.DisableAutoGenTag = true
		var buf bytes.Buffer
		header := &doc.GenManHeader{Section: "1", Date: &manDate, Source: root.Name(), Manual: root.Name() + " manual"}
		if err := doc.GenMan(c, header, &buf); err != nil {
			return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
		}
		pages[strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"] = buf.Bytes()
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return pages, nil
}

// StaleManPages compares ManPages(root) with the files root.Name()*.1 in
// dir and returns what differs: pages missing or different, and pages in
// dir that no command has any more. With update set it writes the pages
// and removes the extra ones instead, and returns nothing.
func StaleManPages(root *cobra.Command, dir string, update bool) ([]string, error) {
	pages, err := ManPages(root)
	if err != nil {
		return nil, err
	}
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	var stale []string
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := pages[name]
		path := filepath.Join(dir, name)
		if update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				return nil, fmt.Errorf("write man page: %w", err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		switch {
		case err != nil:
			stale = append(stale, fmt.Sprintf("%s: missing (%v)", path, err))
		case !bytes.Equal(got, want):
			stale = append(stale, path+": differs from the commands")
		}
	}
	existing, err := filepath.Glob(filepath.Join(dir, root.Name()+"*.1"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, path := range existing {
		base := filepath.Base(path)
		// drlb*.1 must not match another program's pages (drlab is not drlb-…).
		if base != root.Name()+".1" && !strings.HasPrefix(base, root.Name()+"-") {
			continue
		}
		if _, ok := pages[base]; ok {
			continue
		}
		if update {
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("remove stale man page: %w", err)
			}
			continue
		}
		stale = append(stale, path+": no such command any more")
	}
	return stale, nil
}
