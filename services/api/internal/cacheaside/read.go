package cacheaside

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// Result is a user read: its JSON (or JSON null when there is no such
// user), where it came from, and the shard that holds the user.
type Result struct {
	Body   []byte
	Source string // HIT, MISS or BYPASS
	Shard  int
}

// Found says whether the user exists.
func (r Result) Found() bool { return string(r.Body) != string(absent) }

// lookup is one user's place, worked out once per read under one version
// of the shard map: its shard, its cache key and the trust key of its shard.
type lookup struct {
	view  *store.View
	id    int64
	shard int
	key   string
	trust string
}

func (u *Users) lookup(id int64) lookup {
	v := u.store.View()
	sh := v.ShardOf(id)
	return lookup{view: v, id: id, shard: sh, key: cache.Key("user", id), trust: v.TrustKey(sh)}
}

// Read is cache-aside's read: the cache, then on a miss one load shared by
// every concurrent miss of this replica. The result names the user's shard
// even when err is not nil.
func (u *Users) Read(ctx context.Context, id int64) (Result, error) {
	l := u.lookup(id)
	res, err := u.read(ctx, l)
	res.Shard = l.shard
	return res, err
}

func (u *Users) read(ctx context.Context, l lookup) (Result, error) {
	if !u.useCache() {
		u.m.cache.WithLabelValues("get", "bypass").Inc()
		return u.sharedShardRead(ctx, l)
	}
	b, err := u.cache.Get(ctx, l.trust, l.key)
	u.observe(err)
	switch {
	case err == nil && string(b) == string(absent):
		u.m.cache.WithLabelValues("get", "negative_hit").Inc()
		return Result{Body: b, Source: "HIT"}, nil
	case err == nil:
		u.m.cache.WithLabelValues("get", "hit").Inc()
		return Result{Body: b, Source: "HIT"}, nil
	case errors.Is(err, cache.ErrMiss):
		u.m.cache.WithLabelValues("get", "miss").Inc()
	case errors.Is(err, cache.ErrUntrusted):
		u.m.cache.WithLabelValues("get", "untrusted").Inc()
		return u.sharedShardRead(ctx, l)
	default:
		u.m.cache.WithLabelValues("get", "error").Inc()
		u.logger.Warn("cache get failed; reading the shard", "request_id", platform.RequestID(ctx), "err", err)
		return u.sharedShardRead(ctx, l)
	}

	return u.share(ctx, l.key, func(ctx context.Context) (Result, error) { return u.load(ctx, l) })
}

// share runs fn once for every concurrent caller with the same key on this
// replica (package flight: never a run that began before the caller came,
// which would be a stale read). The run serves every waiter, so it does
// not die with the first caller's request; the store's own timeout still
// bounds it.
func (u *Users) share(ctx context.Context, key string, fn func(context.Context) (Result, error)) (Result, error) {
	res, err, shared := u.flight.Do(ctx, key, fn)
	if shared {
		u.m.shared.Inc()
	}
	return res, err
}

// load fills the key for a miss. Only the holder of the lease reads the
// shard and fills; the others (on other replicas) wait briefly for its value.
func (u *Users) load(ctx context.Context, l lookup) (Result, error) {
	waitUntil := time.Now().Add(u.opts.LeaseWait)
	var token string
	for {
		var leased bool
		var err error
		token, leased, err = u.cache.Lease(ctx, l.key)
		u.observe(err)
		if err != nil {
			u.m.cache.WithLabelValues("lease", "error").Inc()
			body, _, err := u.readShard(ctx, l)
			return Result{Body: body, Source: "BYPASS"}, err
		}
		if leased {
			break
		}
		b, outcome := u.awaitFill(ctx, l, waitUntil)
		u.m.leaseWaits.WithLabelValues(outcome).Inc()
		switch outcome {
		case "filled":
			return Result{Body: b, Source: "HIT"}, nil
		case "released":
			// The lease went without a value: a write removed it (or its
			// holder failed). On a key written often this is the rule, and
			// waiting out LeaseWait for a fill that cannot come would make
			// every read of it slow: take the lease ourselves.
			continue
		}
		// The holder is slow or gone: read the shard, but leave the fill
		// to the lease holder.
		body, _, err := u.readShard(ctx, l)
		return Result{Body: body, Source: "MISS"}, err
	}

	// The previous holder may have filled the key between our miss and our
	// lease: look again before paying for a shard read.
	if b, err := u.cache.Get(ctx, l.trust, l.key); err == nil {
		u.observe(u.cache.Release(ctx, l.key, token))
		return Result{Body: b, Source: "HIT"}, nil
	}

	body, version, err := u.readShard(ctx, l)
	if err != nil {
		u.observe(u.cache.Release(ctx, l.key, token))
		return Result{}, err
	}
	u.fill(ctx, l, token, version, body)
	return Result{Body: body, Source: "MISS"}, nil
}

// fill stores what the lease holder read, if the lease and the trust still
// stand; whatever happens, the read itself has its answer.
func (u *Users) fill(ctx context.Context, l lookup, token string, version int64, body []byte) {
	ttl := jitter(u.opts.TTL)
	if string(body) == string(absent) {
		ttl = u.opts.NegativeTTL
	}
	stored, err := u.cache.Fill(ctx, l.trust, l.key, token, version, body, ttl)
	u.observe(err)
	switch {
	case err != nil:
		u.m.cache.WithLabelValues("fill", "error").Inc()
		u.logger.Warn("cache fill failed", "request_id", platform.RequestID(ctx), "err", err)
	case stored:
		u.m.cache.WithLabelValues("fill", "stored").Inc()
	default:
		// A write came between our read and our fill: what we read may
		// be older than it, so it must not be cached. It is still a
		// correct answer for this request, which began before the write.
		// (Or the shard's cache is not trusted now: nothing may be filled.)
		u.m.cache.WithLabelValues("fill", "refused").Inc()
	}
}

// awaitFill polls for the value another reader is filling, until the
// deadline. Its outcome: "filled" (the value is there), "released" (the
// lease is gone and no value came), or "timeout" (also when Redis fails
// or stops trusting the shard meanwhile).
func (u *Users) awaitFill(ctx context.Context, l lookup, deadline time.Time) ([]byte, string) {
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, "timeout"
		case <-time.After(5 * time.Millisecond):
		}
		b, leased, err := u.cache.Peek(ctx, l.trust, l.key)
		u.observe(err)
		switch {
		case err == nil && b != nil:
			return b, "filled"
		case err == nil && !leased:
			return nil, "released"
		case err != nil:
			return nil, "timeout"
		}
	}
	return nil, "timeout"
}

// sharedShardRead reads the shard when the cache cannot be used; while
// Redis is in trouble, concurrent reads of one user on this replica still
// cost one query, not one each.
func (u *Users) sharedShardRead(ctx context.Context, l lookup) (Result, error) {
	return u.share(ctx, "bypass:"+l.key, func(ctx context.Context) (Result, error) {
		body, _, err := u.readShard(ctx, l)
		return Result{Body: body, Source: "BYPASS"}, err
	})
}

// readShard reads the user from its shard, as its JSON or absent, with the
// version under which that answer may be cached.
func (u *Users) readShard(ctx context.Context, l lookup) (body []byte, version int64, err error) {
	usr, version, err := u.store.GetFrom(ctx, l.view, l.shard, l.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return absent, version, nil
	case err != nil:
		return nil, 0, err
	}
	body, _ = json.Marshal(usr)
	return body, version, nil
}
