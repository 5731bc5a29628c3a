// Package cache is the Redis side of cache-aside: get, set with a TTL,
// invalidate. Every call has a short deadline, because a cache that is slow
// must cost a little latency, never the request.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrMiss means the key is not cached.
var ErrMiss = errors.New("cache miss")

// Cache wraps a Redis client with a per-call timeout.
type Cache struct {
	rdb     *redis.Client
	timeout time.Duration
}

// New returns a cache over rdb whose calls give up after timeout.
func New(rdb *redis.Client, timeout time.Duration) *Cache {
	return &Cache{rdb: rdb, timeout: timeout}
}

// Get returns the cached value, ErrMiss, or the Redis error.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrMiss
	}
	return b, err
}

// Set stores value under key for ttl.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.rdb.Set(ctx, key, value, ttl).Err()
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.rdb.Del(ctx, key).Err()
}

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.rdb.Ping(ctx).Err()
}
