package hitpath

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"scalelab/services/edge/internal/httpcache"
	"scalelab/services/platform"
)

// clock is a fake clock, so both engines see the same Age and ttl.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pair is one cache served two ways: by net/http alone (std) and by the
// hit path (fast), each with the platform's middleware.
type pair struct {
	std, fast string // base URLs
	clock     *clock
	reg       *prometheus.Registry
	srv       *Server
	stop      func() error
}

func newPair(t *testing.T) *pair {
	t.Helper()
	clk := &clock{now: time.Now().Truncate(time.Second)}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", clk.Now().UTC().Format(http.TimeFormat)) // the edge's clock is fake
		switch {
		case strings.HasPrefix(r.URL.Path, "/big"):
			w.Header().Set("Cache-Control", "public, max-age=60")
			io.WriteString(w, strings.Repeat("0123456789abcdef", 100<<10/16))
			return
		case strings.HasPrefix(r.URL.Path, "/varied"):
			w.Header().Set("Vary", "Accept-Language")
		case strings.HasPrefix(r.URL.Path, "/missing"):
			w.Header().Set("Cache-Control", "max-age=60")
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Sat, 05 Dec 2026 10:00:00 GMT")
		w.Header().Set("Surrogate-Key", "k1")
		io.WriteString(w, "body of "+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	u, _ := url.Parse(origin.URL)
	reg := prometheus.NewRegistry()
	st := httpcache.NewStore(64 << 20)
	cache := httpcache.New(httpcache.Config{Origin: u, Transport: &http.Transport{}, Timeout: 5 * time.Second,
		MaxObjectBytes: 1 << 20, ServedBy: "edge-test", Now: clk.Now}, st, httpcache.NewMetrics(reg, st))
	httpm := platform.NewHTTPMetrics(reg, "edge", nil)
	mux := http.NewServeMux()
	httpm.Handle(mux, "/", cache)
	handler := platform.WithRequestID(mux)

	std := httptest.NewServer(handler)
	t.Cleanup(std.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Cache: cache, PlainGetsConfig: platform.PlainGetsConfig{
		Route: httpm.Route("/"), Fallback: handler, ShutdownTimeout: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	p := &pair{std: std.URL, fast: "http://" + ln.Addr().String(), clock: clk, reg: reg, srv: srv}
	var once sync.Once
	var stopErr error
	p.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { p.stop() })
	return p
}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, client *http.Client, method, u string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// TestAnswersAsTheHandlerDoes asks both engines the same requests, one
// after the other on one cache, and wants the same answers: a plain hit
// from the hit path, everything else handed to net/http.
func TestAnswersAsTheHandlerDoes(t *testing.T) {
	p := newPair(t)
	// A connection each: one handed over stays with net/http.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	requests := []struct {
		method, path string
		header       []string
	}{
		{"GET", "/a", nil}, // a miss, then hits
		{"GET", "/a", nil},
		{"GET", "/a", []string{"X-Request-Id", "req-42"}},
		{"GET", "/a?x=1&y=2", nil},
		{"GET", "/big", nil},
		{"GET", "/big", nil},
		{"GET", "/a", []string{"If-None-Match", `"v1"`}},
		{"GET", "/a", []string{"Range", "bytes=0-3"}},
		{"GET", "/a", []string{"Cache-Control", "max-age=0"}},
		{"GET", "/a", []string{"Via", "1.1 other-proxy"}}, // the handler's loop detection reads Via
		{"HEAD", "/a", nil},
		{"GET", "/varied", []string{"Accept-Language", "de"}},
		{"GET", "/varied", []string{"Accept-Language", "de"}},
		{"GET", "/missing", nil},
		{"GET", "/missing", nil},
		{"GET", "/a%2Fb", nil},
		{"POST", "/a", nil},
		{"GET", "/a", nil}, // refetched after the POST invalidated it
	}
	for _, rq := range requests {
		std := get(t, client, rq.method, p.std+rq.path, rq.header...)
		fast := get(t, client, rq.method, p.fast+rq.path, rq.header...)
		what := rq.method + " " + rq.path + " " + strings.Join(rq.header, ": ")
		if std.status != fast.status || std.body != fast.body {
			t.Errorf("%s: std %d %q, fast %d %q", what, std.status, trim(std.body), fast.status, trim(fast.body))
		}
		for _, h := range []http.Header{std.header, fast.header} {
			if id := h.Get("X-Request-Id"); len(id) != 32 && id != "req-42" {
				t.Errorf("%s: X-Request-Id %q", what, id)
			}
			h.Del("X-Request-Id")
		}
		if std.header.Get("X-Cache") == "MISS" {
			continue // the second one was a hit: only the status and body can match
		}
		if !sameHeader(std.header, fast.header) {
			t.Errorf("%s: headers differ:\n std  %v\n fast %v", what, std.header, fast.header)
		}
	}
	p.clock.Advance(2 * time.Minute) // stale: revalidated by the handler, on both
	std := get(t, client, "GET", p.std+"/a")
	fast := get(t, client, "GET", p.fast+"/a")
	if std.header.Get("X-Cache") != "REVALIDATED" || fast.header.Get("X-Cache") != "HIT" {
		t.Errorf("stale /a: std %q, then fast %q", std.header.Get("X-Cache"), fast.header.Get("X-Cache"))
	}
	// The plain hits: /a four times, /a?x=1&y=2, /big twice, /a revalidated.
	if n := p.srv.conns.Answered(); n != 8 {
		t.Errorf("the hit path answered %d requests, want the 8 plain hits", n)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		if !slices.Equal(va, b[k]) {
			return false
		}
	}
	return true
}

// TestCountsHitsAsTheHandlerDoes: a hit the hit path answers is in the
// cache's and the platform's series like one the handler answers.
func TestCountsHitsAsTheHandlerDoes(t *testing.T) {
	p := newPair(t)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get(t, client, "GET", p.fast+"/counted") // a miss, handed over
	for range 3 {
		get(t, client, "GET", p.fast+"/counted")
	}
	body := "body of /counted"
	want := strings.NewReader(`
# HELP scalelab_edge_cache_requests_total Requests by cache result: hit (served fresh from memory), miss (fetched from the origin), bypass (not cacheable, proxied), stale (served past its lifetime), revalidated (stale, confirmed by a 304).
# TYPE scalelab_edge_cache_requests_total counter
scalelab_edge_cache_requests_total{result="bypass"} 0
scalelab_edge_cache_requests_total{result="hit"} 3
scalelab_edge_cache_requests_total{result="miss"} 1
scalelab_edge_cache_requests_total{result="revalidated"} 0
scalelab_edge_cache_requests_total{result="stale"} 0
# HELP scalelab_edge_http_requests_total HTTP requests served, by route template, method and status class.
# TYPE scalelab_edge_http_requests_total counter
scalelab_edge_http_requests_total{code="2xx",method="GET",route="/"} 4
`)
	if err := testutil.GatherAndCompare(p.reg, want, "scalelab_edge_cache_requests_total", "scalelab_edge_http_requests_total"); err != nil {
		t.Error(err)
	}
	want = strings.NewReader(`
# HELP scalelab_edge_served_bytes_total Response body bytes sent to clients, by where they came from: cache (a hit) or origin (a miss or bypass).
# TYPE scalelab_edge_served_bytes_total counter
scalelab_edge_served_bytes_total{source="cache"} ` + strconv.Itoa(3*len(body)) + `
scalelab_edge_served_bytes_total{source="origin"} ` + strconv.Itoa(len(body)) + `
`)
	if err := testutil.GatherAndCompare(p.reg, want, "scalelab_edge_served_bytes_total"); err != nil {
		t.Error(err)
	}
}

// TestPipelinedRequestsAreHandedOverInOrder: a plain hit answered by the
// hit path, then a conditional request on the same connection, already
// buffered, goes to net/http with its bytes, and the connection serves on.
func TestPipelinedRequestsAreHandedOverInOrder(t *testing.T) {
	p := newPair(t)
	get(t, http.DefaultClient, "GET", p.fast+"/p") // fill
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.fast, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /p HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"v1\"\r\n\r\n"+
		"GET /p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	for i, want := range []int{200, 304, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || resp.Header.Get("X-Cache") != "HIT" {
			t.Errorf("answer %d: %d %s, want %d HIT", i+1, resp.StatusCode, resp.Header.Get("X-Cache"), want)
		}
		if want == 200 && string(body) != "body of /p" {
			t.Errorf("answer %d: body %q", i+1, body)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close, read %v, want EOF", err)
	}
}

// TestConnectionCloseIsHonoured: the hit path answers with Connection:
// close and closes.
func TestConnectionCloseIsHonoured(t *testing.T) {
	p := newPair(t)
	get(t, http.DefaultClient, "GET", p.fast+"/c") // fill
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.fast, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	all, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Cache") != "HIT" || !resp.Close {
		t.Errorf("X-Cache %q, Connection %q", resp.Header.Get("X-Cache"), resp.Header.Get("Connection"))
	}
}

// TestShutdownClosesIdleConnections: Serve returns once its context ends,
// closing the keep-alive connections that wait for a next request, the
// hit path's and the handed-over ones alike.
func TestShutdownClosesIdleConnections(t *testing.T) {
	p := newPair(t)
	get(t, http.DefaultClient, "GET", p.fast+"/s") // fill
	addr := strings.TrimPrefix(p.fast, "http://")
	var conns []net.Conn
	for _, head := range []string{
		"GET /s HTTP/1.1\r\nHost: a\r\n\r\n",                     // stays with the hit path
		"GET /s HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n", // handed over
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, head)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		conns = append(conns, c)
	}
	if err := p.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection %d: read %d, %v after shutdown, want EOF", i+1, n, err)
		}
	}
}

// TestTimeoutsCloseConnections: a connection that sends nothing for
// IdleTimeout, or only part of a head for HeaderTimeout, is closed.
func TestTimeoutsCloseConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := httpcache.NewStore(1 << 20)
	srv := New(Config{Cache: httpcache.New(httpcache.Config{}, st, httpcache.NewMetrics(prometheus.NewRegistry(), st)),
		PlainGetsConfig: platform.PlainGetsConfig{Fallback: http.NotFoundHandler(), ShutdownTimeout: time.Second,
			Limits: platform.Limits{IdleTimeout: 50 * time.Millisecond, HeaderTimeout: 50 * time.Millisecond}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	for name, send := range map[string]string{"idle": "", "partial head": "GET /a HTTP/1.1\r\nHost: a\r\n"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, send)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: read %d, %v; want the server to close (EOF)", name, n, err)
		}
	}
}
