package main

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"twostage/internal/rerankbench"
)

// twiceDefault matches a flag help that states a default of its own, as
// "(0: X)" or "(default: X)" or "(default X", and then gets the flag
// package's "(default V)" for a nonzero default: two defaults, one of them
// not the flag's ("hits returned (0: 10) (default 5)").
var twiceDefault = regexp.MustCompile(`\((0|default):? [^)]*\).*\(default [^)]*\)$`)

// TestFlagHelpSaysDefaultsOnce scans every command's flags: a help says
// its default once, and the words it uses for defaults are true.
func TestFlagHelpSaysDefaultsOnce(t *testing.T) {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	cmds := [][]string{{"bench", "rerank"}}
	for _, n := range names {
		cmds = append(cmds, []string{n})
	}
	seen := 0
	for _, c := range cmds {
		_, out, stderr := cli(t, "", append(c, "-h")...)
		flag := ""
		for _, l := range strings.Split(out+stderr, "\n") {
			if strings.HasPrefix(l, "  -") {
				flag = strings.TrimSpace(l)
				continue
			}
			if flag == "" || !strings.HasPrefix(l, "    \t") {
				continue
			}
			seen++
			if h := strings.TrimSpace(l); twiceDefault.MatchString(h) {
				t.Errorf("%s %s: %q states two defaults", strings.Join(c, " "), flag, h)
			}
		}
	}
	if seen < 50 {
		t.Fatalf("read %d flag helps, want every command's (over 50)", seen)
	}
	_, out, stderr := cli(t, "", "bench", "rerank", "-h")
	if h := out + stderr; !strings.Contains(h, "a 12-word question") || len(strings.Fields(rerankbench.DefaultQuery)) != 12 {
		t.Errorf("bench rerank --query's help miscounts the default query's words:\n%s", h)
	}
}
