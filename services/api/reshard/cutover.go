package reshard

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"scalelab/services/api/shardmap"
)

// errDiffered sends the run back to catching up: verification found the
// moved ranges different (recorded in the state), or the freeze's lease was
// lost before the flip.
var errDiffered = errors.New("moved ranges differ")

// cutover pauses writes on every shard of both maps under a lease, copies
// the last changes, moves the queued cache invalidations of the moving
// users, checks again the rows copied since the full verification (settle:
// its work, not the tier's size, bounds the pause), carries the version
// sequence over and publishes the new map. Reads go on throughout; writes wait (the api
// retries them) until release, or until the lease expires if this run dies
// (an api replica then releases them: shardmap.ReleaseExpired).
func (r *run) cutover(ctx context.Context) error {
	if err := r.e.hook("freeze"); err != nil {
		return err
	}
	cctx, err := r.takeLease(ctx)
	if err != nil {
		return err
	}
	r.frozenAt = time.Now()
	err = r.frozen(cctx, ctx)
	if err != nil && errors.Is(context.Cause(cctx), shardmap.ErrLeaseLost) {
		err = shardmap.ErrLeaseLost
	}
	if !errors.Is(err, errDiffered) && !errors.Is(err, shardmap.ErrLeaseLost) {
		return err
	}
	// The new map is surely not published: give the freeze back (unless
	// someone already did) and catch up on the writes made meanwhile.
	if errors.Is(err, shardmap.ErrLeaseLost) {
		r.e.logf("the write freeze's lease expired before the flip (a renewal came too late); catching up again")
		r.st.Verified = "lease lost"
	}
	if err := r.unfreeze(ctx, r.token(), r.from.Version); err != nil {
		return err
	}
	if err := shardmap.EndFreeze(ctx, r.e.catalog, r.token()); err != nil {
		return err
	}
	r.stopLease()
	if err := r.setPhase(ctx, shardmap.PhaseCatchUp); err != nil {
		return err
	}
	return errDiffered
}

// frozen is the cut-over's work while writes are paused: under cctx, which
// ends when the lease is lost, up to the flip, which runs under ctx: its
// transaction checks the lease itself, and an interrupted commit would
// leave the outcome unknown (the run then stops, and whoever releases the
// freeze reads the outcome from the catalog).
func (r *run) frozen(cctx, ctx context.Context) error {
	for _, p := range r.all {
		if err := shardmap.FreezeShard(cctx, p, r.token()); err != nil {
			return err
		}
	}
	if err := r.catchUp(cctx, true); err != nil {
		return err
	}
	if err := r.moveOutbox(cctx); err != nil {
		return err
	}
	if err := r.e.hook("verify"); err != nil {
		return err
	}
	// Only the rows copied since the full verification are checked here.
	c, err := r.recheck(cctx)
	if err != nil {
		return err
	}
	r.rechecked = c.rows
	if c.count() > 0 {
		return r.differed(cctx, c)
	}
	if err := r.carrySequence(cctx); err != nil {
		return err
	}
	if err := r.e.hook("flip"); err != nil {
		return err
	}
	if err := cctx.Err(); err != nil {
		return err
	}
	return r.flip(ctx)
}

// unfreeze lets writes go on every shard of both maps, from maps of
// minVersion on, where the freeze is token's (0: whoever's).
func (r *run) unfreeze(ctx context.Context, token, minVersion int64) error {
	for _, p := range r.all {
		if err := shardmap.UnfreezeShard(ctx, p, token, minVersion); err != nil {
			return err
		}
	}
	return nil
}

// moveOutbox moves the queued invalidations of moving users to their new
// shard: the trust of the new shard must wait for them (see store.View).
func (r *run) moveOutbox(ctx context.Context) error {
	for i, src := range r.olds {
		q, _ := src.Query(ctx, `SELECT user_id, version, queued_at FROM cache_outbox`)
		type entry struct {
			id, version int64
			at          time.Time
		}
		byNew := map[int][]entry{}
		var e entry
		if _, err := pgx.ForEachRow(q, []any{&e.id, &e.version, &e.at}, func() error {
			if t, moves := r.moves(i, e.id); moves {
				byNew[t] = append(byNew[t], e)
			}
			return nil
		}); err != nil {
			return err
		}
		for t, es := range byNew {
			for _, e := range es {
				if _, err := r.news[t].Exec(ctx, `INSERT INTO cache_outbox (user_id, version, queued_at)
					VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, e.id, e.version, e.at); err != nil {
					return err
				}
				if _, err := src.Exec(ctx, `DELETE FROM cache_outbox WHERE user_id = $1 AND version = $2`, e.id, e.version); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// carrySequence sets every new shard's version sequence past the highest of
// the old ones: a moved user's next write must get a higher version than
// any the cache may hold for it, or the cache would refuse it as older.
func (r *run) carrySequence(ctx context.Context) error {
	var top int64
	for _, p := range r.olds {
		var v int64
		if err := p.QueryRow(ctx, `SELECT last_value FROM users_version_seq`).Scan(&v); err != nil {
			return err
		}
		top = max(top, v)
	}
	for _, p := range r.news {
		if _, err := p.Exec(ctx, `SELECT setval('users_version_seq',
			GREATEST((SELECT last_value FROM users_version_seq), $1))`, top); err != nil {
			return err
		}
	}
	return nil
}

// flip publishes the new map and records it, in one catalog transaction.
func (r *run) flip(ctx context.Context) error {
	st := r.st
	st.Phase, st.Verified, st.Pause = shardmap.PhaseFlipped, "ok", time.Since(r.frozenAt)
	err := pgx.BeginFunc(ctx, r.e.catalog, func(tx pgx.Tx) error {
		if err := shardmap.HoldsFreeze(ctx, tx, r.token()); err != nil {
			return err
		}
		if err := shardmap.Publish(ctx, tx, r.to); err != nil {
			return err
		}
		return shardmap.SaveState(ctx, tx, st)
	})
	if err == nil {
		r.st = st
	}
	return err
}

// release lets writes go on, by the new map only; any freeze, this run's
// or a crashed one's (the map is published: none may hold writes now).
func (r *run) release(ctx context.Context) error {
	if err := r.e.hook("release"); err != nil {
		return err
	}
	if err := r.unfreeze(ctx, 0, r.to.Version); err != nil {
		return err
	}
	if err := shardmap.EndFreeze(ctx, r.e.catalog, 0); err != nil {
		return err
	}
	r.stopLease()
	if !r.frozenAt.IsZero() {
		r.st.Pause = time.Since(r.frozenAt)
	}
	return nil
}

// cleanup removes the moved rows from their old shards, then the
// reshard's tables and trigger everywhere.
func (r *run) cleanup(ctx context.Context) error {
	if err := r.e.hook("cleanup"); err != nil {
		return err
	}
	for _, p := range r.olds {
		if err := ddl(ctx, p, `DROP TRIGGER IF EXISTS reshard_note ON users`); err != nil {
			return err
		}
		var there bool
		if err := p.QueryRow(ctx, `SELECT to_regclass('reshard_move') IS NOT NULL`).Scan(&there); err != nil {
			return err
		}
		for there {
			_, err := p.Exec(ctx, `
				WITH m AS (DELETE FROM reshard_move WHERE id IN (SELECT id FROM reshard_move LIMIT 5000) RETURNING id)
				DELETE FROM users u USING m WHERE u.id = m.id`)
			if err != nil {
				return err
			}
			if err := p.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reshard_move)`).Scan(&there); err != nil {
				return err
			}
		}
	}
	for _, p := range r.all {
		if err := ddl(ctx, p, dropShardSchema); err != nil {
			return err
		}
	}
	return nil
}
