package files

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
)

// Rule gives the files whose URL path matches Pattern their Cache-Control
// and, optionally, more surrogate keys.
type Rule struct {
	// Pattern is one of: an exact path ("/video.mp4"); a prefix, ending in
	// "/" ("/img/" covers everything under /img); or a glob as path.Match
	// reads it, when it holds *, ? or [ ("/*.png": "*" stops at a "/",
	// so "/img/a.png" needs "/img/*.png").
	Pattern      string
	CacheControl string
	SurrogateKey string // space-separated keys added to the file's own ("assets image")
	// Vary, when set, is sent as the Vary header: the files do not change
	// with the request, but a lab can watch an edge keep one variant per
	// value (and a purge remove them all).
	Vary string
}

// Match reports whether the rule covers a URL path.
func (r Rule) Match(urlPath string) bool {
	switch {
	case strings.ContainsAny(r.Pattern, "*?["):
		ok, _ := path.Match(r.Pattern, urlPath)
		return ok
	case strings.HasSuffix(r.Pattern, "/"):
		return strings.HasPrefix(urlPath, r.Pattern)
	}
	return urlPath == r.Pattern
}

// Rules are tried in order; the first that matches wins.
type Rules []Rule

// Find returns the first rule matching urlPath.
func (rs Rules) Find(urlPath string) (Rule, bool) {
	for _, r := range rs {
		if r.Match(urlPath) {
			return r, true
		}
	}
	return Rule{}, false
}

// ParseRules reads the ORIGIN_CONFIG format: one rule a line,
//
//	# comment
//	PATTERN   CACHE-CONTROL [| SURROGATE-KEYS [| VARY]]
//
// e.g.
//
//	/video.mp4   public, max-age=3600, stale-while-revalidate=30 | video-main
//	/*.png       public, max-age=86400, immutable
//	/img/        public, s-maxage=600, max-age=60 | images | Accept-Language
//	/            public, max-age=60
//
// The pattern is the first field; the Cache-Control value is the rest of
// the line, up to an optional "|" before the surrogate keys (possibly
// none), and another before the Vary field names. Blank lines
// and lines starting with # are skipped. Errors name the line.
func ParseRules(r io.Reader) (Rules, error) {
	var rules Rules
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		pattern, rest := text, ""
		if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
			pattern, rest = text[:i], text[i:]
		}
		cc, more, _ := strings.Cut(rest, "|")
		keys, vary, _ := strings.Cut(more, "|")
		rule := Rule{Pattern: pattern, CacheControl: strings.TrimSpace(cc), SurrogateKey: strings.Join(strings.Fields(keys), " "), Vary: strings.TrimSpace(vary)}
		if err := rule.check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

func (r Rule) check() error {
	switch {
	case !strings.HasPrefix(r.Pattern, "/"):
		return fmt.Errorf("pattern %q must start with /", r.Pattern)
	case r.CacheControl == "":
		return fmt.Errorf("pattern %s has no Cache-Control value", r.Pattern)
	case strings.ContainsAny(r.CacheControl+r.SurrogateKey+r.Vary, "\r\n\x00|"):
		return fmt.Errorf("pattern %s: control characters in the header values", r.Pattern)
	}
	if _, err := path.Match(r.Pattern, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", r.Pattern, err)
	}
	for _, c := range r.CacheControl + r.Vary {
		if c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("pattern %s: control character in Cache-Control", r.Pattern)
		}
	}
	return nil
}
