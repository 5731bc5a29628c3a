package httpcache

import (
	"bytes"
	"io"
	"net/http"
	"sync"
)

// current returns the stored variant of key matching h.
func (c *Cache) current(key string, h http.Header) *Entry {
	obj, _ := c.store.Peek(key) // not a client's access
	return obj.Select(h)
}

// keep stores the origin's new answer when the rules allow, and answers
// with it; a response that cannot be stored is handed on, unread, for
// one client to stream (pass.go).
func (c *Cache) keep(x *exchange) (*fill, error) {
	resp := x.resp
	cc, _ := responseDirectives(resp.Header)
	reason := "request Cache-Control: no-store"
	if x.store {
		reason = storable(resp.StatusCode, resp.Header, cc, x.reqCC, x.authorized, resp.ContentLength, c.policy)
	}
	if reason == "" && x.streamKey != "" && x.cand == nil {
		if f := c.streamFill(x); f != nil {
			return f, nil
		}
	}
	if reason == "" {
		body, release, complete, err := c.readBody(resp)
		if err != nil {
			resp.Body.Close()
			x.cancel()
			if c.staleIfError(x.cand, x.reqCC, c.cfg.Now()) {
				c.cfg.Logger.Warn("origin failed mid-body; serving stale", "key", x.key, "err", err)
				return c.staleFill(x.cand, x.cs, 0), nil
			}
			return nil, originError(x.ctx, err)
		}
		if complete {
			resp.Body.Close()
			x.cancel()
			defer release()
			return c.storeWhole(x, body), nil
		}
		// Too large (found out while reading, without a Content-Length),
		// or no room in the fill budget: put back what was read in front of
		// the rest and pass it through. The budget is held until the
		// client has it.
		reason = "larger than EDGE_MAX_OBJECT_BYTES, or over the EDGE_FILL_BYTES budget"
		resp.Body = &prefixedBody{Reader: io.MultiReader(bytes.NewReader(body), resp.Body), body: resp.Body, release: release, prefix: int64(len(body))}
	}
	c.cfg.Logger.Debug("not stored", "key", x.key, "status", resp.StatusCode, "reason", reason)
	// The origin's new answer supersedes the stored one, which it did not
	// confirm; an error does not (the entry may be revalidated later).
	if resp.StatusCode < 500 {
		c.drop(x.key, x.cand)
	}
	f := &fill{cs: x.cs}
	f.pass.Store(&originResponse{resp: resp, cancel: x.cancel})
	// If every waiter has left, nobody claims the response; the timeout
	// context then ends it and frees the connection.
	return f, nil
}

// storeWhole makes an entry of a storable response read whole, and stores it
// unless it could never be used.
func (c *Cache) storeWhole(x *exchange, body []byte) *fill {
	cs := x.cs
	e := newEntry(x.resp.StatusCode, x.resp.Header, x.header, body, x.requestTime, x.responseTime, c.policy)
	if e.worthStoring(x.responseTime) {
		cs.stored = c.put(x.key, x.seq, x.cand, e)
	} else {
		c.cfg.Logger.Debug("not stored", "key", x.key, "reason", "stale on arrival, with no validator")
		c.drop(x.key, x.cand)
	}
	return &fill{entry: e, xcache: "MISS", result: resultMiss, cs: cs}
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
