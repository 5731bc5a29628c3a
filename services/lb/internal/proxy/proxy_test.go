package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
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

// roundTripFunc lets a test decide what the "backend" does.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// staticPool offers every backend and remembers what it was told.
type staticPool struct {
	backends []*balancer.Backend
	mu       sync.Mutex
	observed []string // "addr ok" or "addr failed"
}

func (p *staticPool) Available() []*balancer.Backend { return p.backends }

func (p *staticPool) Observe(b *balancer.Backend, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	outcome := "ok"
	if failed {
		outcome = "failed"
	}
	p.observed = append(p.observed, b.Addr+" "+outcome)
}

// testConfig retries twice within generous timeouts, with no budget.
func testConfig() forward.Config {
	return forward.Config{Retries: 2, TryTimeout: 10 * time.Second, RequestTimeout: 30 * time.Second}
}

func newHandler(backends []*balancer.Backend, rt http.RoundTripper) *Handler {
	return New(&staticPool{backends: backends}, balancer.NewRoundRobin(), rt,
		forward.NewMetrics(prometheus.NewRegistry()), quiet, testConfig())
}

func TestNoBackendIs503(t *testing.T) {
	h := newHandler(nil, roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Fatal("no backend, yet the transport was called")
		return nil, nil
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "no backend available") {
		t.Fatalf("got %d %q, want 503 with an explanation", rec.Code, rec.Body)
	}
}

// timeoutErr is what the transport returns when ResponseHeaderTimeout passes.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorClassification(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantBody string
	}{
		{"refused", refused, 502, "502 Bad Gateway: backend 10.0.0.1:80 failed: dial tcp: connect: connection refused\n"},
		{"reset", errors.New("read: connection reset by peer"), 502, "502 Bad Gateway: backend 10.0.0.1:80 failed: read: connection reset by peer\n"},
		{"header timeout", timeoutErr{}, 504, "504 Gateway Timeout: backend 10.0.0.1:80 too slow: net/http: timeout awaiting response headers\n"},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, 504, "504 Gateway Timeout: backend 10.0.0.1:80 too slow: "},
		{"deadline", context.DeadlineExceeded, 504, "504 Gateway Timeout: backend 10.0.0.1:80 too slow: "},
	}
	b := balancer.NewBackend(&url.URL{Scheme: "http", Host: "10.0.0.1:80"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler([]*balancer.Backend{b}, roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, tt.err
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != tt.wantCode || !strings.HasPrefix(rec.Body.String(), tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if got := rec.Header().Get(forward.BackendHeader); got != b.Addr {
				t.Errorf("%s = %q, want %q", forward.BackendHeader, got, b.Addr)
			}
		})
	}
}

// When the client has gone, nothing is written: there is no one to read it.
func TestClientGoneWritesNothing(t *testing.T) {
	b := balancer.NewBackend(&url.URL{Scheme: "http", Host: "10.0.0.1:80"})
	ctx, cancel := context.WithCancel(t.Context())
	h := newHandler([]*balancer.Backend{b}, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		cancel()
		return nil, r.Context().Err()
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	if rec.Body.Len() != 0 || rec.Result().Header.Get("Content-Type") != "" {
		t.Fatalf("wrote %q to a client that left", rec.Body)
	}
}
