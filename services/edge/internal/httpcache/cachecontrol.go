package httpcache

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// CacheControl holds the Cache-Control directives this cache acts on, of a
// response (RFC 9111 section 5.2.2, RFC 5861, RFC 8246) or of a request
// (section 5.2.1): one type for both, since the grammar is the same and
// several directives (max-age, no-cache, no-store, stale-if-error) exist on
// both sides. Directives it does not know are ignored, as the RFC asks.
type CacheControl struct {
	NoStore bool // never keep a copy
	// NoCache without field names: a copy may be kept but never used
	// without revalidating it first. With field names (NoCacheFields),
	// only those fields need revalidation: this cache strips them from the
	// stored copy instead, which the RFC allows (section 5.2.2.4).
	NoCache       bool
	NoCacheFields []string
	// Private without field names: for one user only; a shared cache such
	// as a CDN edge must not keep it. With field names, only those fields
	// are private: this cache keeps the response without them (5.2.2.7).
	Private       bool
	PrivateFields []string
	Public        bool
	// MustRevalidate and ProxyRevalidate: once stale, never served without
	// revalidation (an origin that cannot be reached gives a 504).
	MustRevalidate  bool
	ProxyRevalidate bool
	// MustUnderstand: store only if the status code is understood, and
	// then ignore no-store (section 5.2.2.3).
	MustUnderstand bool
	Immutable      bool // RFC 8246: while fresh, reloads need not revalidate
	OnlyIfCached   bool // request: answer from the cache or with a 504

	MaxAge      time.Duration // response: lifetime for any cache; request: oldest acceptable age
	HasMaxAge   bool
	SMaxAge     time.Duration // lifetime for shared caches; wins over max-age
	HasSMaxAge  bool
	MaxStale    time.Duration // request: accepts stale responses up to this much past their lifetime (maxDelta when no value)
	HasMaxStale bool
	MinFresh    time.Duration // request: wants at least this much freshness left
	HasMinFresh bool
	// RFC 5861: how long past its lifetime a response may be served while it
	// is revalidated in the background, or when the origin fails.
	StaleWhileRevalidate    time.Duration
	HasStaleWhileRevalidate bool
	StaleIfError            time.Duration
	HasStaleIfError         bool
}

// maxDelta is the largest lifetime the RFC asks caches to handle: bigger
// values are treated as this one (RFC 9111 section 1.2.2).
const maxDelta = 1 << 31

// Lifetime is the explicit lifetime for a shared cache: s-maxage when
// present, else max-age. ok is false when the directives give neither
// (Expires and heuristics are the next candidates: see freshnessLifetime).
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
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		// A field list in an unterminated quoted string cannot be trusted:
		// no-cache and private then apply to the whole response, the
		// safe reading.
		if strings.HasPrefix(value, `"`) && !terminated(value) {
			hasValue = false
		}
		value = unquote(value)
		switch name {
		case "no-store":
			cc.NoStore = true
		case "no-cache":
			if fields := fieldNames(value); hasValue && len(fields) > 0 {
				cc.NoCacheFields = append(cc.NoCacheFields, fields...)
			} else {
				cc.NoCache = true
			}
		case "private":
			if fields := fieldNames(value); hasValue && len(fields) > 0 {
				cc.PrivateFields = append(cc.PrivateFields, fields...)
			} else {
				cc.Private = true
			}
		case "public":
			cc.Public = true
		case "must-revalidate":
			cc.MustRevalidate = true
		case "proxy-revalidate":
			cc.ProxyRevalidate = true
		case "immutable":
			cc.Immutable = true
		case "must-understand":
			cc.MustUnderstand = true
		case "only-if-cached":
			cc.OnlyIfCached = true
		// When a directive repeats, the first one counts.
		case "max-age":
			if !cc.HasMaxAge {
				cc.MaxAge, cc.HasMaxAge = parseDelta(value), true
			}
		case "s-maxage":
			if !cc.HasSMaxAge {
				cc.SMaxAge, cc.HasSMaxAge = parseDelta(value), true
			}
		case "max-stale":
			if !cc.HasMaxStale {
				cc.MaxStale, cc.HasMaxStale = maxDelta*time.Second, true
				if hasValue {
					cc.MaxStale = parseDelta(value)
				}
			}
		case "min-fresh":
			if !cc.HasMinFresh {
				cc.MinFresh, cc.HasMinFresh = parseDelta(value), true
			}
		case "stale-while-revalidate":
			if !cc.HasStaleWhileRevalidate {
				cc.StaleWhileRevalidate, cc.HasStaleWhileRevalidate = parseDelta(value), true
			}
		case "stale-if-error":
			if !cc.HasStaleIfError {
				cc.StaleIfError, cc.HasStaleIfError = parseDelta(value), true
			}
		}
	}
	return cc
}

// fieldNames reads the field-name list of a qualified no-cache or private:
// `Set-Cookie, X-Foo` gives [Set-Cookie X-Foo] in canonical form.
func fieldNames(v string) []string {
	var names []string
	for name := range strings.SplitSeq(v, ",") {
		if name = strings.TrimSpace(name); name != "" && validToken(name) {
			names = append(names, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	return names
}

// validToken reports whether s is an RFC 9110 token (a field name).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
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

// terminated reports whether a value starting with a quote ends its
// quoted-string.
func terminated(v string) bool {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return true
		}
	}
	return false
}

// parseAge reads an Age header (RFC 9111 section 5.1): a list-valued one
// counts by its first member, and an invalid one is ignored (0).
func parseAge(h http.Header) time.Duration {
	first, _, _ := strings.Cut(h.Get("Age"), ",")
	return parseDelta(strings.TrimSpace(first))
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
