//go:build containers

package users

// Benchmarks of the two read paths of GET /users/{id}, against a real
// PostgreSQL and a real Redis in containers: what one request costs the
// handler, Redis or shard round trip included, in time and allocations
// (go test -tags containers -run '^$' -bench . -benchmem ./internal/users).
// The HTTP server and the middleware are not in them: make bench-api
// measures the whole replica.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/userstest"
)

// benchHandler is the users handler as cmd/api builds it, over real
// dependencies.
func benchHandler(b *testing.B, strategy cacheaside.Strategy) *Handler {
	return NewHandler(userstest.Start(b, strategy), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func benchGet(b *testing.B, h *Handler, want string) {
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/users/42", nil)
	req.SetPathValue("id", "42")
	h.Get(httptest.NewRecorder(), req) // the miss that fills the cache, for the hit
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.Get(w, req)
		if w.Code != http.StatusOK || w.Header().Get("X-Cache") != want {
			b.Fatalf("GET /users/42: %d %s, want 200 %s", w.Code, w.Header().Get("X-Cache"), want)
		}
	}
}

// BenchmarkGetHit: the user from Redis (one MGET of the value and the trust).
func BenchmarkGetHit(b *testing.B) { benchGet(b, benchHandler(b, cacheaside.CacheAside), "HIT") }

// BenchmarkGetHitParallel: many concurrent hits, whose MGETs share round
// trips through the pipeliner.
func BenchmarkGetHitParallel(b *testing.B) {
	h := benchHandler(b, cacheaside.CacheAside)
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/users/42", nil)
	req.SetPathValue("id", "42")
	h.Get(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.Get(w, req)
			if w.Header().Get("X-Cache") != "HIT" {
				b.Errorf("X-Cache %q, want HIT", w.Header().Get("X-Cache"))
				return
			}
		}
	})
}

// BenchmarkGetMiss: the user from its shard (CACHE_STRATEGY=none), the
// database path without the cache's own calls.
func BenchmarkGetMiss(b *testing.B) { benchGet(b, benchHandler(b, cacheaside.NoCache), "BYPASS") }
