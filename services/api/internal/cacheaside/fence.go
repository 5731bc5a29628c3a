package cacheaside

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/store"
)

// fence keeps the cache from serving what a failed invalidation left in
// it, on every replica. A write whose invalidation Redis did not take is
// queued in its shard's outbox (cache_outbox) and waits out the shard's
// trust before it is acknowledged (Users.afterWrite); meanwhile every
// replica runs this loop, which for each shard
//
//   - drains the outbox into Redis, removing each entry once Redis took it;
//   - renews the shard's trust in Redis, to an absolute deadline TrustTTL
//     after an instant at which it saw the outbox empty.
//
// So once a queued write has waited TrustTTL (plus the clock skew allowed
// between hosts), every trust renewal that was made without seeing its entry
// has run out, and no new one can be made until the entry has reached Redis.
// Reads and fills check the trust in the same command as the value, so no
// reader can take a stale value from Redis after the write is acknowledged:
// not after a freeze, not after a restart from disk, not on another replica.
//
// Why not simply retry in memory: the replica that holds the retry is the
// only one that knows the cache is wrong, and it may not be the one asked.
type fence struct {
	store    *store.Store
	cache    *cache.Cache
	breaker  Breaker
	ttl      time.Duration
	interval time.Duration
	logger   *slog.Logger
	trusted  *prometheus.GaugeVec
	drained  prometheus.Counter
}

// outboxBatch bounds the entries drained per shard and tick.
const outboxBatch = 500

func newFence(st *store.Store, c *cache.Cache, b Breaker, ttl time.Duration, logger *slog.Logger, reg prometheus.Registerer) *fence {
	f := &fence{
		store: st, cache: c, breaker: b, ttl: ttl, logger: logger,
		// Several renewals per lifetime: a late tick on a busy machine must
		// not let the trust lapse (which would cost hits, not correctness).
		interval: ttl / 5,
		trusted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_api_cache_trusted",
			Help: "1 when this replica last renewed the shard's cache trust, 0 when it could not (outbox not empty, shard or Redis down): then reads of the shard skip Redis.",
		}, []string{"shard"}),
		drained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scalelab_api_cache_outbox_drained_total",
			Help: "Queued invalidations this replica delivered to Redis after it came back.",
		}),
	}
	reg.MustRegister(f.trusted, f.drained)
	return f
}

// run ticks until ctx ends.
func (f *fence) run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.tick(ctx)
		}
	}
}

// tick drains and renews every shard of the current map once.
func (f *fence) tick(ctx context.Context) {
	v := f.store.View()
	for sh := range v.Shards() {
		label := strconv.Itoa(sh)
		if err := f.renew(ctx, v, sh); err != nil {
			f.trusted.WithLabelValues(label).Set(0)
			f.logger.Debug("cache trust not renewed", "shard", sh, "err", err)
			continue
		}
		f.trusted.WithLabelValues(label).Set(1)
	}
}

var errOutboxNotEmpty = errors.New("invalidations still queued")

// renew drains shard sh's outbox and renews its trust under map v: the
// trust key names the map version, so a renewal never vouches for a shard
// under a map whose outbox it did not read (see store.View.TrustKey).
func (f *fence) renew(ctx context.Context, v *store.View, sh int) error {
	if !f.breaker.Allow() {
		return errors.New("redis circuit breaker open")
	}
	seen := time.Now() // before the query: the trust must not outlive what it saw
	pending, err := f.store.PendingInvalidations(ctx, v, sh, outboxBatch)
	if err != nil {
		return err
	}
	for _, inv := range pending {
		err := f.cache.Invalidate(ctx, cache.Key("user", inv.UserID))
		f.observe(err)
		if err != nil {
			return err
		}
		if err := f.store.DoneInvalidation(ctx, inv); err != nil {
			return err
		}
		f.drained.Inc()
	}
	if len(pending) > 0 {
		return errOutboxNotEmpty // renewed at the next tick, if it finds none
	}
	err = f.cache.Trust(ctx, v.TrustKey(sh), seen.Add(f.ttl))
	f.observe(err)
	return err
}

func (f *fence) observe(err error) {
	if err == nil {
		f.breaker.Success()
	} else {
		f.breaker.Failure()
	}
}
