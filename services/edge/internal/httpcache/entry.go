package httpcache

import (
	"net/http"
	"strings"
	"time"

	"scalelab/services/platform"
)

// Entry is one stored response. It is never changed once stored, so any
// number of requests can serve it at the same time.
type Entry struct {
	Header       http.Header // origin's headers, without hop-by-hop, per-answer ones and Age
	Body         []byte
	LastModified time.Time // parsed Last-Modified, zero when absent, for If-Modified-Since
	StoredAt     time.Time // when the edge received it
	InitialAge   time.Duration
	Lifetime     time.Duration // from s-maxage or max-age
}

// Age is how old the response is: what the origin (or a cache before us)
// said it was when we got it, plus how long we have kept it. This is the
// simple form of RFC 9111 section 4.2.3: it leaves out the clock skew and
// transit time corrections, which a lab on one machine does not need.
func (e *Entry) Age(now time.Time) time.Duration {
	held := now.Sub(e.StoredAt)
	if held < 0 {
		held = 0
	}
	return e.InitialAge + held
}

// Fresh reports whether the entry may still be served without asking the
// origin.
func (e *Entry) Fresh(now time.Time) bool { return e.Age(now) < e.Lifetime }

// entryOverhead approximates what an entry costs beyond its header and body
// strings: the structs, the map and the list element.
const entryOverhead = 256

// Size is what the entry costs in the store's byte budget. Headers count
// too: a million tiny objects are not free.
func (e *Entry) Size() int64 {
	n := int64(len(e.Body)) + entryOverhead
	for k, vs := range e.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// notStorable says why a 200 response to a GET must not be stored, or
// returns "" when it may be, along with how long it stays fresh. The reasons
// are written for the debug log, where a learner wonders why a MISS
// followed a MISS.
func notStorable(resp *http.Response, cc CacheControl, maxObject int64) (reason string, lifetime time.Duration) {
	lifetime, ok := cc.Lifetime()
	switch {
	case resp.StatusCode != http.StatusOK:
		// Other statuses are cacheable by the RFC, but caching a 404 or a
		// 206 needs care this lab does not teach.
		return "status is not 200", 0
	case cc.NoStore:
		return "Cache-Control: no-store", 0
	case cc.Private:
		return "Cache-Control: private (only a browser may keep it)", 0
	case cc.NoCache:
		// no-cache allows storing but requires revalidation before every
		// use. We don't revalidate, so storing would buy nothing.
		return "Cache-Control: no-cache (would need revalidation on every use)", 0
	case !ok:
		return "no max-age or s-maxage (this cache does not guess a lifetime)", 0
	case lifetime <= 0:
		return "lifetime is zero", 0
	case parseDelta(resp.Header.Get("Age")) >= lifetime:
		return "already stale when received (Age >= lifetime)", 0
	case resp.Header.Get("Vary") != "":
		// Vary means the answer depends on request headers; one entry per
		// URL could serve the wrong variant.
		return "Vary (one entry per URL cannot hold variants)", 0
	case len(resp.Header.Values("Set-Cookie")) > 0:
		// Storing a cookie would hand one user's cookie to every user.
		return "Set-Cookie", 0
	case resp.ContentLength > maxObject:
		return "larger than EDGE_MAX_OBJECT_BYTES", 0
	}
	return "", lifetime
}

// newEntry builds an entry from a storable response and its whole body.
func newEntry(resp *http.Response, body []byte, now time.Time, lifetime time.Duration) *Entry {
	h := resp.Header.Clone()
	removeHopByHop(h)
	removePerAnswer(h)
	initialAge := parseDelta(h.Get("Age"))
	h.Del("Age") // recomputed on every answer
	lastModified, _ := http.ParseTime(h.Get("Last-Modified"))
	return &Entry{
		Header:       h,
		Body:         body,
		LastModified: lastModified,
		StoredAt:     now,
		InitialAge:   initialAge,
		Lifetime:     lifetime,
	}
}

// perAnswer are headers that describe the one exchange with the origin, not
// the object: replayed from the store, a hit would answer with the id of the
// request that filled the entry instead of its own, and name the origin
// replica as the one that served it. The edge sets its own on every answer.
// (Set-Cookie needs no entry here: a response with one is never stored.)
var perAnswer = []string{platform.RequestIDHeader, platform.ServedByHeader}

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
