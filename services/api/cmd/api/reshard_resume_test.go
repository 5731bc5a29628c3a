//go:build containers

package main

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"scalelab/services/api/internal/containertest"
	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
)

var errKilled = errors.New("killed")

// killAt returns a hook that fails the n-th time the run reaches point, as
// if the process died there: no clean-up runs.
func killAt(point string, n int) func(string) error {
	seen := 0
	return func(p string) error {
		if p == point {
			if seen++; seen == n {
				return errKilled
			}
		}
		return nil
	}
}

// rowsByID reads every row of every shard database: id → "name/version",
// and fails on an id held twice.
func rowsByID(t *testing.T, dsns []string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, dsn := range dsns {
		conn := containertest.Connect(t, dsn)
		rows, _ := conn.Query(context.Background(), `SELECT id, name || '/' || version FROM users`)
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[id]; dup {
				t.Errorf("user %d is on two shards", id)
			}
			out[id] = v
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		conn.Close(context.Background())
	}
	return out
}

func fence(t *testing.T, dsn string) (frozen bool, minVersion int64) {
	t.Helper()
	conn := containertest.Connect(t, dsn)
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT frozen, min_version FROM shard_fence`).Scan(&frozen, &minVersion); err != nil {
		t.Fatal(err)
	}
	return frozen, minVersion
}

func TestReshardRefusesResumesAndIsIdempotent(t *testing.T) {
	d := startReshardDeps(t, false)
	ctx := context.Background()
	d.seed(t, 3000)
	e := d.engine(t)
	e.Batch = 500
	before := rowsByID(t, d.dsns)

	noReshard := func(t *testing.T) {
		t.Helper()
		if _, err := e.State(ctx); !errors.Is(err, shardmap.ErrNoReshard) {
			t.Errorf("a reshard was recorded: %v", err)
		}
		if m, err := e.Current(ctx); err != nil || m.Version != 1 {
			t.Errorf("map = %v, %v; want version 1", m.Describe(), err)
		}
	}
	t.Run("a bad target is refused and changes nothing", func(t *testing.T) {
		for n, want := range map[int]string{0: "refusing --to 0", 5: "refusing --to 5: only 4 shards are known", -1: "refusing --to -1"} {
			if _, err := e.Apply(ctx, n, "", false); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("--to %d: %v, want %q", n, err, want)
			}
		}
		if _, err := e.Apply(ctx, 4, "ring", false); err == nil || !strings.Contains(err.Error(), `unknown router "ring"`) {
			t.Errorf("--router ring: %v", err)
		}
		down, err := reshard.Open(ctx, d.catalog, append(d.dsns[:3:3], "postgres://postgres:test@127.0.0.1:1/gone?sslmode=disable"), shardmap.Map{})
		if err != nil {
			t.Fatal(err)
		}
		defer down.Close()
		if _, err := down.Apply(ctx, 4, "", false); err == nil || !strings.Contains(err.Error(), "refusing: shard 127.0.0.1:1/gone is unreachable") {
			t.Errorf("unreachable shard: %v", err)
		}
		if res, err := e.Apply(ctx, 4, "", true); err != nil || res.To.Version != 2 {
			t.Errorf("dry run: %+v, %v", res, err)
		}
		noReshard(t)
	})

	t.Run("killed during the copy, run again: it resumes and ends in the same state", func(t *testing.T) {
		e.Hook = killAt("copy", 3)
		if _, err := e.Apply(ctx, 4, "", false); !errors.Is(err, errKilled) {
			t.Fatalf("first run: %v, want killed", err)
		}
		s, err := e.State(ctx)
		if err != nil || s.Phase != shardmap.PhaseCopy || s.RowsCopied == 0 || s.RowsCopied >= 3000 {
			t.Fatalf("after the kill: phase %q, %d rows copied (%v); want copy, stopped midway through 3000", s.Phase, s.RowsCopied, err)
		}
		e.Hook = nil
		res, err := e.Apply(ctx, 4, "", false)
		if err != nil || res.Resumed != shardmap.PhaseCopy {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		if got := rowsByID(t, d.dsns); !maps.Equal(got, before) {
			t.Errorf("rows differ after the reshard: %d rows, want %d", len(got), len(before))
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, 3000, nil)
	})

	t.Run("killed during verification, run again: it resumes and ends in the same state", func(t *testing.T) {
		e.Hook = killAt("verify", 1)
		if _, err := e.Apply(ctx, 3, "", false); !errors.Is(err, errKilled) {
			t.Fatalf("first run: %v, want killed", err)
		}
		if s, _ := e.State(ctx); s.Phase != shardmap.PhaseCutover {
			t.Fatalf("after the kill: phase %q, want cutover", s.Phase)
		}
		if frozen, _ := fence(t, d.dsns[3]); !frozen {
			t.Errorf("writes are not paused while the cut-over is unfinished")
		}
		e.Hook = nil
		res, err := e.Apply(ctx, 3, "", false)
		if err != nil || res.Resumed != shardmap.PhaseCutover || res.To.Version != 3 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		if got := rowsByID(t, d.dsns); !maps.Equal(got, before) {
			t.Errorf("rows differ after the reshard: %d rows, want %d", len(got), len(before))
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, 3000, nil)
		for i, dsn := range d.dsns {
			if frozen, minVersion := fence(t, dsn); frozen || minVersion != 3 {
				t.Errorf("shard %d fence: frozen %v, min_version %d; want false, 3", i, frozen, minVersion)
			}
		}
	})

	t.Run("killed during the full verification before the pause, run again: it resumes and ends in the same state", func(t *testing.T) {
		e.Hook = killAt("verify-all", 2)
		if _, err := e.Apply(ctx, 4, "", false); !errors.Is(err, errKilled) {
			t.Fatalf("first run: %v, want killed", err)
		}
		if s, _ := e.State(ctx); s.Phase != shardmap.PhaseCatchUp || s.Frozen {
			t.Fatalf("after the kill: phase %q, frozen %v; want catchup, writes flowing", s.Phase, s.Frozen)
		}
		for i, dsn := range d.dsns {
			if frozen, _ := fence(t, dsn); frozen {
				t.Errorf("shard %d: writes are paused before the cut-over", i)
			}
		}
		e.Hook = nil
		res, err := e.Apply(ctx, 4, "", false)
		if err != nil || res.Resumed != shardmap.PhaseCatchUp || res.To.Version != 4 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		if got := rowsByID(t, d.dsns); !maps.Equal(got, before) {
			t.Errorf("rows differ after the reshard: %d rows, want %d", len(got), len(before))
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, 3000, nil)
	})

	t.Run("run again when done, it does nothing", func(t *testing.T) {
		res, err := e.Apply(ctx, 4, "", false)
		if err != nil || !res.Nothing {
			t.Errorf("%+v, %v; want nothing to do", res, err)
		}
	})
}
