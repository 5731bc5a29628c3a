package httpcache

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"scalelab/services/platform"
)

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
	hints := newInterim(w)
	req, err := http.NewRequestWithContext(hints.trace(ctx), r.Method, c.originURL(r.URL).String(), body)
	if err != nil {
		c.fail(w, r, err, nil)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	removeHopByHop(req.Header)
	req.Header.Add("Via", "1.1 "+c.cfg.ServedBy)
	resp, err := c.roundTrip(ctx, req)
	hints.close()
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
		h.Set("Age", strconv.FormatInt(int64(parseAge(resp.Header)/time.Second), 10))
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
