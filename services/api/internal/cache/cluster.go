package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// names returns the names of a trust key and a user's key as Redis holds
// them: unchanged over one Redis, in the user's bucket over a cluster.
func (c *Cache) names(trustKey, key string) (string, string) {
	if c.cluster == nil {
		return trustKey, key
	}
	b := bucketOf(key)
	return clusterKey(b, trustKey), clusterKey(b, key)
}

// name is names for a key alone.
func (c *Cache) name(key string) string {
	if c.cluster == nil {
		return key
	}
	return clusterKey(bucketOf(key), key)
}

// trustCluster sets a shard's trust in every bucket, in one pipeline (the
// cluster client sends each primary its part). A bucket whose SET failed
// stays untrusted: its reads skip Redis until the next renewal.
func (c *Cache) trustCluster(ctx context.Context, trustKey string, until time.Time) error {
	_, err := c.cluster.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range buckets {
			p.Do(ctx, "SET", clusterKey(b, trustKey), "1", "PXAT", until.UnixMilli())
		}
		return nil
	})
	return err
}

// mgetCluster is MGet over a cluster: one MGET per bucket (its keys and
// their trust keys share a slot), all in one pipeline.
func (c *Cache) mgetCluster(ctx context.Context, keys, trustKeys []string) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	byBucket := map[int][]int{} // bucket -> indexes into keys
	for i, k := range keys {
		b := bucketOf(k)
		byBucket[b] = append(byBucket[b], i)
	}
	type part struct {
		idx []int
		at  []int
		cmd *redis.SliceCmd
	}
	parts := make([]part, 0, len(byBucket))
	_, err := c.cluster.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b, idx := range byBucket {
			ks, tks := make([]string, len(idx)), make([]string, len(idx))
			for j, i := range idx {
				ks[j], tks[j] = clusterKey(b, keys[i]), clusterKey(b, trustKeys[i])
			}
			ask, at := mgetArgs(ks, tks)
			parts = append(parts, part{idx: idx, at: at, cmd: p.MGet(ctx, ask...)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for _, pt := range parts {
		for j, v := range mgetPick(pt.cmd.Val(), len(pt.idx), pt.at) {
			out[pt.idx[j]] = v
		}
	}
	return out, nil
}

// errNotReplicated: the primary took the write, but no replica confirmed it
// in time, so a failover could still lose it.
var errNotReplicated = errors.New("redis cluster: no replica confirmed the write (WAIT timed out)")

// durably runs write on the primary of key's slot; it counts only once a
// replica has it too (WAIT), since a replica promoted without it would bring
// back what the write removed. A primary with no replica attached (its
// replica died, or it is a promoted replica whose old primary has not come
// back) counts its own acknowledgement: no replica exists that could be
// promoted without the write, and one that attaches later syncs from a
// state that has it.
//
// ROLE is asked first, in the write's round trip, and WAIT only when a
// replica is attached: WAIT blocks for its whole timeout when there is none,
// and a timeout is served late by up to a tick of the server's clock (hz 10:
// 100 ms), so on a promoted primary WAIT would outlast the call's deadline
// and every invalidation there would fail, forever. WAIT applies to the
// writes of its own connection, hence one connection for both.
func (c *Cache) durably(ctx context.Context, key string, write func(redis.Pipeliner)) error {
	node, err := c.cluster.MasterForKey(ctx, key)
	if err != nil {
		return err
	}
	conn := node.Conn()
	defer conn.Close()
	var role *redis.Cmd
	_, err = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		role = p.Do(ctx, "ROLE")
		return nil
	})
	if err != nil {
		// The node may be gone or no longer the primary (a failover):
		// have the client relearn the slots before the next try.
		c.cluster.ReloadState(ctx)
		return err
	}
	if attachedReplicas(role) == 0 {
		return nil
	}
	acked, err := conn.Do(ctx, "WAIT", 1, (c.timeout / 2).Milliseconds()).Int()
	if err != nil {
		return err
	}
	if acked < 1 {
		return errNotReplicated
	}
	return nil
}

// attachedReplicas counts the replicas in a primary's ROLE answer
// ("master", offset, [[ip, port, offset], ...]); -1 when it is not one.
func attachedReplicas(role *redis.Cmd) int {
	v, _ := role.Val().([]any)
	if len(v) < 3 || v[0] != "master" {
		return -1
	}
	replicas, _ := v[2].([]any)
	return len(replicas)
}

// setVersionedCluster is SetVersioned on the primary of key's slot,
// replicated before it counts (durably).
func (c *Cache) setVersionedCluster(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) (bool, error) {
	var res *redis.Cmd
	err := c.durably(ctx, key, func(p redis.Pipeliner) {
		res = setVersionedScript.Eval(ctx, p, []string{key, leaseKey(key), versionKey(key)},
			version, value, ttl.Milliseconds())
	})
	if err != nil {
		return false, err
	}
	n, err := res.Int()
	return n == 1, err
}
