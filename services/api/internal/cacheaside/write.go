package cacheaside

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// Save writes a user to its shard, then brings the cache in line, and
// returns the stored user's JSON and whether the user was created.
func (u *Users) Save(ctx context.Context, usr store.User) ([]byte, bool, error) {
	stored, created, err := u.store.Put(ctx, usr)
	if err != nil {
		return nil, false, err
	}
	body, _ := json.Marshal(stored)
	if err := u.afterWrite(ctx, usr.ID, stored.Version, body, jitter(u.opts.TTL)); err != nil {
		return nil, false, err
	}
	return body, created, nil
}

// Delete removes a user from its shard, then from the cache.
func (u *Users) Delete(ctx context.Context, id int64) error {
	version, err := u.store.Delete(ctx, id)
	if err != nil {
		return err
	}
	return u.afterWrite(ctx, id, version, absent, u.opts.NegativeTTL)
}

// afterWrite brings the cache in line with a write the shard has committed:
// cache-aside removes the entry (and any reader's lease, so no older read
// can fill it back); write-through sets the new value unless a newer one is
// there. The write is durable whatever happens here, so a Redis failure is
// not the client's: the invalidation is queued in the shard's outbox, and
// the answer waits until no replica can trust Redis for that shard any more
// (see fence). It fails only if the outbox cannot be written either.
func (u *Users) afterWrite(ctx context.Context, id, version int64, body []byte, ttl time.Duration) error {
	if u.opts.Strategy == NoCache {
		return nil
	}
	key := cache.Key("user", id)
	// The client hanging up must not leave a stale copy behind.
	detached := context.WithoutCancel(ctx)
	var err error
	if u.opts.Strategy == WriteThrough {
		var stored bool
		stored, err = u.cache.SetVersioned(detached, key, version, body, ttl)
		if err == nil {
			u.m.cache.WithLabelValues("set", map[bool]string{true: "stored", false: "refused"}[stored]).Inc()
		}
	} else {
		err = u.cache.Invalidate(detached, key)
		if err == nil {
			u.m.cache.WithLabelValues("invalidate", "ok").Inc()
		}
	}
	u.observe(err)
	if err == nil {
		return nil
	}
	u.m.cache.WithLabelValues("invalidate", "error").Inc()
	u.logger.Warn("cache update after a write failed; queued in the outbox",
		"request_id", platform.RequestID(ctx), "key", key, "err", err)
	if err := u.store.QueueInvalidation(detached, store.Invalidation{UserID: id, Version: version}); err != nil {
		return fmt.Errorf("the write is saved, but its cache entry can be neither removed nor queued: %w", err)
	}
	start := time.Now()
	select {
	case <-time.After(u.opts.TrustTTL + u.opts.ClockSkew):
	case <-ctx.Done(): // nobody is waiting for the answer any more
	}
	u.m.fenceWait.Observe(time.Since(start).Seconds())
	return nil
}
