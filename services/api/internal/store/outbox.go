package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Invalidation is a cache entry a write failed to remove from Redis.
type Invalidation struct {
	UserID, Version int64
	from            *pgxpool.Pool // the shard it was read from, if it was
}

var queueSQL = fencedWrite(3) + `,
	q AS (INSERT INTO cache_outbox (user_id, version) SELECT $1, $2 FROM f WHERE f.allowed
		ON CONFLICT DO NOTHING RETURNING 1)
	SELECT f.frozen, f.min_version, (SELECT count(*) FROM q) FROM f`

// QueueInvalidation records, on the user's shard, that the cache entry of
// a committed write could not be removed. It is fenced like a write: an
// entry must be queued on the shard that answers for the user when the
// entry lands, or the trust of the right shard would not wait for it.
func (s *Store) QueueInvalidation(ctx context.Context, inv Invalidation) error {
	return s.onMap(ctx, func(v *View) error {
		sh := v.ShardOf(inv.UserID)
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		start := time.Now()
		var frozen bool
		var minVersion, n int64
		err := v.pools[sh].QueryRow(ctx, queueSQL, inv.UserID, inv.Version, v.Version).Scan(&frozen, &minVersion, &n)
		if err == nil {
			err = v.checkWrite(frozen, minVersion)
		}
		return s.observe(sh, "outbox_queue", start, err)
	})
}

// PendingInvalidations returns up to limit queued invalidations of shard i
// of v, oldest first; none, and no error, means the shard's cache entries
// can all be trusted under v. A shard that is frozen for a cut-over, or
// fenced against v, returns ErrPaused or ErrStaleMap: its users' entries
// are moving, so no trust may be renewed for them now.
func (s *Store) PendingInvalidations(ctx context.Context, v *View, i, limit int) ([]Invalidation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	rows, _ := v.pools[i].Query(ctx, `
		SELECT f.frozen, f.min_version, o.user_id, o.version FROM shard_fence f
		LEFT JOIN LATERAL (SELECT user_id, version FROM cache_outbox ORDER BY queued_at LIMIT $1) o ON true`, limit)
	var out []Invalidation
	var fenceErr error
	var frozen bool
	var minVersion int64
	var userID, version *int64
	_, err := pgx.ForEachRow(rows, []any{&frozen, &minVersion, &userID, &version}, func() error {
		if fenceErr = v.checkWrite(frozen, minVersion); fenceErr != nil {
			return nil
		}
		if userID != nil {
			out = append(out, Invalidation{UserID: *userID, Version: *version, from: v.pools[i]})
		}
		return nil
	})
	if err == nil {
		err = fenceErr
	}
	return out, s.observe(i, "outbox_list", start, err)
}

// DoneInvalidation removes an invalidation that has reached Redis, from
// the shard it was read from (the user may have moved since).
func (s *Store) DoneInvalidation(ctx context.Context, inv Invalidation) error {
	v := s.View()
	sh := v.ShardOf(inv.UserID)
	pool := inv.from
	if pool == nil {
		pool = v.pools[sh]
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	_, err := pool.Exec(ctx,
		`DELETE FROM cache_outbox WHERE user_id = $1 AND version = $2`, inv.UserID, inv.Version)
	return s.observe(sh, "outbox_done", start, err)
}
