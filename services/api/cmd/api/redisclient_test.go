package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunRejectsBadRedisClusterAddrs(t *testing.T) {
	for _, addrs := range []string{"redis-1", "redis-1:6379,redis-2", "redis-1:port", ":6379", "redis-1:70000"} {
		t.Run(addrs, func(t *testing.T) {
			env := map[string]string{
				"REDIS_CLUSTER_ADDRS": addrs,
				"SHARD_DSNS":          "postgres://u:p@localhost:5432/a",
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := run(ctx, []string{"api"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "REDIS_CLUSTER_ADDRS") {
				t.Fatalf("run() = %v, want an error naming REDIS_CLUSTER_ADDRS", err)
			}
		})
	}
}

// With a cluster given, REDIS_URL is not needed, and the client is a
// cluster client over the seeds.
func TestRedisClusterAddrsReplaceRedisURL(t *testing.T) {
	env := map[string]string{
		"REDIS_CLUSTER_ADDRS": "redis-1:6379, redis-2:6379",
		"SHARD_DSNS":          "postgres://u:p@localhost:5432/a",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := strings.Join(cfg.redis.clusterAddrs, " "); got != "redis-1:6379 redis-2:6379" {
		t.Errorf("cluster seeds = %q", got)
	}
	rdb, err := newRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(interface{ ReloadState(context.Context) }); !ok {
		t.Errorf("newRedis gave a %T, want a cluster client", rdb)
	}
}
