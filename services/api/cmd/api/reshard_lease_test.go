//go:build containers

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
)

// The cut-over's write freeze is held under a lease: a shardctl that dies
// while writes are paused costs the lease (here 1 s) and one map poll of
// paused writes, never an outage until someone runs it again, and the run
// taken up later loses no write made meanwhile. A run whose lease expired
// must not publish its map.
func TestReshardFreezeLeaseReleasesWritesOfAKilledRun(t *testing.T) {
	const seed = 2000
	d := startReshardDeps(t, true)
	d.seed(t, seed)
	// SHARD_PAUSE_MAX is 20 s: a write still paused then fails, as every
	// write after a kill did before the freeze had a lease.
	a := d.replica(t, "api-a", 0)
	e := d.engine(t)
	e.Batch = 500
	e.Lease = time.Second
	ctx := context.Background()
	catalog, err := pgxpool.New(ctx, d.catalog)
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	cur, err := e.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	grown, err := e.Target(cur, 4, "")
	if err != nil {
		t.Fatal(err)
	}
	// A user that moves to the new shard in 3→4 and back in 4→3.
	moving := int64(0)
	for id := int64(1); id <= seed && moving == 0; id++ {
		if grown.MustRouter().Shard(shardmap.Key(id)) == 3 {
			moving = id
		}
	}
	names := map[int64]string{}
	put := func(t *testing.T, name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/users/%d", a.URL, moving), strings.NewReader(`{"name":"`+name+`"}`))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		t.Logf("PUT /users/%d %q answered in %v", moving, name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("PUT /users/%d: %v", moving, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT /users/%d while a dead run's freeze was pending: %d, want 200 (the freeze must be released)", moving, resp.StatusCode)
		}
		names[moving] = name
	}
	read := func(t *testing.T) string {
		t.Helper()
		_, body := get(t, fmt.Sprintf("%s/users/%d", a.URL, moving))
		return body
	}
	releases := func(t *testing.T) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(metric(t, a, "scalelab_reshard_freeze_releases_total"), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("a run whose lease expired before the flip does not publish; it freezes again and finishes", func(t *testing.T) {
		var log strings.Builder
		e.Log = &log
		defer func() { e.Log = io.Discard }()
		stalled := false
		e.Hook = func(point string) error {
			if point != "flip" || stalled {
				return nil
			}
			// As if this run had stalled past its deadline: the lease
			// expires and a replica's poll (or this call) releases it.
			stalled = true
			if _, err := catalog.Exec(ctx, `UPDATE reshard SET freeze_until = clock_timestamp() - interval '1 second'`); err != nil {
				return err
			}
			_, err := shardmap.ReleaseExpired(ctx, catalog)
			return err
		}
		res, err := e.Apply(ctx, 4, "", false)
		e.Hook = nil
		if err != nil || res.To.Version != 2 {
			t.Fatalf("apply: %+v, %v", res, err)
		}
		if !stalled || !strings.Contains(log.String(), "lease expired before the flip") {
			t.Errorf("the run did not find its lease lost and catch up again; its log:\n%s", log.String())
		}
		if m, _ := e.Current(ctx); m.Version != 2 {
			t.Errorf("map version %d, want 2: published once", m.Version)
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, seed, names)
	})

	t.Run("killed during verification: a replica releases the writes, the run taken up later keeps them", func(t *testing.T) {
		before := releases(t)
		e.Hook = killAt("verify", 1)
		if _, err := e.Apply(ctx, 3, "", false); !errors.Is(err, errKilled) {
			t.Fatalf("first run: %v, want killed", err)
		}
		e.Hook = nil
		put(t, "after-kill-in-cutover")
		// The replica records the release in the catalog and counts it
		// just after the shards let the write through.
		released := releasedBy(t, e, releases, before)
		if st, _ := e.State(ctx); st.Phase != shardmap.PhaseCutover {
			t.Errorf("after the release: phase %q, want cutover (the run is unfinished)", st.Phase)
		}
		for i, dsn := range d.dsns {
			if frozen, minVersion := fence(t, dsn); frozen || minVersion != 2 {
				t.Errorf("shard %d fence: frozen %v, min_version %d; want false, 2 (released to the old map)", i, frozen, minVersion)
			}
		}
		if !released {
			t.Errorf("the replica did not release the freeze")
		}
		res, err := e.Apply(ctx, 3, "", false)
		if err != nil || res.Resumed != shardmap.PhaseCutover || res.To.Version != 3 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, seed, names)
		if body := read(t); !strings.Contains(body, `"after-kill-in-cutover"`) {
			t.Errorf("GET /users/%d after the reshard: %s, want the write made while the run was dead", moving, body)
		}
	})

	t.Run("killed after the flip: a replica releases the writes to the new map", func(t *testing.T) {
		before := releases(t)
		e.Hook = killAt("release", 1)
		if _, err := e.Apply(ctx, 4, "", false); !errors.Is(err, errKilled) {
			t.Fatalf("first run: %v, want killed", err)
		}
		e.Hook = nil
		put(t, "after-kill-after-flip")
		released := releasedBy(t, e, releases, before)
		for i, dsn := range d.dsns {
			if frozen, minVersion := fence(t, dsn); frozen || minVersion != 4 {
				t.Errorf("shard %d fence: frozen %v, min_version %d; want false, 4 (released to the new map)", i, frozen, minVersion)
			}
		}
		if !released {
			t.Errorf("the replica did not release the freeze")
		}
		res, err := e.Apply(ctx, 4, "", false)
		if err != nil || res.Resumed != shardmap.PhaseFlipped || res.To.Version != 4 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		m, _ := e.Current(ctx)
		checkPlacement(t, d.dsns, m, seed, names)
		if body := read(t); !strings.Contains(body, `"after-kill-after-flip"`) {
			t.Errorf("GET /users/%d after the reshard: %s, want the write made while the run was dead", moving, body)
		}
		if v := mapVersion(t, a); v != 4 {
			t.Errorf("the replica routes by map version %d, want 4", v)
		}
	})
	t.Logf("writes that waited on a shard: %s (each up to the 1 s lease plus a 500 ms poll)",
		metric(t, a, "scalelab_api_shard_wait_seconds_count"))
}

// releasedBy waits (at most 10 s, polling) until the catalog records no
// freeze and the replica counts one more release than before.
func releasedBy(t *testing.T, e *reshard.Engine, releases func(*testing.T) float64, before float64) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.State(context.Background())
		if err == nil && !st.Frozen && releases(t) == before+1 {
			return true
		}
		if time.Now().After(deadline) {
			t.Logf("state %+v (%v), releases %v (before %v)", st, err, releases(t), before)
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
