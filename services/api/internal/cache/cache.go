// Package cache is the Redis side of the api's caching. Besides get and set
// it holds the two mechanisms that make cache-aside correct under
// concurrency, after Facebook's memcache paper ("Scaling Memcache at
// Facebook", NSDI 2013):
//
//   - Leases. A reader that misses takes a short lease on the key before it
//     reads the database, and may fill the cache only while it still holds
//     the lease. A write deletes the value and the lease together, so a
//     reader that read the row before the write can never put the old row
//     back after the invalidation: its fill finds the lease gone. Other
//     readers that miss meanwhile see the lease taken and wait for the
//     holder's value instead of all reading the database (the stampede).
//
//   - Versions. Write-through sets the value from the writer, and two
//     writers may reach Redis in the other order than they reached the
//     database; each row carries a version bumped under the row lock, and a
//     set with an older version than the one cached is refused.
//
//   - Trust. A write that could not reach Redis is acknowledged anyway (the
//     shard has it), but Redis may come back still holding the old value:
//     after a freeze, a network cut, or a restart from its append-only file.
//     So every read and fill goes through a per-shard trust key, which lives
//     until an absolute deadline and is renewed only by a replica that has
//     just seen that shard's outbox of failed invalidations empty. A writer
//     whose invalidation failed queues it in the outbox, then waits out the
//     trust before it answers: from then on no reader can take anything from
//     Redis for that shard until the outbox is drained (cacheaside.fence).
//
// Every call has a short deadline: a slow cache must cost a little latency,
// never the request.
//
// # One Redis or a Redis Cluster
//
// Over one Redis the keys are named as the callers name them: a user's
// value, lease and version share the hash tag `{user:ID}`, and the trust
// of shard N is `cache:trust:N[:mapV]`. A script that checks the trust
// then touches two slots, which Redis Cluster refuses; so over a cluster
// (New given a *redis.ClusterClient) every key gets a bucket tag in front,
// `{cB}`, where B is one of 16 buckets picked by the key's own slot, and a
// shard's trust is kept once per bucket (`{cB}cache:trust:N:mapV`). A user's
// keys and the trust they are checked against then share a slot (slots.go).
//
// Why buckets of the user rather than a tag per shard (`{s3}`): a user's
// shard changes under resharding, and the cached copy is valid across the
// flip only because its name does not depend on the map (a replica still on
// the old map and one on the new read and invalidate the same key; see
// docs/sharding.md). The bucket depends on the user id alone, so the key
// names, like the single-Redis ones, never change with the map; and a tag
// per shard would put all of a shard's users on one primary. The price is a
// trust key per bucket: the fence renews 16 keys per shard instead of one,
// in one pipeline.
//
// A cluster adds a failure one Redis does not have: a primary acknowledges
// a write, dies before its replica has it, and the replica is promoted
// without it. For a fill that costs a miss; for an invalidation it would
// bring a stale value back. So over a cluster an invalidation (and
// write-through's set) counts as done only once a replica has it too
// (WAIT), or when the primary has no replica that could be promoted; else
// it fails, and the write takes the outbox path like any failed
// invalidation (cluster.go, durably).
package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrMiss means the key is not cached.
var ErrMiss = errors.New("cache miss")

// ErrUntrusted means the key's shard is not trusted now: Redis may hold a
// value that a failed invalidation left behind, so nothing in it may be used.
var ErrUntrusted = errors.New("cache not trusted for this shard (an invalidation is pending)")

// TrustKey names the trust of one shard's users.
func TrustKey(shard int) string { return "cache:trust:" + strconv.Itoa(shard) }

// Cache wraps a Redis client with a per-call timeout.
type Cache struct {
	rdb      redis.UniversalClient
	cluster  *redis.ClusterClient // nil over one Redis
	reads    *redis.AutoPipeliner // the hit path's MGETs, shared round trips
	timeout  time.Duration
	leaseTTL time.Duration
}

// New returns a cache over rdb whose calls give up after timeout. A lease
// lives leaseTTL: long enough for one database read, short enough that a
// reader that died holding it delays the others only briefly.
//
// The reads of the hit path (Get, Peek) go through go-redis's automatic
// pipeliner: the MGETs of concurrent requests leave in one write and come
// back in one read, so a busy replica pays one round trip's system calls
// for many hits instead of one each (measured: CPU per hit about halved).
// The pipeliner's batches run on their own connections and ignore the
// callers' contexts once queued, so each caller waits for its answer with
// its own deadline (see pipelined) and leaves at the timeout like any
// other call: a frozen Redis costs it the timeout, never more.
//
// rdb is a *redis.Client (one Redis) or a *redis.ClusterClient (a Redis
// Cluster: keys are then named per bucket, see the package doc). Both have
// the pipeliner; on a cluster it routes each MGET by its slot.
func New(rdb redis.UniversalClient, timeout, leaseTTL time.Duration) (*Cache, error) {
	reads, err := rdb.AsyncAutoPipelineWithOptions(&redis.AutoPipelineOptions{
		MaxBatchSize:         200,
		MaxConcurrentBatches: 1,
		// While Redis is frozen, callers leave at their deadline but
		// their commands stay queued until the batch ahead fails (its
		// read timeout): this bounds what such a queue may hold.
		MaxQueuedCommands: 10000,
	})
	if err != nil {
		return nil, fmt.Errorf("redis autopipeliner: %w", err)
	}
	cluster, _ := rdb.(*redis.ClusterClient)
	return &Cache{rdb: rdb, cluster: cluster, reads: reads, timeout: timeout, leaseTTL: leaseTTL}, nil
}

// Close stops the pipeliner (the client is its owner's to close).
func (c *Cache) Close() error { return c.reads.Close() }

// pipelined runs an MGET of keys through the pipeliner and waits for it at
// most the cache's timeout. On a timeout the command may still run later;
// its result is then never read (reading it would race the batch).
func (c *Cache) pipelined(ctx context.Context, keys ...any) ([]any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := redis.NewSliceCmd(ctx, append([]any{"mget"}, keys...)...)
	if err := c.reads.Submit(ctx, cmd).WaitContext(ctx); err != nil {
		return nil, err
	}
	return cmd.Val(), nil
}

// Key names the cached value of an entity. The braces are a Redis Cluster
// hash tag: the value, its lease and its version land in one slot, so one
// script may touch all three.
func Key(kind string, id int64) string { return "{" + kind + ":" + strconv.FormatInt(id, 10) + "}" }

func leaseKey(key string) string   { return key + ":lease" }
func versionKey(key string) string { return key + ":v" }

// Get returns the cached value, ErrMiss, ErrUntrusted, or the Redis error.
// The value and the trust come in one MGET, so they are read at one instant.
func (c *Cache) Get(ctx context.Context, trustKey, key string) ([]byte, error) {
	trustKey, key = c.names(trustKey, key)
	vals, err := c.pipelined(ctx, trustKey, key)
	switch {
	case err != nil:
		return nil, err
	case vals[0] == nil:
		return nil, ErrUntrusted
	case vals[1] == nil:
		return nil, ErrMiss
	}
	s, _ := vals[1].(string)
	return []byte(s), nil
}

// MGet returns the cached values of keys in one round trip: nil where a key
// is not cached or its trust key (trustKeys[i]) is absent. Each trust key
// is asked for once, however many of the keys share it.
func (c *Cache) MGet(ctx context.Context, keys, trustKeys []string) ([][]byte, error) {
	if c.cluster != nil {
		return c.mgetCluster(ctx, keys, trustKeys)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ask, at := mgetArgs(keys, trustKeys)
	vals, err := c.rdb.MGet(ctx, ask...).Result()
	if err != nil {
		return nil, err
	}
	return mgetPick(vals, len(keys), at), nil
}

// mgetArgs lists what one MGET of keys asks for: the keys, then each trust
// key once; at[i] is where the trust key of keys[i] is in the answer.
func mgetArgs(keys, trustKeys []string) (ask []string, at []int) {
	ask = append([]string(nil), keys...)
	seen := map[string]int{} // trust key -> its index in ask
	at = make([]int, len(keys))
	for i, tk := range trustKeys {
		j, ok := seen[tk]
		if !ok {
			j = len(ask)
			seen[tk] = j
			ask = append(ask, tk)
		}
		at[i] = j
	}
	return ask, at
}

// mgetPick takes the n values out of an MGET's answer whose trust is there.
func mgetPick(vals []any, n int, at []int) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		if s, ok := vals[i].(string); ok && vals[at[i]] != nil {
			out[i] = []byte(s)
		}
	}
	return out
}

// Peek returns the cached value (nil when absent) and whether a fill lease
// is held on key, read at one instant; ErrUntrusted as Get.
func (c *Cache) Peek(ctx context.Context, trustKey, key string) (value []byte, leased bool, err error) {
	trustKey, key = c.names(trustKey, key)
	vals, err := c.pipelined(ctx, trustKey, key, leaseKey(key))
	switch {
	case err != nil:
		return nil, false, err
	case vals[0] == nil:
		return nil, false, ErrUntrusted
	}
	if s, ok := vals[1].(string); ok {
		value = []byte(s)
	}
	return value, vals[2] != nil, nil
}

// Trust marks a shard's cache as usable until the given instant. It takes
// an absolute deadline (PXAT), not a lifetime: a renewal that reaches a
// frozen Redis late must not stretch the trust past what its caller saw.
func (c *Cache) Trust(ctx context.Context, trustKey string, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.cluster != nil {
		return c.trustCluster(ctx, trustKey, until)
	}
	return c.rdb.Do(ctx, "SET", trustKey, "1", "PXAT", until.UnixMilli()).Err()
}

// Lease tries to take the fill lease on key. ok is false when another
// reader holds it.
func (c *Cache) Lease(ctx context.Context, key string) (token string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var b [12]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	ok, err = c.rdb.SetNX(ctx, leaseKey(c.name(key)), token, c.leaseTTL).Result()
	return token, ok, err
}

// fillScript sets the value only while the caller's lease is still there,
// the shard is trusted and no newer version is cached, and releases the
// lease. A write in between deleted the lease: then the value the caller
// read may be older than the write, and is dropped.
var fillScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[4]) == 0 then return 0 end
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[2]) < cur then return 0 end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`)

// Fill stores value (of the given version) under key for ttl if token still
// holds the lease and trustKey is there, and reports whether it did.
func (c *Cache) Fill(ctx context.Context, trustKey, key, token string, version int64, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	trustKey, key = c.names(trustKey, key)
	n, err := fillScript.Run(ctx, c.rdb, []string{key, leaseKey(key), versionKey(key), trustKey},
		token, version, value, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release gives a lease back without filling (the read failed).
func (c *Cache) Release(ctx context.Context, key, token string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return releaseScript.Run(ctx, c.rdb, []string{leaseKey(c.name(key))}, token).Err()
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`)

// Invalidate deletes the value and any lease on it, so that no fill from a
// read that started before the write can land.
func (c *Cache) Invalidate(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.cluster != nil {
		key = c.name(key)
		return c.durably(ctx, key, func(p redis.Pipeliner) { p.Del(ctx, key, leaseKey(key)) })
	}
	return c.rdb.Del(ctx, key, leaseKey(key)).Err()
}

// setVersionedScript is write-through's set: refused when the cache holds a
// newer version; it also drops any lease, so an older read cannot fill after.
var setVersionedScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[1]) < cur then return 0 end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1`)

// SetVersioned stores value under key for ttl unless a newer version is
// cached, and reports whether it did.
func (c *Cache) SetVersioned(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.cluster != nil {
		return c.setVersionedCluster(ctx, c.name(key), version, value, ttl)
	}
	n, err := setVersionedScript.Run(ctx, c.rdb, []string{key, leaseKey(key), versionKey(key)},
		version, value, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.rdb.Ping(ctx).Err()
}
