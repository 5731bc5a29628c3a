package dashboards

import (
	"regexp"
	"sort"
	"strings"
)

// MetricNames returns the metric names a PromQL expression reads, sorted.
//
// A small lexer rather than Prometheus' own parser: that parser lives in the
// Prometheus server's module, which would bring hundreds of modules into
// the tests for one function. The expressions here are the project's own,
// and the live test runs every one of them against a real Prometheus, which
// rejects any this reading would get wrong.
func MetricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = matchers.ReplaceAllString(s, "")
	s = grouping.ReplaceAllString(s, "")
	s = durations.ReplaceAllString(s, "")
	seen := map[string]bool{}
	for _, m := range ident.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		rest := strings.TrimLeft(s[m[3]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywords[name] {
			continue // a function, an aggregation or an operator
		}
		seen[name] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	durations = regexp.MustCompile(`\[[^\]]*\]|\boffset\s+\w+`)
	// A name not preceded by a digit or a dot (so 1e-9 and 0.5 are skipped).
	ident = regexp.MustCompile(`(?:^|[^\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)`)
)

var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "inf": true, "nan": true, "Inf": true, "NaN": true,
}
