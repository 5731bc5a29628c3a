package fastpath

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
	"scalelab/services/platform/platformtest"
)

// testPool offers its backends and records what requests observed.
type testPool struct {
	backends []*balancer.Backend
	mu       sync.Mutex
	failed   map[string]int
}

func (p *testPool) Available() []*balancer.Backend { return p.backends }
func (p *testPool) failures(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed[addr]
}

func (p *testPool) Observe(b *balancer.Backend, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if failed {
		p.failed[b.Addr]++
	}
}

// testLB is a fast path in front of some backends.
type testLB struct {
	addr  string
	url   string
	reg   *prometheus.Registry
	pool  *testPool
	stop  func()
	bound []*balancer.Backend
	logs  *platformtest.LogBuffer // the lb's log at debug, and its access log
}

type lbOption func(*Config)

func startLB(t testing.TB, backendURLs []string, opts ...lbOption) *testLB {
	t.Helper()
	var bs []*balancer.Backend
	for _, s := range backendURLs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, balancer.NewBackend(u))
	}
	reg := prometheus.NewRegistry()
	m := forward.NewMetrics(reg)
	m.Track(bs, bs, nil)
	// A test waits on the log lines (see await); a benchmark logs nothing.
	logs := &platformtest.LogBuffer{}
	logger := slog.New(slog.DiscardHandler)
	if _, bench := t.(*testing.B); !bench {
		logger = platform.NewLogger(logs, slog.LevelDebug, "lb")
	}
	hm := platform.NewHTTPMetrics(reg, "lb", logger)
	pool := &testPool{backends: bs, failed: map[string]int{}}
	cfg := Config{
		Pool:    pool,
		Policy:  balancer.NewRoundRobin(),
		Metrics: m,
		Forward: forward.Config{
			Retries: 2, TryTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second,
			Budget: forward.NewBudget(20, 10),
		},
		ConnectTimeout:  time.Second,
		Logger:          logger,
		Route:           hm.Route("/"),
		ShutdownTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(cfg).Serve(ctx, ln) }()
	lb := &testLB{addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), reg: reg, pool: pool, bound: bs, logs: logs}
	var once sync.Once
	lb.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(lb.stop)
	return lb
}

// counter reads one series of the lb's registry.
func (lb *testLB) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := lb.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// await returns once cond holds, checking it again after each line the
// lb logs: the access log line is written once a request is counted, so
// no test sleeps to see a count move. The bound turns a hang into a failure.
func (lb *testLB) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	lb.logs.Await(t, what, cond, nil, 30*time.Second)
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
}

// echoBackend answers with the digest and length of the body it read, in
// the framing the query asks for: cl, chunked, or close (no length, the
// connection closes).
func echoBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		sum := sha256.Sum256(body)
		size := 100
		fmt.Sscan(r.URL.Query().Get("size"), &size)
		answer := []byte(fmt.Sprintf("%d %s\n", len(body), hex.EncodeToString(sum[:])))
		answer = append(answer, bytes.Repeat([]byte("x"), size)...)
		switch r.URL.Query().Get("framing") {
		case "chunked":
			w.WriteHeader(200)
			for len(answer) > 0 {
				n := min(len(answer), 1000)
				w.Write(answer[:n])
				w.(http.Flusher).Flush()
				answer = answer[n:]
			}
		case "close":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
			buf.Write(answer)
			buf.Flush()
			conn.Close()
		default:
			w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
			w.Write(answer)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBodiesOfEveryFraming(t *testing.T) {
	backend := echoBackend(t)
	lb := startLB(t, []string{backend.URL})
	client := newClient()
	bodies := map[string]int{"none": -1, "small": 1000, "buffered limit": maxBufferedBody, "large": 300 << 10}
	for bodyName, size := range bodies {
		for _, chunked := range []bool{false, true} {
			if size < 0 && chunked {
				continue
			}
			for _, framing := range []string{"cl", "chunked", "close"} {
				for _, respSize := range []int{0, 100, 200 << 10} {
					name := fmt.Sprintf("%s body chunked=%v, %s answer of %d", bodyName, chunked, framing, respSize)
					t.Run(name, func(t *testing.T) {
						var body io.Reader
						var sent []byte
						if size >= 0 {
							sent = bytes.Repeat([]byte("abcdefghij"), size/10+1)[:size]
							body = bytes.NewReader(sent)
							if chunked {
								body = struct{ io.Reader }{body} // unknown length: chunked
							}
						}
						req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/echo?framing=%s&size=%d", lb.url, framing, respSize), body)
						resp, err := client.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						got, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil {
							t.Fatal(err)
						}
						sum := sha256.Sum256(sent)
						want := fmt.Sprintf("%d %s\n", len(sent), hex.EncodeToString(sum[:]))
						if resp.StatusCode != 200 || !strings.HasPrefix(string(got), want) || len(got) != len(want)+respSize {
							t.Errorf("status %d, %d bytes starting %q; want 200, %d bytes starting %q",
								resp.StatusCode, len(got), got[:min(len(got), 80)], len(want)+respSize, want)
						}
						if framing == "cl" && resp.ContentLength != int64(len(want)+respSize) {
							t.Errorf("Content-Length %d, want the backend's", resp.ContentLength)
						}
						if framing != "cl" && len(resp.TransferEncoding) == 0 {
							t.Errorf("no chunked framing for an answer without length to an HTTP/1.1 client")
						}
					})
				}
			}
		}
	}
}

// An HTTP/1.0 client gets a body of unknown length as the bytes, ended by
// closing; HEAD gets the head only.
func TestHTTP10AndHEAD(t *testing.T) {
	backend := echoBackend(t)
	lb := startLB(t, []string{backend.URL})

	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /?framing=chunked&size=5000 HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(conn) // ends only if the lb closes
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(all), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200") || strings.Contains(strings.ToLower(head), "transfer-encoding") ||
		!strings.HasSuffix(body, strings.Repeat("x", 5000)) || strings.Contains(body, "\r\n") {
		t.Errorf("HTTP/1.0 answer:\n%s\n(body %d bytes)", head, len(body))
	}

	resp, err := newClient().Head(lb.url + "/?framing=cl&size=10")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 10 {
		t.Errorf("HEAD: status %d, Content-Length %d; want 200 and the GET's length", resp.StatusCode, resp.ContentLength)
	}
}

// Keep-alive on both sides: many requests from one client connection
// reach the backend over one connection.
func TestKeepAliveReused(t *testing.T) {
	var accepted atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	lb := startLB(t, []string{backend.URL})

	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	const n = 50
	for i := range n {
		fmt.Fprintf(conn, "GET /%d HTTP/1.1\r\nHost: lb\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
	if got := accepted.Load(); got != 1 {
		t.Errorf("the backend accepted %d connections for %d requests, want 1", got, n)
	}
	// Pipelined: two requests in one write, two answers in order.
	fmt.Fprintf(conn, "GET /a HTTP/1.1\r\nHost: lb\r\n\r\nGET /b HTTP/1.1\r\nHost: lb\r\n\r\n")
	for _, p := range []string{"/a", "/b"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pipelined %s: %v", p, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
}

// headerEcho answers with the request's headers and Host as JSON, and sets
// hop-by-hop headers of its own on the response.
func headerEcho(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Backend", "forged")
		json.NewEncoder(w).Encode(h)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sendRaw(t *testing.T, addr, head string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestHeadersRewritten(t *testing.T) {
	backend := headerEcho(t)
	lb := startLB(t, []string{backend.URL})
	backendHost := strings.TrimPrefix(backend.URL, "http://")

	resp, body := sendRaw(t, lb.addr, "GET /h HTTP/1.1\r\nHost: example.test\r\n"+
		"Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic x\r\n"+
		"Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nForwarded: for=6.6.6.6\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: forged\r\nX-Forwarded-Proto: https\r\nVia: 1.1 upstream\r\n"+
		"X-Kept: yes\r\n\r\n")
	var seen http.Header
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
	}
	for _, gone := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Trailer", "Forwarded"} {
		if v, ok := seen[gone]; ok {
			t.Errorf("backend got %s: %q, want it removed", gone, v)
		}
	}
	want := map[string]string{
		"Host":              backendHost,
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Host":  "example.test",
		"X-Forwarded-Proto": "http",
		"Te":                "trailers",
		"X-Kept":            "yes",
	}
	for k, v := range want {
		if got := strings.Join(seen[k], ","); got != v {
			t.Errorf("backend got %s %q, want %q", k, got, v)
		}
	}
	if got := strings.Join(seen["Via"], ","); got != "1.1 upstream,1.1 scalelab-lb" {
		t.Errorf("Via %q, want the client's then the lb's", got)
	}
	id := seen.Get("X-Request-Id")
	if len(id) != 32 || resp.Header.Get("X-Request-Id") != id {
		t.Errorf("X-Request-Id %q to the backend, %q to the client; want one generated id on both", id, resp.Header.Get("X-Request-Id"))
	}
	for _, gone := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if v := resp.Header.Get(gone); v != "" {
			t.Errorf("client got %s: %q, want it removed", gone, v)
		}
	}
	if got := resp.Header.Values("X-Backend"); len(got) != 1 || got[0] != backendHost {
		t.Errorf("X-Backend %q, want only %q", got, backendHost)
	}
	if got := resp.Header.Get("Via"); got != "1.1 scalelab-lb" {
		t.Errorf("response Via %q", got)
	}

	// The client's id is kept when sane.
	_, body = sendRaw(t, lb.addr, "GET /h HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n")
	json.Unmarshal([]byte(body), &seen)
	if got := seen.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("X-Request-Id %q, want the client's abc-123", got)
	}
}

func TestTrustedProxyChainExtended(t *testing.T) {
	backend := headerEcho(t)
	trusted, _ := forward.ParseTrusted("127.0.0.0/8")
	lb := startLB(t, []string{backend.URL}, func(c *Config) { c.Forward.Trusted = trusted })
	_, body := sendRaw(t, lb.addr, "GET / HTTP/1.1\r\nHost: lb\r\nX-Forwarded-For: 1.2.3.4\r\nX-Other: o\r\n"+
		"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: shop.test\r\nX-Forwarded-Proto: https\r\n\r\n")
	var seen http.Header
	json.Unmarshal([]byte(body), &seen)
	if got := seen.Get("X-Forwarded-For"); got != "1.2.3.4, 10.0.0.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the trusted chain extended with the peer", got)
	}
	if seen.Get("X-Forwarded-Host") != "shop.test" || seen.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Host %q, Proto %q; want the trusted proxy's", seen.Get("X-Forwarded-Host"), seen.Get("X-Forwarded-Proto"))
	}
}

func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func TestRetriesOnDeadBackend(t *testing.T) {
	dead := deadURL(t)
	live := namedBackend(t, "live", 200)
	lb := startLB(t, []string{dead, live.URL})
	deadAddr := strings.TrimPrefix(dead, "http://")
	client := newClient()

	for i := range 4 {
		resp, err := client.Get(lb.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "live" {
			t.Fatalf("GET %d: %d %q, want the live backend's answer", i, resp.StatusCode, body)
		}
	}
	// Round robin over two, and the retry's pick turns the rotation too:
	// every GET starts on the dead backend.
	if got := lb.counter(t, "scalelab_lb_backend_retries_total", map[string]string{"backend": deadAddr}); got != 4 {
		t.Errorf("retries from the dead backend: %v, want 4", got)
	}
	if n := lb.pool.failures(deadAddr); n != 4 {
		t.Errorf("failures observed on the dead backend: %d, want 4", n)
	}
	// A POST, which may not be sent twice, goes elsewhere too: its dial
	// failed, so it was not sent once.
	for i := range 2 {
		resp, err := client.Post(lb.url+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "live" {
			t.Errorf("POST %d: %d %q, want the live backend's answer", i, resp.StatusCode, body)
		}
	}
	if got := lb.counter(t, "scalelab_lb_backend_retries_total", map[string]string{"backend": deadAddr}); got != 6 {
		t.Errorf("retries from the dead backend after the POSTs: %v, want 6 (each POST started there too)", got)
	}
}

// A POST the backend took and then dropped without an answer may have
// been acted on: it is not sent again, and the client gets the 502.
func TestPOSTCutOffNotRetried(t *testing.T) {
	var hits atomic.Int64
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(drop.Close)
	live := namedBackend(t, "live", 200)
	lb := startLB(t, []string{drop.URL, live.URL})
	resp, err := newClient().Post(lb.url+"/", "text/plain", strings.NewReader("x")) // round robin starts at drop
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dropAddr := strings.TrimPrefix(drop.URL, "http://")
	if resp.StatusCode != 502 || !strings.HasPrefix(string(body), "502 Bad Gateway: backend "+dropAddr) || hits.Load() != 1 {
		t.Errorf("POST dropped by its backend: %d %q after %d hits, want 502 Bad Gateway naming it after 1", resp.StatusCode, body, hits.Load())
	}
}

// namedBackend answers with its name and the given status.
func namedBackend(t *testing.T, name string, status int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRetryOn503OnlyWhenIdempotent(t *testing.T) {
	busy := namedBackend(t, "busy", 503)
	ok := namedBackend(t, "ok", 200)
	lb := startLB(t, []string{busy.URL, ok.URL})
	client := newClient()
	resp, err := client.Get(lb.url + "/") // round robin starts at busy
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("GET: %d %q, want the retry's 200 ok", resp.StatusCode, body)
	}
	resp, _ = client.Get(lb.url + "/") // ok: moves the rotation on
	resp.Body.Close()
	resp, err = client.Post(lb.url+"/", "text/plain", strings.NewReader("once"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(body) != "busy" {
		t.Errorf("POST: %d %q, want the backend's own 503, not retried", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, lb.url+"/", strings.NewReader("keyed"))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST with Idempotency-Key: %d %q, want it retried to 200", resp.StatusCode, body)
	}
}

func TestTimeoutsAnswer504(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	lb := startLB(t, []string{slow.URL}, func(c *Config) {
		c.Forward.Retries = 0
		c.Forward.TryTimeout = 300 * time.Millisecond
	})
	start := time.Now()
	resp, err := newClient().Get(lb.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || !strings.HasPrefix(string(body), "504 Gateway Timeout: backend ") ||
		!strings.Contains(string(body), "LB_TRY_TIMEOUT") {
		t.Errorf("%d %q, want 504 naming LB_TRY_TIMEOUT", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v with a 300ms try timeout", took)
	}
	// Counted once the exchange returns, a moment after the client has
	// its answer.
	lb.await(t, "scalelab_lb_http_requests_total{code=5xx} 1", func() bool {
		return lb.counter(t, "scalelab_lb_http_requests_total", map[string]string{"code": "5xx"}) == 1
	})
}

func TestNoBackend503(t *testing.T) {
	lb := startLB(t, nil)
	resp, err := newClient().Get(lb.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.HasPrefix(string(body), "503 Service Unavailable:") {
		t.Errorf("%d %q, want 503 Service Unavailable", resp.StatusCode, body)
	}
}

// A client that hangs up while the backend thinks is a 499, the backend's
// connection is closed (so it stops working on it), and nothing counts as
// a backend failure.
func TestClientGoneIs499(t *testing.T) {
	arrived := make(chan struct{}, 1)
	cancelled := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
		cancelled <- struct{}{}
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, []string{backend.URL})
	addr := strings.TrimPrefix(backend.URL, "http://")

	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /hang HTTP/1.1\r\nHost: lb\r\n\r\n")
	<-arrived
	conn.Close()
	<-cancelled // the test's deadline bounds it
	lb.await(t, "backend 499 counted", func() bool {
		return lb.counter(t, "scalelab_lb_backend_requests_total", map[string]string{"backend": addr, "code": "499"}) == 1
	})
	lb.await(t, "http 499 counted", func() bool {
		return lb.counter(t, "scalelab_lb_http_requests_total", map[string]string{"code": "499", "method": "GET"}) == 1
	})
	if n := lb.pool.failures(addr); n != 0 {
		t.Errorf("%d failures observed on the backend, want 0", n)
	}
}

func TestSmugglingShapedRefusedAndNeverForwarded(t *testing.T) {
	var seen atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, []string{backend.URL})
	cases := map[string]string{
		"CL and TE":            "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two CLs":              "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\nhello!",
		"two TEs":              "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
		"gzip, chunked":        "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"space before colon":   "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length : 5\r\n\r\nhello",
		"obs-fold":             "GET / HTTP/1.1\r\nHost: lb\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
		"bad chunk size":       "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"bare LF in a chunk":   "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		"oversized head (431)": "GET / HTTP/1.1\r\nHost: lb\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			resp, body := sendRaw(t, lb.addr, raw)
			want := 400
			if strings.Contains(name, "431") {
				want = 431
			}
			if resp.StatusCode != want || !resp.Close {
				t.Errorf("%d %q (close %v), want %d and the connection closed", resp.StatusCode, body, resp.Close, want)
			}
		})
	}
	// A chunked body is framed anew for the backend, so a malformed one
	// may have reached it as a head and a partial body, never as a whole
	// request: the backend handler never ran.
	if n := seen.Load(); n != 0 {
		t.Errorf("the backend served %d requests, want 0", n)
	}
}

func TestSlowHeadCutOff(t *testing.T) {
	backend := namedBackend(t, "b", 200)
	lb := startLB(t, []string{backend.URL}, func(c *Config) { c.HeaderTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: lb\r\nX-Slow: ")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := conn.Read(make([]byte, 100))
	if n != 0 || err == nil || time.Since(start) > 15*time.Second {
		t.Errorf("read %d bytes, %v after %v; want the connection closed", n, err, time.Since(start))
	}
}

func TestUnsupportedHandedToFallback(t *testing.T) {
	backend := namedBackend(t, "backend", 200)
	lb := startLB(t, []string{backend.URL}, func(c *Config) {
		c.Fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "fallback "+r.Header.Get("Upgrade")+r.Header.Get("Expect"))
		})
	})
	for _, tt := range []struct{ head, want string }{
		{"GET /ws HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "fallback websocket"},
		{"POST / HTTP/1.1\r\nHost: lb\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "fallback 100-continue"},
		{"GET / HTTP/1.1\r\nHost: lb\r\n\r\n", "backend"},
	} {
		resp, body := sendRaw(t, lb.addr, tt.head)
		if resp.StatusCode != 200 || body != tt.want {
			t.Errorf("%q: %d %q, want %q", tt.head, resp.StatusCode, body, tt.want)
		}
	}
}

// Shutdown stops accepting, lets the request in flight finish, and closes
// idle keep-alive connections.
func TestGracefulShutdown(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, []string{backend.URL})

	idle, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /fast HTTP/1.1\r\nHost: lb\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("idle connection's first request: %v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := newClient().Get(lb.url + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-arrived
	stopped := make(chan struct{})
	go func() { lb.stop(); close(stopped) }()

	// The idle connection is closed.
	idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := ibr.ReadByte(); err == nil {
		t.Error("idle keep-alive connection still open during shutdown")
	}
	// New connections are refused: the listener closed before the drain
	// began, and so before the idle connection above was closed.
	if c, err := net.DialTimeout("tcp", lb.addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	select {
	case <-stopped:
		t.Fatal("stopped with a request in flight")
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request: %d %q %v, want it finished with 200", r.status, r.body, r.err)
	}
	<-stopped
}

func TestBodyLimitsAndConcurrencyLimit(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	var posts atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
		}
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "read %d", n)
	}))
	t.Cleanup(backend.Close)
	t.Cleanup(func() { close(release) })
	lb := startLB(t, []string{backend.URL}, func(c *Config) {
		c.Forward.MaxBodyBytes = 1024
		c.Forward.BodyTimeout = 300 * time.Millisecond
		c.Forward.MaxRequestsPerBackend = 1
	})

	resp, body := sendRaw(t, lb.addr, "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 2000\r\n\r\n")
	if resp.StatusCode != 413 || !strings.HasPrefix(body, "413 Content Too Large:") {
		t.Errorf("declared body over the limit: %d %q, want 413", resp.StatusCode, body)
	}
	chunk := fmt.Sprintf("%x\r\n%s\r\n", 800, strings.Repeat("a", 800))
	resp, body = sendRaw(t, lb.addr, "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk+chunk+"0\r\n\r\n")
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: %d %q, want 413", resp.StatusCode, body)
	}
	resp, body = sendRaw(t, lb.addr, "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 10\r\n\r\nhalf")
	if resp.StatusCode != 408 || !strings.HasPrefix(body, "408 Request Timeout:") {
		t.Errorf("body too slow: %d %q, want 408", resp.StatusCode, body)
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("the backend served %d POSTs, want none of these", n)
	}

	held := make(chan error, 1)
	go func() {
		resp, err := newClient().Get(lb.url + "/hold")
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	<-arrived
	resp, err := newClient().Get(lb.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "LB_MAX_REQUESTS_PER_BACKEND=1") {
		t.Errorf("with the only backend full: %d %q, want 503 naming the limit", resp.StatusCode, b)
	}
	if got := lb.counter(t, "scalelab_lb_concurrency_limited_total", nil); got != 1 {
		t.Errorf("scalelab_lb_concurrency_limited_total = %v, want 1", got)
	}
	release <- struct{}{}
	if err := <-held; err != nil {
		t.Errorf("held request: %v", err)
	}
}

// At LOG_LEVEL=info the platform's access log line of a fast path request
// names its request id and the size of the body sent, as for the std engine.
func TestAccessLog(t *testing.T) {
	backend := namedBackend(t, "twelve bytes", 200)
	lb := startLB(t, []string{backend.URL})
	resp, body := sendRaw(t, lb.addr, "GET /p?q=1 HTTP/1.1\r\nHost: lb\r\nX-Request-Id: log-me\r\n\r\n")
	if resp.StatusCode != 200 || body != "twelve bytes" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	var line map[string]any
	lb.await(t, "an access log line", func() bool {
		for _, l := range strings.Split(lb.logs.String(), "\n") {
			if strings.Contains(l, `"msg":"request"`) {
				return json.Unmarshal([]byte(l), &line) == nil
			}
		}
		return false
	})
	if line["request_id"] != "log-me" || line["path"] != "/p" || line["status"] != float64(200) || line["bytes"] != float64(12) {
		t.Errorf("access log %v, want request_id log-me, path /p, status 200, bytes 12", line)
	}
}
