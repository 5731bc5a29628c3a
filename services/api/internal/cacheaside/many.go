package cacheaside

import (
	"context"
	"encoding/json"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/store"
)

// ReadMany reads many users: one Redis round trip for all of them, then for
// the misses one query per shard, the shards in parallel. It returns the
// JSON of each user found, and how many ids the cache answered (a user
// cached as absent counts as a hit and is not in found). Misses are not
// filled from here: a correct fill needs a lease per key (see load), and
// the single reads that follow a miss fill the cache as usual.
func (u *Users) ReadMany(ctx context.Context, ids []int64) (found map[int64][]byte, hits int, err error) {
	found = make(map[int64][]byte, len(ids))
	var misses []int64
	if u.useCache() {
		misses, hits = u.readManyCached(ctx, ids, found)
	} else {
		misses = ids
	}

	// The store asks each shard once for its misses, all in parallel, under
	// one version of the shard map.
	users, err := u.store.GetMany(ctx, misses)
	if err != nil {
		return nil, 0, err
	}
	for _, usr := range users {
		b, _ := json.Marshal(usr)
		found[usr.ID] = b
	}
	return found, hits, nil
}

// readManyCached asks Redis for every id at once, puts the hits in found,
// and returns the ids it must read from the shards.
func (u *Users) readManyCached(ctx context.Context, ids []int64, found map[int64][]byte) (misses []int64, hits int) {
	keys := make([]string, len(ids))
	trust := make([]string, len(ids))
	v := u.store.View()
	for i, id := range ids {
		keys[i] = cache.Key("user", id)
		trust[i] = v.TrustKey(v.ShardOf(id))
	}
	vals, err := u.cache.MGet(ctx, keys, trust)
	u.observe(err)
	if err != nil {
		u.m.cache.WithLabelValues("mget", "error").Inc()
		vals = make([][]byte, len(ids))
	}
	for i, v := range vals {
		switch {
		case v == nil:
			misses = append(misses, ids[i])
		case string(v) == string(absent):
			hits++ // cached as absent: not found
		default:
			found[ids[i]] = v
			hits++
		}
	}
	u.m.cache.WithLabelValues("mget", "hit").Add(float64(hits))
	u.m.cache.WithLabelValues("mget", "miss").Add(float64(len(misses)))
	return misses, hits
}

// Page lists up to limit+1 users after the cursor in id order across every
// shard (the extra one says whether there is a next page): each shard
// returns its first limit users after the cursor, and the merge keeps the
// first of them all. It is the query sharding makes expensive: it needs
// every shard, and fails when any one of them is down.
func (u *Users) Page(ctx context.Context, after int64, limit int) ([]store.User, error) {
	merged, err := u.store.Page(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	return merged[:min(limit+1, len(merged))], nil
}
