package httpcache

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"scalelab/services/platform"
)

// Large objects are answered while they arrive: an 8 MiB
// video from a far origin would otherwise reach its first client only
// once the edge holds all of it. A storable 200 of at least StreamMinBytes
// with a Content-Length is read into a buffer reserved in full against the
// fill budget (so memory is bounded exactly as for a buffered fill), and
// every request waiting on the fetch, or arriving while it runs, is sent
// the bytes as they land. When the body is complete the entry is stored as
// any other; if the origin fails mid-body, the streaming clients see their
// connection broken (a truncated answer must not look complete) and
// nothing is stored.
//
// Streaming is used only for a plain miss: a revalidation keeps the stale
// entry to fall back on (stale-if-error mid-body), which a streamed answer
// could no longer do. A client's Range or conditional request waits for
// the whole object and is answered from it.

// growing is a body being filled from the origin while clients read it.
type growing struct {
	head *Entry // status and headers of the answers, with no body
	seq  uint64 // the purge log's position when the fetch began

	mu     sync.Mutex
	buf    []byte // the whole body's room; buf[:n] has arrived
	n      int
	err    error         // the origin failed mid-body
	done   bool          // complete or failed
	entry  *Entry        // the complete entry, once done without error
	signal chan struct{} // closed and replaced at every change
}

// wait returns what has arrived past off, or blocks until something has,
// the fill ends, or ctx does.
func (g *growing) wait(ctx context.Context, off int) (n int, done bool, err error) {
	for {
		g.mu.Lock()
		n, done, err, sig := g.n, g.done, g.err, g.signal
		g.mu.Unlock()
		if n > off || done {
			return n, done, err
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return n, false, ctx.Err()
		}
	}
}

func (g *growing) update(f func()) {
	g.mu.Lock()
	f()
	close(g.signal)
	g.signal = make(chan struct{})
	g.mu.Unlock()
}

// joinStream returns the fill in progress for a flight key, unless a purge
// of key ran since it began (its content may be what the purge removed).
func (c *Cache) joinStream(key, fk string) *growing {
	v, ok := c.streams.Load(fk)
	if !ok {
		return nil
	}
	g := v.(*growing)
	if c.purges.purgedSince(g.seq, key, g.head.SurrogateKs) {
		return nil
	}
	return g
}

// streamFill starts reading a large storable response into a reserved
// buffer in the background and returns a fill its waiters read as it
// arrives; nil when it is not one to stream (then the caller buffers it as
// usual).
func (c *Cache) streamFill(x *exchange) *fill {
	resp := x.resp
	n := resp.ContentLength
	if resp.StatusCode != http.StatusOK || n < c.cfg.StreamMinBytes || n > c.cfg.MaxObjectBytes || !c.fills.TryAcquire(n) {
		return nil
	}
	c.metrics.fillBudget.WithLabelValues("buffered").Inc()
	head := newEntry(resp.StatusCode, resp.Header, x.header, nil, x.requestTime, x.responseTime, c.policy)
	g := &growing{head: head, seq: x.seq, buf: make([]byte, n), signal: make(chan struct{})}
	c.streams.Store(x.streamKey, g)
	c.background.Add(1)
	go func() {
		defer c.background.Done()
		defer x.cancel()
		defer resp.Body.Close()
		var err error
		for got := 0; got < len(g.buf) && err == nil; {
			var k int
			k, err = resp.Body.Read(g.buf[got:])
			got += k
			c.metrics.originBytes.Add(float64(k))
			g.update(func() { g.n = got })
			if got == len(g.buf) {
				err = nil
			}
		}
		if err != nil {
			c.cfg.Logger.Warn("origin failed mid-body of a streamed fill", "key", x.key, "err", err)
			c.streams.CompareAndDelete(x.streamKey, g)
			c.fills.Release(n)
			g.update(func() { g.err, g.done = err, true })
			return
		}
		e := newEntry(resp.StatusCode, resp.Header, x.header, g.buf, x.requestTime, x.responseTime, c.policy)
		if e.worthStoring(c.cfg.Now()) {
			c.put(x.key, x.seq, nil, e)
		}
		// Stored (or refused) first, then out of the map: a request
		// arriving in between finds one or the other.
		c.streams.CompareAndDelete(x.streamKey, g)
		c.fills.Release(n)
		g.update(func() { g.entry, g.done = e, true })
	}()
	return &fill{stream: g, xcache: "MISS", result: resultMiss, cs: x.cs}
}

// serveGrowing answers from a fill still arriving.
func (c *Cache) serveGrowing(w http.ResponseWriter, r *http.Request, g *growing, cs cacheStatus) {
	if r.Method == http.MethodHead || hasAny(r.Header, "Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since") {
		// These need the whole object (http.ServeContent answers them).
		_, done, err := g.wait(r.Context(), len(g.buf))
		switch {
		case !done:
			platform.SetStatus(w, 499)
		case err != nil:
			c.fail(w, r, err, nil)
		default:
			c.serveEntry(w, r, g.entry, "MISS", cs, "origin", "")
		}
		return
	}
	now := c.cfg.Now()
	h := w.Header()
	maps.Copy(h, g.head.Header.Clone())
	h.Set("Content-Length", strconv.Itoa(len(g.buf)))
	h.Set("Age", strconv.FormatInt(int64(g.head.Age(now)/time.Second), 10))
	h.Set("X-Cache", "MISS")
	cs.detail = "streamed"
	h.Set("Cache-Status", c.withUpstream(g.head, "MISS", c.statusValue(cs, g.head, now)))
	h.Set("X-Served-By", c.cfg.ServedBy)
	if id := platform.RequestID(r.Context()); id != "" {
		h.Set(platform.RequestIDHeader, id)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	sent := 0
	defer func() { c.metrics.servedBytes.WithLabelValues("origin").Add(float64(sent)) }()
	for sent < len(g.buf) {
		n, _, err := g.wait(r.Context(), sent)
		if n > sent {
			k, werr := w.Write(g.buf[sent:n])
			sent += k
			if werr != nil {
				return // the client left
			}
			rc.Flush()
			continue
		}
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			// The origin failed mid-body: break the connection, so the
			// client cannot take the truncated answer for a whole one.
			c.cfg.Logger.Warn("streamed fill failed", "request_id", platform.RequestID(r.Context()), "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

func hasAny(h http.Header, names ...string) bool {
	for _, n := range names {
		if _, ok := h[http.CanonicalHeaderKey(n)]; ok {
			return true
		}
	}
	return false
}
