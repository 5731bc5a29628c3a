package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"scalelab/services/platform/platformtest"
)

// namedBackend answers with X-Served-By: name, as api replicas do.
func namedBackend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// get sends one request through the lb and returns the response with its
// body read.
func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestRoundRobinAlternates(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d backends", n), func(t *testing.T) {
			var urls, names []string
			for i := range n {
				name := fmt.Sprintf("b%d", i)
				names = append(names, name)
				urls = append(urls, namedBackend(t, name).URL)
			}
			lb := startLB(t, map[string]string{"LB_BACKENDS": strings.Join(urls, ",")})

			const rounds = 10
			for i := range rounds * n {
				resp, _ := get(t, lb.URL+"/whoami", nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
				// Backends are listed in LB_BACKENDS order and the rotation
				// starts at the first, so request i goes to backend i mod n.
				if got, want := resp.Header.Get("X-Served-By"), names[i%n]; got != want {
					t.Fatalf("request %d served by %q, want %q", i, got, want)
				}
				if resp.Header.Get("X-Backend") == "" {
					t.Fatalf("request %d: no X-Backend header", i)
				}
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	// The backend echoes the headers it received.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "echo")
		json.NewEncoder(w).Encode(map[string]string{
			"host":  r.Host,
			"xff":   strings.Join(r.Header.Values("X-Forwarded-For"), ","),
			"proto": r.Header.Get("X-Forwarded-Proto"),
			"xhost": r.Header.Get("X-Forwarded-Host"),
			"id":    r.Header.Get("X-Request-Id"),
		})
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL})
	lbHost := strings.TrimPrefix(lb.URL, "http://")
	backendHost := strings.TrimPrefix(backend.URL, "http://")

	tests := []struct {
		name   string
		header http.Header
		wantID string // "" means: generated, and the same on both sides
	}{
		{"client id is forwarded", http.Header{"X-Request-Id": {"abc-123"}}, "abc-123"},
		{"missing id is generated", nil, ""},
		{"forged X-Forwarded-For is replaced", http.Header{"X-Forwarded-For": {"6.6.6.6"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, lb.URL+"/headers", tt.header)
			var seen map[string]string
			if err := json.Unmarshal([]byte(body), &seen); err != nil {
				t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
			}
			if seen["xff"] != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", seen["xff"])
			}
			if seen["proto"] != "http" {
				t.Errorf("X-Forwarded-Proto = %q, want http", seen["proto"])
			}
			if seen["xhost"] != lbHost {
				t.Errorf("X-Forwarded-Host = %q, want %q", seen["xhost"], lbHost)
			}
			if seen["host"] != backendHost {
				t.Errorf("Host = %q, want the backend's %q", seen["host"], backendHost)
			}
			respID := resp.Header.Get("X-Request-Id")
			if seen["id"] == "" || seen["id"] != respID {
				t.Errorf("backend got X-Request-Id %q, client got %q; want the same, non-empty", seen["id"], respID)
			}
			if tt.wantID != "" && seen["id"] != tt.wantID {
				t.Errorf("X-Request-Id = %q, want %q", seen["id"], tt.wantID)
			}
			if got := resp.Header.Get("X-Served-By"); got != "echo" {
				t.Errorf("X-Served-By = %q, want the backend's header kept", got)
			}
		})
	}
}

// A transparent proxy hands the backend the request target the client sent,
// byte for byte: no cleaning of "//" or "..", no redirect. The requests are
// written as raw bytes, so that no client library tidies the path first.
func TestPathIsForwardedUnchanged(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RequestURI)
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL})
	lbAddr := strings.TrimPrefix(lb.URL, "http://")

	for _, target := range []string{
		"//a//b?x=1",
		"/a/../b",
		"/a/./b/",
		"/a%2Fb/%2e%2e/c?y=%2F",
	} {
		t.Run(target, func(t *testing.T) {
			conn, err := net.Dial("tcp", lbAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, lbAddr); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != target {
				t.Errorf("GET %s: %d, backend saw %q (Location %q); want 200 and the same target",
					target, resp.StatusCode, body, resp.Header.Get("Location"))
			}
		})
	}
}

func TestBackendFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more: connection refused

	// slow holds each request until the lb gives up on it (its context
	// ends when the lb closes the connection) or the test ends.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name     string
		backend  string
		wantCode int
		wantBody string
	}{
		{"closed backend", closed.URL, http.StatusBadGateway,
			"502 Bad Gateway: backend " + strings.TrimPrefix(closed.URL, "http://") + " failed: "},
		{"slow backend", slow.URL, http.StatusGatewayTimeout,
			"504 Gateway Timeout: backend " + strings.TrimPrefix(slow.URL, "http://") + " too slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := startLB(t, map[string]string{
				"LB_BACKENDS":        tt.backend,
				"LB_BACKEND_TIMEOUT": "200ms",
				// Checks would find the backend down and make the lb
				// unready before the test could start it; this test is
				// about what a request meets.
				"LB_HEALTH_PATH": "off",
			})
			resp, body := get(t, lb.URL+"/", nil)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.wantCode, body)
			}
			if !strings.HasPrefix(body, tt.wantBody) {
				t.Fatalf("body %q, want it to start with %q", body, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			addr := strings.TrimPrefix(tt.backend, "http://")
			waitForMetric(t, lb, `scalelab_lb_backend_requests_total{backend="`+addr+`",code="5xx"} 1`)
		})
	}
}

// A client that hangs up before the answer is counted as 499, not as a
// backend failure.
func TestClientGoneIs499(t *testing.T) {
	arrived := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(backend.Close)
	// No health checks: the backend must see the test's request only.
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, lb.URL+"/hang", nil)
	go func() { <-arrived; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request succeeded, want it cancelled")
	}
	addr := strings.TrimPrefix(backend.URL, "http://")
	waitForMetric(t, lb, `scalelab_lb_backend_requests_total{backend="`+addr+`",code="499"} 1`)
	waitForMetric(t, lb, `scalelab_lb_http_requests_total{code="499",method="GET",route="/"} 1`)
}

// lineSignal is a log writer that closes seen at the first write holding
// line.
type lineSignal struct {
	line string
	seen chan struct{}
	once sync.Once
}

func (w *lineSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.line) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// startLB runs the lb as main does, logging at debug unless env says
// otherwise: the tests wait on its log lines (see waitForMetric).
func startLB(t *testing.T, env map[string]string) *platformtest.Running {
	t.Helper()
	if env["LOG_LEVEL"] == "" {
		env["LOG_LEVEL"] = "debug"
	}
	return platformtest.Start(t, run, env)
}

// waitForMetric waits until /metrics has line, looking again each time
// the lb logs a line: at debug it logs every request it answers (after
// counting it), every retry, ejection and health check, so a metric that
// moves is followed by a log line.
func waitForMetric(t *testing.T, lb *platformtest.Running, line string) {
	t.Helper()
	var body string
	lb.Await(t, "metric line "+line, func() bool {
		body = metricsText(t, lb.AdminURL)
		return strings.Contains(body, line+"\n")
	})
}

func TestConnectionsAreReused(t *testing.T) {
	const requests = 200
	var conns [2]atomic.Int64
	var urls []string
	for i := range conns {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns[i].Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	lb := startLB(t, map[string]string{"LB_BACKENDS": strings.Join(urls, ",")})
	for i := range requests {
		if resp, _ := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	for i := range conns {
		if n := conns[i].Load(); n > 2 {
			t.Errorf("backend %d saw %d new connections for %d requests, want <= 2", i, n, requests/len(conns))
		}
	}
}

// With nothing resolvable the lb still starts: it answers 503 with an
// explanation and is not ready, until discovery finds something.
func TestNoBackendYet(t *testing.T) {
	listen, admin := platformtest.FreeAddr(t), platformtest.FreeAddr(t)
	vars := map[string]string{
		"LB_BACKENDS":    "dns://no-such-replica.invalid:8080",
		"LB_DNS_REFRESH": "50ms",
		"LISTEN_ADDR":    listen,
		"ADMIN_ADDR":     admin,
		"LOG_LEVEL":      "info",
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	logs := &lineSignal{line: `"msg":"listening"`, seen: make(chan struct{})}
	go func() {
		done <- run(ctx, []string{"lb"}, func(k string) string { return vars[k] }, logs, logs)
	}()
	// The platform logs "listening" once its listeners are bound.
	select {
	case <-logs.seen:
	case err := <-done:
		t.Fatalf("run returned before serving: %v", err)
	}
	resp, err := http.Get("http://" + listen + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no backend available") {
		t.Errorf("got %d %q, want 503 explaining there is no backend", resp.StatusCode, body)
	}
	ready, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", ready.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// dns://localhost:port reaches a backend on every address localhost
// resolves to. The same handler listens on each of them, as compose
// replicas sharing a name would.
func TestDNSBackend(t *testing.T) {
	ips, err := net.DefaultResolver.LookupHost(t.Context(), "localhost")
	if err != nil || len(ips) == 0 {
		t.Fatalf("localhost does not resolve here (the lb's dns:// backends need a resolver): %v", err)
	}
	lns, port := listenAll(t, ips)
	var mu sync.Mutex
	served := map[string]int{} // by local address the request arrived on
	for _, ln := range lns {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			served[r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()]++
			mu.Unlock()
			io.WriteString(w, "ok")
		})}}
		srv.Start()
		t.Cleanup(srv.Close)
	}

	lb := startLB(t, map[string]string{"LB_BACKENDS": "dns://localhost:" + port})
	for i := range 2 * len(ips) {
		if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != len(ips) {
		t.Errorf("requests reached %v, want each of %v on port %s", served, ips, port)
	}
}

// listenAll listens on one port on every address of ips. The port is the
// one the kernel picks for the first address; another process may hold it
// on a later address, so a few ports are tried before giving up.
func listenAll(t *testing.T, ips []string) ([]net.Listener, string) {
	t.Helper()
	var last error
	for range 5 {
		var lns []net.Listener
		port := "0"
		for _, ip := range ips {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				last = fmt.Errorf("listen on %s port %s: %w", ip, port, err)
				break
			}
			lns = append(lns, ln)
			_, port, _ = net.SplitHostPort(ln.Addr().String())
		}
		if len(lns) == len(ips) {
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on every address of localhost %v: %v", ips, last)
	return nil, ""
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"backends missing", map[string]string{}, "LB_BACKENDS"},
		{"backends empty", map[string]string{"LB_BACKENDS": " "}, "LB_BACKENDS"},
		{"only commas", map[string]string{"LB_BACKENDS": ","}, "LB_BACKENDS"},
		{"wrong scheme", map[string]string{"LB_BACKENDS": "ftp://x"}, "LB_BACKENDS"},
		{"no host", map[string]string{"LB_BACKENDS": "http://"}, "LB_BACKENDS"},
		{"dns without port", map[string]string{"LB_BACKENDS": "dns://name"}, "LB_BACKENDS"},
		{"negative refresh", map[string]string{"LB_BACKENDS": "http://a:1", "LB_DNS_REFRESH": "-1s"}, "LB_DNS_REFRESH"},
		{"refresh not a duration", map[string]string{"LB_BACKENDS": "http://a:1", "LB_DNS_REFRESH": "2"}, "LB_DNS_REFRESH"},
		{"zero connect timeout", map[string]string{"LB_BACKENDS": "http://a:1", "LB_CONNECT_TIMEOUT": "0s"}, "LB_CONNECT_TIMEOUT"},
		{"bad backend timeout", map[string]string{"LB_BACKENDS": "http://a:1", "LB_BACKEND_TIMEOUT": "soon"}, "LB_BACKEND_TIMEOUT"},
		{"both reported", map[string]string{"LB_BACKENDS": "ftp://x", "LB_DNS_REFRESH": "-1s"}, "LB_DNS_REFRESH"},
		{"both reported, backends too", map[string]string{"LB_BACKENDS": "ftp://x", "LB_DNS_REFRESH": "-1s"}, "LB_BACKENDS"},
		{"unknown policy", map[string]string{"LB_BACKENDS": "http://a:1", "LB_POLICY": "fastest"}, "LB_POLICY"},
		{"bad hash key", map[string]string{"LB_BACKENDS": "http://a:1", "LB_POLICY": "hash", "LB_HASH_KEY": "path"}, "LB_HASH_KEY"},
		{"balance factor below 100", map[string]string{"LB_BACKENDS": "http://a:1", "LB_POLICY": "hash", "LB_HASH_BALANCE_FACTOR": "50"}, "LB_HASH_BALANCE_FACTOR"},
		{"bad weight", map[string]string{"LB_BACKENDS": "http://a:1 weight=0"}, "LB_BACKENDS"},
		{"retries not a number", map[string]string{"LB_BACKENDS": "http://a:1", "LB_RETRIES": "many"}, "LB_RETRIES"},
		{"negative retries", map[string]string{"LB_BACKENDS": "http://a:1", "LB_RETRIES": "-1"}, "LB_RETRIES"},
		{"zero try timeout", map[string]string{"LB_BACKENDS": "http://a:1", "LB_TRY_TIMEOUT": "0s"}, "LB_TRY_TIMEOUT"},
		{"bad request timeout", map[string]string{"LB_BACKENDS": "http://a:1", "LB_REQUEST_TIMEOUT": "1"}, "LB_REQUEST_TIMEOUT"},
		{"budget over 1000%", map[string]string{"LB_BACKENDS": "http://a:1", "LB_RETRY_BUDGET_PERCENT": "5000"}, "LB_RETRY_BUDGET_PERCENT"},
		{"health path relative", map[string]string{"LB_BACKENDS": "http://a:1", "LB_HEALTH_PATH": "healthz"}, "LB_HEALTH_PATH"},
		{"zero rise", map[string]string{"LB_BACKENDS": "http://a:1", "LB_HEALTH_RISE": "0"}, "LB_HEALTH_RISE"},
		{"ejection share over 100", map[string]string{"LB_BACKENDS": "http://a:1", "LB_MAX_EJECTION_PERCENT": "101"}, "LB_MAX_EJECTION_PERCENT"},
		{"ejection cap below base", map[string]string{"LB_BACKENDS": "http://a:1", "LB_EJECT_TIME": "1m", "LB_EJECT_MAX_TIME": "10s"}, "LB_EJECT_MAX_TIME"},
		{"trusted proxy not an address", map[string]string{"LB_BACKENDS": "http://a:1", "LB_TRUSTED_PROXIES": "edge.local"}, "LB_TRUSTED_PROXIES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Fixed, unused addresses: run must fail before it listens.
			tt.env["LISTEN_ADDR"], tt.env["ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
			err := run(t.Context(), []string{"lb"}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// BenchmarkProxy measures the whole lb on loopback (client -> lb -> one
// backend) so later policies and peers (nginx, HAProxy) can be compared
// with it as ratios in one run.
func BenchmarkProxy(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the backend\n")
	}))
	b.Cleanup(backend.Close)
	lb := platformtest.Start(b, run, map[string]string{"LB_BACKENDS": backend.URL, "LOG_LEVEL": "error"})
	// The platform writes an access log line per request at info level;
	// LOG_LEVEL=error turns it off so this measures proxying, not logging.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(lb.URL + "/bench")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// LB_POLICY=hash with a header key: each user sticks to one replica, and
// the users are spread over all of them.
func TestHashPolicyIsSticky(t *testing.T) {
	var urls []string
	for i := range 3 {
		urls = append(urls, namedBackend(t, fmt.Sprint("b", i)).URL)
	}
	lb := startLB(t, map[string]string{
		"LB_BACKENDS": strings.Join(urls, ","),
		"LB_POLICY":   "hash",
		"LB_HASH_KEY": "header:X-User",
	})
	served := map[string]bool{}
	for u := range 30 {
		user := http.Header{"X-User": {fmt.Sprint("user-", u)}}
		first := ""
		for i := range 3 {
			resp, _ := get(t, lb.URL+"/", user)
			by := resp.Header.Get("X-Served-By")
			if i == 0 {
				first = by
			} else if by != first {
				t.Fatalf("user-%d went to %s, then %s", u, first, by)
			}
		}
		served[first] = true
	}
	if len(served) != 3 {
		t.Errorf("30 users reached %d of 3 backends", len(served))
	}
}

// Weights from LB_BACKENDS: 3 to 1 is three answers in four.
func TestWeightedRoundRobin(t *testing.T) {
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	lb := startLB(t, map[string]string{
		"LB_BACKENDS": a.URL + " weight=3," + b.URL,
		"LB_POLICY":   "weighted_round_robin",
	})
	var seq []string
	for range 8 {
		resp, _ := get(t, lb.URL+"/", nil)
		seq = append(seq, resp.Header.Get("X-Served-By"))
	}
	if got, want := strings.Join(seq, ""), "aabaaaba"; got != want {
		t.Fatalf("served in order %q, want nginx's smooth %q", got, want)
	}
}

// With nothing configured but LB_BACKENDS, a dead backend in the list
// costs no request: retries are on by default.
func TestDefaultsRetryOnDeadBackend(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	good := namedBackend(t, "good")
	// Start waits for /readyz, which the good backend keeps green.
	lb := startLB(t, map[string]string{"LB_BACKENDS": dead.URL + "," + good.URL})
	for i := range 20 {
		if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "good" {
			t.Fatalf("request %d: %d %q, want 200 from the live backend", i, resp.StatusCode, body)
		}
	}
}

// A POST is retried after a refused dial, with or without an
// Idempotency-Key: nothing of it was sent. The next backend gets the
// whole body, through either engine's transport.
func TestPostRetriedWithBodyAfterRefusedDial(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	t.Cleanup(echo.Close)
	for _, engine := range []string{"fast", "std"} {
		for _, key := range []string{"order-1", ""} {
			t.Run(engine+" key="+key, func(t *testing.T) {
				// A fresh lb each time: round robin starts at the dead backend.
				lb := startLB(t, map[string]string{"LB_BACKENDS": dead.URL + "," + echo.URL, "LB_HEALTH_PATH": "off", "LB_ENGINE": engine})
				req, _ := http.NewRequest(http.MethodPost, lb.URL+"/orders", strings.NewReader(`{"item":42}`))
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != `{"item":42}` {
					t.Errorf("%d %q, want 200 from the retried backend with the whole body", resp.StatusCode, body)
				}
			})
		}
	}
}
