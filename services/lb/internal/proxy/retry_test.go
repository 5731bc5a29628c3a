package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// fakeBackends answers for each backend address with the function given,
// and logs which backends were tried, in order.
type fakeBackends struct {
	mu    sync.Mutex
	tried []string
	do    map[string]func(*http.Request) (*http.Response, error)
}

func (f *fakeBackends) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.tried = append(f.tried, r.URL.Host)
	do := f.do[r.URL.Host]
	f.mu.Unlock()
	return do(r)
}

func (f *fakeBackends) order() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.tried, " ")
}

func answer(status int, body string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)),
			ProtoMajor: 1, ProtoMinor: 1, Request: r}, nil
	}
}

func failWith(err error) func(*http.Request) (*http.Response, error) {
	return func(*http.Request) (*http.Response, error) { return nil, err }
}

// hang waits until the try's context ends, as a backend that accepted the
// connection and never answers.
func hang(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

type setup struct {
	bs      []*balancer.Backend
	pool    *staticPool
	fake    *fakeBackends
	reg     *prometheus.Registry
	metrics *forward.Metrics
	h       *Handler
}

// newSetup builds a handler over backends a, b, c... answering as given.
func newSetup(t *testing.T, cfg forward.Config, do ...func(*http.Request) (*http.Response, error)) *setup {
	t.Helper()
	s := &setup{fake: &fakeBackends{do: map[string]func(*http.Request) (*http.Response, error){}}, reg: prometheus.NewRegistry()}
	for i, d := range do {
		b := balancer.NewBackend(&url.URL{Scheme: "http", Host: fmt.Sprintf("%c:80", 'a'+i)})
		s.bs = append(s.bs, b)
		s.fake.do[b.Addr] = d
	}
	s.pool = &staticPool{backends: s.bs}
	s.metrics = forward.NewMetrics(s.reg)
	s.metrics.Track(s.bs, s.bs, nil)
	s.h = New(s.pool, balancer.NewRoundRobin(), s.fake, s.metrics, quiet, cfg)
	return s
}

func (s *setup) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return rec
}

func get() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }

func TestRetries(t *testing.T) {
	ok := answer(200, "ok")
	tests := []struct {
		name      string
		do        []func(*http.Request) (*http.Response, error)
		req       func() *http.Request
		wantCode  int
		wantTried string
		wantBody  string
	}{
		{"refused, retried on the next", []func(*http.Request) (*http.Response, error){failWith(refused), ok, ok},
			// Round robin carries on among the untried: pick 2 of [b c].
			get, 200, "a:80 c:80", "ok"},
		{"502 retried", []func(*http.Request) (*http.Response, error){answer(502, "bad"), ok}, get, 200, "a:80 b:80", "ok"},
		{"503 retried", []func(*http.Request) (*http.Response, error){answer(503, "busy"), ok}, get, 200, "a:80 b:80", "ok"},
		{"500 is an answer", []func(*http.Request) (*http.Response, error){answer(500, "oops"), ok}, get, 500, "a:80", "oops"},
		{"404 is an answer", []func(*http.Request) (*http.Response, error){answer(404, "no"), ok}, get, 404, "a:80", "no"},
		{"at most 2 retries, each elsewhere", []func(*http.Request) (*http.Response, error){failWith(refused), failWith(refused), failWith(refused), ok},
			get, 502, "a:80 c:80 b:80", "502 Bad Gateway: backend b:80 failed (the last of 3 tries on different backends): "},
		{"last 503 passed through", []func(*http.Request) (*http.Response, error){answer(503, "x"), answer(503, "y")},
			get, 503, "a:80 b:80", "y"},
		{"no other backend: no retry", []func(*http.Request) (*http.Response, error){failWith(refused)},
			get, 502, "a:80", "502 Bad Gateway: backend a:80 failed: "},
		{"HEAD retried", []func(*http.Request) (*http.Response, error){failWith(refused), ok},
			func() *http.Request { return httptest.NewRequest(http.MethodHead, "/", nil) }, 200, "a:80 b:80", ""},
		{"POST whose dial failed retried (nothing was sent)", []func(*http.Request) (*http.Response, error){failWith(refused), ok},
			func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")) }, 200, "a:80 b:80", "ok"},
		{"POST cut off after sending not retried", []func(*http.Request) (*http.Response, error){
			failWith(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), ok},
			func() *http.Request { return httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")) }, 502, "a:80", "502 Bad Gateway"},
		{"DELETE not retried", []func(*http.Request) (*http.Response, error){answer(503, "busy"), ok},
			func() *http.Request { return httptest.NewRequest(http.MethodDelete, "/", nil) }, 503, "a:80", "busy"},
		{"POST with Idempotency-Key and no body sent: retried", []func(*http.Request) (*http.Response, error){failWith(refused), ok},
			func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("payload"))
				r.Header.Set("Idempotency-Key", "k1")
				return r
			}, 200, "a:80 b:80", "ok"},
		{"POST with Idempotency-Key, body partly sent: not retried", []func(*http.Request) (*http.Response, error){
			func(r *http.Request) (*http.Response, error) {
				r.Body.Read(make([]byte, 3))
				return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
			}, ok},
			func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("payload"))
				r.Header.Set("Idempotency-Key", "k1")
				return r
			}, 502, "a:80", "502 Bad Gateway"},
		{"POST with Idempotency-Key, 503 after the body: not retried", []func(*http.Request) (*http.Response, error){answer(503, "busy"), ok},
			func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("payload"))
				r.Header.Set("Idempotency-Key", "k1")
				return r
			}, 503, "a:80", "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, testConfig(), tt.do...)
			rec := s.serve(tt.req())
			if rec.Code != tt.wantCode || !strings.HasPrefix(rec.Body.String(), tt.wantBody) {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if got := s.fake.order(); got != tt.wantTried {
				t.Errorf("tried %q, want %q", got, tt.wantTried)
			}
			last := tt.wantTried[strings.LastIndex(tt.wantTried, " ")+1:]
			if got := rec.Header().Get(forward.BackendHeader); got != last {
				t.Errorf("%s = %q, want the last backend tried, %q", forward.BackendHeader, got, last)
			}
		})
	}
}

// The retried request carries the whole body to the next backend.
func TestRetryResendsUnreadBody(t *testing.T) {
	var got string
	s := newSetup(t, testConfig(), failWith(refused), func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		return answer(201, "made")(r)
	})
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"n":1}`))
	r.Header.Set("Idempotency-Key", "abc")
	if rec := s.serve(r); rec.Code != 201 || got != `{"n":1}` {
		t.Fatalf("got %d, second backend read %q", rec.Code, got)
	}
}

// Passive health hears of every try; the retry is counted against the
// backend that failed.
func TestRetryReportsEveryTry(t *testing.T) {
	s := newSetup(t, testConfig(), failWith(refused), answer(200, "ok"))
	s.serve(get())
	if got := strings.Join(s.pool.observed, ","); got != "a:80 failed,b:80 ok" {
		t.Errorf("observed %q", got)
	}
	if n := float64(s.metrics.Counts(s.bs[0]).Retries); n != 1 {
		t.Errorf("retries_total{backend=a:80} = %v, want 1", n)
	}
	if n := float64(s.metrics.Counts(s.bs[0]).Requests["5xx"]); n != 1 {
		t.Errorf("requests_total{backend=a:80,code=5xx} = %v, want 1", n)
	}
	if n := float64(s.metrics.Counts(s.bs[1]).Requests["2xx"]); n != 1 {
		t.Errorf("requests_total{backend=b:80,code=2xx} = %v, want 1", n)
	}
}

func TestRetryBudgetExhausted(t *testing.T) {
	cfg := testConfig()
	cfg.Budget = forward.NewBudget(0, 0) // no retries at all
	s := newSetup(t, cfg, failWith(refused), answer(200, "ok"))
	if rec := s.serve(get()); rec.Code != 502 {
		t.Fatalf("got %d, want the 502 of the only try the budget allows", rec.Code)
	}
	if n := counterValue(t, s.reg, "scalelab_lb_retry_budget_exhausted_total"); n != 1 {
		t.Errorf("retry_budget_exhausted_total = %v, want 1", n)
	}
}

// A backend that accepts and never answers costs one try timeout, then
// the request goes elsewhere; alone, it gets a 504 naming the variable.
func TestTryTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.TryTimeout = 50 * time.Millisecond
	s := newSetup(t, cfg, hang, answer(200, "ok"))
	if rec := s.serve(get()); rec.Code != 200 || s.fake.order() != "a:80 b:80" {
		t.Fatalf("got %d after trying %q, want 200 from b", rec.Code, s.fake.order())
	}
	if got := s.pool.observed[0]; got != "a:80 failed" {
		t.Errorf("the hanging try was reported as %q", got)
	}

	alone := newSetup(t, cfg, hang)
	rec := alone.serve(get())
	want := "504 Gateway Timeout: backend a:80 too slow: no response headers within LB_TRY_TIMEOUT (50ms)"
	if rec.Code != 504 || !strings.HasPrefix(rec.Body.String(), want) {
		t.Fatalf("got %d %q, want %q", rec.Code, rec.Body, want)
	}
}

// The request timeout bounds all tries together.
func TestRequestTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.TryTimeout, cfg.RequestTimeout = time.Hour, 50*time.Millisecond
	s := newSetup(t, cfg, hang, hang, hang)
	rec := s.serve(get())
	if rec.Code != 504 || !strings.Contains(rec.Body.String(), "LB_REQUEST_TIMEOUT (50ms)") {
		t.Fatalf("got %d %q, want a 504 naming LB_REQUEST_TIMEOUT", rec.Code, rec.Body)
	}
	if s.fake.order() != "a:80" {
		t.Errorf("tried %q; no retry should start after the request's deadline", s.fake.order())
	}
}

// A client that leaves is neither retried nor held against the backend.
func TestClientGoneIsNotRetriedNorBlamed(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := newSetup(t, testConfig(), func(r *http.Request) (*http.Response, error) {
		cancel()
		return nil, r.Context().Err()
	}, answer(200, "ok"))
	s.serve(get().WithContext(ctx))
	if s.fake.order() != "a:80" || len(s.pool.observed) != 0 {
		t.Fatalf("tried %q, observed %q; want one try, nothing reported", s.fake.order(), s.pool.observed)
	}
	if n := float64(s.metrics.Counts(s.bs[0]).Requests["499"]); n != 1 {
		t.Errorf("requests_total{code=499} = %v, want 1", n)
	}
}

// In-flight counts go back to zero whatever happened to the tries.
func TestInFlightBalances(t *testing.T) {
	cfg := testConfig()
	cfg.TryTimeout = 20 * time.Millisecond
	s := newSetup(t, cfg, failWith(refused), hang, answer(503, ""), answer(200, "ok"))
	for range 8 {
		s.serve(get())
	}
	for _, b := range s.bs {
		if n := b.InFlight(); n != 0 {
			t.Errorf("%s: %d in flight after every request ended", b, n)
		}
	}
}

// A backend that leaves discovery takes its series with it.
func TestMetricsForgetRemovedBackend(t *testing.T) {
	s := newSetup(t, testConfig(), answer(200, "ok"), answer(200, "ok"))
	s.serve(get())
	s.serve(get())
	s.metrics.Track(s.bs[:1], nil, s.bs[1:])
	s.serve(get()) // still picks b from the static pool: must not revive its series
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "b:80" {
					t.Errorf("%s still has a series for the removed backend", mf.GetName())
				}
				if l.GetValue() == "a:80" {
					series++
				}
			}
		}
	}
	if series == 0 {
		t.Error("no series left for the backend still there")
	}
}

// counterValue reads an unlabelled counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
