package httpcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"scalelab/services/platform"
)

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

// fetchRequest is one origin fetch for the cache: what to ask for, and what
// may be done with the answer.
type fetchRequest struct {
	url    *url.URL    // the client's request URL: its path and query go to the origin
	header http.Header // sent to the origin (forwardHeader)
	key    string      // the primary key
	// cand is a stored entry that needs revalidation, or nil: the request
	// is then conditional, and cand answers again, refreshed, if the
	// origin says 304, or stale, if the origin fails and stale-if-error
	// allows it.
	cand       *Entry
	cs         cacheStatus  // Cache-Status so far
	reqCC      CacheControl // the client's directives
	store      bool         // false when the request said no-store
	authorized bool         // the client sent Authorization
	// streamKey, when not empty, is the flight key of a shared fetch: a
	// large storable response (StreamMinBytes or more, with a
	// Content-Length) is then answered while it arrives, the waiters
	// reading the body as it is stored (see stream.go).
	streamKey string
	interim   *interim // where the origin's 1xx responses go, if anywhere
}

// exchange is an origin response in hand, with what deciding its fate
// needs.
type exchange struct {
	fetchRequest
	ctx          context.Context // bounded by ORIGIN_TIMEOUT; cancel ends it
	cancel       context.CancelFunc
	resp         *http.Response
	seq          uint64 // the purge log's position when the fetch began
	requestTime  time.Time
	responseTime time.Time
}

// fetch GETs fr's URL from the origin for the cache. The answer is a
// refreshed or stale cand (revalidate.go), a new entry stored when the
// rules allow (fill.go), or a response to pass through to one client.
func (c *Cache) fetch(ctx context.Context, fr fetchRequest) (*fill, error) {
	x := exchange{fetchRequest: fr, seq: c.purges.mark()}
	x.ctx, x.cancel = context.WithTimeout(ctx, c.cfg.Timeout)
	req, err := c.originRequest(x.ctx, fr)
	if err != nil {
		x.cancel()
		return nil, err
	}
	x.requestTime = c.cfg.Now()
	x.resp, err = c.roundTrip(x.ctx, req)
	if err != nil {
		x.cancel()
		if fr.validating() {
			c.metrics.revalidations.WithLabelValues("error").Inc()
		}
		if c.staleIfError(fr.cand, fr.reqCC, c.cfg.Now()) {
			c.cfg.Logger.Warn("origin failed; serving stale", "key", fr.key, "err", err)
			return c.staleFill(fr.cand, fr.cs, 0), nil
		}
		return nil, err
	}
	x.responseTime = c.cfg.Now()
	x.cs.fwdStatus = x.resp.StatusCode
	if fr.cand != nil {
		f, again := c.revalidated(&x)
		switch {
		case f != nil:
			return f, nil
		case again:
			// The stored entry cannot be refreshed: fetch it in full.
			fr.cand = nil
			return c.fetch(ctx, fr)
		}
	}
	return c.keep(&x)
}

// validating reports whether the fetch is a conditional request for cand.
func (fr *fetchRequest) validating() bool { return fr.cand != nil && fr.cand.HasValidator() }

// originRequest is the GET sent to the origin for fr, conditional when it
// revalidates.
func (c *Cache) originRequest(ctx context.Context, fr fetchRequest) (*http.Request, error) {
	req, err := http.NewRequestWithContext(fr.interim.trace(ctx), http.MethodGet, c.originURL(fr.url).String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header = fr.header.Clone()
	if id := platform.RequestID(ctx); id != "" {
		req.Header.Set(platform.RequestIDHeader, id)
	}
	req.Header.Add("Via", "1.1 "+c.cfg.ServedBy)
	if fr.validating() {
		if fr.cand.ETag != "" {
			req.Header.Set("If-None-Match", fr.cand.ETag)
		}
		if !fr.cand.LastModified.IsZero() {
			req.Header.Set("If-Modified-Since", fr.cand.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	return req, nil
}

// staleFill is the answer of a fetch that failed while a stale entry may
// stand in (stale-if-error).
func (c *Cache) staleFill(cand *Entry, cs cacheStatus, status int) *fill {
	c.metrics.stale.WithLabelValues(staleIfError).Inc()
	cs.fwd, cs.fwdStatus, cs.detail = "stale", status, "stale-if-error"
	return &fill{entry: cand, xcache: "STALE", result: resultStale, cs: cs}
}

func isServerError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// roundTrip sends req to the origin after the simulated distance.
func (c *Cache) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := func() (*http.Response, error) {
		if err := c.cfg.Sleep(ctx, c.cfg.RTT); err != nil {
			return nil, err
		}
		if !replayable(req) {
			return c.writes.RoundTrip(req)
		}
		return c.sendReplayable(req)
	}()
	code := "error"
	if err == nil {
		code = platform.StatusClass(resp.StatusCode)
	}
	c.metrics.fetchDuration.WithLabelValues(code).Observe(time.Since(start).Seconds())
	c.reach.record(ctx, err)
	if err != nil {
		return nil, originError(ctx, err)
	}
	return resp, nil
}

// sendReplayable sends a request the transport may send again. It does so
// itself when a kept-alive connection closes or resets under the request;
// sendReplayable adds the case of a reused connection answering with bytes
// that are no HTTP response: what an origin left on the connection after
// its last answer (a body longer than its Content-Length), read as the
// answer to this request. On a new connection the request gets its own.
func (c *Cache) sendReplayable(req *http.Request) (*http.Response, error) {
	var reused atomic.Bool
	traced := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
	}))
	resp, err := c.cfg.Transport.RoundTrip(traced)
	// net/http's error is unexported: its text is the only way to know it.
	if err != nil && reused.Load() && strings.Contains(err.Error(), "malformed HTTP") && req.Context().Err() == nil {
		c.cfg.Logger.Warn("origin left stray bytes on a kept-alive connection; the request goes again on another", "url", req.URL.String(), "err", err)
		return c.cfg.Transport.RoundTrip(req)
	}
	return resp, err
}

// replayable reports whether the transport may send req again on a new
// connection when a kept-alive one fails under it: a safe method without a
// body (net/http's own rule).
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return req.Body == nil || req.Body == http.NoBody
	}
	return false
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
