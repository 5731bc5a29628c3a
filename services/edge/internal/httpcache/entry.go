package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"scalelab/services/platform"
)

// Entry is one stored response: one variant of a URL. It is never changed
// once stored, so any number of requests can serve it at the same time; a
// revalidation makes a new Entry that replaces it.
type Entry struct {
	Status       int
	Header       http.Header // origin's headers, without hop-by-hop, per-answer ones, Age and stripped fields
	Body         []byte
	ETag         string
	LastModified time.Time // parsed Last-Modified, zero when absent, for If-Modified-Since

	// Timing, as RFC 9111 section 4.2.3 names it.
	RequestTime         time.Time     // when the edge sent the request that got this response
	ResponseTime        time.Time     // when the edge received it
	CorrectedInitialAge time.Duration // its age on arrival
	Lifetime            time.Duration // freshness lifetime (section 4.2.1)
	Heuristic           bool          // Lifetime is a guess from Last-Modified (section 4.2.2)

	CC          CacheControl // the directives the edge follows: CDN-Cache-Control when present, else Cache-Control
	Vary        Vary
	VaryValues  []string // the request's values of Vary.Names when stored: the secondary key
	SurrogateKs []string // Surrogate-Key values, for purges by key
	// Upstream is the Cache-Status the response arrived with, when the
	// origin is itself a cache (a shield edge): the answer that stored it
	// lists it before this cache's own member (RFC 9211 section 2).
	Upstream string

	// hitHead is the part of a plain hit's head that is the same for
	// every answer (plainhit.go); nil for an entry that is not a 200.
	hitHead []byte
}

// Age is the entry's current age (RFC 9111 section 4.2.3):
// corrected_initial_age plus the time it has been resident here.
func (e *Entry) Age(now time.Time) time.Duration {
	resident := now.Sub(e.ResponseTime)
	if resident < 0 {
		resident = 0
	}
	return e.CorrectedInitialAge + resident
}

// Fresh reports whether the entry may still be served without asking the
// origin: its lifetime exceeds its age (section 4.2).
func (e *Entry) Fresh(now time.Time) bool { return e.Lifetime > e.Age(now) }

// TTL is the freshness left, negative once stale.
func (e *Entry) TTL(now time.Time) time.Duration { return e.Lifetime - e.Age(now) }

// HasValidator reports whether the entry can be revalidated with a
// conditional request rather than fetched again.
func (e *Entry) HasValidator() bool { return e.ETag != "" || !e.LastModified.IsZero() }

// Matches reports whether the entry can answer a request with header h:
// every field it varies on has the same value (RFC 9111 section 4.1).
func (e *Entry) Matches(h http.Header) bool {
	if e.Vary.Star {
		return false
	}
	return slices.Equal(varyValues(h, e.Vary.Names), e.VaryValues)
}

// mustRevalidate reports whether the entry, once stale, may never be
// served without revalidation: must-revalidate, proxy-revalidate (which a
// shared cache obeys like must-revalidate), or no-cache.
func (e *Entry) mustRevalidate() bool {
	return e.CC.MustRevalidate || e.CC.ProxyRevalidate || e.CC.NoCache
}

// sharedWithAuthorization reports whether the entry may answer a request
// carrying Authorization (RFC 9111 section 3.5).
func (e *Entry) sharedWithAuthorization() bool {
	return e.CC.Public || e.CC.HasSMaxAge || e.CC.MustRevalidate
}

// entryOverhead approximates what an entry costs beyond its header and body
// strings: the structs, the map and the list element.
const entryOverhead = 256

// Size is what the entry costs in the store's byte budget. Headers count
// too: a million tiny objects are not free.
func (e *Entry) Size() int64 {
	n := int64(len(e.Body)+len(e.Upstream)) + entryOverhead
	for k, vs := range e.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	for _, v := range e.VaryValues {
		n += int64(len(v))
	}
	return n
}

// Object is what the store keeps under a URL (the primary key): the
// variants stored for it, most recent first. It is immutable too: storing a
// variant makes a new Object.
type Object struct {
	Variants []*Entry
	tags     []string // union of the variants' surrogate keys
}

// maxVariants bounds the variants kept for one URL: a Vary on a field with
// unbounded values (User-Agent) must not turn one URL into thousands of
// entries. The oldest go first.
const maxVariants = 16

// Size is the object's cost in the store's byte budget.
func (o *Object) Size() int64 {
	var n int64
	for _, e := range o.Variants {
		n += e.Size()
	}
	return n
}

// Tags are the surrogate keys of every variant, for the store's index.
func (o *Object) Tags() []string { return o.tags }

// Select returns the most recent variant that matches a request with
// header h.
func (o *Object) Select(h http.Header) *Entry {
	if o == nil {
		return nil
	}
	for _, e := range o.Variants {
		if e.Matches(h) {
			return e
		}
	}
	return nil
}

// with returns a copy of o (nil for none) holding e in front, in place of
// replaced and of every variant with e's secondary key.
func (o *Object) with(e, replaced *Entry) *Object {
	n := &Object{Variants: []*Entry{e}}
	if o != nil {
		for _, v := range o.Variants {
			if v == replaced || (slices.Equal(v.Vary.Names, e.Vary.Names) && slices.Equal(v.VaryValues, e.VaryValues)) {
				continue
			}
			if len(n.Variants) == maxVariants {
				break
			}
			n.Variants = append(n.Variants, v)
		}
	}
	n.collectTags()
	return n
}

// without returns a copy of o without e, or nil when nothing is left.
func (o *Object) without(e *Entry) *Object {
	if o == nil {
		return nil
	}
	n := &Object{}
	for _, v := range o.Variants {
		if v != e {
			n.Variants = append(n.Variants, v)
		}
	}
	if len(n.Variants) == 0 {
		return nil
	}
	n.collectTags()
	return n
}

func (o *Object) collectTags() {
	o.tags = nil
	for _, v := range o.Variants {
		o.tags = append(o.tags, v.SurrogateKs...)
	}
	slices.Sort(o.tags)
	o.tags = slices.Compact(o.tags)
}

// Status codes this cache understands (RFC 9111 section 3): with
// must-understand, only these are stored. 206 is left out (this cache
// stores whole objects only), so is 304 (it refreshes an entry, never is
// one). Other final codes are stored when the origin gave them explicit
// freshness, as section 3 allows; an error so marked is the origin's
// choice, though stale-if-error still prefers the last good answer to it.
var understoodStatus = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 302: true, 303: true,
	307: true, 308: true, 404: true, 405: true, 410: true, 414: true, 451: true, 501: true,
}

// heuristicStatus are the codes RFC 9110 section 15.1 defines as
// heuristically cacheable: only they may get a lifetime guessed from
// Last-Modified (unless the response is marked public).
var heuristicStatus = map[int]bool{
	200: true, 203: true, 204: true, 206: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// Policy is what the storage and freshness rules depend on besides the
// response.
type Policy struct {
	MaxObjectBytes int64
	HeuristicMax   time.Duration // cap on a heuristic lifetime
}

// responseDirectives returns the directives the edge obeys for a response:
// CDN-Cache-Control when the origin sent a valid one (RFC 9213 section 2.1:
// a CDN then ignores Cache-Control and Expires for its own caching), else
// Cache-Control. cdn reports which.
func responseDirectives(h http.Header) (cc CacheControl, cdn bool) {
	if v, ok := cdnCacheControl(h); ok {
		return ParseCacheControl(v), true
	}
	return ParseCacheControl(joinValues(h, "Cache-Control")), false
}

// freshnessLifetime computes a response's freshness lifetime for a shared
// cache (RFC 9111 section 4.2.1): s-maxage, else max-age, else Expires minus
// Date, else, only where section 4.2.2 allows it, 10% of the time since
// Last-Modified, capped. received stands in for a missing Date.
func freshnessLifetime(status int, h http.Header, cc CacheControl, cdn bool, received time.Time, heuristicMax time.Duration) (lifetime time.Duration, heuristic bool) {
	if d, ok := cc.Lifetime(); ok {
		return d, false
	}
	date := received
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	if !cdn {
		if vs := h.Values("Expires"); len(vs) > 0 {
			exp, ok := parseHTTPDate(vs[0], received)
			if !ok || len(vs) > 1 {
				// An invalid Expires (such as "0"), or several, means
				// already expired.
				return 0, false
			}
			if d := exp.Sub(date); d > 0 {
				return d, false
			}
			return 0, false
		}
	}
	if !heuristicStatus[status] && !cc.Public {
		return 0, false
	}
	lm, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil || !lm.Before(date) {
		return 0, true
	}
	d := date.Sub(lm) / 10
	if d > heuristicMax {
		d = heuristicMax
	}
	return d.Truncate(time.Second), true
}

// correctedInitialAge is the age of a response when it arrived (RFC 9111
// section 4.2.3): the larger of what its Date says (apparent age) and what
// its Age header says plus the time the exchange took.
func correctedInitialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	apparent := time.Duration(0)
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		if d := responseTime.Sub(date); d > 0 {
			apparent = d
		}
	}
	delay := responseTime.Sub(requestTime)
	if delay < 0 {
		delay = 0
	}
	corrected := parseAge(h) + delay
	return max(apparent, corrected)
}

// storable says why a response to a GET must not be stored, or returns ""
// when it may be (RFC 9111 section 3). The reasons are written for the
// debug log and Cache-Status, where a learner wonders why a MISS followed a
// MISS. reqCC is the request's directives; authorized tells whether the
// request carried Authorization.
func storable(status int, h http.Header, cc CacheControl, reqCC CacheControl, authorized bool, contentLength int64, p Policy) string {
	switch {
	case status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified:
		return "status " + strconv.Itoa(status) + " is not stored"
	case cc.MustUnderstand && !understoodStatus[status]:
		return "must-understand, and status " + strconv.Itoa(status) + " is not one this cache understands"
	case reqCC.NoStore:
		return "request Cache-Control: no-store"
	case cc.NoStore && !cc.MustUnderstand:
		// With must-understand, no-store is the fallback for caches that
		// do not know the status code; this one knows it (checked above).
		return "Cache-Control: no-store"
	case cc.Private:
		return "Cache-Control: private (only a browser may keep it)"
	case !explicitlyCacheable(h, cc) && !heuristicStatus[status]:
		// Section 3: without max-age, s-maxage, Expires or public, only
		// the heuristically cacheable codes may be stored.
		return "status " + strconv.Itoa(status) + " without explicit freshness"
	case authorized && !(cc.Public || cc.HasSMaxAge || cc.MustRevalidate):
		return "request had Authorization and the response is not public, s-maxage or must-revalidate"
	case ParseVary(joinValues(h, "Vary")).Star:
		return "Vary: * (can never be matched)"
	case len(h.Values("Set-Cookie")) > 0 && !setCookieShareable(cc):
		// Storing it would hand one user's cookie to every user. Marked
		// explicitly shareable, the response is stored without it.
		return "Set-Cookie on a response not explicitly public (or s-maxage)"
	case contentLength > p.MaxObjectBytes:
		return "larger than EDGE_MAX_OBJECT_BYTES"
	}
	return ""
}

// explicitlyCacheable reports whether the response carries one of the
// section 3 directives that make any understood status storable.
func explicitlyCacheable(h http.Header, cc CacheControl) bool {
	_, lifetime := cc.Lifetime()
	_, cdn := cdnCacheControl(h)
	return lifetime || cc.Public || (!cdn && len(h.Values("Expires")) > 0)
}

// setCookieShareable reports whether a response with Set-Cookie may still be
// stored (the cookie itself never is): the origin said the response is for
// everyone, or named Set-Cookie as a field not to reuse.
func setCookieShareable(cc CacheControl) bool {
	return cc.Public || cc.HasSMaxAge ||
		slices.Contains(cc.NoCacheFields, "Set-Cookie") || slices.Contains(cc.PrivateFields, "Set-Cookie")
}

// newEntry builds an entry from a storable response and its whole body.
// reqHeader is the request it answered, for the secondary key.
func newEntry(status int, respHeader, reqHeader http.Header, body []byte, requestTime, responseTime time.Time, p Policy) *Entry {
	h := respHeader.Clone()
	removeHopByHop(h)
	removePerAnswer(h)
	e := &Entry{Status: status, Body: body, Upstream: joinValues(respHeader, "Cache-Status")}
	e.setHeader(h, requestTime, responseTime, p)
	e.Vary = ParseVary(joinValues(h, "Vary"))
	e.VaryValues = varyValues(reqHeader, e.Vary.Names)
	return e
}

// setHeader sets the entry's header and everything derived from it.
func (e *Entry) setHeader(h http.Header, requestTime, responseTime time.Time, p Policy) {
	cc, cdn := responseDirectives(h)
	e.CorrectedInitialAge = correctedInitialAge(h, requestTime, responseTime)
	e.Lifetime, e.Heuristic = freshnessLifetime(e.Status, h, cc, cdn, responseTime, p.HeuristicMax)
	h.Del("Age") // recomputed on every answer
	// Fields the origin said a shared cache must not reuse. Set-Cookie is
	// never replayed from the store, whatever the directives.
	h.Del("Set-Cookie")
	for _, f := range cc.NoCacheFields {
		h.Del(f)
	}
	for _, f := range cc.PrivateFields {
		h.Del(f)
	}
	e.Header = h
	e.CC = cc
	e.RequestTime, e.ResponseTime = requestTime, responseTime
	e.ETag = h.Get("ETag")
	e.LastModified, _ = http.ParseTime(h.Get("Last-Modified"))
	e.SurrogateKs = strings.Fields(joinValues(h, "Surrogate-Key"))
	e.hitHead = e.buildHitHead()
}

// worthStoring reports whether an entry can ever be used: fresh now, or
// revalidatable, or servable stale by the origin's leave (RFC 5861).
func (e *Entry) worthStoring(now time.Time) bool {
	staleOK := !e.mustRevalidate() && (e.CC.StaleWhileRevalidate > 0 || e.CC.StaleIfError > 0)
	return (e.Fresh(now) && !e.CC.NoCache) || e.HasValidator() || staleOK
}

// refreshed returns a copy of e updated by a 304 to its revalidation (RFC
// 9111 section 4.3.4): the 304's header fields replace the stored ones
// (section 3.2: but for Content-Length, which describes the stored body),
// and its freshness starts again from this exchange.
func (e *Entry) refreshed(h304 http.Header, requestTime, responseTime time.Time, p Policy) *Entry {
	n := *e
	h := e.Header.Clone()
	upd := h304.Clone()
	removeHopByHop(upd)
	removePerAnswer(upd)
	for _, name := range []string{"Content-Length", "Content-Range", "Content-Encoding"} {
		upd.Del(name)
	}
	for k, vs := range upd {
		h[k] = vs
	}
	if _, ok := upd["Age"]; !ok {
		h.Del("Age") // the new exchange's age is its own, not the old one's
	}
	n.setHeader(h, requestTime, responseTime, p)
	return &n
}

// perAnswer are headers that describe the one exchange with the origin, not
// the object: replayed from the store, a hit would answer with the id of the
// request that filled the entry instead of its own, and name the origin
// replica as the one that served it. The edge sets its own on every answer.
var perAnswer = []string{platform.RequestIDHeader, platform.ServedByHeader, "Cache-Status", "X-Cache"}

// removePerAnswer deletes the per-answer headers from h.
func removePerAnswer(h http.Header) {
	for _, name := range perAnswer {
		h.Del(name)
	}
}

// hopByHop are headers that describe one connection, not the message: a
// proxy must not forward them (RFC 9110 section 7.6.1).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop deletes the hop-by-hop headers from h, including those the
// Connection header names.
func removeHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}
