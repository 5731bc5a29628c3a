package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"

	"scalelab/services/api/internal/cache"
	"scalelab/services/platform"
)

// redisConfig says which Redis the cache and the sessions use: one server
// (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_ADDRS, comma-separated
// host:port seeds; the client learns the rest of the cluster from them).
// The cluster, when given, wins and REDIS_URL is not needed.
type redisConfig struct {
	url          string
	clusterAddrs []string
}

func loadRedisConfig(env *platform.Env) redisConfig {
	if v := env.String("REDIS_CLUSTER_ADDRS", ""); v != "" {
		addrs := platform.SplitList(v)
		for _, a := range addrs {
			if err := checkHostPort(a); err != nil {
				env.Fail("REDIS_CLUSTER_ADDRS", err)
				break
			}
		}
		return redisConfig{clusterAddrs: addrs}
	}
	return redisConfig{url: env.Required("REDIS_URL")}
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("%q is not host:port", addr)
	}
	return nil
}

// newRedis is the client of the cache and the sessions: every call bounded
// by REDIS_TIMEOUT. Over a cluster the client follows MOVED and ASK
// redirections (after a failover or a slot migration) and relearns the slot
// map when a node stops answering (cache.NewClusterClient); the cache's own
// deadline per call still bounds what that may cost.
func newRedis(cfg config) (redis.UniversalClient, error) {
	if len(cfg.redis.clusterAddrs) > 0 {
		return cache.NewClusterClient(cfg.redis.clusterAddrs, cfg.redisTimeout), nil
	}
	opts, err := redis.ParseURL(cfg.redis.url)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration: REDIS_URL: %v", err)
	}
	opts.DialTimeout = cfg.redisTimeout * 4
	opts.ReadTimeout = cfg.redisTimeout
	opts.WriteTimeout = cfg.redisTimeout
	// No retries (-1: go-redis reads 0 as its default, 3): a retry doubles
	// the latency a dead Redis costs, and the cache's answer to a failed
	// call (read the shard, queue the invalidation) is already right. One
	// dial per attempt, not five, for the same reason.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	// A few connections opened ahead: a burst on a cold replica must not
	// spend its short REDIS_TIMEOUT dialling (and open the breaker for it).
	opts.MinIdleConns = 4
	return redis.NewClient(opts), nil
}
