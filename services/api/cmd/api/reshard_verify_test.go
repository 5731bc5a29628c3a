//go:build containers

package main

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"scalelab/services/api/internal/containertest"
	"scalelab/services/api/internal/store"
	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
)

// The cut-over pauses writes; what it does meanwhile must not grow with
// the tier. Every moved row is verified against its copy before the pause,
// with traffic flowing, and under the pause only the rows written since
// are checked again. The counts are the run's recorded work (no clock):
// the same 5 rows written before the pause are all that is checked under
// it, with 3,000 users and with 6,000. And the verification still finds a
// damaged copy, before the pause or under it, and has it copied again.
func TestReshardPauseChecksOnlyTheWritesSinceVerification(t *testing.T) {
	d := startReshardDeps(t, false)
	ctx := context.Background()
	d.seed(t, 3000)
	e := d.engine(t)
	e.Batch = 500
	var log strings.Builder
	e.Log = &log

	// apply plans cur → n shards, writes five moving users (as the api
	// would: on their old shard, the change trigger fires) when the run
	// is about to pause writes, and applies.
	apply := func(t *testing.T, n int) (reshard.Result, int64) {
		t.Helper()
		want := rowsByID(t, d.dsns)
		from, to, moving := movingUsers(t, e, n, 5)
		p, err := e.Plan(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		e.Hook = once("freeze", func() error { return write(t, d.dsns, from, moving, "written-before-the-pause", want) })
		res, err := e.Apply(ctx, n, "", false)
		e.Hook = nil
		if err != nil {
			t.Fatal(err)
		}
		if got := rowsByID(t, d.dsns); !maps.Equal(got, want) {
			t.Errorf("rows differ after the reshard: %d rows, want %d", len(got), len(want))
		}
		checkPlacement(t, d.dsns, res.To, 0, nil)
		return res, p.Moved
	}

	var small int64
	t.Run("3→4: every moved row verified before the pause, only the 5 written since under it", func(t *testing.T) {
		res, moved := apply(t, 4)
		if res.Checked != moved || res.Rechecked != 5 {
			t.Errorf("verified %d rows before the pause and %d under it; want %d (every moved row) and 5 (the rows written since)",
				res.Checked, res.Rechecked, moved)
		}
		small = moved
	})

	t.Run("the tier doubled, 4→3: still only the 5 rows written since are checked under the pause", func(t *testing.T) {
		m, err := e.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(m.DSNs, m.MustRouter(), store.Options{QueryTimeout: time.Minute}, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Seed(ctx, 6000)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		res, moved := apply(t, 3)
		if moved <= small {
			t.Errorf("4→3 moves %d rows of 6,000, want more than the %d of 3→4 over 3,000", moved, small)
		}
		if res.Checked != moved || res.Rechecked != 5 {
			t.Errorf("verified %d rows before the pause and %d under it; want %d (every moved row) and 5 (the rows written since)",
				res.Checked, res.Rechecked, moved)
		}
	})

	t.Run("a copy damaged before the verification, or under the pause, is found and copied again", func(t *testing.T) {
		want := rowsByID(t, d.dsns)
		from, to, moving := movingUsers(t, e, 4, 2)
		damaged, written := moving[0], moving[1]
		damage := func(id int64) error {
			conn := containertest.Connect(t, to.DSNs[to.MustRouter().Shard(shardmap.Key(id))])
			defer conn.Close(ctx)
			tag, err := conn.Exec(ctx, `UPDATE users SET name = 'damaged' WHERE id = $1`, id)
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("user %d has no copy to damage", id)
			}
			return err
		}
		onFreeze := once("freeze", func() error { return write(t, d.dsns, from, []int64{written}, "written-before-the-pause", want) })
		onVerifyAll := once("verify-all", func() error { return damage(damaged) })
		onVerify := once("verify", func() error { return damage(written) })
		e.Hook = func(p string) error {
			for _, h := range []func(string) error{onFreeze, onVerifyAll, onVerify} {
				if err := h(p); err != nil {
					return err
				}
			}
			return nil
		}
		log.Reset()
		res, err := e.Apply(ctx, 4, "", false)
		e.Hook = nil
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{damaged, written} {
			if s := fmt.Sprintf("1 moved rows differ from their copy; first: user %d ", id); !strings.Contains(log.String(), s) {
				t.Errorf("the log does not say %q:\n%s", s, log.String())
			}
		}
		if got := rowsByID(t, d.dsns); !maps.Equal(got, want) {
			for id, v := range want {
				if got[id] != v {
					t.Errorf("user %d is %q, want %q", id, got[id], v)
				}
			}
		}
		checkPlacement(t, d.dsns, res.To, 0, nil)
	})
}

// movingUsers returns the current map, its target with n shards, and the
// first k users that move between them.
func movingUsers(t *testing.T, e *reshard.Engine, n, k int) (from, to shardmap.Map, ids []int64) {
	t.Helper()
	from, err := e.Current(context.Background())
	if err == nil {
		to, err = e.Target(from, n, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	fr, tr := from.MustRouter(), to.MustRouter()
	for id := int64(1); len(ids) < k; id++ {
		if from.DSNs[fr.Shard(shardmap.Key(id))] != to.DSNs[tr.Shard(shardmap.Key(id))] {
			ids = append(ids, id)
		}
	}
	return from, to, ids
}

// write renames users on their shard by the map m, as the api writes
// (a new version, the change trigger fires), and records the rows in want.
func write(t *testing.T, dsns []string, m shardmap.Map, ids []int64, name string, want map[int64]string) error {
	r := m.MustRouter()
	for _, id := range ids {
		conn := containertest.Connect(t, m.DSNs[r.Shard(shardmap.Key(id))])
		var row string
		err := conn.QueryRow(context.Background(), `UPDATE users SET name = $2, updated_at = now(),
			version = nextval('users_version_seq') WHERE id = $1 RETURNING name || '/' || version`, id, name).Scan(&row)
		conn.Close(context.Background())
		if err != nil {
			return fmt.Errorf("user %d: %v", id, err)
		}
		want[id] = row
	}
	return nil
}

// once returns a hook that runs fn the first time the run reaches point.
func once(point string, fn func() error) func(string) error {
	done := false
	return func(p string) error {
		if p != point || done {
			return nil
		}
		done = true
		return fn()
	}
}
