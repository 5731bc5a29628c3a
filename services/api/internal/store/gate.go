package store

import (
	"context"
	"fmt"
)

// readGate bounds how many connections of one shard's pool single-user
// reads may hold at once, leaving the rest to writes and to the cache's
// outbox. When Redis stalls or is not trusted, every read of every replica
// goes to the shards at once: without the gate such a flood takes the
// whole pool, and a write (which must also queue its invalidation, two
// statements) waits behind hundreds of reads until its deadline, although
// each read on its own is quick. Reads wait in the gate instead, within
// the same deadline as their query.
type readGate chan struct{}

// readReserve is how many connections of a pool reads leave to writes.
const readReserve = 2

// newReadGate sizes the gate to a pool of maxConns: all but readReserve,
// at least one, and the whole pool when it is too small to split.
func newReadGate(maxConns int32) readGate {
	n := int(maxConns)
	if n <= 0 {
		n = 4 // pgxpool's default for one CPU; only the tests leave it unset
	}
	if n > 2*readReserve {
		n -= readReserve
	}
	return make(readGate, n)
}

// enter waits for a place until ctx ends, and returns its release.
func (g readGate) enter(ctx context.Context) (release func(), err error) {
	select {
	case g <- struct{}{}:
		return g.leave, nil
	default:
	}
	select {
	case g <- struct{}{}:
		return g.leave, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of the %d connections reads may use: %w", cap(g), ctx.Err())
	}
}

func (g readGate) leave() { <-g }
