package files

import (
	"strings"
	"testing"
)

const sampleRules = `
# Cache-Control per path; first match wins.
/video.mp4   public, max-age=3600, stale-while-revalidate=30 | video-main  big
/*.png	public, max-age=86400, immutable
/docs/       public, s-maxage=600, max-age=60 |docs
/img/        max-age=5 | | Accept-Language, Accept-Encoding
/            public, max-age=60
`

func TestParseRules(t *testing.T) {
	rules, err := ParseRules(strings.NewReader(sampleRules))
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{
		{"/video.mp4", "public, max-age=3600, stale-while-revalidate=30", "video-main big", ""},
		{"/*.png", "public, max-age=86400, immutable", "", ""},
		{"/docs/", "public, s-maxage=600, max-age=60", "docs", ""},
		{"/img/", "max-age=5", "", "Accept-Language, Accept-Encoding"},
		{"/", "public, max-age=60", "", ""},
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d: %+v", len(rules), len(want), rules)
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, rules[i], want[i])
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"relative pattern", "video.mp4 max-age=5", "line 1"},
		{"no cache-control", "# c\n/a.png\n", "line 2"},
		{"only keys", "/a.png | key", "no Cache-Control"},
		{"bad glob", "/[a.png max-age=5", "pattern"},
		{"control character", "/a max-age=5\x01", "control"},
		{"a third bar", "/a max-age=5 | k | Accept | x", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRules(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestRuleMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/video.mp4", "/video.mp4", true},
		{"/video.mp4", "/video.mp4x", false},
		{"/img/", "/img/a/b.png", true},
		{"/img/", "/img", false},
		{"/*.png", "/logo.png", true},
		{"/*.png", "/img/logo.png", false}, // * stops at /
		{"/img/*.png", "/img/logo.png", true},
		{"/", "/anything", true},
	}
	for _, tt := range tests {
		if got := (Rule{Pattern: tt.pattern}).Match(tt.path); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// The handler answers each path with the first matching rule's
// Cache-Control, adds the rule's surrogate keys to the file's own, and
// falls back to the default.
func TestServeWithRules(t *testing.T) {
	rules, err := ParseRules(strings.NewReader("/video.mp4 public, max-age=3600 | big\n/*.png public, max-age=86400, immutable | | Accept-Language\n/docs/ no-cache\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t)
	h.rules = rules
	tests := []struct{ path, wantCC, wantKeys, wantVary string }{
		{"/video.mp4", "public, max-age=3600", "assets video big", ""},
		{"/logo.png", "public, max-age=86400, immutable", "assets image", "Accept-Language"},
		{"/docs/", "no-cache", "assets text", ""},
		{"/", "public, max-age=60", "assets text", ""},
	}
	for _, tt := range tests {
		rec := serve(h, "GET", tt.path)
		if rec.Code != 200 {
			t.Errorf("%s: status %d", tt.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Cache-Control"); got != tt.wantCC {
			t.Errorf("%s: Cache-Control = %q, want %q", tt.path, got, tt.wantCC)
		}
		if got := rec.Header().Get("Vary"); got != tt.wantVary {
			t.Errorf("%s: Vary = %q, want %q", tt.path, got, tt.wantVary)
		}
		if got := rec.Header().Get("Surrogate-Key"); got != tt.wantKeys {
			t.Errorf("%s: Surrogate-Key = %q, want %q", tt.path, got, tt.wantKeys)
		}
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add(sampleRules)
	f.Add("/a max-age=1 | k\n#x\n\n/[ z")
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := ParseRules(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range rules {
			if !strings.HasPrefix(r.Pattern, "/") || r.CacheControl == "" || strings.ContainsAny(r.CacheControl+r.SurrogateKey, "\r\n\x00") {
				t.Errorf("accepted a bad rule %+v", r)
			}
			r.Match("/x")
		}
	})
}
