package reshard

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"scalelab/services/api/shardmap"
)

// rows is a batch of user rows, column by column, as upsertUsers takes them.
type rows struct {
	ids              []int64
	names            []string
	emails           []*string
	created, updated []time.Time
	versions         []int64
}

func (b *rows) add(id int64, name string, email *string, created, updated time.Time, version int64) {
	b.ids = append(b.ids, id)
	b.names = append(b.names, name)
	b.emails = append(b.emails, email)
	b.created = append(b.created, created)
	b.updated = append(b.updated, updated)
	b.versions = append(b.versions, version)
}

// copy reads every old shard in id order from its recorded cursor and
// writes the rows that move to their new shard. Writes made meanwhile are
// noted by the trigger and copied again by catchUp.
func (r *run) copy(ctx context.Context) error {
	if r.st.RowsTotal == 0 {
		for _, p := range r.olds {
			var n int64
			if err := p.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
				return err
			}
			r.st.RowsTotal += n
		}
	}
	for i, src := range r.olds {
		for {
			if err := r.e.hook("copy"); err != nil {
				return err
			}
			n, err := r.copyBatch(ctx, i, src)
			if err != nil {
				return fmt.Errorf("old shard %d: %v", i, err)
			}
			r.progress(shardmap.PhaseCopy, r.st.RowsCopied, r.st.RowsTotal)
			if n < r.e.Batch {
				break
			}
		}
	}
	return nil
}

// copyBatch copies the next batch of shard i and records the cursor.
func (r *run) copyBatch(ctx context.Context, i int, src *pgxpool.Pool) (int, error) {
	q, _ := src.Query(ctx, `SELECT `+userCols+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, r.st.Cursors[i], r.e.Batch)
	moving := map[int]*rows{}
	n := 0
	var last int64
	var id, version int64
	var name string
	var email *string
	var created, updated time.Time
	_, err := pgx.ForEachRow(q, []any{&id, &name, &email, &created, &updated, &version}, func() error {
		n, last = n+1, id
		if t, moves := r.moves(i, id); moves {
			if moving[t] == nil {
				moving[t] = &rows{}
			}
			moving[t].add(id, name, email, created, updated, version)
		}
		return nil
	})
	if err != nil || n == 0 {
		return n, err
	}
	moved := 0
	for t, b := range moving {
		if err := r.write(ctx, i, t, b); err != nil {
			return 0, err
		}
		moved += len(b.ids)
	}
	r.st.Cursors[i] = last
	r.st.RowsCopied += int64(n)
	r.st.RowsMoving += int64(moved)
	r.copied += int64(n)
	return n, shardmap.SaveState(ctx, r.e.catalog, r.st)
}

// moves says whether old shard i answers for id and it goes elsewhere, and
// to which new shard. A row shard i holds for another (a copy) never moves.
func (r *run) moves(i int, id int64) (int, bool) {
	key := shardmap.Key(id)
	if r.fromR.Shard(key) != i {
		return 0, false
	}
	t := r.toR.Shard(key)
	return t, r.to.DSNs[t] != r.from.DSNs[i]
}

// write copies rows from old shard i to new shard t: the rows and their
// arrival on t, then their departure on i. Each step may run twice.
func (r *run) write(ctx context.Context, i, t int, b *rows) error {
	dst, src := r.news[t], r.olds[i]
	if _, err := dst.Exec(ctx, upsertUsers, b.ids, b.names, b.emails, b.created, b.updated, b.versions); err != nil {
		return fmt.Errorf("new shard %d: %v", t, err)
	}
	if _, err := dst.Exec(ctx, `INSERT INTO reshard_in (id, source) SELECT unnest($1::bigint[]), $2
		ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source`, b.ids, i); err != nil {
		return fmt.Errorf("new shard %d: %v", t, err)
	}
	_, err := src.Exec(ctx, `INSERT INTO reshard_move (id, target) SELECT unnest($1::bigint[]), $2
		ON CONFLICT (id) DO UPDATE SET target = EXCLUDED.target`, b.ids, t)
	return err
}

// remove deletes from new shard t rows that old shard i no longer has.
func (r *run) remove(ctx context.Context, i, t int, ids []int64) error {
	dst, src := r.news[t], r.olds[i]
	if _, err := dst.Exec(ctx, `DELETE FROM users WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("new shard %d: %v", t, err)
	}
	if _, err := dst.Exec(ctx, `DELETE FROM reshard_in WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("new shard %d: %v", t, err)
	}
	_, err := src.Exec(ctx, `DELETE FROM reshard_move WHERE id = ANY($1)`, ids)
	return err
}
