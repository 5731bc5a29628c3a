// Package httpcache is the edge's HTTP logic: a shared cache (RFC 9111) in
// front of the origin, that answers from memory what the origin allowed it
// to keep, revalidates what went stale, and asks the origin for the rest.
//
// A GET or HEAD goes one of these ways, named in X-Cache and, in more
// detail, in Cache-Status (RFC 9211):
//
//   - HIT: a fresh stored copy matches the request (same URL, and the same
//     values of the fields its Vary names); it is served at once, and the
//     simulated distance to the origin (ORIGIN_RTT) is never paid.
//   - STALE: a stored copy past its lifetime is served anyway, because the
//     origin allowed it (stale-while-revalidate, which also starts one
//     background revalidation; stale-if-error, when the origin fails),
//     because the edge allows it (EDGE_STALE_IF_ERROR) or because the
//     client did (max-stale).
//   - REVALIDATED: the stale copy was confirmed by the origin with a 304 to
//     a conditional request; its headers and freshness are refreshed.
//   - MISS: no usable copy; the edge fetches from the origin, stores the
//     response when the rules allow, and answers. Concurrent misses for one
//     URL (and variant) share one origin fetch.
//   - BYPASS: the request is not one a shared cache may answer (a POST, or
//     one carrying Authorization with nothing stored for it); it is proxied.
//
// Every answer from a stored response says how old it is in Age.
package httpcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"scalelab/services/edge/internal/store"
	"scalelab/services/platform"
)

// Config is what a Cache needs to know.
type Config struct {
	Origin         *url.URL          // where misses go; its path, if any, prefixes request paths
	Transport      http.RoundTripper // one shared pool of connections to the origin
	RTT            time.Duration     // simulated distance: slept before every origin request
	Timeout        time.Duration     // bound on one origin exchange, body included
	MaxObjectBytes int64             // larger responses are passed through, never stored
	// FillBytes bounds the bytes buffered by origin fetches on their way
	// into the store, all of them together: with the store's own budget,
	// it bounds the cache's memory. A fetch that finds no room streams
	// through unstored. Zero means a quarter of the store's budget, and at
	// least MaxObjectBytes.
	FillBytes int64
	// StreamMinBytes is the size (by Content-Length) from which a fill is
	// answered while it arrives instead of once complete (stream.go). Zero
	// means 256 KiB; negative means never.
	StreamMinBytes int64
	// StaleIfError is how long past its lifetime a stored response may be
	// served when the origin fails (5xx) or cannot be reached, on the
	// edge's own authority, for responses whose directives do not forbid
	// it. The origin's stale-if-error, when longer, wins.
	StaleIfError time.Duration
	// CollapseTimeout bounds how long a request waits for another
	// request's origin fetch; past it, it asks the origin itself (and its
	// answer is not stored). Zero means Timeout.
	CollapseTimeout time.Duration
	HeuristicMax    time.Duration // cap on a lifetime guessed from Last-Modified; zero means 24h
	AdminToken      string        // bearer token of PURGE and the admin purge API; empty disables the API
	ServedBy        string        // value of X-Served-By, and the cache's name in Cache-Status
	Logger          *slog.Logger
	Now             func() time.Time // the clock; tests pass a fake one to age entries without sleeping
	// Sleep waits out RTT before an origin request, returning early with
	// ctx's error when it ends first. Nil means a real, context-aware
	// sleep; tests pass one that counts the trips to the origin.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Cache is an http.Handler that proxies to the origin through a store.
type Cache struct {
	cfg     Config
	policy  Policy
	name    string // in Cache-Status, already an sf-item
	store   *store.Store[*Object]
	metrics *Metrics
	flight  singleflight.Group
	fills   *semaphore.Weighted // the FillBytes budget
	// purges records purges and invalidations: a fetch stores its response
	// only if none of its own URL ran since it started.
	purges purgeLog
	// revalidating holds the flight keys with a background revalidation
	// under way, so that a burst of stale hits starts one, not one each.
	revalidating sync.Map
	// streams holds the fills being answered while they arrive, by flight
	// key (*growing), so requests arriving meanwhile read them too.
	streams    sync.Map
	background sync.WaitGroup
}

// NewStore returns a store for a Cache, indexed by surrogate key, evicting
// by store.DefaultPolicy.
func NewStore(maxBytes int64) *store.Store[*Object] {
	return NewStorePolicy(store.DefaultPolicy, maxBytes)
}

// NewStorePolicy is NewStore with eviction policy p (EDGE_CACHE_POLICY).
func NewStorePolicy(p store.Policy, maxBytes int64) *store.Store[*Object] {
	return store.NewPolicy(p, maxBytes, (*Object).Tags)
}

// New returns a Cache keeping responses in st (made by NewStore) and
// recording metrics in m.
func New(cfg Config, st *store.Store[*Object], m *Metrics) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FillBytes <= 0 {
		cfg.FillBytes = max(cfg.MaxObjectBytes, st.MaxBytes()/4, 1)
	}
	switch {
	case cfg.StreamMinBytes == 0:
		cfg.StreamMinBytes = 256 << 10
	case cfg.StreamMinBytes < 0:
		cfg.StreamMinBytes = 1<<63 - 1
	}
	if cfg.CollapseTimeout <= 0 {
		cfg.CollapseTimeout = cfg.Timeout
	}
	if cfg.HeuristicMax <= 0 {
		cfg.HeuristicMax = 24 * time.Hour
	}
	name := cfg.ServedBy
	if name == "" {
		name = "scalelab-edge"
	}
	return &Cache{
		cfg: cfg, store: st, metrics: m, name: sfItem(name),
		policy: Policy{MaxObjectBytes: cfg.MaxObjectBytes, HeuristicMax: cfg.HeuristicMax},
		fills:  semaphore.NewWeighted(cfg.FillBytes),
	}
}

// FillBytes is the fill budget in use.
func (c *Cache) FillBytes() int64 { return c.cfg.FillBytes }

// Wait waits for the background revalidations under way.
func (c *Cache) Wait() { c.background.Wait() }

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
	if e == nil || e.mustRevalidate() {
		// must-revalidate: "MUST generate a 504" instead (section 5.2.2.2).
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
	}
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

// current returns the stored variant of key matching h.
func (c *Cache) current(key string, h http.Header) *Entry {
	obj, _ := c.store.Peek(key) // not a client's access
	return obj.Select(h)
}

// cacheStatus is this cache's member of the Cache-Status header (RFC 9211).
type cacheStatus struct {
	hit       bool
	fwd       string // why the request went to the origin: uri-miss, vary-miss, stale, request, method, bypass
	fwdStatus int    // the status the origin answered
	stored    bool
	collapsed bool
	detail    string // an sf-token
}

// statusValue renders the Cache-Status member, with the entry's ttl when one
// answered.
func (c *Cache) statusValue(cs cacheStatus, e *Entry, now time.Time) string {
	var b strings.Builder
	b.WriteString(c.name)
	if cs.hit {
		b.WriteString("; hit")
	}
	if cs.fwd != "" {
		b.WriteString("; fwd=" + cs.fwd)
	}
	if cs.fwdStatus != 0 {
		b.WriteString("; fwd-status=" + strconv.Itoa(cs.fwdStatus))
	}
	if e != nil {
		b.WriteString("; ttl=" + strconv.FormatInt(int64(e.TTL(now)/time.Second), 10))
	}
	if cs.stored {
		b.WriteString("; stored")
	}
	if cs.collapsed {
		b.WriteString("; collapsed")
	}
	if cs.detail != "" {
		b.WriteString("; detail=" + cs.detail)
	}
	return b.String()
}

// sfItem renders a cache name as an RFC 8941 token when it is one, else as
// a string.
func sfItem(name string) string {
	token := name != "" && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z' || name[0] == '*')
	for i := 0; token && i < len(name); i++ {
		c := name[i]
		token = c > ' ' && c < 0x7f && strings.IndexByte(`"(),;<=>?@[\]{}`, c) < 0
	}
	if token {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < ' ' || c >= 0x7f {
			continue
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
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

// fill is what one origin fetch produced: an entry every waiter can serve
// (how it was got in xcache, result and cs), or a response that can only
// be streamed to one of them.
type fill struct {
	entry  *Entry
	stream *growing // a body still arriving, when entry is nil
	xcache string
	result string // metric result; "" when the answer was a found entry
	cs     cacheStatus
	pass   atomic.Pointer[originResponse]
}

// originResponse is an origin response whose body has not been read yet,
// with the cancel of the context bounding it.
type originResponse struct {
	resp   *http.Response
	cancel context.CancelFunc
}

// fetchShared answers a GET (or a HEAD of a stale entry) that needs the
// origin. All concurrent requests for one key and variant wait on a single
// origin fetch (a "stampede" of a thousand requests for a cold video costs
// the origin one request), each for at most CollapseTimeout.
func (c *Cache) fetchShared(w http.ResponseWriter, r *http.Request, key string, varyNames []string, cand *Entry, cs cacheStatus, reqCC CacheControl) {
	if cand == nil {
		c.metrics.requests.WithLabelValues(resultMiss).Inc()
	}
	// The fetch serves every waiter, so it must outlive the request that
	// started it: its context keeps the values (request id) but not the
	// cancellation. ORIGIN_TIMEOUT still bounds it.
	ctx := context.WithoutCancel(r.Context())
	hdr := forwardHeader(r.Header, false)
	fk := key + "\x00" + secondaryKey(r.Header, varyNames)
	if cand == nil {
		// A large object still arriving from an earlier fetch: read it
		// as it comes instead of fetching it again.
		if g := c.joinStream(key, fk); g != nil && g.head.Matches(r.Header) {
			c.metrics.collapsed.Inc()
			c.serveGrowing(w, r, g, cacheStatus{fwd: cs.fwd, fwdStatus: g.head.Status, collapsed: true})
			return
		}
	}
	var leader atomic.Bool
	ch := c.flight.DoChan(fk, func() (any, error) {
		leader.Store(true)
		// A miss that arrives just after the previous flight landed finds
		// its entry here instead of fetching the object a second time.
		if e := c.current(key, hdr); e != nil && e != cand {
			if u, _ := decide(e, CacheControl{}, c.cfg.Now()); u == useFresh {
				// Counted as a miss when it began; answered as one too.
				return &fill{entry: e, xcache: "MISS", cs: cs}, nil
			}
		}
		return c.fetch(ctx, r.URL, hdr, key, cand, cs, reqCC, true, false, fk)
	})

	timer := time.NewTimer(c.cfg.CollapseTimeout)
	defer timer.Stop()
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-r.Context().Done():
		platform.SetStatus(w, 499) // the client left; the fetch goes on for the others
		return
	case <-timer.C:
		if !leader.Load() {
			// Waited long enough on someone else's fetch: ask the origin
			// directly (as nginx's proxy_cache_lock_timeout does).
			cs.detail = "collapse-timeout"
			if cand != nil {
				c.metrics.requests.WithLabelValues(resultMiss).Inc()
			}
			c.pass(w, r, "MISS", cs)
			return
		}
		select {
		case res = <-ch:
		case <-r.Context().Done():
			platform.SetStatus(w, 499)
			return
		}
	}
	collapsed := !leader.Load()
	if res.Err != nil {
		c.fail(w, r, res.Err, cand)
		return
	}
	f := res.Val.(*fill)
	if (f.entry != nil && !f.entry.Matches(r.Header)) || (f.stream != nil && !f.stream.head.Matches(r.Header)) {
		// The shared fetch got another variant than this request selects
		// (its Vary was not known beforehand): fetch this one alone.
		cs.fwd = "vary-miss"
		c.fetchAlone(w, r, key, nil, cs, reqCC, alone{store: true, counted: cand == nil}, "MISS")
		return
	}
	if collapsed {
		c.metrics.collapsed.Inc()
	}
	c.answer(w, r, f, cand, collapsed, "MISS")
}

// answer serves what a fetch produced.
func (c *Cache) answer(w http.ResponseWriter, r *http.Request, f *fill, cand *Entry, collapsed bool, passXCache string) {
	if f.stream != nil {
		cs := f.cs
		cs.collapsed = collapsed
		c.serveGrowing(w, r, f.stream, cs)
		return
	}
	if f.entry != nil {
		cs := f.cs
		cs.collapsed = collapsed
		result := f.result
		if cand == nil {
			result = "" // counted when the miss began
		}
		source := "origin"
		if f.entry == cand || f.xcache == "REVALIDATED" || f.xcache == "HIT" {
			source = "cache"
		}
		c.serveEntry(w, r, f.entry, f.xcache, cs, source, result)
		return
	}
	if cand != nil {
		c.metrics.requests.WithLabelValues(resultMiss).Inc()
	}
	// Not storable: a response body can be read only once, so the first
	// waiter to claim it streams it, and any other asks the origin itself.
	// Sharing it would also be wrong when it is private to one user.
	if or := f.pass.Swap(nil); or != nil {
		defer or.cancel()
		if or.resp.StatusCode == http.StatusOK && r.Header.Get("Range") != "" {
			// A range of an object too large to store (a video player
			// seeking): the whole object would cost the client what it
			// asked to skip. Ask the origin for the range instead.
			or.resp.Body.Close()
			c.pass(w, r, passXCache, f.cs)
			return
		}
		c.stream(w, r, or.resp, passXCache, f.cs)
		return
	}
	c.pass(w, r, passXCache, f.cs)
}

// alone says how fetchAlone fetches.
type alone struct {
	store   bool // the response may be stored
	private bool // the client's credentials (Authorization, Cookie) go along
	counted bool // the request was already counted in the metrics
}

// fetchAlone answers a request that needs the origin but must not share
// its fetch: it carries credentials (Authorization), forbids storing
// (no-store), or selects another variant than a shared fetch got.
func (c *Cache) fetchAlone(w http.ResponseWriter, r *http.Request, key string, cand *Entry, cs cacheStatus, reqCC CacheControl, how alone, passXCache string) {
	hdr := forwardHeader(r.Header, how.private)
	f, err := c.fetch(r.Context(), r.URL, hdr, key, cand, cs, reqCC, how.store, r.Header.Get("Authorization") != "", "")
	count := func() {
		if cand == nil && !how.counted {
			c.metrics.requests.WithLabelValues(resultOf(passXCache)).Inc()
		}
	}
	if err != nil {
		count()
		c.fail(w, r, err, cand)
		return
	}
	switch {
	case f.entry != nil && f.result == resultMiss && cand == nil:
		if !how.counted {
			c.metrics.requests.WithLabelValues(resultMiss).Inc()
		}
	case f.entry == nil:
		count()
		cand = nil // counted: answer must not count it again
	}
	c.answer(w, r, f, cand, false, passXCache)
}

func resultOf(xcache string) string {
	if xcache == "BYPASS" {
		return resultBypass
	}
	return resultMiss
}

// forwardHeader is the request header sent to the origin for a cacheable
// request: the client's end-to-end fields (the origin may select a variant
// by them, and says so in Vary), but never its conditionals or ranges (the
// edge fetches whole objects and evaluates those itself) nor its
// Cache-Control (its only-if-cached or no-cache are the edge's business).
// A fetch shared by many clients (private false) carries no credentials
// either: neither Authorization nor Cookie.
func forwardHeader(in http.Header, private bool) http.Header {
	h := in.Clone()
	removeHopByHop(h)
	for _, name := range []string{
		"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range",
		"Cache-Control", "Pragma", platform.RequestIDHeader,
	} {
		h.Del(name)
	}
	if !private {
		h.Del("Authorization")
		h.Del("Cookie")
	}
	return h
}

// fetch GETs u from the origin for the cache, with header hdr. With cand (a
// stored entry that needs revalidation), the request is conditional, and
// cand answers again, refreshed, if the origin says 304, or stale, if the
// origin fails and stale-if-error allows it. allowStore false (the request
// said no-store) keeps the response out of the store.
//
// streamKey, when not empty, is the flight key of a shared fetch: a large
// storable response (StreamMinBytes or more, with a Content-Length) is then
// answered while it arrives, the waiters reading the body as it is stored
// (see stream.go).
func (c *Cache) fetch(ctx context.Context, u *url.URL, hdr http.Header, key string, cand *Entry, cs cacheStatus, reqCC CacheControl, allowStore, authorized bool, streamKey string) (*fill, error) {
	seq := c.purges.mark()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.originURL(u).String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header = hdr.Clone()
	if id := platform.RequestID(ctx); id != "" {
		req.Header.Set(platform.RequestIDHeader, id)
	}
	req.Header.Add("Via", "1.1 "+c.cfg.ServedBy)
	validating := cand != nil && cand.HasValidator()
	if validating {
		if cand.ETag != "" {
			req.Header.Set("If-None-Match", cand.ETag)
		}
		if !cand.LastModified.IsZero() {
			req.Header.Set("If-Modified-Since", cand.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	requestTime := c.cfg.Now()
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		cancel()
		if validating {
			c.metrics.revalidations.WithLabelValues("error").Inc()
		}
		if c.staleIfError(cand, reqCC, c.cfg.Now()) {
			c.cfg.Logger.Warn("origin failed; serving stale", "key", key, "err", err)
			return c.staleFill(cand, cs, 0), nil
		}
		return nil, err
	}
	responseTime := c.cfg.Now()
	cs.fwdStatus = resp.StatusCode

	switch {
	case cand != nil && isServerError(resp.StatusCode) && c.staleIfError(cand, reqCC, responseTime):
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		if validating {
			c.metrics.revalidations.WithLabelValues("error").Inc()
		}
		return c.staleFill(cand, cs, resp.StatusCode), nil
	case validating && resp.StatusCode == http.StatusNotModified && !sameStrongETag(cand.ETag, resp.Header.Get("ETag")):
		// A 304 naming another representation than the stored one cannot
		// refresh it (section 4.3.4): fetch the object in full.
		resp.Body.Close()
		cancel()
		c.metrics.revalidations.WithLabelValues("modified").Inc()
		c.drop(key, cand)
		return c.fetch(parent, u, hdr, key, nil, cs, reqCC, allowStore, authorized, streamKey)
	case validating && resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		cancel()
		c.metrics.revalidations.WithLabelValues("not_modified").Inc()
		e := cand.refreshed(resp.Header, requestTime, responseTime, c.policy)
		if allowStore {
			cs.stored = c.put(key, seq, cand, e)
		}
		return &fill{entry: e, xcache: "REVALIDATED", result: resultRevalidated, cs: cs}, nil
	case validating:
		c.metrics.revalidations.WithLabelValues("modified").Inc()
	}

	cc, _ := responseDirectives(resp.Header)
	reason := "request Cache-Control: no-store"
	if allowStore {
		reason = storable(resp.StatusCode, resp.Header, cc, reqCC, authorized, resp.ContentLength, c.policy)
	}
	if reason == "" && streamKey != "" && cand == nil {
		if f := c.streamFill(resp, cancel, key, streamKey, seq, hdr, requestTime, responseTime, cs); f != nil {
			return f, nil
		}
	}
	if reason == "" {
		body, release, complete, err := c.readBody(resp)
		if err != nil {
			resp.Body.Close()
			cancel()
			if c.staleIfError(cand, reqCC, c.cfg.Now()) {
				c.cfg.Logger.Warn("origin failed mid-body; serving stale", "key", key, "err", err)
				return c.staleFill(cand, cs, 0), nil
			}
			return nil, originError(ctx, err)
		}
		if complete {
			resp.Body.Close()
			cancel()
			e := newEntry(resp.StatusCode, resp.Header, hdr, body, requestTime, responseTime, c.policy)
			if e.worthStoring(responseTime) {
				cs.stored = c.put(key, seq, cand, e)
			} else {
				c.cfg.Logger.Debug("not stored", "key", key, "reason", "stale on arrival, with no validator")
				c.drop(key, cand)
			}
			release()
			return &fill{entry: e, xcache: "MISS", result: resultMiss, cs: cs}, nil
		}
		// Too large (found out while reading, without a Content-Length),
		// or no room in the fill budget: put back what was read in front of
		// the rest and pass it through. The budget is held until the
		// client has it.
		reason = "larger than EDGE_MAX_OBJECT_BYTES, or over the EDGE_FILL_BYTES budget"
		resp.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(body), resp.Body), body: resp.Body, release: release, prefix: int64(len(body))}
	}
	c.cfg.Logger.Debug("not stored", "key", key, "status", resp.StatusCode, "reason", reason)
	// The origin's new answer supersedes the stored one, which it did not
	// confirm; an error does not (the entry may be revalidated later).
	if resp.StatusCode < 500 {
		c.drop(key, cand)
	}
	f := &fill{cs: cs}
	f.pass.Store(&originResponse{resp: resp, cancel: cancel})
	// If every waiter has left, nobody claims the response; the timeout
	// context then ends it and frees the connection.
	return f, nil
}

// staleFill is the answer of a fetch that failed while a stale entry may
// stand in (stale-if-error).
func (c *Cache) staleFill(cand *Entry, cs cacheStatus, status int) *fill {
	c.metrics.stale.WithLabelValues(staleIfError).Inc()
	cs.fwd, cs.fwdStatus, cs.detail = "stale", status, "stale-if-error"
	return &fill{entry: cand, xcache: "STALE", result: resultStale, cs: cs}
}

// sameStrongETag reports whether a 304's ETag can refresh an entry with
// stored: it names no representation (then the request's validator
// selected it), or the same one.
func sameStrongETag(stored, received string) bool {
	if received == "" || stored == "" {
		return true
	}
	return strings.TrimPrefix(stored, "W/") == strings.TrimPrefix(received, "W/")
}

func isServerError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// put stores e under key in place of old (and of any variant with its
// secondary key), unless a purge of key ran since the fetch began (seq). It
// reports whether e was stored.
func (c *Cache) put(key string, seq uint64, old, e *Entry) bool {
	stored := false
	c.store.Update(key, func(o *Object, ok bool) (*Object, int64, bool) {
		if c.purges.purgedSince(seq, key, e.SurrogateKs) {
			// Checked under the store's lock: a purge is recorded before
			// it deletes, so either it sees this entry and deletes it, or
			// this sees the record and does not store.
			if !ok {
				return nil, 0, false
			}
			return o, o.Size(), true
		}
		if !ok {
			o = nil
		}
		n := o.with(e, old)
		stored = true
		return n, n.Size(), true
	})
	// It may have been refused as larger than the whole budget.
	return stored && c.has(key, e)
}

// has reports whether e is one of key's stored variants.
func (c *Cache) has(key string, e *Entry) bool {
	obj, ok := c.store.Peek(key)
	if !ok {
		return false
	}
	for _, v := range obj.Variants {
		if v == e {
			return true
		}
	}
	return false
}

// drop removes the variant e of key, if still stored.
func (c *Cache) drop(key string, e *Entry) {
	if e == nil {
		return
	}
	c.store.Update(key, func(o *Object, ok bool) (*Object, int64, bool) {
		if !ok {
			return nil, 0, false
		}
		n := o.without(e)
		if n == nil {
			return nil, 0, false
		}
		return n, n.Size(), true
	})
}

// revalidateInBackground starts one revalidation of the stale entry e, unless
// one is already under way for its key and variant (RFC 5861 section 3).
func (c *Cache) revalidateInBackground(r *http.Request, key string, e *Entry) {
	fk := key + "\x00" + secondaryKey(r.Header, e.Vary.Names)
	if _, running := c.revalidating.LoadOrStore(fk, struct{}{}); running {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	hdr := forwardHeader(r.Header, false)
	u := *r.URL
	c.background.Add(1)
	go func() {
		defer c.background.Done()
		defer c.revalidating.Delete(fk)
		ch := c.flight.DoChan(fk, func() (any, error) {
			// A revalidation that finished just before this one started
			// has already replaced e with a fresh entry: nothing to do.
			cand := c.current(key, hdr)
			if cand == nil {
				return &fill{}, nil // purged meanwhile: the next request fetches it anew
			}
			if cand != e {
				if u, _ := decide(cand, CacheControl{}, c.cfg.Now()); u == useFresh {
					return &fill{entry: cand, xcache: "HIT", result: resultHit, cs: cacheStatus{hit: true}}, nil
				}
			}
			return c.fetch(ctx, &u, hdr, key, cand, cacheStatus{fwd: "stale"}, CacheControl{}, true, false, "")
		})
		res := <-ch
		if f, ok := res.Val.(*fill); ok && f != nil {
			if or := f.pass.Swap(nil); or != nil {
				or.resp.Body.Close()
				or.cancel()
			}
		}
	}()
}

// readBody reads a storable response's body within the fill budget. When
// the body turns out larger than EDGE_MAX_OBJECT_BYTES or the budget has no
// room, complete is false and body holds what was read; release then frees
// its reservation once the caller is done with it.
func (c *Cache) readBody(resp *http.Response) (body []byte, release func(), complete bool, err error) {
	var reserved int64
	release = func() {
		if reserved > 0 {
			c.fills.Release(reserved)
			reserved = 0
		}
	}
	if n := resp.ContentLength; n >= 0 {
		if n > c.cfg.MaxObjectBytes || !c.fills.TryAcquire(n) {
			c.metrics.fillBudget.WithLabelValues("streamed").Inc()
			return nil, release, false, nil
		}
		reserved = n
		body = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			release()
			return nil, release, false, err
		}
		c.metrics.originBytes.Add(float64(n))
		c.metrics.fillBudget.WithLabelValues("buffered").Inc()
		return body, release, true, nil
	}
	// Unknown length: grow the buffer, reserving each growth first.
	const chunk = 32 << 10
	for {
		if len(body) == cap(body) {
			grow := int64(max(cap(body), chunk))
			if !c.fills.TryAcquire(grow) {
				c.metrics.fillBudget.WithLabelValues("streamed").Inc()
				return body, release, false, nil
			}
			nb := make([]byte, len(body), int64(cap(body))+grow)
			copy(nb, body)
			// The old buffer's reservation carries over to the new one,
			// which is larger by grow.
			reserved += grow
			body = nb
		}
		n, rerr := resp.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		c.metrics.originBytes.Add(float64(n))
		if int64(len(body)) > c.cfg.MaxObjectBytes {
			return body, release, false, nil
		}
		if rerr == io.EOF {
			c.metrics.fillBudget.WithLabelValues("buffered").Inc()
			if cap(body)-len(body) > len(body)/4 {
				body = bytes.Clone(body) // don't keep a half-empty buffer in the store
			}
			return body, release, true, nil
		}
		if rerr != nil {
			release()
			return nil, release, false, rerr
		}
	}
}

// prefixedBody is a response body whose start was already read into memory
// (held against the fill budget until Close).
type prefixedBody struct {
	io.Reader
	body    io.Closer
	release func()
	once    sync.Once
	prefix  int64 // bytes read into memory
}

func (b *prefixedBody) Close() error {
	b.once.Do(b.release)
	return b.body.Close()
}

// pass proxies the request to the origin as it is (but for hop-by-hop
// headers) and streams the answer back, storing nothing. A successful
// unsafe method invalidates what is stored for its target.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, xcache string, cs cacheStatus) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.originURL(r.URL).String(), body)
	if err != nil {
		c.fail(w, r, err, nil)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	removeHopByHop(req.Header)
	req.Header.Add("Via", "1.1 "+c.cfg.ServedBy)
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		c.fail(w, r, err, nil)
		return
	}
	if unsafeMethod(r.Method) && resp.StatusCode >= 200 && resp.StatusCode < 400 {
		c.invalidate(r, resp)
	}
	cs.fwdStatus = resp.StatusCode
	c.stream(w, r, resp, xcache, cs)
}

// unsafeMethod reports whether a method may change the target's state (RFC
// 9110 section 9.2.1).
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// stream copies an origin response to the client as it arrives.
func (c *Cache) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, xcache string, cs cacheStatus) {
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	removeHopByHop(h)
	// The client's request id stays: a shared, unstorable fetch may have
	// been started by another client's request, whose id the origin echoed.
	if id := platform.RequestID(r.Context()); id != "" {
		h.Set(platform.RequestIDHeader, id)
	}
	if xcache != "BYPASS" {
		h.Set("Age", strconv.FormatInt(int64(parseDelta(resp.Header.Get("Age"))/time.Second), 10))
	}
	// Cache-Status is a list, nearest the origin first: an upstream cache's
	// member stays, and this cache's is added.
	cs.fwdStatus = resp.StatusCode
	mine := c.statusValue(cs, nil, time.Time{})
	if up := joinValues(resp.Header, "Cache-Status"); up != "" {
		mine = up + ", " + mine
	}
	h.Set("Cache-Status", mine)
	h.Set("X-Cache", xcache)
	h.Set("X-Served-By", c.cfg.ServedBy)
	w.WriteHeader(resp.StatusCode)
	n, err := io.Copy(w, resp.Body)
	c.metrics.servedBytes.WithLabelValues("origin").Add(float64(n))
	received := n
	if pb, ok := resp.Body.(*prefixedBody); ok {
		received = max(0, n-pb.prefix) // the buffered start was counted when read
	}
	c.metrics.originBytes.Add(float64(received))
	if err != nil && r.Context().Err() == nil {
		// The origin failed mid-body. The status is already sent, so the
		// only honest signal left is to break the connection, as
		// httputil.ReverseProxy does: the client sees a truncated response
		// instead of a short one that looks complete.
		c.cfg.Logger.Warn("origin body copy failed", "request_id", platform.RequestID(r.Context()), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// roundTrip sends req to the origin after the simulated distance.
func (c *Cache) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := func() (*http.Response, error) {
		if err := c.cfg.Sleep(ctx, c.cfg.RTT); err != nil {
			return nil, err
		}
		return c.cfg.Transport.RoundTrip(req)
	}()
	code := "error"
	if err == nil {
		code = platform.StatusClass(resp.StatusCode)
	}
	c.metrics.fetchDuration.WithLabelValues(code).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, originError(ctx, err)
	}
	return resp, nil
}

// errOriginTimeout marks a fetch that ran out of ORIGIN_TIMEOUT.
var errOriginTimeout = errors.New("origin did not answer in time")

// originError tells a timeout (504) from other failures (502). The
// transport's own error text varies, so the context decides.
func originError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", errOriginTimeout, err)
	}
	return err
}

// fail answers a failed origin exchange with a short plain-text reason.
// cand is the stale entry that could not be revalidated, if any: when it
// says must-revalidate, the answer is a 504 (RFC 9111 section 5.2.2.2).
func (c *Cache) fail(w http.ResponseWriter, r *http.Request, err error, cand *Entry) {
	if r.Context().Err() != nil {
		platform.SetStatus(w, 499) // the client left first; nobody reads an answer
		return
	}
	status, msg := http.StatusBadGateway, "edge: the origin could not be reached: "+err.Error()
	switch {
	case errors.Is(err, errOriginTimeout):
		status, msg = http.StatusGatewayTimeout, fmt.Sprintf("edge: the origin did not answer within ORIGIN_TIMEOUT (%s)", c.cfg.Timeout)
	case cand != nil && cand.mustRevalidate():
		status, msg = http.StatusGatewayTimeout, "edge: the stored copy must be revalidated, and the origin could not be reached: "+err.Error()
	}
	c.cfg.Logger.Warn("origin fetch failed", "request_id", platform.RequestID(r.Context()), "status", status, "err", err)
	c.refuse(w, status, msg, cacheStatus{fwd: "uri-miss"})
}

// originURL maps a request URL onto the origin: same path (after the
// origin's own path prefix, if any) and query.
func (c *Cache) originURL(in *url.URL) *url.URL {
	base := c.cfg.Origin
	u := *base
	u.Path = trimSlash(base.Path) + in.Path
	u.RawPath = ""
	if in.RawPath != "" {
		u.RawPath = trimSlash(base.EscapedPath()) + in.RawPath
	}
	u.RawQuery = in.RawQuery
	u.Fragment = ""
	return &u
}

func trimSlash(p string) string {
	if len(p) > 0 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// sleep waits d, or less if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func joinValues(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}
