package httpcache

import (
	"context"
	"errors"
	"sync/atomic"
)

// originReach remembers whether the last exchange with the origin failed
// for want of an answer: refused, reset, or timed out (an HTTP answer,
// even a 5xx, is an answer). While it did, a request that stale-if-error
// lets the edge answer from what it holds is answered at once, and a
// background revalidation of its entry finds out when the origin is back
// (any answer from the origin ends the state). Without it every such
// request would wait on its own failed attempt before getting the stale
// answer it was always going to get: a connection timeout of seconds when
// the origin's host is gone, long enough for clients to give up. nginx
// (max_fails, fail_timeout) and Varnish (a sick backend, grace) do the
// same.
type originReach struct{ failing atomic.Bool }

// record notes the outcome of one origin exchange under ctx. A request
// whose client left (ctx canceled) says nothing about the origin.
func (o *originReach) record(ctx context.Context, err error) {
	switch {
	case err == nil:
		o.failing.Store(false)
	case errors.Is(ctx.Err(), context.Canceled):
	default:
		o.failing.Store(true)
	}
}

// down reports whether the last origin exchange went unanswered.
func (o *originReach) down() bool { return o.failing.Load() }
