package shardmap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The cut-over pauses writes on every shard of both maps (the fence's
// frozen flag). A shardctl killed while they are paused must not pause them
// for ever, so the freeze is held under a lease in the catalog: the run
// takes a token and a deadline (freeze_until, by the catalog's clock),
// renews the deadline while it works, and may publish the new map only
// under an unexpired lease, checked with the reshard row locked in the
// publishing transaction. Once the deadline passes nobody can renew it or
// publish under it, so whoever sees it passed may release the freeze:
// every api replica looks each poll (ReleaseExpired). The row lock makes
// the release see whether the flip committed: if it did, the shards are
// released to the new map (min_version = the new version, as the run's own
// release does); if not, to the old one, and a run taken up later freezes
// again and catches up on the writes made meanwhile (the change trigger
// noted them). Each shard keeps the token of its freeze (reshard_freeze),
// so an old token's release never lifts a newer run's freeze.

// ErrLeaseLost means the freeze's lease expired (or another run took it)
// before the cut-over published the new map; the run must not publish.
var ErrLeaseLost = errors.New("the write freeze's lease expired before the flip")

// ShardFreezeSchema is the table each shard keeps its freeze's token in;
// the reshard adds it to every shard it touches and drops it at cleanup.
const ShardFreezeSchema = `
CREATE TABLE IF NOT EXISTS reshard_freeze (
	id    int    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	token bigint NOT NULL
);`

// AcquireFreeze takes the freeze's lease for a new token, which replaces any
// earlier run's (a run taken up after a crash takes over).
func AcquireFreeze(ctx context.Context, db DB, lease time.Duration) (int64, error) {
	var token int64
	err := db.QueryRow(ctx, `UPDATE reshard SET freeze_token = freeze_token + 1,
		freeze_until = clock_timestamp() + $1 * interval '1 microsecond'
		WHERE id = 1 RETURNING freeze_token`, lease.Microseconds()).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoReshard
	}
	return token, err
}

// RenewFreeze moves the deadline of token's lease lease from now, if the
// lease is still token's and has not expired; else ErrLeaseLost.
func RenewFreeze(ctx context.Context, db DB, token int64, lease time.Duration) error {
	tag, err := db.Exec(ctx, `UPDATE reshard SET freeze_until = clock_timestamp() + $2 * interval '1 microsecond'
		WHERE id = 1 AND freeze_token = $1 AND freeze_until > clock_timestamp()`, token, lease.Microseconds())
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrLeaseLost
	}
	return err
}

// HoldsFreeze checks, in the transaction that publishes the new map, that
// token's lease is unexpired, and locks the reshard row until the
// transaction ends, so that ReleaseExpired waits for its outcome.
func HoldsFreeze(ctx context.Context, tx pgx.Tx, token int64) error {
	var held bool
	// A released lease has a NULL deadline: coalesce makes that "not held"
	// rather than a NULL that cannot be scanned.
	err := tx.QueryRow(ctx, `SELECT coalesce(freeze_token = $1 AND freeze_until > clock_timestamp(), false)
		FROM reshard WHERE id = 1 FOR UPDATE`, token).Scan(&held)
	if err == nil && !held {
		err = ErrLeaseLost
	}
	return err
}

// EndFreeze records that token's freeze is over (the shards are released);
// token 0: whoever's (a run taken up after the flip releases any freeze).
func EndFreeze(ctx context.Context, db DB, token int64) error {
	_, err := db.Exec(ctx, `UPDATE reshard SET freeze_until = NULL
		WHERE id = 1 AND ($1 = 0 OR freeze_token = $1)`, token)
	return err
}

// FreezeShard pauses writes on one shard under token. Taking the fence FOR
// UPDATE waits for every write in flight (each holds it FOR KEY SHARE) and
// makes the writes that come meanwhile wait for this transaction, then read
// the frozen fence.
func FreezeShard(ctx context.Context, p *pgxpool.Pool, token int64) error {
	return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM shard_fence WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reshard_freeze (id, token) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token`, token); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE shard_fence SET frozen = true WHERE id = 1`)
		return err
	})
}

// UnfreezeShard lets writes go on one shard, from maps of minVersion on,
// if the shard's freeze is token's (token 0: whoever's). The fence row is
// locked first, so a newer run's FreezeShard is either wholly before this
// (its token is seen and left alone) or wholly after.
func UnfreezeShard(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, token, minVersion int64) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM shard_fence WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		if token != 0 {
			var there bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass('reshard_freeze') IS NOT NULL`).Scan(&there); err != nil {
				return err
			}
			var other bool
			if there {
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reshard_freeze WHERE token <> $1)`, token).Scan(&other); err != nil {
					return err
				}
			}
			if other {
				return nil
			}
		}
		_, err := tx.Exec(ctx, `UPDATE shard_fence SET frozen = false,
			min_version = GREATEST(min_version, $1) WHERE id = 1`, minVersion)
		return err
	})
}

// ReleaseExpired releases a freeze whose lease has expired: the run that
// held it is dead or cut off. It reports whether it released one. Any
// number of replicas may call it at once; the reshard row's lock lets one
// work and the others then find nothing to do.
func ReleaseExpired(ctx context.Context, catalog *pgxpool.Pool) (bool, error) {
	released := false
	err := pgx.BeginFunc(ctx, catalog, func(tx pgx.Tx) error {
		var st State
		var token int64
		err := tx.QueryRow(ctx, `SELECT from_version, to_dsns, phase, freeze_token FROM reshard
			WHERE id = 1 AND freeze_until <= clock_timestamp() FOR UPDATE`).
			Scan(&st.FromVersion, &st.To.DSNs, &st.Phase, &token)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		from, err := LoadVersion(ctx, tx, st.FromVersion)
		if err != nil {
			return err
		}
		// Flipped (or past it): the new map is published, release to it.
		minVersion := st.FromVersion
		if st.Phase != PhaseCopy && st.Phase != PhaseCatchUp && st.Phase != PhaseCutover {
			minVersion++
		}
		for _, dsn := range union(from.DSNs, st.To.DSNs) {
			if err := unfreezeDSN(ctx, dsn, token, minVersion); err != nil {
				return fmt.Errorf("releasing an expired freeze: %v", err)
			}
		}
		if err := EndFreeze(ctx, tx, token); err != nil {
			return err
		}
		released = true
		return nil
	})
	return released, err
}

func unfreezeDSN(ctx context.Context, dsn string, token, minVersion int64) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return UnfreezeShard(ctx, conn, token, minVersion)
}

func union(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
