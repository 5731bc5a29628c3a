package httpcache

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"scalelab/services/platform"
)

func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Served-By", c.cfg.ServedBy)
	if c.looped(r) {
		// ORIGIN_URL leads back here (an edge as its own parent, or a
		// cycle of shields): answering would recurse until timeouts.
		c.metrics.requests.WithLabelValues(resultBypass).Inc()
		c.refuse(w, http.StatusLoopDetected, "edge: this request already passed through "+c.cfg.ServedBy+" (Via); ORIGIN_URL makes a loop", cacheStatus{detail: "loop"})
		return
	}

	switch r.Method {
	case "PURGE":
		c.servePurge(w, r)
		return
	case http.MethodGet, http.MethodHead:
	default:
		// Other methods are not cacheable here; unsafe ones that succeed
		// invalidate what is stored for their target (section 4.4).
		c.metrics.requests.WithLabelValues(resultBypass).Inc()
		c.pass(w, r, "BYPASS", cacheStatus{fwd: "method"})
		return
	}
	c.serveCacheable(w, r)
}

// serveCacheable answers a GET or HEAD: from the store when a stored entry
// may answer it, else from the origin (toOrigin).
func (c *Cache) serveCacheable(w http.ResponseWriter, r *http.Request) {
	// The primary key is the path and query only: the same object whatever
	// host name or method (GET or HEAD) it was asked by.
	key := r.URL.RequestURI()
	reqCC := ParseCacheControl(joinValues(r.Header, "Cache-Control"))
	authorized := r.Header.Get("Authorization") != ""
	now := c.cfg.Now()
	obj, _ := c.store.Get(key)
	e := obj.Select(r.Header)
	if e != nil && authorized && !e.sharedWithAuthorization() {
		// A shared cache must not hand a stored answer to a request with
		// Authorization unless the origin said it may (section 3.5).
		e = nil
	}
	cs := cacheStatus{fwd: "uri-miss"}
	if obj != nil && e == nil && !authorized {
		cs.fwd = "vary-miss"
	}
	if e != nil {
		u, forced := decide(e, reqCC, now)
		switch u {
		case useFresh:
			c.serveEntry(w, r, e, "HIT", cacheStatus{hit: true}, "cache", resultHit)
			return
		case useStale:
			c.metrics.stale.WithLabelValues(staleMaxStale).Inc()
			c.serveEntry(w, r, e, "STALE", cacheStatus{hit: true, detail: "max-stale"}, "cache", resultStale)
			return
		case useStaleAsync:
			c.metrics.stale.WithLabelValues(staleWhileRevalidate).Inc()
			c.revalidateInBackground(r, key, e)
			c.serveEntry(w, r, e, "STALE", cacheStatus{hit: true, detail: "stale-while-revalidate"}, "cache", resultStale)
			return
		}
		cs.fwd = "stale"
		if forced {
			cs.fwd = "request"
		}
		if c.staleWhileOriginDown(w, r, key, e, reqCC, now) {
			return
		}
	}
	c.toOrigin(w, r, key, obj, e, cs, reqCC)
}

// staleWhileOriginDown answers from the stale entry e at once when the
// origin's last exchange went unanswered and stale-if-error allows e
// (reach.go); one background revalidation per entry tries the origin
// meanwhile. Requests with credentials or no-store, which are fetched
// alone, still ask the origin themselves.
func (c *Cache) staleWhileOriginDown(w http.ResponseWriter, r *http.Request, key string, e *Entry, reqCC CacheControl, now time.Time) bool {
	if !c.reach.down() || reqCC.OnlyIfCached || reqCC.NoStore || r.Header.Get("Authorization") != "" || !c.staleIfError(e, reqCC, now) {
		return false
	}
	c.revalidateInBackground(r, key, e)
	f := c.staleFill(e, cacheStatus{hit: true}, 0)
	f.cs.fwd = "" // not forwarded: answered from the cache
	c.serveEntry(w, r, e, "STALE", f.cs, "cache", resultStale)
	return true
}

// toOrigin answers a GET or HEAD that needs the origin; e is the stored
// entry to revalidate, if any, among obj's variants.
func (c *Cache) toOrigin(w http.ResponseWriter, r *http.Request, key string, obj *Object, e *Entry, cs cacheStatus, reqCC CacheControl) {
	authorized := r.Header.Get("Authorization") != ""
	if reqCC.OnlyIfCached {
		// Section 5.2.1.7: nothing usable stored, and the client forbade
		// asking the origin.
		c.metrics.requests.WithLabelValues(resultMiss).Inc()
		c.refuse(w, http.StatusGatewayTimeout, "edge: not in the cache, and the request said only-if-cached", cacheStatus{detail: "only-if-cached"})
		return
	}
	switch {
	case authorized:
		// Fetched with the client's credentials, on its own: the answer is
		// stored only if the origin marked it shareable.
		c.fetchAlone(w, r, key, e, cs, reqCC, alone{store: true, private: true}, "BYPASS")
	case reqCC.NoStore:
		c.fetchAlone(w, r, key, e, cs, reqCC, alone{}, "MISS")
	case r.Method == http.MethodHead && e == nil:
		// Fetching the whole body to answer a HEAD would be wasteful; the
		// HEAD goes to the origin and nothing is stored.
		c.metrics.requests.WithLabelValues(resultMiss).Inc()
		c.pass(w, r, "MISS", cs)
	default:
		var names []string
		switch {
		case e != nil:
			names = e.Vary.Names
		case obj != nil && len(obj.Variants) > 0:
			names = obj.Variants[0].Vary.Names
		}
		c.fetchShared(w, r, key, names, e, cs, reqCC)
	}
}

// looped reports whether the request's Via names this cache: it went
// around a loop of edges.
func (c *Cache) looped(r *http.Request) bool {
	me := c.cfg.ServedBy
	if me == "" {
		return false
	}
	for _, v := range r.Header.Values("Via") {
		for hop := range strings.SplitSeq(v, ",") {
			f := strings.Fields(hop)
			if len(f) >= 2 && f[1] == me {
				return true
			}
		}
	}
	return false
}

// serveEntry answers from a stored (or just fetched) entry. http.ServeContent
// gives 200 answers the same Range, If-None-Match and If-Modified-Since
// handling as the origin has, without a trip there: a 304 goes only to a
// client that asked conditionally. result, when set, is counted.
func (c *Cache) serveEntry(w http.ResponseWriter, r *http.Request, e *Entry, xcache string, cs cacheStatus, source, result string) {
	if result != "" {
		c.metrics.requests.WithLabelValues(result).Inc()
	}
	now := c.cfg.Now()
	h := w.Header()
	// Clone: the entry is shared by concurrent answers, each of which may
	// change its own header map.
	maps.Copy(h, e.Header.Clone())
	h.Set("Age", strconv.FormatInt(int64(e.Age(now)/time.Second), 10))
	h.Set("X-Cache", xcache)
	h.Set("Cache-Status", c.withUpstream(e, xcache, c.statusValue(cs, e, now)))
	h.Set("X-Served-By", c.cfg.ServedBy)
	if id := platform.RequestID(r.Context()); id != "" {
		h.Set(platform.RequestIDHeader, id)
	}
	cw := &platform.CountingWriter{ResponseWriter: w}
	if e.Status == http.StatusOK && r.Method == http.MethodGet && !hasAny(r.Header, "Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since") {
		// The common hit: the whole object, unconditionally. One Write of
		// the body goes to the socket in one system call, where
		// ServeContent copies through a 32 KiB buffer.
		if !e.LastModified.IsZero() {
			h.Set("Last-Modified", e.LastModified.UTC().Format(http.TimeFormat))
		}
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.Itoa(len(e.Body)))
		if _, ok := e.Header["Content-Type"]; !ok {
			h["Content-Type"] = nil // serve what the origin sent; don't let net/http sniff a type
		}
		cw.WriteHeader(http.StatusOK)
		cw.Write(e.Body)
	} else if e.Status == http.StatusOK {
		h.Del("Content-Length") // ServeContent computes it, for ranges too
		if _, ok := e.Header["Content-Type"]; !ok {
			h["Content-Type"] = nil // serve what the origin sent; don't let ServeContent sniff a type
		}
		http.ServeContent(cw, r, "", e.LastModified, bytes.NewReader(e.Body))
	} else {
		if e.Status != http.StatusNoContent {
			h.Set("Content-Length", strconv.Itoa(len(e.Body)))
		}
		cw.WriteHeader(e.Status)
		if r.Method != http.MethodHead {
			cw.Write(e.Body)
		}
	}
	c.metrics.servedBytes.WithLabelValues(source).Add(float64(cw.N))
}

// withUpstream prepends to this cache's Cache-Status member the one of the
// cache it fetched e from (a shield), on the answer that fetched it: the
// list then reads nearest the origin first, "edge-shield; hit, edge-sydney;
// fwd=uri-miss; stored". A later hit here says nothing of the shield.
func (c *Cache) withUpstream(e *Entry, xcache, mine string) string {
	if xcache != "MISS" || e.Upstream == "" {
		return mine
	}
	return e.Upstream + ", " + mine
}

// refuse answers with an error of the edge's own, with a short reason.
func (c *Cache) refuse(w http.ResponseWriter, status int, msg string, cs cacheStatus) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Cache-Status", c.statusValue(cs, nil, time.Time{}))
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
