package httpcache

import (
	"reflect"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name         string
		in           string
		want         CacheControl
		wantLifetime time.Duration
		wantOK       bool
	}{
		{"empty", "", CacheControl{}, 0, false},
		{"RFC9111 5.2.2.1 max-age", "public, max-age=60", CacheControl{Public: true, MaxAge: 60 * s, HasMaxAge: true}, 60 * s, true},
		{"RFC9111 5.2 directive names are case-insensitive", "MAX-AGE=5", CacheControl{MaxAge: 5 * s, HasMaxAge: true}, 5 * s, true},
		{"RFC9111 5.2.2.10 s-maxage wins for a shared cache", "max-age=60, s-maxage=10", CacheControl{MaxAge: 60 * s, HasMaxAge: true, SMaxAge: 10 * s, HasSMaxAge: true}, 10 * s, true},
		{"RFC9111 5.2.2.10 s-maxage=0 wins too", "s-maxage=0, max-age=60", CacheControl{MaxAge: 60 * s, HasMaxAge: true, HasSMaxAge: true}, 0, true},
		{"RFC9111 5.2.2.5 no-store", "no-store", CacheControl{NoStore: true}, 0, false},
		{"RFC9111 5.2.2.7 private", "private, max-age=60", CacheControl{Private: true, MaxAge: 60 * s, HasMaxAge: true}, 60 * s, true},
		{"RFC9111 5.2.2.7 private with field names", `private="Set-Cookie", max-age=60`, CacheControl{PrivateFields: []string{"Set-Cookie"}, MaxAge: 60 * s, HasMaxAge: true}, 60 * s, true},
		{"RFC9111 5.2.2.4 no-cache", "no-cache", CacheControl{NoCache: true}, 0, false},
		{"RFC9111 5.2.2.4 no-cache with field names", `no-cache="set-cookie, X-Foo", max-age=5`, CacheControl{NoCacheFields: []string{"Set-Cookie", "X-Foo"}, MaxAge: 5 * s, HasMaxAge: true}, 5 * s, true},
		{"RFC9111 5.2.2.4 no-cache with an empty list is the whole response", `no-cache=""`, CacheControl{NoCache: true}, 0, false},
		{"RFC9111 5.2.2.2 must-revalidate", "must-revalidate, max-age=1", CacheControl{MustRevalidate: true, MaxAge: s, HasMaxAge: true}, s, true},
		{"RFC9111 5.2.2.8 proxy-revalidate", "proxy-revalidate", CacheControl{ProxyRevalidate: true}, 0, false},
		{"RFC9111 5.2.2.3 must-understand", "must-understand, no-store", CacheControl{MustUnderstand: true, NoStore: true}, 0, false},
		{"RFC8246 immutable and RFC5861 stale-while-revalidate", "immutable, stale-while-revalidate=30", CacheControl{Immutable: true, StaleWhileRevalidate: 30 * s, HasStaleWhileRevalidate: true}, 0, false},
		{"RFC5861 4 stale-if-error", "max-age=1, stale-if-error=300", CacheControl{MaxAge: s, HasMaxAge: true, StaleIfError: 300 * s, HasStaleIfError: true}, s, true},
		{"RFC9111 5.2.1.2 max-stale without a value accepts any staleness", "max-stale", CacheControl{MaxStale: maxDelta * s, HasMaxStale: true}, 0, false},
		{"RFC9111 5.2.1.2 max-stale with a value", "max-stale=10", CacheControl{MaxStale: 10 * s, HasMaxStale: true}, 0, false},
		{"RFC9111 5.2.1.3 min-fresh", "min-fresh=20", CacheControl{MinFresh: 20 * s, HasMinFresh: true}, 0, false},
		{"RFC9111 5.2.1.7 only-if-cached", "only-if-cached", CacheControl{OnlyIfCached: true}, 0, false},
		{"RFC9111 5.2 quoted values are accepted", `max-age="30"`, CacheControl{MaxAge: 30 * s, HasMaxAge: true}, 30 * s, true},
		{"RFC9111 4.2.1 the first of repeated directives counts", "max-age=10, max-age=99", CacheControl{MaxAge: 10 * s, HasMaxAge: true}, 10 * s, true},
		{"RFC9110 5.6.1 empty list members and spaces", "  max-age = 7 ,,, ", CacheControl{MaxAge: 7 * s, HasMaxAge: true}, 7 * s, true},
		// Unreadable lifetimes count as zero: the response is stale at once.
		{"RFC9111 1.2.1 unreadable delta is stale", "max-age=abc", CacheControl{HasMaxAge: true}, 0, true},
		{"RFC9111 1.2.1 negative delta is stale", "max-age=-1", CacheControl{HasMaxAge: true}, 0, true},
		{"RFC9111 1.2.1 missing delta is stale", "max-age", CacheControl{HasMaxAge: true}, 0, true},
		{"RFC9111 1.2.2 huge delta is capped", "max-age=99999999999999999999999", CacheControl{MaxAge: maxDelta * s, HasMaxAge: true}, maxDelta * s, true},
		{"RFC9111 1.2.1 huge garbage is stale", "max-age=99999999999999999999x", CacheControl{HasMaxAge: true}, 0, true},
		{"RFC9111 5.2.2.7 unterminated field list means the whole response", `private="unterminated, max-age=5`, CacheControl{Private: true}, 0, false},
		{"RFC9111 5.2.3 unknown extensions are ignored", "community=UCI, foo", CacheControl{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCacheControl(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCacheControl(%q) =\n%+v, want\n%+v", tt.in, got, tt.want)
			}
			d, ok := got.Lifetime()
			if d != tt.wantLifetime || ok != tt.wantOK {
				t.Errorf("Lifetime() = %v, %v; want %v, %v", d, ok, tt.wantLifetime, tt.wantOK)
			}
		})
	}
}

// FuzzParseCacheControl feeds the parser arbitrary headers: it must not
// panic, must never produce a negative or uncapped duration, and field
// names it reports must be tokens.
func FuzzParseCacheControl(f *testing.F) {
	for _, seed := range []string{
		"", "public, max-age=60", "s-maxage=10, max-age=5", "no-store", "private",
		`no-cache="a, b"`, `max-age="5`, `"\`, "max-age=99999999999999999999", ",,=,=", "max-age=\x00",
		`private="Set-Cookie", stale-while-revalidate=30, stale-if-error=60`, "max-stale, min-fresh=3, only-if-cached",
		`no-cache="\"x\", y"`, "immutable, must-revalidate, proxy-revalidate",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		cc := ParseCacheControl(header)
		for _, d := range []time.Duration{cc.MaxAge, cc.SMaxAge, cc.MaxStale, cc.MinFresh, cc.StaleWhileRevalidate, cc.StaleIfError} {
			if d < 0 || d > maxDelta*time.Second {
				t.Fatalf("ParseCacheControl(%q) gave duration %v", header, d)
			}
		}
		if d, ok := cc.Lifetime(); !ok && d != 0 {
			t.Fatalf("Lifetime() = %v without a lifetime directive", d)
		}
		for _, f := range append(cc.NoCacheFields, cc.PrivateFields...) {
			if !validToken(f) {
				t.Fatalf("ParseCacheControl(%q) gave field name %q", header, f)
			}
		}
		if cc.NoCache && len(cc.NoCacheFields) > 0 && !containsUnqualified(header, "no-cache") {
			t.Fatalf("ParseCacheControl(%q): no-cache both whole and qualified", header)
		}
	})
}

// containsUnqualified reports whether some directive named name, in
// header, has no field list: the only way both forms can be set at once.
func containsUnqualified(header, name string) bool {
	for _, part := range splitDirectives(header) {
		n, v, has := cutDirective(part)
		if n == name && (!has || len(fieldNames(unquote(v))) == 0 || (len(v) > 0 && v[0] == '"' && !terminated(v))) {
			return true
		}
	}
	return false
}

func cutDirective(part string) (name, value string, has bool) {
	i := 0
	for i < len(part) && part[i] != '=' {
		i++
	}
	name = part[:i]
	if i < len(part) {
		value, has = part[i+1:], true
	}
	return trimLower(name), trimSpace(value), has
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\v' || s[0] == '\f') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n' || s[len(s)-1] == '\r' || s[len(s)-1] == '\v' || s[len(s)-1] == '\f') {
		s = s[:len(s)-1]
	}
	return s
}

func trimLower(s string) string {
	s = trimSpace(s)
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func TestParseVary(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Vary
	}{
		{"RFC9110 12.5.5 none", "", Vary{}},
		{"RFC9110 12.5.5 names are canonical, sorted and unique", "accept-language, Accept-Encoding, ACCEPT-LANGUAGE", Vary{Names: []string{"Accept-Encoding", "Accept-Language"}}},
		{"RFC9110 12.5.5 star", "*", Vary{Star: true}},
		{"RFC9110 12.5.5 star among names", "Accept, *", Vary{Names: []string{"Accept"}, Star: true}},
		{"RFC9110 5.6.1 empty members and junk are skipped", " , Accept ,, bad name, x\"y", Vary{Names: []string{"Accept"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseVary(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseVary(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseVary: never panics; names are canonical tokens, sorted, unique,
// and a request always matches the secondary key computed from itself.
func FuzzParseVary(f *testing.F) {
	for _, seed := range []string{"", "*", "Accept-Encoding", "a, b, A", ", ,", "x\x00y", "Accept-Language,*"} {
		f.Add(seed, "gzip, br")
	}
	f.Fuzz(func(t *testing.T, header, value string) {
		v := ParseVary(header)
		for i, n := range v.Names {
			if !validToken(n) {
				t.Fatalf("ParseVary(%q) gave name %q", header, n)
			}
			if i > 0 && v.Names[i-1] >= n {
				t.Fatalf("ParseVary(%q) names not sorted and unique: %q", header, v.Names)
			}
		}
		h := make(map[string][]string)
		for _, n := range v.Names {
			h[n] = []string{value}
		}
		e := &Entry{Vary: v, VaryValues: varyValues(h, v.Names)}
		if e.Matches(h) == v.Star {
			t.Fatalf("Vary %q: a request matched its own secondary key = %v (star %v)", header, e.Matches(h), v.Star)
		}
	})
}
