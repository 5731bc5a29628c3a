// Package cacheaside reads and writes users through a Redis cache in front
// of a sharded store: the guide's chapter 3 cache-aside, with what its
// ten-line version leaves out (stampedes, stale fills, a cache that dies)
// handled. Users owns the cache, the store, the flight of shared loads, the
// breaker and the fence; the HTTP handlers (package users) only speak HTTP.
package cacheaside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/flight"
	"scalelab/services/api/internal/store"
)

// Strategy says how writes reach the cache.
type Strategy string

const (
	// CacheAside: reads fill the cache on a miss; writes invalidate.
	CacheAside Strategy = "cache-aside"
	// WriteThrough: reads fill on a miss too; writes set the new value.
	WriteThrough Strategy = "write-through"
	// NoCache: every read goes to the shard.
	NoCache Strategy = "none"
)

// ParseStrategy accepts the names of CACHE_STRATEGY.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case CacheAside, WriteThrough, NoCache:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a cache strategy (cache-aside, write-through, none)", s)
}

// Breaker says whether the cache may be used now, and learns from results.
type Breaker interface {
	Allow() bool
	Success()
	Failure()
}

// Options tune the cache behaviour.
type Options struct {
	Strategy    Strategy
	TTL         time.Duration // lifetime of a cached user; up to 10% jitter is added
	NegativeTTL time.Duration // lifetime of a cached "no such user"
	LeaseWait   time.Duration // how long a miss waits for another reader's fill
	// TrustTTL is how long a shard's cache stays trusted without renewal,
	// and so how long a write whose invalidation failed waits before it is
	// acknowledged (see fence). ClockSkew is added to that wait: the most
	// the clocks of the api hosts and Redis may disagree.
	TrustTTL  time.Duration
	ClockSkew time.Duration
}

// absent is how "no such user" is cached: JSON null, never a user.
var absent = []byte("null")

// Users reads and writes users through the cache.
type Users struct {
	store   *store.Store
	cache   *cache.Cache
	breaker Breaker
	opts    Options
	logger  *slog.Logger
	flight  flight.Group[Result]
	fence   *fence
	m       metrics
}

// New builds Users; its metrics are registered on reg. Until ctx ends it
// delivers failed invalidations and renews the cache's trust in the
// background (see fence).
func New(ctx context.Context, st *store.Store, c *cache.Cache, b Breaker, opts Options, logger *slog.Logger, reg prometheus.Registerer) *Users {
	u := &Users{store: st, cache: c, breaker: b, opts: opts, logger: logger, m: newMetrics(reg)}
	if opts.Strategy != NoCache {
		u.fence = newFence(st, c, b, opts.TrustTTL, logger, reg)
		go u.fence.run(ctx)
	}
	return u
}

// TrustNow renews the cache's trust now, rather than at the next tick:
// called once the schema exists, so that the first reads can use Redis.
func (u *Users) TrustNow(ctx context.Context) {
	if u.fence != nil {
		u.fence.tick(ctx)
	}
}

// ShardOf returns the shard that holds id.
func (u *Users) ShardOf(id int64) int { return u.store.ShardOf(id) }

// useCache says whether reads may use Redis now: not when the strategy is
// none, and not while the breaker is open. (Whether what Redis holds for a
// shard may be believed is the trust's business, checked with each read.)
func (u *Users) useCache() bool {
	return u.opts.Strategy != NoCache && u.breaker.Allow()
}

// observe reports a Redis call's outcome to the breaker.
func (u *Users) observe(err error) {
	if err == nil || errors.Is(err, cache.ErrMiss) || errors.Is(err, cache.ErrUntrusted) {
		u.breaker.Success()
	} else {
		u.breaker.Failure()
	}
}

// jitter adds up to 10% to a TTL, so that keys cached together do not all
// expire together (and stampede together).
func jitter(ttl time.Duration) time.Duration {
	return ttl + time.Duration(rand.Int64N(int64(ttl)/10+1))
}
