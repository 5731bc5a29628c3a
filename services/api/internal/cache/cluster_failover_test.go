//go:build containers

package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"scalelab/services/api/internal/containertest"
)

// A primary is killed and its replica promoted: the same client's calls in
// the killed primary's slots must work again, through the promoted node,
// long before go-redis would reload its slot map by age (60 s). What is
// checked is what the fence and the hit path do in a bucket: the trust
// renewal (a pipeline over every bucket) and a read (the automatic
// pipeliner); then invalidations on the promoted primary, whose old
// primary is dead, count as done (ROLE: no replica attached), every one.
func TestClusterCacheFollowsAPromotedReplica(t *testing.T) {
	ctx := context.Background()
	rc := containertest.StartRedisCluster(t)
	rdb := NewClusterClient(rc.Addrs, 100*time.Millisecond)
	defer rdb.Close()
	c, err := New(rdb, 100*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key, trust := Key("user", 11), TrustKey(0)
	if err := trustAndRead(ctx, c, trust, key); err != nil {
		t.Fatalf("before the kill: %v", err)
	}
	if err := c.Invalidate(ctx, key); err != nil {
		t.Fatalf("invalidate before the kill: %v", err)
	}
	node, err := rdb.MasterForKey(ctx, ClusterName(key))
	if err != nil {
		t.Fatal(err)
	}
	victim := node.Options().Addr

	containertest.Docker(t, "kill", rc.Node(t, victim))
	promoted := rc.AwaitServed(t, ClusterName(key), victim)
	served := time.Now()

	// 20 s: a third of go-redis's own reload interval, so only a reload
	// the failed calls asked for can make this pass. The sleep paces the
	// calls as a fence tick would.
	failed := 0
	for err = trustAndRead(ctx, c, trust, key); err != nil; err = trustAndRead(ctx, c, trust, key) {
		failed++
		if time.Since(served) > 20*time.Second {
			t.Fatalf("20 s after %s took over the slots of %s, calls there still fail: %v", promoted, victim, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s took over from %s; calls there worked again %v later, after %d failed rounds",
		promoted, victim, time.Since(served).Round(time.Millisecond), failed)
	for i := range 10 {
		if err := c.Invalidate(ctx, key); err != nil {
			t.Fatalf("invalidation %d on the promoted primary %s: %v, want done (no replica attached)", i, promoted, err)
		}
	}
	if node, _ := rdb.MasterForKey(ctx, ClusterName(key)); node == nil || node.Options().Addr != promoted {
		t.Errorf("the client's slot map names %v as the primary of %s, want %s", node, ClusterName(key), promoted)
	}
}

// trustAndRead renews shard trust's trust in every bucket and reads key.
func trustAndRead(ctx context.Context, c *Cache, trust, key string) error {
	if err := c.Trust(ctx, trust, time.Now().Add(time.Minute)); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	if _, err := c.Get(ctx, trust, key); err != nil && !errors.Is(err, ErrMiss) {
		return fmt.Errorf("get: %w", err)
	}
	return nil
}
