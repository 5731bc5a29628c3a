package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"scalelab/services/platform"
	"scalelab/services/platform/platformtest"
)

// waitTimeout bounds every wait so a broken service fails the test instead of
// hanging it. It is never used to judge how fast something happened.
const waitTimeout = 20 * time.Second

var client = &http.Client{Timeout: waitTimeout}

// syncBuffer collects a service's log lines; the lines the service writes
// at each step of its life (listening, draining) are the signals the tests
// wait on.
type syncBuffer struct {
	mu      sync.Mutex
	sb      strings.Builder
	written chan struct{} // closed and replaced on every Write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.sb.Write(p)
}

// next returns the logs so far and a channel closed by the next Write.
func (b *syncBuffer) next() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == nil {
		b.written = make(chan struct{})
	}
	return b.sb.String(), b.written
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

type running struct {
	svc        *platform.Service
	trafficURL string
	adminURL   string
	cancel     context.CancelFunc
	done       chan error // receives Run's result once
	logs       *syncBuffer
}

func testBase(t *testing.T) platform.Base {
	return platform.Base{
		ListenAddr:      platformtest.FreeAddr(t),
		AdminAddr:       platformtest.FreeAddr(t),
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: waitTimeout,
	}
}

// startService runs svc in the background and waits until its admin
// listener answers /healthz (readiness is left to the test).
func startService(t *testing.T, base platform.Base, handler http.Handler, setup func(*platform.Service)) *running {
	t.Helper()
	logs := &syncBuffer{}
	svc := platform.New("test", base, logs)
	if setup != nil {
		setup(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{
		svc: svc, trafficURL: "http://" + base.ListenAddr, adminURL: "http://" + base.AdminAddr,
		cancel: cancel, done: make(chan error, 1), logs: logs,
	}
	go func() { r.done <- svc.Run(ctx, handler) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after cancel\n%s", logs.String())
		}
	})
	r.waitLog(t, "listening") // both listeners are bound: connections queue until accepted
	return r
}

// waitLog waits until the service logs msg; Run returning first, or
// waitTimeout passing, fails the test.
func (r *running) waitLog(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		logs, written := r.logs.next()
		if strings.Contains(logs, `"msg":"`+msg+`"`) {
			return
		}
		select {
		case <-written:
		case err := <-r.done:
			r.done <- err
			t.Fatalf("Run returned before logging %q: %v\n%s", msg, err, logs)
		case <-timeout:
			t.Fatalf("no %q in the logs within %v:\n%s", msg, waitTimeout, logs)
		}
	}
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getReadyz(t *testing.T, adminURL string) (int, readyBody) {
	t.Helper()
	resp, err := client.Get(adminURL + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/readyz Content-Type = %q, want application/json", ct)
	}
	var body readyBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, body
}

func TestServiceDrainsGracefully(t *testing.T) {
	base := testBase(t)
	base.DrainDelay = 300 * time.Millisecond
	entered := make(chan struct{})
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	r := startService(t, base, handler, nil)

	if code, body := getReadyz(t, r.adminURL); code != http.StatusOK || body.Status != "ready" {
		t.Fatalf("/readyz before shutdown = %d %q, want 200 ready", code, body.Status)
	}
	if r.svc.Draining() {
		t.Fatal("Draining() = true before shutdown")
	}

	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get(r.trafficURL + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	r.cancel()

	// /readyz turns 503 "draining" while the request is still in flight.
	r.waitLog(t, "draining")
	if code, body := getReadyz(t, r.adminURL); code != http.StatusServiceUnavailable || body.Status != "draining" {
		t.Fatalf("/readyz while draining = %d %q, want 503 draining", code, body.Status)
	}
	if !r.svc.Draining() {
		t.Error("Draining() = false after /readyz reported draining")
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v with a request still in flight", err)
	case res := <-inflight:
		t.Fatalf("in-flight request ended before release: %+v", res)
	default:
	}

	close(release)

	select {
	case res := <-inflight:
		if res.err != nil || res.code != http.StatusOK || res.body != "finished" {
			t.Errorf("in-flight request = %d %q %v, want 200 finished", res.code, res.body, res.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("in-flight request never finished")
	}
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after the drain")
	}

	// Both listeners are closed once Run returns.
	for _, addr := range []string{base.ListenAddr, base.AdminAddr} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Run returned", addr)
		}
	}
	logs := r.logs.String()
	for _, msg := range []string{`"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, msg) {
			t.Errorf("logs lack %s:\n%s", msg, logs)
		}
	}
}

func TestServiceShutdownTimeoutClosesStuckRequests(t *testing.T) {
	base := testBase(t)
	base.ShutdownTimeout = 50 * time.Millisecond
	entered := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	r := startService(t, base, handler, nil)

	clientErr := make(chan error, 1)
	go func() {
		resp, err := client.Get(r.trafficURL + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	r.cancel()

	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Fatalf("Run = %v, want nil after the shutdown timeout", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return with a request stuck past SHUTDOWN_TIMEOUT")
	}
	select {
	case err := <-clientErr:
		if err == nil {
			t.Error("stuck request got a response; want its connection closed")
		}
	case <-time.After(waitTimeout):
		t.Fatal("stuck request's connection was not closed")
	}
	if logs := r.logs.String(); !strings.Contains(logs, "shutdown timeout passed") {
		t.Errorf("logs lack the shutdown timeout warning:\n%s", logs)
	}
}

func TestServiceReadyChecks(t *testing.T) {
	ok := func(context.Context) error { return nil }
	fail := func(msg string) func(context.Context) error {
		return func(context.Context) error { return errors.New(msg) }
	}
	needsDeadline := func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("check context has no deadline")
		}
		return nil
	}
	type check struct {
		name string
		fn   func(context.Context) error
	}
	tests := []struct {
		name       string
		checks     []check
		wantCode   int
		wantStatus string
		wantChecks map[string]string
	}{
		{"no checks", nil, 200, "ready", map[string]string{}},
		{"passing", []check{{"redis", ok}, {"deadline", needsDeadline}}, 200, "ready",
			map[string]string{"redis": "ok", "deadline": "ok"}},
		{"failing", []check{{"redis", fail("dial tcp: connection refused")}}, 503, "unready",
			map[string]string{"redis": "dial tcp: connection refused"}},
		{"one of two failing", []check{{"redis", ok}, {"origin", fail("timeout")}}, 503, "unready",
			map[string]string{"redis": "ok", "origin": "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startService(t, testBase(t), http.NotFoundHandler(), func(s *platform.Service) {
				for _, c := range tt.checks {
					s.AddReadyCheck(c.name, c.fn)
				}
			})
			code, body := getReadyz(t, r.adminURL)
			if code != tt.wantCode || body.Status != tt.wantStatus {
				t.Errorf("/readyz = %d %q, want %d %q", code, body.Status, tt.wantCode, tt.wantStatus)
			}
			if fmt.Sprint(body.Checks) != fmt.Sprint(tt.wantChecks) {
				t.Errorf("checks = %v, want %v", body.Checks, tt.wantChecks)
			}
		})
	}
}

func TestServiceReadyCheckAddedWhileRunning(t *testing.T) {
	r := startService(t, testBase(t), http.NotFoundHandler(), nil)
	if code, _ := getReadyz(t, r.adminURL); code != 200 {
		t.Fatalf("/readyz = %d, want 200", code)
	}
	r.svc.AddReadyCheck("late", func(context.Context) error { return errors.New("not yet") })
	code, body := getReadyz(t, r.adminURL)
	if code != 503 || body.Checks["late"] != "not yet" {
		t.Errorf("/readyz = %d %+v, want 503 naming late", code, body)
	}
}

// A service can add its own admin endpoints (the edge's purge API) next to
// the shared ones, which keep working; the traffic listener never sees them.
func TestServiceHandleAdmin(t *testing.T) {
	r := startService(t, testBase(t), http.NotFoundHandler(), func(svc *platform.Service) {
		svc.HandleAdmin("POST /cache/purge", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "purged "+r.URL.Query().Get("url"))
		}))
	})
	tests := []struct {
		name, url, method string
		wantStatus        int
		wantBody          string
	}{
		{"added handler", r.adminURL + "/cache/purge?url=/a", http.MethodPost, 200, "purged /a"},
		{"method of the pattern only", r.adminURL + "/cache/purge", http.MethodGet, 405, ""},
		{"shared endpoints still there", r.adminURL + "/healthz", http.MethodGet, 200, "ok"},
		{"not on the traffic listener", r.trafficURL + "/cache/purge", http.MethodPost, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.url, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestServiceListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenAddr := taken.Addr().String()

	tests := []struct {
		name           string
		listen, admin  string
		wantErr        string
		trafficFreedOn bool // the traffic address can be listened on again
	}{
		{"traffic port taken", takenAddr, "", "LISTEN_ADDR", false},
		{"traffic address invalid", "256.0.0.1:1", "", "LISTEN_ADDR", false},
		{"admin port taken", "", takenAddr, "ADMIN_ADDR", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := testBase(t)
			if tt.listen != "" {
				base.ListenAddr = tt.listen
			}
			if tt.admin != "" {
				base.AdminAddr = tt.admin
			}
			svc := platform.New("test", base, io.Discard)
			done := make(chan error, 1)
			go func() { done <- svc.Run(context.Background(), http.NotFoundHandler()) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				t.Fatal("Run did not fail on an unusable address")
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
				t.Fatalf("Run = %v, want an error naming %s", err, tt.wantErr)
			}
			if tt.trafficFreedOn {
				ln, err := net.Listen("tcp", base.ListenAddr)
				if err != nil {
					t.Fatalf("traffic listener leaked after ADMIN_ADDR failed: %v", err)
				}
				ln.Close()
			}
		})
	}
}

// run is a RunFunc built the way every service's main is.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := platform.NewEnv(getenv)
	base := platform.LoadBase(env, ":8080")
	if err := env.Err(); err != nil {
		return err
	}
	svc := platform.New("demo", base, stdout)
	mux := http.NewServeMux()
	svc.HTTP.Handle(mux, "GET /hello/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s %s", r.PathValue("name"), platform.RequestID(r.Context()))
	}))
	if getenv("UNREADY") != "" {
		svc.AddReadyCheck("dependency", func(context.Context) error { return errors.New("down") })
	}
	return svc.Run(ctx, mux)
}

func TestServiceEndToEnd(t *testing.T) {
	svc := platformtest.Start(t, run, nil)

	req, _ := http.NewRequest("GET", svc.URL+"/hello/ann", nil)
	req.Header.Set(platform.RequestIDHeader, "trace-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello ann trace-1" {
		t.Errorf("GET /hello/ann = %d %q, want 200 %q", resp.StatusCode, body, "hello ann trace-1")
	}
	if id := resp.Header.Get(platform.RequestIDHeader); id != "trace-1" {
		t.Errorf("response %s = %q, want trace-1", platform.RequestIDHeader, id)
	}

	for path, want := range map[string]string{
		"/healthz": "ok\n",
		"/metrics": `scalelab_demo_http_requests_total{code="2xx",method="GET",route="GET /hello/{name}"} 1`,
	} {
		resp, err := client.Get(svc.AdminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, body lacks %q:\n%.2000s", path, resp.StatusCode, want, b)
		}
	}

	if err := svc.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
}

func TestHealthcheck(t *testing.T) {
	ready := platformtest.Start(t, run, nil)
	readyAdmin := strings.TrimPrefix(ready.AdminURL, "http://")

	// A service that serves but is not ready: Start would wait for readiness
	// forever, so run it by hand.
	unreadyBase := testBase(t)
	startService(t, unreadyBase, http.NotFoundHandler(), func(s *platform.Service) {
		s.AddReadyCheck("dependency", func(context.Context) error { return errors.New("down") })
	})

	tests := []struct {
		name    string
		admin   string
		wantErr string // "" for nil
	}{
		{"ready service", readyAdmin, ""},
		{"ready service, any-host address", ":" + portOf(t, readyAdmin), ""},
		{"unready service", unreadyBase.AdminAddr, "503"},
		{"nothing listening", platformtest.FreeAddr(t), "healthcheck"},
		{"invalid ADMIN_ADDR", "no-port", "ADMIN_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := platform.Healthcheck(func(k string) string {
				if k == "ADMIN_ADDR" {
					return tt.admin
				}
				return ""
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Healthcheck = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Healthcheck = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
