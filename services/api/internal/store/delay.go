package store

import (
	"context"
	"time"
)

// readDelay waits Options.ReadDelay before a shard read, as if the shard
// were a network hop away or its query did real work: on loopback an
// in-memory primary-key read costs about as much as a Redis GET, which
// hides what a cache saves (the edge's ORIGIN_RTT does the same for the
// origin). It gives up when ctx ends, with ctx's error.
func (s *Store) readDelay(ctx context.Context) error {
	if s.opts.ReadDelay <= 0 {
		return nil
	}
	t := time.NewTimer(s.opts.ReadDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
