package reshard

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"scalelab/services/api/shardmap"
)

// catchUp copies the rows written since the copy read them, in rounds, until
// a round finds few enough that the cut-over's last round will be short
// (final: until a round finds none, which only a pause of writes allows).
func (r *run) catchUp(ctx context.Context, final bool) error {
	for round := 0; ; round++ {
		if err := r.e.hook("catchup"); err != nil {
			return err
		}
		n := 0
		for i := range r.olds {
			got, err := r.drain(ctx, i)
			if err != nil {
				return fmt.Errorf("old shard %d: %v", i, err)
			}
			n += got
		}
		r.progress(shardmap.PhaseCatchUp, int64(n), 0)
		if n == 0 || (!final && (n < 200 || round >= 20)) {
			return nil
		}
	}
}

// drain copies the noted changes of old shard i, a batch at a time, and
// returns how many it handled. A note is removed only with the seq it was
// read with: a write after the read notes the id again with a new seq.
func (r *run) drain(ctx context.Context, i int) (int, error) {
	total := 0
	for {
		q, _ := r.olds[i].Query(ctx, `
			SELECT c.id, c.seq, u.id IS NOT NULL, u.name, u.email, u.created_at, u.updated_at, u.version
			FROM reshard_changes c LEFT JOIN users u ON u.id = c.id ORDER BY c.seq LIMIT $1`, r.e.Batch)
		var ids, seqs []int64
		present := map[int]*rows{}
		gone := map[int][]int64{}
		var id, seq int64
		var exists bool
		var name *string
		var email *string
		var created, updated *time.Time
		var version *int64
		_, err := pgx.ForEachRow(q, []any{&id, &seq, &exists, &name, &email, &created, &updated, &version}, func() error {
			ids, seqs = append(ids, id), append(seqs, seq)
			t, moves := r.moves(i, id)
			switch {
			case !moves:
			case exists:
				if present[t] == nil {
					present[t] = &rows{}
				}
				present[t].add(id, *name, email, *created, *updated, *version)
			default:
				gone[t] = append(gone[t], id)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		for t, b := range present {
			if err := r.write(ctx, i, t, b); err != nil {
				return total, err
			}
		}
		for t, g := range gone {
			if err := r.remove(ctx, i, t, g); err != nil {
				return total, err
			}
		}
		// The removed notes leave their ids dirty, in the same statement:
		// the cut-over checks them again (verify.go).
		if _, err := r.olds[i].Exec(ctx, `
			WITH gone AS (DELETE FROM reshard_changes c USING unnest($1::bigint[], $2::bigint[]) AS d(id, seq)
				WHERE c.id = d.id AND c.seq = d.seq RETURNING c.id)
			INSERT INTO reshard_dirty (id) SELECT id FROM gone ON CONFLICT DO NOTHING`, ids, seqs); err != nil {
			return total, err
		}
		total += len(ids)
		if len(ids) < r.e.Batch {
			return total, nil
		}
	}
}

// settle brings the copies up to date with traffic flowing: it catches up,
// verifies every moved row (verifyAll), then catches up on the writes made
// meanwhile and checks those rows (recheck), so that the cut-over has only
// the last writes to copy and check. A difference sends the run back here.
func (r *run) settle(ctx context.Context) error {
	if err := r.catchUp(ctx, false); err != nil {
		return err
	}
	c, err := r.verifyAll(ctx)
	if err != nil {
		return err
	}
	r.checked = c.rows
	if c.count() > 0 {
		return r.differed(ctx, c)
	}
	r.e.logf("verified %d moved rows against their copies", c.rows)
	if err := r.catchUp(ctx, false); err != nil {
		return err
	}
	if c, err = r.recheck(ctx); err != nil {
		return err
	}
	if c.count() > 0 {
		return r.differed(ctx, c)
	}
	return nil
}

// differed records what verification found different and notes those rows
// for the catch-up to copy again; the run goes back to catching up.
func (r *run) differed(ctx context.Context, c checkResult) error {
	r.e.logf("verification: %s; catching up again", c.summary())
	r.st.Verified = c.summary()
	if err := r.note(ctx, c); err != nil {
		return err
	}
	if err := shardmap.SaveState(ctx, r.e.catalog, r.st); err != nil {
		return err
	}
	return errDiffered
}
