//go:build containers

package main

// The cache tier on a Redis Cluster (3 primaries, 3 replicas): the
// stampede and no-stale-read tests of one Redis, run on the cluster (a
// primary killed under load is in cluster_failover_test.go).

import (
	"testing"

	"scalelab/services/api/internal/containertest"
)

func TestAPIClusterStampedeCostsOneShardRead(t *testing.T) {
	stampede(t, func(d *deps) { d.redisCluster = containertest.StartRedisCluster(t).SeedAddrs() })
}

func TestAPIClusterNoStaleReadAfterAcknowledgedWrite(t *testing.T) {
	for _, strategy := range []string{"cache-aside", "write-through"} {
		t.Run(strategy, func(t *testing.T) {
			pg := containertest.StartPostgres(t, "shard0")
			pg.CreateDatabases(t, "shard1", "shard2")
			rc := containertest.StartRedisCluster(t)
			noStaleRead(t, deps{
				shardDSNs:    []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")},
				redisCluster: rc.SeedAddrs(),
			}, strategy)
		})
	}
}
