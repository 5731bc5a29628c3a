package httpcache

import (
	"context"
	"io"
	"net/http"
	"strings"
)

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
			return c.fetch(ctx, fetchRequest{url: &u, header: hdr, key: key, cand: cand, cs: cacheStatus{fwd: "stale"}, store: true})
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

// revalidated handles the origin's answer to a fetch with a stored entry
// (x.cand): on a server error, the entry answers stale when stale-if-error
// allows; on a 304, it answers refreshed (section 4.3.4). f is nil when the
// answer is a new response for keep, and again true when it confirmed another
// representation than the stored one, which must then be fetched in full.
func (c *Cache) revalidated(x *exchange) (f *fill, again bool) {
	resp := x.resp
	switch {
	case isServerError(resp.StatusCode) && c.staleIfError(x.cand, x.reqCC, x.responseTime):
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		x.cancel()
		if x.validating() {
			c.metrics.revalidations.WithLabelValues("error").Inc()
		}
		return c.staleFill(x.cand, x.cs, resp.StatusCode), false
	case !x.validating():
		return nil, false
	case resp.StatusCode == http.StatusNotModified && !sameStrongETag(x.cand.ETag, resp.Header.Get("ETag")):
		resp.Body.Close()
		x.cancel()
		c.metrics.revalidations.WithLabelValues("modified").Inc()
		c.drop(x.key, x.cand)
		return nil, true
	case resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		x.cancel()
		c.metrics.revalidations.WithLabelValues("not_modified").Inc()
		e := x.cand.refreshed(resp.Header, x.requestTime, x.responseTime, c.policy)
		if x.store {
			x.cs.stored = c.put(x.key, x.seq, x.cand, e)
		}
		return &fill{entry: e, xcache: "REVALIDATED", result: resultRevalidated, cs: x.cs}, false
	}
	c.metrics.revalidations.WithLabelValues("modified").Inc()
	return nil, false
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
