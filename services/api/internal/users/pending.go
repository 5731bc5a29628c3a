package users

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"scalelab/services/api/internal/cache"
)

// maxPending bounds the queue of invalidations that failed. Past it the
// oldest ones are dropped (their TTL still ends them), which is logged.
const maxPending = 100_000

// pendingInvalidations are cache keys a write could not invalidate because
// Redis did not answer. They are retried until Redis takes them; while any
// is pending, the replica reads only from the shards.
type pendingInvalidations struct {
	cache  *cache.Cache
	logger *slog.Logger
	m      metrics

	mu   sync.Mutex
	keys map[string]struct{}
}

func newPendingInvalidations(c *cache.Cache, logger *slog.Logger, m metrics) *pendingInvalidations {
	return &pendingInvalidations{cache: c, logger: logger, m: m, keys: map[string]struct{}{}}
}

func (p *pendingInvalidations) add(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) >= maxPending {
		for k := range p.keys {
			delete(p.keys, k)
			p.logger.Error("pending invalidations full; dropped one, its TTL will end it", "key", k)
			break
		}
	}
	p.keys[key] = struct{}{}
	p.m.pending.Set(float64(len(p.keys)))
}

func (p *pendingInvalidations) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys) == 0
}

// run retries the pending invalidations every 250 ms until ctx ends.
func (p *pendingInvalidations) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		keys := make([]string, 0, len(p.keys))
		for k := range p.keys {
			keys = append(keys, k)
		}
		p.mu.Unlock()
		for _, k := range keys {
			if err := p.cache.Invalidate(ctx, k); err != nil {
				break // Redis is still away; try again next tick
			}
			p.mu.Lock()
			delete(p.keys, k)
			p.m.pending.Set(float64(len(p.keys)))
			p.mu.Unlock()
		}
	}
}
