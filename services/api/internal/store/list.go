package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// GetMany reads the users with the given ids, each from its shard, asking
// each shard once and all in parallel (one map version for all of them).
// Ids that are absent are simply not in the result.
func (s *Store) GetMany(ctx context.Context, ids []int64) (users []User, err error) {
	err = s.onMap(ctx, func(v *View) error {
		byShard := map[int][]int64{}
		for _, id := range ids {
			sh := v.ShardOf(id)
			byShard[sh] = append(byShard[sh], id)
		}
		perShard := make([][]User, v.Shards()) // one slot per shard: no lock
		g, gctx := errgroup.WithContext(ctx)
		for sh, shardIDs := range byShard {
			g.Go(func() (err error) {
				perShard[sh], err = s.queryUsers(gctx, v, sh, "get_many", `
					SELECT f.min_version, u.id, u.name, u.email, u.created_at, u.updated_at, u.version
					FROM shard_fence f LEFT JOIN users u ON u.id = ANY($1)`, shardIDs)
				return err
			})
		}
		err := g.Wait()
		users = slices.Concat(perShard...)
		return err
	})
	return users, err
}

// Page reads, from every shard, up to limit users with ids above after, in
// id order, and returns them all merged in id order: listing users has no
// shard key, so a page asks every shard (scatter) and merges their answers
// (gather); the caller keeps the first limit. A shard may hold copies of
// users it does not answer for (during a reshard, before the old copies are
// removed): those are skipped.
func (s *Store) Page(ctx context.Context, after int64, limit int) (users []User, err error) {
	err = s.onMap(ctx, func(v *View) error {
		perShard := make([][]User, v.Shards())
		g, gctx := errgroup.WithContext(ctx)
		for sh := range perShard {
			g.Go(func() (err error) {
				perShard[sh], err = s.pageOf(gctx, v, sh, after, limit)
				return err
			})
		}
		err := g.Wait()
		users = slices.Concat(perShard...)
		slices.SortFunc(users, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
		return err
	})
	return users, err
}

// pageOf reads up to limit users of shard sh after the cursor, reading on
// past rows the shard holds for another.
func (s *Store) pageOf(ctx context.Context, v *View, sh int, after int64, limit int) ([]User, error) {
	var out []User
	for len(out) < limit {
		got, err := s.queryUsers(ctx, v, sh, "page", `
			SELECT f.min_version, u.id, u.name, u.email, u.created_at, u.updated_at, u.version
			FROM shard_fence f LEFT JOIN LATERAL (
				SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2) u ON true`, after, limit)
		if err != nil || len(got) == 0 {
			return out, err
		}
		for _, u := range got {
			if v.ShardOf(u.ID) == sh && len(out) < limit {
				out = append(out, u)
			}
		}
		if len(got) < limit {
			break
		}
		after = got[len(got)-1].ID
	}
	return out, nil
}

// queryUsers runs a query on one shard whose rows are the fence's
// min_version and a user's columns (NULL when there is none), bounded and
// observed like every other.
func (s *Store) queryUsers(ctx context.Context, v *View, sh int, op, sql string, args ...any) ([]User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	rows, _ := v.pools[sh].Query(ctx, sql, args...)
	var users []User
	var minVersion int64
	var n nullUser
	var fenceErr error
	_, err := pgx.ForEachRow(rows, append([]any{&minVersion}, n.dest()...), func() error {
		if fenceErr = v.check(minVersion); fenceErr == nil && n.id != nil {
			users = append(users, n.user())
		}
		return nil
	})
	if err == nil {
		err = fenceErr
	}
	return users, s.observe(sh, op, start, err)
}
