package httpcache

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"scalelab/services/platform"
)

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
	hints := newInterim(w) // the leader's client gets the origin's 1xx
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
		return c.fetch(ctx, fetchRequest{url: r.URL, header: hdr, key: key, cand: cand, cs: cs, reqCC: reqCC, store: true, streamKey: fk, interim: hints})
	})

	res, ok := c.await(w, r, ch, &leader, hints, cand, cs)
	if !ok {
		return
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

// await waits for the shared fetch's result on ch, at most CollapseTimeout
// unless this request leads the fetch. ok is false when the request was
// answered meanwhile: its client left, or it asked the origin itself.
func (c *Cache) await(w http.ResponseWriter, r *http.Request, ch <-chan singleflight.Result, leader *atomic.Bool, hints *interim, cand *Entry, cs cacheStatus) (res singleflight.Result, ok bool) {
	timer := time.NewTimer(c.cfg.CollapseTimeout)
	defer timer.Stop()
	select {
	case res = <-ch:
	case <-r.Context().Done():
		hints.close()
		platform.SetStatus(w, 499) // the client left; the fetch goes on for the others
		return res, false
	case <-timer.C:
		if !leader.Load() {
			hints.close()
			// Waited long enough on someone else's fetch: ask the origin
			// directly (as nginx's proxy_cache_lock_timeout does).
			cs.detail = "collapse-timeout"
			if cand != nil {
				c.metrics.requests.WithLabelValues(resultMiss).Inc()
			}
			c.pass(w, r, "MISS", cs)
			return res, false
		}
		select {
		case res = <-ch:
		case <-r.Context().Done():
			hints.close()
			platform.SetStatus(w, 499)
			return res, false
		}
	}
	hints.close()
	return res, true
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
	hints := newInterim(w)
	f, err := c.fetch(r.Context(), fetchRequest{url: r.URL, header: hdr, key: key, cand: cand, cs: cs, reqCC: reqCC,
		store: how.store, authorized: r.Header.Get("Authorization") != "", interim: hints})
	hints.close()
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
