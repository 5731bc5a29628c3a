// Package userstest builds the api's users read path (cacheaside.Users)
// over a real PostgreSQL and a real Redis in containers, as cmd/api builds
// it, for the tests and benchmarks of what serves GET /users/{id}: the
// users handler's and the hit path's. It is a package of its own, not part
// of containertest, because the packages it builds on (store, cache,
// cacheaside) may import containertest in their own tests. Only test files
// built with the `containers` tag import it.
package userstest

import (
	"io"
	"log/slog"
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

// Start returns the users of one shard holding users 1..100, cached in a
// Redis with strategy, and already trusting that cache; the containers and
// clients go when t ends.
func Start(t testing.TB, strategy cacheaside.Strategy) *cacheaside.Users {
	t.Helper()
	ctx := t.Context()
	pg := containertest.StartPostgres(t, "shard0")
	rd := containertest.StartRedis(t)
	router, _ := shard.New("modulo", 1)
	st, err := store.Open([]string{pg.DSN("shard0")}, router,
		store.Options{MaxConns: 8, QueryTimeout: 2 * time.Second}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Seed(ctx, 100); err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(rd.URL)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	c, err := cache.New(rdb, 250*time.Millisecond, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := breaker.New("redis", 5, 2*time.Second, time.Now)
	u := cacheaside.New(ctx, st, c, br, cacheaside.Options{
		Strategy: strategy, TTL: time.Hour, NegativeTTL: time.Minute,
		LeaseWait: 300 * time.Millisecond, TrustTTL: time.Minute, ClockSkew: 50 * time.Millisecond,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	u.TrustNow(ctx)
	return u
}
