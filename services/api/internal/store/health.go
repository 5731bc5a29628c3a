package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"scalelab/services/api/internal/breaker"
	"scalelab/services/api/shardmap"
)

// A shard that stops answering (its server gone, its network cut) would
// cost every request for its users a whole DB_TIMEOUT, and the queue of
// such requests would soon take longer than clients wait. So each shard
// server has a circuit breaker: after ShardBreakerFailures queries in a row
// went unanswered, its users' requests fail at once for
// ShardBreakerCooldown, then one probe query is let through. A dead shard
// then costs its own users fast 503s, and nobody else anything.

// ErrShardDown is the answer for a shard whose breaker is open.
var ErrShardDown = errors.New("not answering: its queries are skipped for a moment after several in a row failed")

// Defaults for Options.BreakerFailures and Options.BreakerCooldown.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = time.Second
)

// newShardBreaker is the breaker of the shard server at dsn (by DSN, as
// the pools: a reshard keeps what a server has shown).
func (s *Store) newShardBreaker(dsn string) *breaker.Breaker {
	b := breaker.New(shardmap.Redact(dsn), s.opts.BreakerFailures, s.opts.BreakerCooldown, time.Now)
	b.OnStateChange = func(_, to breaker.State) {
		s.breakerOpen.WithLabelValues(b.Name()).Set(boolGauge(to != breaker.Closed))
	}
	return b
}

// admit reports whether shard sh of v may be queried now.
func (v *View) admit(sh int) bool { return v.health[sh].Allow() }

// answered tells shard sh's breaker how a query admitted under ctx went:
// a failure when the server did not answer (refused, unreachable, no
// answer within DB_TIMEOUT, or shutting down), a success when it did, even
// with an error of its own. A caller that left says nothing either way.
func (v *View) answered(ctx context.Context, sh int, err error) {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return
	}
	if unanswered(err) {
		v.health[sh].Failure()
		return
	}
	v.health[sh].Success()
}

func unanswered(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrStaleMap) || errors.Is(err, ErrPaused) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exceptions; 57: the server shutting down
		// or not yet accepting connections.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57")
	}
	return true
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
