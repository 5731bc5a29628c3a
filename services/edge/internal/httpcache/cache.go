// Package httpcache is the edge's HTTP logic: a caching reverse proxy that
// answers from memory what the origin allowed it to keep, and asks the
// origin for the rest.
//
// A request goes one of three ways:
//
//   - hit: a fresh stored copy exists; it is served at once, and the
//     simulated distance to the origin (ORIGIN_RTT) is never paid.
//   - miss: no fresh copy; the edge fetches from the origin, stores the
//     response when its Cache-Control allows, and answers. Concurrent misses
//     for one URL share one origin fetch.
//   - bypass: the request is not cacheable (a POST, or one carrying
//     Authorization); it is proxied as is.
//
// Every answer says which way it went in X-Cache, and how old it is in Age.
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
	"sync/atomic"
	"time"

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
	ServedBy       string            // value of X-Served-By
	Logger         *slog.Logger
	Now            func() time.Time // the clock; tests pass a fake one to age entries without sleeping
	// Sleep waits out RTT before an origin request, returning early with
	// ctx's error when it ends first. Nil means a real, context-aware
	// sleep; tests pass one that counts the trips to the origin.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Cache is an http.Handler that proxies to the origin through a store.
type Cache struct {
	cfg     Config
	store   *store.Store[*Entry]
	metrics *Metrics
	flight  singleflight.Group
}

// New returns a Cache keeping responses in st and recording metrics in m.
func New(cfg Config, st *store.Store[*Entry], m *Metrics) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{cfg: cfg, store: st, metrics: m}
}

func (c *Cache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Served-By", c.cfg.ServedBy)

	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.Header.Get("Authorization") != "" {
		// A shared cache must not hand one user's authorized answer to
		// another (RFC 9111 section 3.5), and other methods change state.
		c.metrics.requests.WithLabelValues(resultBypass).Inc()
		c.pass(w, r, "BYPASS")
		return
	}

	// The key is the path and query only: the same object whatever host
	// name or method (GET or HEAD) it was asked by.
	key := r.URL.RequestURI()
	if e, ok := c.lookup(key); ok {
		c.metrics.requests.WithLabelValues(resultHit).Inc()
		c.serveEntry(w, r, e, "HIT", "cache")
		return
	}
	c.metrics.requests.WithLabelValues(resultMiss).Inc()
	if r.Method == http.MethodHead {
		// Fetching the whole body to answer a HEAD would be wasteful; the
		// HEAD goes to the origin and nothing is stored.
		c.pass(w, r, "MISS")
		return
	}
	c.fetchShared(w, r, key)
}

// lookup returns a fresh entry. An expired one is dropped: keeping it would
// cost memory, and this cache cannot revalidate it.
func (c *Cache) lookup(key string) (*Entry, bool) {
	e, ok := c.store.Get(key)
	if !ok {
		return nil, false
	}
	if !e.Fresh(c.cfg.Now()) {
		// Only this very entry: between Get and here, another flight may
		// have stored a fresh one under the key, which must stay.
		c.store.DeleteIf(key, e)
		return nil, false
	}
	return e, true
}

// serveEntry answers from a stored (or just fetched) entry. http.ServeContent
// gives hits the same Range, If-None-Match and If-Modified-Since handling as
// the origin has, without a trip there.
func (c *Cache) serveEntry(w http.ResponseWriter, r *http.Request, e *Entry, xcache, source string) {
	h := w.Header()
	// Clone: the entry is shared by concurrent answers, each of which may
	// change its own header map.
	maps.Copy(h, e.Header.Clone())
	h.Del("Content-Length") // ServeContent computes it, for ranges too
	if _, ok := e.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // serve what the origin sent; don't let ServeContent sniff a type
	}
	h.Set("Age", strconv.FormatInt(int64(e.Age(c.cfg.Now())/time.Second), 10))
	h.Set("X-Cache", xcache)
	h.Set("X-Served-By", c.cfg.ServedBy)
	cw := &platform.CountingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", e.LastModified, bytes.NewReader(e.Body))
	c.metrics.servedBytes.WithLabelValues(source).Add(float64(cw.N))
}

// fill is what one shared origin fetch produced: either an entry every
// waiter can serve, or a response that can only be streamed to one of them.
type fill struct {
	entry *Entry
	pass  atomic.Pointer[originResponse]
}

// originResponse is an origin response whose body has not been read yet,
// with the cancel of the context bounding it.
type originResponse struct {
	resp   *http.Response
	cancel context.CancelFunc
}

// fetchShared answers a GET miss. All concurrent misses for one key wait on
// a single origin fetch (a "stampede" of a thousand requests for a cold
// video costs the origin one request).
func (c *Cache) fetchShared(w http.ResponseWriter, r *http.Request, key string) {
	// The fetch serves every waiter, so it must outlive the request that
	// started it: its context keeps the values (request id) but not the
	// cancellation. ORIGIN_TIMEOUT still bounds it.
	ctx := context.WithoutCancel(r.Context())
	target := c.originURL(r.URL)
	requestID := platform.RequestID(r.Context())
	ch := c.flight.DoChan(key, func() (any, error) {
		// A miss that arrives just after the previous flight landed finds
		// its entry here instead of fetching the object a second time.
		if e, ok := c.lookup(key); ok {
			return &fill{entry: e}, nil
		}
		return c.fetch(ctx, target, requestID, key)
	})

	var res singleflight.Result
	select {
	case res = <-ch:
	case <-r.Context().Done():
		platform.SetStatus(w, 499) // the client left; the fetch goes on for the others
		return
	}
	if res.Err != nil {
		c.fail(w, r, res.Err)
		return
	}
	f := res.Val.(*fill)
	if f.entry != nil {
		c.serveEntry(w, r, f.entry, "MISS", "origin")
		return
	}
	// Not storable: a response body can be read only once, so the first
	// waiter to claim it streams it, and any other asks the origin itself.
	// Sharing it would also be wrong when it is private to one user.
	if or := f.pass.Swap(nil); or != nil {
		defer or.cancel()
		c.stream(w, r, or.resp, "MISS")
		return
	}
	c.pass(w, r, "MISS")
}

// fetch GETs target from the origin for the cache. The request carries none
// of the client's headers: it may serve many clients, so one client's
// cookies, conditionals, ranges or encodings must not shape it.
func (c *Cache) fetch(ctx context.Context, target *url.URL, requestID, key string) (*fill, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if requestID != "" {
		req.Header.Set(platform.RequestIDHeader, requestID)
	}
	req.Header.Set("Via", "1.1 "+c.cfg.ServedBy)
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		cancel()
		return nil, err
	}

	cc := ParseCacheControl(joinValues(resp.Header, "Cache-Control"))
	reason, lifetime := notStorable(resp, cc, c.cfg.MaxObjectBytes)
	if reason == "" {
		body, complete, err := readUpTo(resp.Body, c.cfg.MaxObjectBytes)
		if err != nil {
			resp.Body.Close()
			cancel()
			return nil, originError(ctx, err)
		}
		if complete {
			resp.Body.Close()
			cancel()
			e := newEntry(resp, body, c.cfg.Now(), lifetime)
			if !c.store.Set(key, e, e.Size()) {
				c.cfg.Logger.Debug("not stored", "key", key, "reason", "larger than EDGE_CACHE_BYTES")
			}
			return &fill{entry: e}, nil
		}
		// No Content-Length, and the body turned out too large: put back
		// what was read in front of the rest and pass it through.
		reason = "larger than EDGE_MAX_OBJECT_BYTES"
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	}
	c.cfg.Logger.Debug("not stored", "key", key, "status", resp.StatusCode, "reason", reason)
	f := &fill{}
	f.pass.Store(&originResponse{resp: resp, cancel: cancel})
	// If every waiter has left, nobody claims the response; the timeout
	// context then ends it and frees the connection.
	return f, nil
}

// pass proxies the request to the origin as it is (but for hop-by-hop
// headers) and streams the answer back, storing nothing.
func (c *Cache) pass(w http.ResponseWriter, r *http.Request, xcache string) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.originURL(r.URL).String(), body)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	req.ContentLength = r.ContentLength
	req.Header = r.Header.Clone()
	removeHopByHop(req.Header)
	req.Header.Add("Via", "1.1 "+c.cfg.ServedBy)
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.stream(w, r, resp, xcache)
}

// stream copies an origin response to the client as it arrives.
func (c *Cache) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, xcache string) {
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
	h.Set("X-Cache", xcache)
	h.Set("X-Served-By", c.cfg.ServedBy)
	w.WriteHeader(resp.StatusCode)
	n, err := io.Copy(w, resp.Body)
	c.metrics.servedBytes.WithLabelValues("origin").Add(float64(n))
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
func (c *Cache) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		platform.SetStatus(w, 499) // the client left first; nobody reads an answer
		return
	}
	status, msg := http.StatusBadGateway, "edge: the origin could not be reached: "+err.Error()
	if errors.Is(err, errOriginTimeout) {
		status, msg = http.StatusGatewayTimeout, fmt.Sprintf("edge: the origin did not answer within ORIGIN_TIMEOUT (%s)", c.cfg.Timeout)
	}
	c.cfg.Logger.Warn("origin fetch failed", "request_id", platform.RequestID(r.Context()), "status", status, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
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

// readUpTo reads all of r if it holds at most limit bytes. complete is false
// (with the limit+1 bytes read so far) when it holds more.
func readUpTo(r io.Reader, limit int64) (data []byte, complete bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	return data, int64(len(data)) <= limit, nil
}

func joinValues(h http.Header, name string) string {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	var b bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v)
	}
	return b.String()
}
