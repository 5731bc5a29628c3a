package containertest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// AwaitServed polls the nodes other than dead until one of them takes a
// write in key's slot (the others answer MOVED, or CLUSTERDOWN while the
// cluster decides), and returns that node's address. It asks the nodes
// directly, so what it measures is the cluster's failover, not how soon a
// client relearns the slots.
func (rc *RedisCluster) AwaitServed(t testing.TB, key, dead string) string {
	t.Helper()
	ctx := context.Background()
	var nodes []*redis.Client
	for _, a := range rc.Addrs {
		if a != dead {
			c := redis.NewClient(&redis.Options{Addr: a, DialTimeout: 200 * time.Millisecond,
				ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
			defer c.Close()
			nodes = append(nodes, c)
		}
	}
	probeKey := key + ":failover-probe"
	errs := make([]error, len(nodes))
	// Polling another process (the cluster's election), hence the sleep.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, n := range nodes {
			if errs[i] = n.Set(ctx, probeKey, "1", time.Second).Err(); errs[i] == nil {
				return n.Options().Addr
			}
		}
	}
	nodesOut, err := nodes[0].ClusterNodes(ctx).Result()
	t.Fatalf("the slot of %s was not served again within 60 s (last answers %v); cluster nodes (%v):\n%s", key, errs, err, nodesOut)
	return ""
}
