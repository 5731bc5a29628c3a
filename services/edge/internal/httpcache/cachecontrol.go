package httpcache

import (
	"strings"
	"time"
)

// CacheControl holds the Cache-Control response directives this cache acts
// on (RFC 9111 section 5.2.2). Directives it does not know are ignored, as
// the RFC asks.
type CacheControl struct {
	NoStore bool // never keep a copy
	NoCache bool // a copy needs revalidation before each use; we don't revalidate, so we don't keep one
	Private bool // for one user only: a shared cache such as a CDN edge must not keep it
	Public  bool

	MaxAge     time.Duration // lifetime for any cache
	HasMaxAge  bool
	SMaxAge    time.Duration // lifetime for shared caches; wins over max-age
	HasSMaxAge bool
}

// maxDelta is the largest lifetime the RFC asks caches to handle: bigger
// values are treated as this one (RFC 9111 section 1.2.2).
const maxDelta = 1 << 31

// Lifetime is how long a shared cache may serve the response without going
// back to the origin: s-maxage when present, else max-age. ok is false when
// the origin gave neither; this cache does not guess a lifetime from
// Last-Modified (the "heuristic freshness" the RFC allows), so such
// responses are not stored.
func (cc CacheControl) Lifetime() (d time.Duration, ok bool) {
	switch {
	case cc.HasSMaxAge:
		return cc.SMaxAge, true
	case cc.HasMaxAge:
		return cc.MaxAge, true
	}
	return 0, false
}

// ParseCacheControl parses the value of a Cache-Control header, such as
// `public, max-age=60` or `private, no-cache="Set-Cookie"`. Several header
// lines can be joined with commas first. It never fails: input comes from
// outside, so whatever it cannot read it ignores, and a lifetime it cannot
// read counts as zero (the RFC's advice: treat the response as stale).
func ParseCacheControl(header string) CacheControl {
	var cc CacheControl
	for _, part := range splitDirectives(header) {
		name, value, _ := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = unquote(strings.TrimSpace(value))
		switch name {
		case "no-store":
			cc.NoStore = true
		case "no-cache":
			cc.NoCache = true
		case "private":
			cc.Private = true
		case "public":
			cc.Public = true
		case "max-age":
			// When a directive repeats, the first one counts.
			if !cc.HasMaxAge {
				cc.MaxAge, cc.HasMaxAge = parseDelta(value), true
			}
		case "s-maxage":
			if !cc.HasSMaxAge {
				cc.SMaxAge, cc.HasSMaxAge = parseDelta(value), true
			}
		}
	}
	return cc
}

// splitDirectives splits on commas that are not inside a quoted string:
// `no-cache="Set-Cookie, Foo", max-age=5` has two directives, not three.
func splitDirectives(s string) []string {
	var parts []string
	start, inQuote, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote removes the quotes and backslash escapes of a quoted-string. An
// unterminated one keeps what follows the opening quote.
func unquote(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseDelta reads delta-seconds: digits only. Anything else gives 0.
func parseDelta(v string) time.Duration {
	if v == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
		if n >= maxDelta {
			// Stop before int64 overflows; the RFC caps lifetimes anyway.
			n = maxDelta
			for _, c := range []byte(v[i+1:]) {
				if c < '0' || c > '9' {
					return 0
				}
			}
			break
		}
	}
	return time.Duration(n) * time.Second
}
