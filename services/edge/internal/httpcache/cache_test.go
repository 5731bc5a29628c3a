package httpcache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"scalelab/services/edge/internal/store"
	"scalelab/services/platform"
)

// fakeClock lets tests age entries without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// origin is a test origin that counts the requests it gets, by path.
type origin struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
	total atomic.Int64
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{count: map[string]int{}}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.count[r.Method+" "+r.URL.RequestURI()]++
		o.mu.Unlock()
		o.total.Add(1)
		w.Header().Set("X-Served-By", "origin")
		h(w, r)
	})
	if n := netOf(t); n != nil {
		o.Server = n.server(t, "origin", counted)
		return o
	}
	o.Server = httptest.NewServer(counted)
	t.Cleanup(o.Close)
	return o
}

// requests is how many times the origin was asked for "METHOD /path".
func (o *origin) requests(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[key]
}

// fixed answers every request with body and the given Cache-Control.
func fixed(cacheControl, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, body)
	}
}

type edge struct {
	*httptest.Server
	cache   *Cache
	store   *store.Store[*Object]
	metrics *Metrics
	clock   *fakeClock
	client  *http.Client // reaches the edge, in a bubble or not; shows redirects
}

func newEdge(t *testing.T, originURL string, configure ...func(*Config, *int64)) *edge {
	t.Helper()
	u, err := url.Parse(originURL)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := netOf(t)
	var transport http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 64}
	if n != nil {
		transport = n.transport(t)
		// The origin dates its answers by the bubble's clock (from
		// 2000-01-01); the edge's runs behind it, as it runs behind the
		// real one outside a bubble, so that a Date is never in the past.
		clock.now = time.Now().AddDate(-1, 0, 0)
	}
	cfg := Config{
		Origin:         u,
		Transport:      transport,
		Timeout:        5 * time.Second,
		MaxObjectBytes: 1 << 20,
		ServedBy:       "edge-test",
		Now:            clock.Now,
	}
	cacheBytes := int64(16 << 20)
	for _, f := range configure {
		f(&cfg, &cacheBytes)
	}
	st := NewStore(cacheBytes)
	m := NewMetrics(prometheus.NewRegistry(), st)
	c := New(cfg, st, m)
	if n != nil {
		client := &http.Client{Transport: n.transport(t), CheckRedirect: noRedirects.CheckRedirect}
		return &edge{Server: n.server(t, "edge", c), cache: c, store: st, metrics: m, clock: clock, client: client}
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	if tr, ok := cfg.Transport.(*http.Transport); ok {
		t.Cleanup(tr.CloseIdleConnections)
	}
	return &edge{Server: srv, cache: c, store: st, metrics: m, clock: clock, client: noRedirects}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *edge) do(t *testing.T, method, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *edge) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	return e.do(t, http.MethodGet, path, header...)
}

func expect(t *testing.T, r response, status int, xcache, age, body string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %q)", r.status, status, r.body)
	}
	if got := r.header.Get("X-Cache"); got != xcache {
		t.Errorf("X-Cache = %q, want %q", got, xcache)
	}
	if age != "" && r.header.Get("Age") != age {
		t.Errorf("Age = %q, want %q", r.header.Get("Age"), age)
	}
	if body != "" && r.body != body {
		t.Errorf("body = %q, want %q", r.body, body)
	}
	if got := r.header.Get("X-Served-By"); got != "edge-test" {
		t.Errorf("X-Served-By = %q, want edge-test", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestMissThenHit(t *testing.T) {
	o := newOrigin(t, fixed("public, max-age=60", "hello"))
	e := newEdge(t, o.URL)

	expect(t, e.get(t, "/logo.png"), 200, "MISS", "0", "hello")
	expect(t, e.get(t, "/logo.png"), 200, "HIT", "0", "hello")
	// The key ignores the host name, and HEAD is answered from the GET entry.
	expect(t, e.get(t, "/logo.png", "Host", "other.example"), 200, "HIT", "", "hello")
	head := e.do(t, http.MethodHead, "/logo.png")
	expect(t, head, 200, "HIT", "", "")
	if head.header.Get("Content-Length") != "5" {
		t.Errorf("HEAD Content-Length = %q, want 5", head.header.Get("Content-Length"))
	}

	if n := o.requests("GET /logo.png"); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
	if e.store.Len() != 1 {
		t.Errorf("store holds %d objects, want 1", e.store.Len())
	}
	if hits := counterValue(t, e.metrics.requests.WithLabelValues(resultHit)); hits != 3 {
		t.Errorf("hit counter = %v, want 3", hits)
	}
	if n := counterValue(t, e.metrics.servedBytes.WithLabelValues("cache")); n != 10 {
		t.Errorf("bytes served from cache = %v, want 10 (two GET hits of 5 bytes)", n)
	}
}

func TestQueryIsPartOfTheKey(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Query().Get("v"))
	})
	e := newEdge(t, o.URL)
	expect(t, e.get(t, "/a?v=1"), 200, "MISS", "", "1")
	expect(t, e.get(t, "/a?v=2"), 200, "MISS", "", "2")
	expect(t, e.get(t, "/a?v=1"), 200, "HIT", "", "1")
}

func TestAge(t *testing.T) {
	tests := []struct {
		name      string
		originAge string
		wait      time.Duration
		wantMiss  string
		wantHit   string
	}{
		{"fresh from origin", "", 7 * time.Second, "0", "7"},
		{"origin reports an age", "3", 5 * time.Second, "3", "8"},
		{"fractions round down", "", 2500 * time.Millisecond, "0", "2"},
		{"garbage origin age counts as zero", "soon", time.Second, "0", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.originAge != "" {
					w.Header().Set("Age", tt.originAge)
				}
				fixed("max-age=60", "x")(w, r)
			})
			e := newEdge(t, o.URL)
			expect(t, e.get(t, "/x"), 200, "MISS", tt.wantMiss, "x")
			e.clock.Advance(tt.wait)
			expect(t, e.get(t, "/x"), 200, "HIT", tt.wantHit, "x")
		})
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		stillFresh   time.Duration // a hit after this long
		expired      time.Duration // a miss after this long
	}{
		{"max-age", "max-age=1", 900 * time.Millisecond, 1100 * time.Millisecond},
		{"s-maxage wins over a longer max-age", "max-age=100, s-maxage=10", 9 * time.Second, 11 * time.Second},
		{"s-maxage wins over a shorter max-age", "s-maxage=100, max-age=10", 99 * time.Second, 101 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, fixed(tt.cacheControl, "v"))
			e := newEdge(t, o.URL)
			start := e.clock.Now()
			expect(t, e.get(t, "/t"), 200, "MISS", "0", "v")
			e.clock.Advance(tt.stillFresh)
			expect(t, e.get(t, "/t"), 200, "HIT", "", "v")
			e.clock.Advance(tt.expired - e.clock.Now().Sub(start))
			expect(t, e.get(t, "/t"), 200, "MISS", "0", "v")
			if n := o.requests("GET /t"); n != 2 {
				t.Errorf("origin got %d requests, want 2 (one fill, one refetch)", n)
			}
		})
	}
}

// TestStorable checks which responses the edge keeps: the second request is
// a HIT only for those.
func TestStorable(t *testing.T) {
	lastModified := "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		name   string
		status int
		header map[string]string
		stored bool
	}{
		{"RFC9111 5.2.2.1 max-age", 200, map[string]string{"Cache-Control": "public, max-age=60"}, true},
		{"RFC9111 5.2.2.10 s-maxage alone", 200, map[string]string{"Cache-Control": "s-maxage=60"}, true},
		{"RFC9111 5.2.2.10 s-maxage beats max-age=0", 200, map[string]string{"Cache-Control": "max-age=0, s-maxage=60"}, true},
		{"RFC9111 5.2.2.10 s-maxage=0 beats max-age", 200, map[string]string{"Cache-Control": "s-maxage=0, max-age=60"}, false},
		{"RFC9111 4.2.2 heuristic freshness from Last-Modified", 200, map[string]string{"Last-Modified": lastModified}, true},
		{"RFC9111 4.2.2 no heuristic without Last-Modified", 200, map[string]string{}, false},
		{"RFC9111 4.2.2 no heuristic for a 302", 302, map[string]string{"Last-Modified": lastModified, "Location": "/x"}, false},
		{"RFC9111 4.2.2 heuristic for a public 302", 302, map[string]string{"Cache-Control": "public", "Last-Modified": lastModified, "Location": "/x"}, true},
		{"RFC9111 5.3 Expires in the future", 200, map[string]string{"Expires": "Fri, 01 Jan 2100 00:00:00 GMT"}, true},
		{"RFC9111 5.3 invalid Expires is already expired", 200, map[string]string{"Expires": "0"}, false},
		{"RFC9111 5.3 max-age beats Expires", 200, map[string]string{"Expires": "0", "Cache-Control": "max-age=60"}, true},
		{"RFC9111 5.2.2.1 max-age=0", 200, map[string]string{"Cache-Control": "max-age=0"}, false},
		{"RFC9111 5.2.2.5 no-store", 200, map[string]string{"Cache-Control": "no-store, max-age=60"}, false},
		{"RFC9111 5.2.2.3 must-understand overrides no-store for an understood status", 200, map[string]string{"Cache-Control": "must-understand, no-store, max-age=60"}, true},
		{"RFC9111 5.2.2.3 must-understand with an unknown status", 299, map[string]string{"Cache-Control": "must-understand, no-store, max-age=60"}, false},
		{"RFC9111 5.2.2.7 private", 200, map[string]string{"Cache-Control": "private, max-age=60"}, false},
		{"RFC9111 5.2.2.4 no-cache without a validator is useless", 200, map[string]string{"Cache-Control": "no-cache, max-age=60"}, false},
		{"RFC9111 3 a 404 with max-age", 404, map[string]string{"Cache-Control": "max-age=60"}, true},
		{"RFC9111 3 a 301 with max-age", 301, map[string]string{"Cache-Control": "max-age=60", "Location": "/y"}, true},
		{"RFC9111 3 a 500 with max-age", 500, map[string]string{"Cache-Control": "max-age=60"}, true},
		{"RFC9111 3 a 503 without explicit freshness is not stored", 503, map[string]string{"Last-Modified": lastModified}, false},
		{"RFC9111 3 an unknown status with max-age", 299, map[string]string{"Cache-Control": "max-age=60"}, true},
		{"RFC9111 3.3 a 206 is not stored", 206, map[string]string{"Cache-Control": "max-age=60", "Content-Range": "bytes 0-3/10"}, false},
		{"RFC9111 7.3 Set-Cookie without public", 200, map[string]string{"Cache-Control": "max-age=60", "Set-Cookie": "id=1"}, false},
		{"RFC9111 4.1 Vary", 200, map[string]string{"Cache-Control": "max-age=60", "Vary": "Accept-Language"}, true},
		{"RFC9111 4.1 Vary star never matches", 200, map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}, false},
		{"RFC9111 4.2.3 already stale when received", 200, map[string]string{"Cache-Control": "max-age=60", "Age": "60"}, false},
		{"RFC9111 1.2.1 unreadable max-age", 200, map[string]string{"Cache-Control": "max-age=soon"}, false},
		{"RFC9213 2.1 CDN-Cache-Control beats Cache-Control no-store", 200, map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=60"}, true},
		{"RFC9213 2.1 CDN-Cache-Control no-store beats Cache-Control", 200, map[string]string{"Cache-Control": "public, max-age=60", "CDN-Cache-Control": "no-store"}, false},
		{"RFC9213 2.1 an invalid CDN-Cache-Control is ignored", 200, map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": `max-age="60"`}, false},
		{"RFC9111 5.3 an Expires with a one-digit hour is already expired", 200, map[string]string{"Expires": "Fri, 01 Jan 2100 0:00:00 GMT"}, false},
		{"RFC9213 2.1 CDN-Cache-Control makes Expires ignored", 200, map[string]string{"Expires": "Fri, 01 Jan 2100 00:00:00 GMT", "CDN-Cache-Control": "public"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, "body")
			})
			e := newEdge(t, o.URL)
			expect(t, e.get(t, "/r"), tt.status, "MISS", "", "body")
			second := e.get(t, "/r")
			wantCache, wantRequests, wantLen := "MISS", 2, 0
			if tt.stored {
				wantCache, wantRequests, wantLen = "HIT", 1, 1
			}
			expect(t, second, tt.status, wantCache, "", "body")
			if n := o.requests("GET /r"); n != wantRequests {
				t.Errorf("origin got %d requests, want %d", n, wantRequests)
			}
			if e.store.Len() != wantLen {
				t.Errorf("store holds %d objects, want %d", e.store.Len(), wantLen)
			}
		})
	}
}

func TestLRUEvictionByBytes(t *testing.T) {
	const objectSize = 1000
	o := newOrigin(t, fixed("max-age=60", strings.Repeat("x", objectSize)))
	// Measure one entry, then give the store room for two and a half.
	probe := newEdge(t, o.URL)
	probe.get(t, "/a")
	one := probe.store.Bytes()
	e := newEdge(t, o.URL, func(_ *Config, cacheBytes *int64) { *cacheBytes = one*5/2 + 64 })

	e.get(t, "/a")
	e.get(t, "/b")
	expect(t, e.get(t, "/a"), 200, "HIT", "", "") // /a is now the most recently used
	e.get(t, "/c")                                // evicts /b, the least recently used
	if got := e.store.Evictions(); got != 1 {
		t.Errorf("evictions = %d, want 1", got)
	}
	if e.store.Len() != 2 || e.store.Bytes() > e.store.MaxBytes() {
		t.Errorf("store holds %d objects, %d bytes of %d; want 2 within budget", e.store.Len(), e.store.Bytes(), e.store.MaxBytes())
	}
	expect(t, e.get(t, "/a"), 200, "HIT", "", "")
	expect(t, e.get(t, "/c"), 200, "HIT", "", "")
	expect(t, e.get(t, "/b"), 200, "MISS", "", "")
}

func TestOversizedObjectsPassThrough(t *testing.T) {
	big := strings.Repeat("v", 5000)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"known length", fixed("max-age=60", big)},
		{"unknown length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			// Flushing first makes the origin send chunks, without a
			// Content-Length: the edge finds out the size while reading.
			w.(http.Flusher).Flush()
			io.WriteString(w, big)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, tt.handler)
			e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.MaxObjectBytes = 1000 })
			for range 2 {
				r := e.get(t, "/video.mp4")
				expect(t, r, 200, "MISS", "0", "")
				if r.body != big {
					t.Fatalf("body has %d bytes, want the whole %d", len(r.body), len(big))
				}
			}
			if n := o.requests("GET /video.mp4"); n != 2 {
				t.Errorf("origin got %d requests, want 2", n)
			}
			if e.store.Len() != 0 {
				t.Errorf("store holds %d objects, want none", e.store.Len())
			}
		})
	}
}

// An object that fits EDGE_MAX_OBJECT_BYTES but not the whole store is
// served, just not kept.
func TestObjectLargerThanStore(t *testing.T) {
	o := newOrigin(t, fixed("max-age=60", strings.Repeat("v", 2000)))
	e := newEdge(t, o.URL, func(_ *Config, cacheBytes *int64) { *cacheBytes = 1000 })
	expect(t, e.get(t, "/big"), 200, "MISS", "", "")
	expect(t, e.get(t, "/big"), 200, "MISS", "", "")
	if e.store.Len() != 0 {
		t.Errorf("store holds %d objects, want none", e.store.Len())
	}
}

func TestHitServesRangesAndConditionals(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		fixed("max-age=60", "0123456789")(w, r)
	})
	e := newEdge(t, o.URL)
	e.get(t, "/v")

	tests := []struct {
		name       string
		header     []string
		wantStatus int
		wantBody   string
	}{
		{"range", []string{"Range", "bytes=2-5"}, http.StatusPartialContent, "2345"},
		{"etag matches", []string{"If-None-Match", `"v1"`}, http.StatusNotModified, ""},
		{"etag differs", []string{"If-None-Match", `"v0"`}, http.StatusOK, "0123456789"},
		{"not modified since", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusNotModified, ""},
		{"modified since", []string{"If-Modified-Since", "Sun, 01 Jan 2006 00:00:00 GMT"}, http.StatusOK, "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(t, "/v", tt.header...)
			expect(t, r, tt.wantStatus, "HIT", "", "")
			if r.body != tt.wantBody {
				t.Errorf("body = %q, want %q", r.body, tt.wantBody)
			}
		})
	}
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
}

// The shared fill must not carry one client's conditionals: a 304 for one
// client cannot be stored and served to the next.
func TestMissWithConditionalStillFills(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("content"))
	})
	e := newEdge(t, o.URL)
	expect(t, e.get(t, "/c", "If-None-Match", `"v1"`, "Range", "bytes=0-1"), http.StatusNotModified, "MISS", "", "")
	expect(t, e.get(t, "/c"), 200, "HIT", "", "content")
}

func TestHeadMissIsForwardedAndNotStored(t *testing.T) {
	o := newOrigin(t, fixed("max-age=60", "hello"))
	e := newEdge(t, o.URL)
	expect(t, e.do(t, http.MethodHead, "/h"), 200, "MISS", "0", "")
	expect(t, e.get(t, "/h"), 200, "MISS", "", "hello")
	expect(t, e.get(t, "/h"), 200, "HIT", "", "hello")
	if o.requests("HEAD /h") != 1 || o.requests("GET /h") != 1 {
		t.Errorf("origin requests = %v, want one HEAD and one GET", o.count)
	}
}

func TestBypass(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s auth=%s", r.Method, body, r.Header.Get("Authorization"))
	})
	e := newEdge(t, o.URL)

	resp, err := http.Post(e.URL+"/form", "text/plain", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Cache") != "BYPASS" || string(body) != "POST data auth=" {
		t.Errorf("POST: X-Cache %q, body %q", resp.Header.Get("X-Cache"), body)
	}

	for range 2 {
		expect(t, e.get(t, "/me", "Authorization", "Bearer t"), 200, "BYPASS", "", "GET  auth=Bearer t")
	}
	if e.store.Len() != 0 {
		t.Errorf("store holds %d objects, want none", e.store.Len())
	}
	if n := counterValue(t, e.metrics.requests.WithLabelValues(resultBypass)); n != 3 {
		t.Errorf("bypass counter = %v, want 3", n)
	}
}

func TestHopByHopHeadersAreRemoved(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Connection", "X-Origin-Hop")
		w.Header().Set("X-Origin-Hop", "secret")
		w.Header().Set("X-End-To-End", "kept")
		fixed("max-age=60", "ok")(w, r)
	})
	e := newEdge(t, o.URL)
	for _, xcache := range []string{"BYPASS", "MISS", "HIT"} {
		var r response
		if xcache == "BYPASS" {
			r = e.do(t, http.MethodDelete, "/hop", "Connection", "X-Client-Hop", "X-Client-Hop", "1", "Proxy-Authorization", "Basic x")
			mu.Lock()
			if seen.Get("X-Client-Hop") != "" || seen.Get("Proxy-Authorization") != "" {
				t.Errorf("origin saw hop-by-hop request headers: %v", seen)
			}
			mu.Unlock()
		} else {
			r = e.get(t, "/hop")
		}
		if r.header.Get("X-Origin-Hop") != "" {
			t.Errorf("%s: client got X-Origin-Hop", xcache)
		}
		if r.header.Get("X-End-To-End") != "kept" {
			t.Errorf("%s: client lost X-End-To-End", xcache)
		}
	}
}

func TestOriginFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // its port now refuses connections

	slow := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the edge gives up
	})

	tests := []struct {
		name       string
		originURL  string
		method     string
		wantStatus int
		wantBody   string
	}{
		{"origin down", closed.URL, http.MethodGet, http.StatusBadGateway, "could not be reached"},
		{"origin down, bypass", closed.URL, http.MethodPost, http.StatusBadGateway, "could not be reached"},
		{"origin too slow", slow.URL, http.MethodGet, http.StatusGatewayTimeout, "ORIGIN_TIMEOUT"},
		{"origin too slow, head", slow.URL, http.MethodHead, http.StatusGatewayTimeout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, tt.originURL, func(c *Config, _ *int64) { c.Timeout = 100 * time.Millisecond })
			r := e.do(t, tt.method, "/x")
			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body = %q, want it to mention %q", r.body, tt.wantBody)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if r.header.Get("X-Served-By") != "edge-test" {
				t.Errorf("X-Served-By = %q", r.header.Get("X-Served-By"))
			}
		})
	}
}

// The simulated distance is slept before every origin request and never
// for a hit. The sleeps are counted, not timed: a hit being fast is not
// something a shared, noisy machine can be trusted to show.
func TestRTTIsPaidOnMissesOnly(t *testing.T) {
	const rtt = 300 * time.Millisecond
	o := newOrigin(t, fixed("max-age=60", "far"))
	var sleeps atomic.Int64
	e := newEdge(t, o.URL, func(c *Config, _ *int64) {
		c.RTT = rtt
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			if d != rtt {
				t.Errorf("slept %v, want ORIGIN_RTT %v", d, rtt)
			}
			sleeps.Add(1)
			return sleep(ctx, d)
		}
	})

	start := time.Now()
	expect(t, e.get(t, "/far"), 200, "MISS", "", "far")
	if d := time.Since(start); d < rtt {
		t.Errorf("miss took %v, less than ORIGIN_RTT %v", d, rtt)
	}
	if n := sleeps.Load(); n != 1 {
		t.Errorf("the miss slept %d times, want 1", n)
	}
	expect(t, e.get(t, "/far"), 200, "HIT", "", "far")
	expect(t, e.get(t, "/far"), 200, "HIT", "", "far")
	if n := sleeps.Load(); n != 1 {
		t.Errorf("after two hits: %d sleeps, want still 1", n)
	}
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
	// A bypass goes to the origin, so it is as far away as a miss.
	e.do(t, http.MethodPost, "/far")
	if n := sleeps.Load(); n != 2 {
		t.Errorf("after a bypass: %d sleeps, want 2", n)
	}
}

// A hit answers with the id of the request it serves, not the one of the
// request that filled the entry (which the origin echoed back), and names
// the edge, not the origin replica, as the one that served it.
func TestPerAnswerHeadersAreNotReplayed(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		// As a platform service does: echo the id of the request.
		w.Header().Set(platform.RequestIDHeader, r.Header.Get(platform.RequestIDHeader))
		fixed("public, max-age=60", "shared")(w, r)
	})
	e := newEdge(t, o.URL)
	// The edge runs behind the platform's request id middleware.
	srv := httptest.NewServer(platform.WithRequestID(e.cache))
	t.Cleanup(srv.Close)
	get := func(id string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/shared", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(platform.RequestIDHeader, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(body)}
	}

	tests := []struct{ id, xcache string }{
		{"first-id", "MISS"},
		{"second-id", "HIT"},
		{"third-id", "HIT"},
	}
	for _, tt := range tests {
		r := get(tt.id)
		expect(t, r, 200, tt.xcache, "", "shared")
		if got := r.header.Values(platform.RequestIDHeader); len(got) != 1 || got[0] != tt.id {
			t.Errorf("%s: X-Request-Id = %q, want [%q]", tt.xcache, got, tt.id)
		}
		if got := r.header.Values("X-Served-By"); len(got) != 1 {
			t.Errorf("%s: X-Served-By = %q, want only the edge's", tt.xcache, got)
		}
	}
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
	obj, ok := e.store.Get("/shared")
	if !ok {
		t.Fatal("/shared was not stored")
	}
	e1 := obj.Variants[0]
	for _, name := range []string{platform.RequestIDHeader, "X-Served-By"} {
		if v, ok := e1.Header[name]; ok {
			t.Errorf("entry stores %s: %q", name, v)
		}
	}
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	const clients = 20
	tests := []struct {
		name         string
		cacheControl string
		wantRequests int64
		wantXCache   string
	}{
		// Storable: one fetch serves everyone.
		{"storable", "max-age=60", 1, "MISS"},
		// Not storable: one waiter streams the shared fetch, the others ask
		// the origin themselves (a private answer must not be shared).
		{"not storable", "private, max-age=60", clients, "MISS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				release := make(chan struct{})
				o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
					<-release
					fixed(tt.cacheControl, "shared")(w, r)
				})
				e := newEdge(t, o.URL)
				misses := e.metrics.requests.WithLabelValues(resultMiss)

				var wg sync.WaitGroup
				results := make([]response, clients)
				for i := range clients {
					wg.Go(func() { results[i] = e.get(t, "/cold") })
				}
				// Hold the origin until every client has missed and is waiting.
				settled(t, "all clients missed, the shared fetch at the origin", func() bool {
					return counterValue(t, misses) == clients && o.total.Load() >= 1
				})
				close(release)
				wg.Wait()

				for i, r := range results {
					if r.status != 200 || r.body != "shared" || r.header.Get("X-Cache") != tt.wantXCache {
						t.Errorf("client %d: status %d, X-Cache %q, body %q", i, r.status, r.header.Get("X-Cache"), r.body)
					}
				}
				if n := o.total.Load(); n != tt.wantRequests {
					t.Errorf("origin got %d requests, want %d", n, tt.wantRequests)
				}
			})
		})
	}
}

// A client that gives up must not cancel the fetch the others wait on.
func TestLeaderLeavingDoesNotFailWaiters(t *testing.T) { inBubble(t, testLeaderLeaving) }

func testLeaderLeaving(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fixed("max-age=60", "patience")(w, r)
	})
	e := newEdge(t, o.URL)

	ctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/slow", nil)
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		leaderDone <- err
	}()
	settled(t, "the leader's fetch at the origin", func() bool { return o.total.Load() == 1 })
	cancel()
	if err := <-leaderDone; err == nil {
		t.Fatal("leader request succeeded, want it cancelled")
	}

	waiter := make(chan response, 1)
	go func() { waiter <- e.get(t, "/slow") }()
	settled(t, "the waiter missed", func() bool {
		return counterValue(t, e.metrics.requests.WithLabelValues(resultMiss)) == 2
	})
	close(release)
	expect(t, <-waiter, 200, "MISS", "", "patience")
	expect(t, e.get(t, "/slow"), 200, "HIT", "", "patience")
	if n := o.total.Load(); n > 2 {
		t.Errorf("origin got %d requests, want at most 2", n)
	}
}

func TestOriginPathPrefix(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
	})
	e := newEdge(t, o.URL+"/static/")
	expect(t, e.get(t, "/img/a%2Fb.png?x=1"), 200, "MISS", "", "/static/img/a%2Fb.png?x=1")
}

// BenchmarkHit measures the cost of serving a stored 64 KiB object, the
// path every hit takes (no network: the recorder stands in for a client).
func BenchmarkHit(b *testing.B) {
	body := strings.Repeat("x", 64<<10)
	srv := httptest.NewServer(fixed("max-age=3600", body))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	st := NewStore(1 << 30)
	c := New(Config{Origin: u, Transport: http.DefaultTransport, Timeout: time.Second, MaxObjectBytes: 1 << 20, ServedBy: "bench"},
		st, NewMetrics(prometheus.NewRegistry(), st))
	req := httptest.NewRequest(http.MethodGet, "/bench", nil)
	c.ServeHTTP(httptest.NewRecorder(), req) // fill
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		if rec.Header().Get("X-Cache") != "HIT" {
			b.Fatal("not a hit")
		}
	}
}
