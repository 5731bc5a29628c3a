package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// restartable is a named backend that can be killed (its port then
// refuses connections) and started again on the same address.
type restartable struct {
	t    *testing.T
	name string
	addr string
	mu   sync.Mutex
	srv  *httptest.Server
}

func newRestartable(t *testing.T, name string) *restartable {
	r := &restartable{t: t, name: name}
	r.start("127.0.0.1:0")
	r.addr = r.srv.Listener.Addr().String()
	t.Cleanup(r.kill)
	return r
}

func (r *restartable) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("listen %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Served-By", r.name)
		io.WriteString(w, r.name)
	})}}
	srv.Start()
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

func (r *restartable) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.srv = nil
	}
}

// load sends GETs from a few clients until stop is closed, and counts
// answers by X-Served-By and failures with their reasons. Every answer is
// signalled (changed), so a test waits on the load's own progress, never
// on the clock.
type load struct {
	mu       sync.Mutex
	changed  *sync.Cond
	served   map[string]int
	failures []string
	total    int
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(url string, clients int) *load {
	l := &load{served: map[string]int{}, stop: make(chan struct{})}
	l.changed = sync.NewCond(&l.mu)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	for range clients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				l.mu.Lock()
				l.served[resp.Header.Get("X-Served-By")]++
				l.total++
				l.changed.Broadcast()
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	l.failures = append(l.failures, msg)
	l.total++
	l.changed.Broadcast()
	l.mu.Unlock()
}

// await waits until cond, called under the load's lock, holds after an
// answer; only a deadline far beyond any interval fails it.
func (l *load) await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	expired := false
	timer := time.AfterFunc(20*time.Second, func() {
		l.mu.Lock()
		expired = true
		l.changed.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for !cond() {
		if expired {
			t.Fatalf("%s: not within 20s", what)
		}
		l.changed.Wait()
	}
}

func (l *load) servedBy(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.served[name]
}

func (l *load) answers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func metricsText(t *testing.T, adminURL string) string {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// The guide's failover scenario: a replica killed under a steady GET load costs no
// client a failed request (retries on another backend), is ejected, and
// gets traffic again once it is back.
func TestKilledBackendUnderLoad(t *testing.T) {
	a, b, c := newRestartable(t, "a"), newRestartable(t, "b"), newRestartable(t, "c")
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":        "http://" + a.addr + ",http://" + b.addr + ",http://" + c.addr,
		"LB_HEALTH_INTERVAL": "50ms",
		"LB_EJECT_TIME":      "100ms",
	})
	l := startLoad(lb.URL+"/", 4)
	defer l.end()
	l.await(t, "b serves under load", func() bool { return l.served["b"] > 20 })

	b.kill()
	lb.Await(t, "b ejected or marked unhealthy", func() bool {
		m := metricsText(t, lb.AdminURL)
		return strings.Contains(m, `scalelab_lb_backend_state{backend="`+b.addr+`",state="available"} 0`)
	})
	before, total := l.servedBy("b"), l.answers()
	l.await(t, "the next 50 answers", func() bool { return l.total >= total+50 })
	if n := l.servedBy("b"); n != before {
		t.Errorf("killed b still served %d requests", n-before)
	}

	b.start(b.addr)
	l.await(t, "b serves again after it came back", func() bool { return l.served["b"] > before+20 })
	l.end()
	l.stop = make(chan struct{}) // the deferred end has nothing left to stop

	if len(l.failures) > 0 {
		t.Fatalf("%d of %d client requests failed, want none; first: %s", len(l.failures), l.answers(), l.failures[0])
	}
	// The series exists from the start at 0: it must have counted.
	m := metricsText(t, lb.AdminURL)
	prefix := `scalelab_lb_backend_retries_total{backend="` + b.addr + `"} `
	i := strings.Index(m, prefix)
	if i < 0 {
		t.Fatalf("no retries series for the killed backend")
	}
	if v, _, _ := strings.Cut(m[i+len(prefix):], "\n"); v == "0" {
		t.Errorf("no retry counted for the killed backend")
	}
}

// A backend that accepts connections and never answers costs each request
// at most about one try timeout, then is ejected.
func TestHangingBackendCostsOneTryTimeout(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	good := namedBackend(t, "good")
	const tryTimeout = 200 * time.Millisecond
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":    hanging.URL + "," + good.URL,
		"LB_TRY_TIMEOUT": tryTimeout.String(),
		"LB_HEALTH_PATH": "off", // passive ejection alone
	})
	for i := range 20 {
		start := time.Now()
		resp, body := get(t, lb.URL+"/", nil)
		took := time.Since(start)
		if resp.StatusCode != http.StatusOK || body != "good" {
			t.Fatalf("request %d: %d %q, want 200 from the good backend", i, resp.StatusCode, body)
		}
		// A wide bound: one try timeout plus the good backend's answer;
		// 10x leaves room for a loaded machine.
		if took > 10*tryTimeout {
			t.Errorf("request %d took %v, want about one try timeout (%v) at most", i, took, tryTimeout)
		}
	}
	waitForMetric(t, lb, `scalelab_lb_backend_ejections_total{backend="`+strings.TrimPrefix(hanging.URL, "http://")+`"} 1`)
}

// /readyz follows the health checks: unready while the only backend fails
// them, ready again when it passes.
func TestReadyzFollowsHealthChecks(t *testing.T) {
	var down atomic.Bool
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" && down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":        backend.URL,
		"LB_HEALTH_PATH":     "/ping",
		"LB_HEALTH_INTERVAL": "20ms",
		"LB_HEALTH_FALL":     "2",
		"LB_HEALTH_RISE":     "2",
	})
	readyz := func() int {
		resp, err := http.Get(lb.AdminURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	down.Store(true)
	lb.Await(t, "unready", func() bool { return readyz() == http.StatusServiceUnavailable })
	waitForMetric(t, lb, `scalelab_lb_backends{state="unhealthy"} 1`)
	// Every backend out: requests still go to it rather than all failing.
	if resp, body := get(t, lb.URL+"/x", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("with the only backend unhealthy: %d %q, want it tried anyway", resp.StatusCode, body)
	}
	down.Store(false)
	lb.Await(t, "ready again", func() bool { return readyz() == http.StatusOK })
}

// Hop-by-hop headers, including those Connection names, stop at the lb in
// both directions.
func TestHopByHopHeadersRemoved(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		w.Header().Set("Connection", "X-Backend-Secret")
		w.Header().Set("X-Backend-Secret", "1")
		w.Header().Set("X-Kept", "1")
		io.WriteString(w, strings.Join(names, ","))
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	lbAddr := strings.TrimPrefix(lb.URL, "http://")

	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\n"+
		"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nX-Normal: 1\r\n\r\n", lbAddr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := map[string]bool{}
	for _, k := range strings.Split(string(body), ",") {
		got[k] = true
	}
	for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Connection", "Te"} {
		if got[k] {
			t.Errorf("backend received hop-by-hop %s (saw %s)", k, body)
		}
	}
	if !got["X-Normal"] {
		t.Errorf("backend did not receive X-Normal (saw %s)", body)
	}
	if resp.Header.Get("X-Backend-Secret") != "" || resp.Header.Get("X-Kept") != "1" {
		t.Errorf("client got response headers %v: want X-Backend-Secret removed, X-Kept kept", resp.Header)
	}
}

// A WebSocket-style upgrade is passed through: after the 101, bytes flow
// both ways over the one connection.
func TestUpgradePassesThrough(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			io.WriteString(w, "plain")
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		for { // echo lines, upper-cased, until the client hangs up
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(strings.ToUpper(line))
			rw.Flush()
		}
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL})
	lbAddr := strings.TrimPrefix(lb.URL, "http://")

	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", lbAddr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != strings.ToUpper(msg) {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
}

// Server-sent events are flushed as they come, not when the stream ends:
// the client reads the first event while the backend still holds the
// second. The stream outlives the try timeout: a stream is not a slow
// backend. That a try timeout has passed is shown by the lb itself: a
// request to a path that never answers, sent after the first event, gets
// its 504.
func TestEventStreamIsFlushed(t *testing.T) {
	next := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done()
			return
		case "/events":
		default:
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(backend.Close)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_TRY_TIMEOUT": "300ms",
		"LB_HEALTH_PATH": "off", "LB_EJECT_AFTER": "0"})

	resp, err := http.Get(lb.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	read := func() (string, error) {
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			br.ReadString('\n') // the blank line ending the event
			got <- line
		}()
		select {
		case line := <-got:
			return line, nil
		case <-time.After(20 * time.Second):
			return "", errors.New("no event within 20s: the proxy is buffering the stream")
		}
	}
	first, err := read()
	if err != nil || first != "data: one\n" {
		t.Fatalf("first event %q, %v", first, err)
	}
	if hung, body := get(t, lb.URL+"/hang", nil); hung.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("/hang: %d %q, want the 504 of LB_TRY_TIMEOUT", hung.StatusCode, body)
	}
	close(next)
	if second, err := read(); err != nil || second != "data: two\n" {
		t.Fatalf("second event %q, %v", second, err)
	}
}

// The per-backend metrics a dashboard needs are exported from the start
// and move with the traffic.
func TestBackendMetricsExported(t *testing.T) {
	a := namedBackend(t, "a")
	lb := startLB(t, map[string]string{"LB_BACKENDS": a.URL, "LB_HEALTH_INTERVAL": "20ms"})
	for range 5 {
		get(t, lb.URL+"/", nil)
	}
	addr := strings.TrimPrefix(a.URL, "http://")
	for _, line := range []string{
		`scalelab_lb_backend_requests_total{backend="` + addr + `",code="2xx"} 5`,
		`scalelab_lb_backend_request_duration_seconds_count{backend="` + addr + `"} 5`,
		`scalelab_lb_proxy_overhead_seconds_count 5`,
		`scalelab_lb_backend_requests_in_flight{backend="` + addr + `"} 0`,
		`scalelab_lb_backend_state{backend="` + addr + `",state="available"} 1`,
		`scalelab_lb_backend_ejections_total{backend="` + addr + `"} 0`,
		`scalelab_lb_backend_retries_total{backend="` + addr + `"} 0`,
		`scalelab_lb_retry_budget_exhausted_total 0`,
		`scalelab_lb_backends{state="available"} 1`,
	} {
		waitForMetric(t, lb, line)
	}
	lb.Await(t, "passing health checks counted", func() bool {
		return strings.Contains(metricsText(t, lb.AdminURL), `scalelab_lb_backend_health_checks_total{backend="`+addr+`",result="pass"}`)
	})
}
