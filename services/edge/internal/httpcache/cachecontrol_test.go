package httpcache

import (
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in           string
		want         CacheControl
		wantLifetime time.Duration
		wantOK       bool
	}{
		{"", CacheControl{}, 0, false},
		{"public, max-age=60", CacheControl{Public: true, MaxAge: time.Minute, HasMaxAge: true}, time.Minute, true},
		{"MAX-AGE=5", CacheControl{MaxAge: 5 * time.Second, HasMaxAge: true}, 5 * time.Second, true},
		{"max-age=60, s-maxage=10", CacheControl{MaxAge: time.Minute, HasMaxAge: true, SMaxAge: 10 * time.Second, HasSMaxAge: true}, 10 * time.Second, true},
		{"s-maxage=0, max-age=60", CacheControl{MaxAge: time.Minute, HasMaxAge: true, HasSMaxAge: true}, 0, true},
		{"no-store", CacheControl{NoStore: true}, 0, false},
		{"private, max-age=60", CacheControl{Private: true, MaxAge: time.Minute, HasMaxAge: true}, time.Minute, true},
		{`no-cache="Set-Cookie, X-Foo", max-age=5`, CacheControl{NoCache: true, MaxAge: 5 * time.Second, HasMaxAge: true}, 5 * time.Second, true},
		{`max-age="30"`, CacheControl{MaxAge: 30 * time.Second, HasMaxAge: true}, 30 * time.Second, true},
		{"max-age=10, max-age=99", CacheControl{MaxAge: 10 * time.Second, HasMaxAge: true}, 10 * time.Second, true},
		{"  max-age = 7 ,,, ", CacheControl{MaxAge: 7 * time.Second, HasMaxAge: true}, 7 * time.Second, true},
		// Unreadable lifetimes count as zero: the response is stale at once.
		{"max-age=abc", CacheControl{HasMaxAge: true}, 0, true},
		{"max-age=-1", CacheControl{HasMaxAge: true}, 0, true},
		{"max-age", CacheControl{HasMaxAge: true}, 0, true},
		{"max-age=99999999999999999999999", CacheControl{MaxAge: maxDelta * time.Second, HasMaxAge: true}, maxDelta * time.Second, true},
		{"max-age=99999999999999999999x", CacheControl{HasMaxAge: true}, 0, true},
		{`private="unterminated, max-age=5`, CacheControl{Private: true}, 0, false},
		{"immutable, stale-while-revalidate=30", CacheControl{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseCacheControl(tt.in)
			if got != tt.want {
				t.Errorf("ParseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			d, ok := got.Lifetime()
			if d != tt.wantLifetime || ok != tt.wantOK {
				t.Errorf("Lifetime() = %v, %v; want %v, %v", d, ok, tt.wantLifetime, tt.wantOK)
			}
		})
	}
}

// FuzzParseCacheControl feeds the parser arbitrary headers: it must not
// panic and must never produce a negative or uncapped lifetime.
func FuzzParseCacheControl(f *testing.F) {
	for _, seed := range []string{
		"", "public, max-age=60", "s-maxage=10, max-age=5", "no-store", "private",
		`no-cache="a, b"`, `max-age="5`, `"\`, "max-age=99999999999999999999", ",,=,=", "max-age=\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		cc := ParseCacheControl(header)
		for _, d := range []time.Duration{cc.MaxAge, cc.SMaxAge} {
			if d < 0 || d > maxDelta*time.Second {
				t.Fatalf("ParseCacheControl(%q) gave lifetime %v", header, d)
			}
		}
		if d, ok := cc.Lifetime(); !ok && d != 0 {
			t.Fatalf("Lifetime() = %v without a lifetime directive", d)
		}
	})
}
