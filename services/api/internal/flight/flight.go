// Package flight shares one run of a function among concurrent callers with
// the same key, like golang.org/x/sync/singleflight, with one difference
// that matters for a cache in front of a database: a caller never gets the
// result of a run that began before it arrived.
//
// singleflight hands a late caller the run already in progress. That run
// may have read the row before a write which the caller has already seen
// acknowledged (the caller may even be the writer's next request), so the
// caller would read something older than what it knows was written: a
// stale read. Here a caller that finds a run in progress waits for the
// next run instead, which starts when the current one ends and is shared by
// everyone who arrived meanwhile. A burst of callers costs at most two runs,
// and the second usually finds the first one's value in the cache.
package flight

import (
	"context"
	"sync"
)

// Group runs functions by key. The zero value is ready to use.
type Group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done chan struct{}
	val  T
	err  error
	// next is the run shared by the callers that arrived during this one;
	// it starts when this one ends.
	next *call[T]
	fn   func(context.Context) (T, error)
	ctx  context.Context
	// shared counts the callers beyond the first.
	shared int
}

// Do runs fn for key, or waits for a run that begins after this call, and
// returns its result; shared says whether other callers got it too. The run
// is given ctx without its cancellation: it serves every waiter, so it must
// not die with the caller that started it (bound it inside fn instead). A
// caller whose ctx ends stops waiting.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (val T, err error, shared bool) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[T]{}
	}
	c, running := g.calls[key]
	if !running {
		c = &call[T]{done: make(chan struct{}), fn: fn, ctx: context.WithoutCancel(ctx)}
		g.calls[key] = c
		g.mu.Unlock()
		g.run(key, c)
		return c.val, c.err, c.shared > 0
	}
	// A run is in progress: it began before us. Join the next one.
	if c.next == nil {
		c.next = &call[T]{done: make(chan struct{}), fn: fn, ctx: context.WithoutCancel(ctx)}
	}
	n := c.next
	n.shared++
	g.mu.Unlock()
	select {
	case <-n.done:
		return n.val, n.err, true
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err(), true
	}
}

// run executes c, then hands the key to the run that waited for it.
func (g *Group[T]) run(key string, c *call[T]) {
	defer func() {
		g.mu.Lock()
		next := c.next
		if next != nil {
			g.calls[key] = next
		} else {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
		if next != nil {
			// Its callers wait on it; it runs on its own goroutine,
			// since they may give up waiting.
			go g.run(key, next)
		}
	}()
	c.val, c.err = c.fn(c.ctx)
}
