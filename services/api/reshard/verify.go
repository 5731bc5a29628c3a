package reshard

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
)

// Verification is split in two so that the write pause does not grow with
// the tier. verifyAll, with traffic flowing, compares every moving row of
// every old shard with its copy, id by id (checksums of every column), and
// leaves out the rows written since they were last copied: those are still
// noted in reshard_changes. Each note the catch-up copies then leaves its id
// in reshard_dirty (drain), so once writes are paused the cut-over rechecks
// only those ids (recheck): the pause is bounded by the writes made since
// the full verification, not by the rows moved.
//
// Why leaving the noted rows out is sound: a write notes its id in its own
// transaction, and a note is removed only after the copy of the row as it
// was read with the note (drain). So a row read without a note, in the same
// statement that reads the notes, equals its last copy, and the copies on
// the new shards are written by this run alone (the api writes a moving
// user on its old shard until the flip): a row and its copy read one after
// the other compare as they stood together. A difference is real (a copy
// lost or damaged): the run notes the id again, so that the next catch-up
// copies it, and goes back to catching up.

// srcRow is a row of an old shard as the verification reads it.
type srcRow struct {
	id     int64
	exists bool
	hash   string
	target int // reshard_move's target, -1 if not recorded
	noted  bool
}

// dstRow is a copy on a new shard.
type dstRow struct {
	exists bool
	hash   string
	source int // reshard_in's source, -1 if not recorded
}

// checkResult counts one verification's work and what differed.
type checkResult struct {
	rows  int64           // moving rows compared with their copy
	diffs map[int][]int64 // by old shard: ids whose copy differs
	first string          // the first difference, in words
}

func (c *checkResult) differ(i int, id int64, why string) {
	if c.diffs == nil {
		c.diffs = map[int][]int64{}
	}
	c.diffs[i] = append(c.diffs[i], id)
	if c.first == "" {
		c.first = fmt.Sprintf("user %d (old shard %d): %s", id, i, why)
	}
}

func (c *checkResult) count() int {
	n := 0
	for _, ids := range c.diffs {
		n += len(ids)
	}
	return n
}

// summary is "" when nothing differed, else what did.
func (c *checkResult) summary() string {
	if n := c.count(); n > 0 {
		return fmt.Sprintf("%d moved rows differ from their copy; first: %s", n, c.first)
	}
	return ""
}

const verifyBatch = 20000

// verifyAll compares every moving row with its copy (see above). It first
// forgets the dirty ids: from here every row is either compared or still
// noted, and a note copied later leaves its id dirty again.
func (r *run) verifyAll(ctx context.Context) (checkResult, error) {
	var c checkResult
	for _, src := range r.olds {
		if _, err := src.Exec(ctx, `DELETE FROM reshard_dirty`); err != nil {
			return c, err
		}
	}
	for i, src := range r.olds {
		after := int64(math.MinInt64)
		for {
			if err := r.e.hook("verify-all"); err != nil {
				return c, err
			}
			// The joins repeat the lower bound: PostgreSQL does not carry
			// it over, and a merge join would read each table from its start.
			q, _ := src.Query(ctx, `
				SELECT u.id, true, CASE WHEN m.id IS NULL THEN '' ELSE (`+rowHash+`)::text END,
					coalesce(m.target, -1), c.id IS NOT NULL
				FROM users u LEFT JOIN reshard_move m ON m.id = u.id AND m.id > $1
				LEFT JOIN reshard_changes c ON c.id = u.id AND c.id > $1
				WHERE u.id > $1 ORDER BY u.id LIMIT $2`, after, verifyBatch)
			rows, err := scanSrc(q)
			if err != nil {
				return c, fmt.Errorf("old shard %d: %v", i, err)
			}
			hi := int64(math.MaxInt64)
			if len(rows) == verifyBatch {
				hi = rows[len(rows)-1].id
			}
			if err := r.compareRange(ctx, i, rows, after, hi, &c); err != nil {
				return c, err
			}
			r.progress("verify", c.rows, r.st.RowsMoving)
			if hi == math.MaxInt64 {
				break
			}
			after = hi
		}
	}
	return c, nil
}

// compareRange compares old shard i's rows with ids in (lo, hi] with the
// copies the new shards hold from it in that range, both ways.
func (r *run) compareRange(ctx context.Context, i int, rows []srcRow, lo, hi int64, c *checkResult) error {
	dst := make([]map[int64]dstRow, len(r.news))
	for t, p := range r.news {
		if r.to.DSNs[t] == r.from.DSNs[i] {
			continue
		}
		q, _ := p.Query(ctx, `
			SELECT i.id, u.id IS NOT NULL, coalesce((`+rowHash+`)::text, ''), i.source
			FROM reshard_in i LEFT JOIN users u ON u.id = i.id
			WHERE i.source = $1 AND i.id > $2 AND i.id <= $3`, i, lo, hi)
		var err error
		if dst[t], err = scanDst(q); err != nil {
			return fmt.Errorf("new shard %d: %v", t, err)
		}
	}
	seen := map[int64]bool{}
	for _, s := range rows {
		seen[s.id] = true
		r.compare(i, s, dst, c)
	}
	// Copies of rows the old shard no longer holds: unless a note says
	// the deletion is still to be copied, they are differences.
	var gone []int64
	for t := range dst {
		for id, d := range dst[t] {
			if !seen[id] && d.exists {
				gone = append(gone, id)
			}
		}
	}
	if len(gone) == 0 {
		return nil
	}
	q, _ := r.olds[i].Query(ctx, `
		SELECT g.id, u.id IS NOT NULL, '', -1, c.id IS NOT NULL
		FROM unnest($1::bigint[]) AS g(id) LEFT JOIN users u ON u.id = g.id
		LEFT JOIN reshard_changes c ON c.id = g.id`, gone)
	again, err := scanSrc(q)
	if err != nil {
		return fmt.Errorf("old shard %d: %v", i, err)
	}
	for _, s := range again {
		if s.exists {
			continue // written since the range was read: noted
		}
		r.compare(i, s, dst, c)
	}
	return nil
}

// compare checks one row of old shard i against its copy, if it moves and
// is not noted as written since its last copy.
func (r *run) compare(i int, s srcRow, dst []map[int64]dstRow, c *checkResult) {
	t, moves := r.moves(i, s.id)
	if !moves || s.noted {
		return
	}
	c.rows++
	d, ok := dst[t][s.id]
	switch {
	case !s.exists:
		if ok && d.exists {
			c.differ(i, s.id, fmt.Sprintf("deleted, but new shard %d still holds it", t))
		}
	case s.target != t:
		c.differ(i, s.id, fmt.Sprintf("not recorded as moving to new shard %d", t))
	case !ok || !d.exists:
		c.differ(i, s.id, fmt.Sprintf("missing on new shard %d", t))
	case d.source != i:
		c.differ(i, s.id, fmt.Sprintf("new shard %d records it from old shard %d", t, d.source))
	case d.hash != s.hash:
		c.differ(i, s.id, fmt.Sprintf("checksum differs on new shard %d", t))
	}
}

// recheck compares the dirty ids of every old shard (copied by the
// catch-up since verifyAll began) with their copies, and forgets those
// that agree. Before the freeze it leaves out the ids noted again since;
// under it there are none (the last catch-up found no change).
func (r *run) recheck(ctx context.Context) (checkResult, error) {
	var c checkResult
	for i, src := range r.olds {
		for after := int64(math.MinInt64); ; {
			q, _ := src.Query(ctx, `
				SELECT d.id, u.id IS NOT NULL, coalesce((`+rowHash+`)::text, ''),
					coalesce(m.target, -1), c.id IS NOT NULL
				FROM reshard_dirty d LEFT JOIN users u ON u.id = d.id
				LEFT JOIN reshard_move m ON m.id = d.id LEFT JOIN reshard_changes c ON c.id = d.id
				WHERE d.id > $1 ORDER BY d.id LIMIT $2`, after, verifyBatch)
			rows, err := scanSrc(q)
			if err != nil {
				return c, fmt.Errorf("old shard %d: %v", i, err)
			}
			if len(rows) == 0 {
				break
			}
			after = rows[len(rows)-1].id
			if err := r.recheckRows(ctx, i, rows, &c); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// recheckRows compares dirty rows of old shard i with their copies and
// forgets the ids found equal, or not moving.
func (r *run) recheckRows(ctx context.Context, i int, rows []srcRow, c *checkResult) error {
	byTarget := map[int][]int64{}
	for _, s := range rows {
		if t, moves := r.moves(i, s.id); moves {
			byTarget[t] = append(byTarget[t], s.id)
		}
	}
	dst := make([]map[int64]dstRow, len(r.news))
	for t, ids := range byTarget {
		q, _ := r.news[t].Query(ctx, `
			SELECT u.id, true, (`+rowHash+`)::text, coalesce(i.source, -1)
			FROM users u LEFT JOIN reshard_in i ON i.id = u.id WHERE u.id = ANY($1)`, ids)
		var err error
		if dst[t], err = scanDst(q); err != nil {
			return fmt.Errorf("new shard %d: %v", t, err)
		}
	}
	// The differing ids stay dirty; note has the catch-up copy them.
	var done []int64
	for _, s := range rows {
		if s.noted {
			continue // dirty again once the catch-up copies it
		}
		n := c.count()
		r.compare(i, s, dst, c)
		if c.count() == n {
			done = append(done, s.id)
		}
	}
	_, err := r.olds[i].Exec(ctx, `DELETE FROM reshard_dirty WHERE id = ANY($1)`, done)
	return err
}

// note marks the ids whose copy differs as changed on their old shard, so
// that the next catch-up copies them (or removes the copy of a deleted row).
func (r *run) note(ctx context.Context, c checkResult) error {
	for i, ids := range c.diffs {
		if _, err := r.olds[i].Exec(ctx, `
			INSERT INTO reshard_changes (id, seq) SELECT unnest($1::bigint[]), nextval('reshard_changes_seq')
			ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq`, ids); err != nil {
			return fmt.Errorf("old shard %d: %v", i, err)
		}
	}
	return nil
}

func scanSrc(q pgx.Rows) ([]srcRow, error) {
	var out []srcRow
	var s srcRow
	_, err := pgx.ForEachRow(q, []any{&s.id, &s.exists, &s.hash, &s.target, &s.noted}, func() error {
		out = append(out, s)
		return nil
	})
	return out, err
}

func scanDst(q pgx.Rows) (map[int64]dstRow, error) {
	out := map[int64]dstRow{}
	var id int64
	var d dstRow
	_, err := pgx.ForEachRow(q, []any{&id, &d.exists, &d.hash, &d.source}, func() error {
		out[id] = d
		return nil
	})
	return out, err
}
