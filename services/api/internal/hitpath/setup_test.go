//go:build containers

package hitpath

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/users"
	"scalelab/services/api/internal/userstest"
	"scalelab/services/platform"
)

// instance is the X-Served-By of both sides.
const instance = "api-test"

// pair is one users handler, over a real PostgreSQL and a real Redis,
// served two ways: by net/http alone (std, as svc.Run serves the api) and
// by the hit path (fast), each with its own metrics and access log.
type pair struct {
	std, fast       string // host:port
	stdReg, fastReg *prometheus.Registry
	stdLog, fastLog *syncBuffer
	srv             *Server
}

func newPair(t testing.TB) *pair {
	t.Helper()
	h := newUsersHandler(t)
	p := &pair{stdReg: prometheus.NewRegistry(), fastReg: prometheus.NewRegistry(), stdLog: &syncBuffer{}, fastLog: &syncBuffer{}}

	stdMetrics := platform.NewHTTPMetrics(p.stdReg, "api", slog.New(slog.NewJSONHandler(p.stdLog, nil)))
	std := httptest.NewServer(platform.WithRequestID(routes(stdMetrics, h)))
	t.Cleanup(std.Close)
	p.std = std.Listener.Addr().String()

	fastMetrics := platform.NewHTTPMetrics(p.fastReg, "api", slog.New(slog.NewJSONHandler(p.fastLog, nil)))
	p.srv = New(Config{Users: h, Instance: instance, PlainGetsConfig: platform.PlainGetsConfig{
		Route: fastMetrics.Route(Route), Fallback: platform.WithRequestID(routes(fastMetrics, h)), ShutdownTimeout: time.Second,
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.fast = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p
}

// routes is the part of the api's routes (cmd/api) that the hit path
// stands in for or hands over to, under the same middleware.
func routes(m *platform.HTTPMetrics, h *users.Handler) http.Handler {
	mux := http.NewServeMux()
	m.Handle(mux, "GET /users/{id}", http.HandlerFunc(h.Get))
	m.Handle(mux, "/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platform.WriteProblem(w, r, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
	}))
	return platform.ServedBy(instance, mux)
}

// newUsersHandler is the api's users handler over one shard holding users
// 1..100 and a Redis, as cmd/api builds it.
func newUsersHandler(t testing.TB) *users.Handler {
	t.Helper()
	return users.NewHandler(userstest.Start(t, cacheaside.CacheAside), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// syncBuffer is an access log the servers write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
