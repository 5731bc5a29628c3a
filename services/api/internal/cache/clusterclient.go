package cache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClusterClient is the Redis Cluster client of the cache (and of the
// sessions, which share it): every call bounded by timeout, and the slot
// map relearned as soon as a node stops answering.
//
// Why the hook: go-redis (v9.23) reloads its slot map on a MOVED or
// READONLY answer, or when the map is older than ClusterStateReloadInterval
// (60 s). A primary that dies answers nothing, so neither comes: its slots
// stay routed to it, every call there fails with a dial error or a timeout
// even after its replica has been promoted, and for the cache that means
// the breaker reopening and those buckets' trust never renewed: reads of
// their users go to the shards for up to a minute. So every call that fails
// without a Redis answer asks for a reload. go-redis coalesces those
// (one reload at a time, then 200 ms before the next), so a dead node costs
// a few CLUSTER SLOTS a second while it lasts, never one per call.
func NewClusterClient(addrs []string, timeout time.Duration) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       addrs,
		DialTimeout: timeout * 4,
		// One dial per attempt, not go-redis's five: a dead node's address
		// then costs a slot-map reload that tries it first one DialTimeout,
		// not five of them and their pauses (2.4 s with the defaults).
		DialerRetries: 1,
		ReadTimeout:   timeout,
		WriteTimeout:  timeout,
		// A few connections opened ahead: a burst on a cold replica must
		// not spend its short timeout dialling (and open the breaker).
		MinIdleConns: 4,
	})
	c.AddHook(relearnSlots{c})
	return c
}

// relearnSlots reloads the client's slot map after a call that got no
// answer from the node (see NewClusterClient).
type relearnSlots struct{ c *redis.ClusterClient }

func (h relearnSlots) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h relearnSlots) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

// ProcessPipelineHook covers Pipelined (the fence's trust renewal) and the
// automatic pipeliner's batches (the hit path's MGETs): err is the first
// error among the commands, so a batch with any command on a dead node
// counts.
func (h relearnSlots) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(ctx, err)
		return err
	}
}

func (h relearnSlots) check(ctx context.Context, err error) {
	if nodeUnanswered(err) {
		h.c.ReloadState(ctx)
	}
}

// nodeUnanswered says whether err is a call's failure without a Redis
// answer (a refused or timed-out dial, a read timeout, a reset connection):
// what a dead node gives. A Redis error reply (redis.Nil included) means the
// node is there; a cancelled call says nothing about the node.
func nodeUnanswered(err error) bool {
	var reply redis.Error
	return err != nil && !errors.As(err, &reply) && !errors.Is(err, context.Canceled)
}
