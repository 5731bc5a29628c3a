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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"scalelab/services/api/internal/breaker"
	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/containertest"
	"scalelab/services/api/internal/shard"
	"scalelab/services/api/internal/store"
)

func benchHandler(b *testing.B, strategy cacheaside.Strategy) *Handler {
	ctx := b.Context()
	pg := containertest.StartPostgres(b, "shard0")
	rd := containertest.StartRedis(b)
	router, _ := shard.New("modulo", 1)
	st, err := store.Open([]string{pg.DSN("shard0")}, router,
		store.Options{MaxConns: 8, QueryTimeout: 2 * time.Second}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := st.Seed(ctx, 100); err != nil {
		b.Fatal(err)
	}
	opts, _ := redis.ParseURL(rd.URL)
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { rdb.Close() })
	c, err := cache.New(rdb, 250*time.Millisecond, 3*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	br := breaker.New("redis", 5, 2*time.Second, time.Now)
	u := cacheaside.New(ctx, st, c, br, cacheaside.Options{
		Strategy: strategy, TTL: time.Hour, NegativeTTL: time.Minute,
		LeaseWait: 300 * time.Millisecond, TrustTTL: time.Minute, ClockSkew: 50 * time.Millisecond,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	u.TrustNow(ctx)
	return NewHandler(u, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
