package httpcache

import (
	"time"
)

// use is what a stored entry can do for a request.
type use int

const (
	useFresh      use = iota // serve it: fresh
	useStale                 // serve it stale: the client's max-stale allows it
	useStaleAsync            // serve it stale and revalidate in the background (stale-while-revalidate)
	useValidate              // ask the origin first
)

// decide says how a stored entry may answer a request with directives req,
// at now (RFC 9111 sections 4.2, 4.2.4 and 5.2.1, RFC 5861, RFC 8246).
// forced reports that the request's own directives, not the entry's age,
// sent it to the origin (Cache-Status fwd=request).
func decide(e *Entry, req CacheControl, now time.Time) (u use, forced bool) {
	age := e.Age(now)
	ttl := e.Lifetime - age
	fresh := ttl > 0
	if e.CC.NoCache {
		return useValidate, false
	}
	// immutable: while fresh, a reload's no-cache or max-age=0 is
	// answered from the cache (RFC 8246 section 2.1).
	if !(fresh && e.CC.Immutable) {
		if req.NoCache || (req.HasMaxAge && age > req.MaxAge) {
			return useValidate, true
		}
	}
	if req.HasMinFresh && ttl < req.MinFresh {
		return useValidate, true
	}
	if fresh {
		return useFresh, false
	}
	staleness := -ttl
	if e.mustRevalidate() {
		return useValidate, false
	}
	// s-maxage implies proxy-revalidate for a shared cache (section
	// 5.2.2.10): a client's max-stale cannot override it. The origin's own
	// stale-while-revalidate, given in the same breath, still can.
	if req.HasMaxStale && staleness <= req.MaxStale && !e.CC.HasSMaxAge {
		return useStale, false
	}
	if e.CC.HasStaleWhileRevalidate && staleness <= e.CC.StaleWhileRevalidate && !req.NoCache {
		return useStaleAsync, false
	}
	return useValidate, false
}

// staleIfError reports whether e may answer, stale, a request with
// directives req when the origin failed or could not be reached.
func (c *Cache) staleIfError(e *Entry, req CacheControl, now time.Time) bool {
	if e == nil || e.mustRevalidate() || e.Status >= 500 {
		// must-revalidate: "MUST generate a 504" instead (section
		// 5.2.2.2). A stored error is no better than the origin's new one.
		return false
	}
	limit := c.cfg.StaleIfError
	if e.CC.HasSMaxAge {
		limit = 0 // s-maxage implies proxy-revalidate: only the origin's explicit leave counts
	}
	if e.CC.HasStaleIfError {
		limit = max(limit, e.CC.StaleIfError)
	}
	if req.HasStaleIfError {
		limit = max(limit, req.StaleIfError)
	}
	return limit > 0 && -e.TTL(now) <= limit
}
