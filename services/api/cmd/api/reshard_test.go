//go:build containers

package main

// Online resharding, end to end: api replicas started in-process by run,
// following the shard map in a catalog database, serve concurrent readers
// and writers while the reshard engine (what shardctl runs) grows the tier
// from 3 shards to 4 and shrinks it back. The four shards and the catalog
// are five databases on one PostgreSQL server.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scalelab/services/api/internal/containertest"
	"scalelab/services/api/internal/shard"
	"scalelab/services/api/internal/store"
	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
	"scalelab/services/platform/platformtest"
)

type reshardDeps struct {
	dsns     []string // shard0..shard3
	catalog  string
	redisURL string
}

func startReshardDeps(t testing.TB, redis bool) reshardDeps {
	t.Helper()
	pg := containertest.StartPostgres(t, "shard0", "-c", "max_connections=400")
	pg.CreateDatabases(t, "shard1", "shard2", "shard3", "catalog")
	d := reshardDeps{catalog: pg.DSN("catalog")}
	for i := range 4 {
		d.dsns = append(d.dsns, pg.DSN(fmt.Sprintf("shard%d", i)))
	}
	if redis {
		d.redisURL = containertest.StartRedis(t).URL
	}
	return d
}

func (d reshardDeps) replica(t testing.TB, name string, seed int) *platformtest.Running {
	return platformtest.Start(t, run, map[string]string{
		"INSTANCE_ID":     name,
		"REDIS_URL":       d.redisURL,
		"SHARD_DSNS":      strings.Join(d.dsns[:3], ","),
		"SHARD_ROUTER":    "consistent",
		"SHARD_MAP_DSN":   d.catalog,
		"SHARD_MAP_POLL":  "500ms",
		"SEED_USERS":      strconv.Itoa(seed),
		"SHARD_PAUSE_MAX": "20s",
		"DB_MAX_CONNS":    "8",
		// This machine is shared and loaded: a connect may take seconds.
		"DB_TIMEOUT": "10s",
	})
}

// seed gives the four shards the schema (the idle one too, as compose's
// init script does) and users 1..n on the first three by the consistent
// router, before any replica starts: a replica then only loads the map
// and checks the schema before it is ready.
func (d reshardDeps) seed(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(d.dsns, shard.Jump{N: 4}, store.Options{QueryTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	three, err := store.Open(d.dsns[:3], shard.Jump{N: 3}, store.Options{QueryTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer three.Close()
	if err := three.Seed(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func (d reshardDeps) engine(t testing.TB) *reshard.Engine {
	t.Helper()
	e, err := reshard.Open(context.Background(), d.catalog, d.dsns,
		shardmap.Map{Router: "consistent", DSNs: d.dsns[:3]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestReshardUnderTraffic(t *testing.T) {
	const seed = 10000
	d := startReshardDeps(t, true)
	d.seed(t, seed)
	a, b := d.replica(t, "api-a", 0), d.replica(t, "api-b", 0)
	late := d.replica(t, "api-late", 0)
	e := d.engine(t)
	ctx := context.Background()

	t.Run("plan measures the moved fraction of each router on the seed data", func(t *testing.T) {
		cur, err := e.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		to, err := e.Target(cur, 4, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Plan(ctx, cur, to)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"modulo": 0.75, "consistent": 0.25, "rendezvous": 0.25}
		for i, name := range shardmap.Routers {
			if got := p.Fractions[i]; math.Abs(got-want[name]) > 0.01 {
				t.Errorf("router %s moves %.4f of the rows, want %.2f ± 0.01", name, got, want[name])
			}
		}
		var sb strings.Builder
		p.Write(&sb)
		if !strings.HasSuffix(sb.String(), fmt.Sprintf("router=rendezvous moved=%.4f\n", p.Fractions[2])) {
			t.Errorf("plan does not end with the router lines:\n%s", sb.String())
		}
		t.Logf("\n%s", sb.String())
	})

	// The late replica is down while the map flips; it comes back below.
	if err := late.Stop(); err != nil {
		t.Fatal(err)
	}
	tr := startTraffic(t, []string{a.URL, b.URL}, 300)
	// Warm up, then a baseline for the throughput comparison (measured,
	// never asserted).
	time.Sleep(8 * time.Second)
	before := tr.mark()

	// The cut-over waits (at most 10 s) until both replicas have seen
	// the reshard and dialled the new shard (they say so in a gauge): a replica does it at its
	// first poll that finds the reshard under way, and on a quiet machine
	// the whole copy may take less than a poll.
	warmed := false
	e.Hook = once("freeze", func() error {
		warmed = waitFor(10*time.Second, func() bool {
			return metric(t, a, "scalelab_api_shard_map_prepared_version") == "2.000" &&
				metric(t, b, "scalelab_api_shard_map_prepared_version") == "2.000"
		})
		return nil
	})
	grow, err := e.Apply(ctx, 4, "", false)
	e.Hook = nil
	if err != nil {
		t.Fatalf("3→4: %v", err)
	}
	during := tr.mark()
	late = d.replica(t, "api-late", 0)
	if v := mapVersion(t, late); v != 2 {
		t.Errorf("a replica down during the flip came back ready on map version %d, want 2", v)
	}
	replicas := []string{a.URL, b.URL, late.URL}
	tr.setURLs(replicas)
	shrink, err := e.Apply(ctx, 3, "", false)
	if err != nil {
		t.Fatalf("4→3: %v", err)
	}
	tr.stop()

	t.Run("no request failed and no read was older than an acknowledged write", func(t *testing.T) {
		if n := tr.failures.Load(); n != 0 {
			t.Errorf("%d of %d requests failed; first: %s", n, tr.total(), tr.firstFailure())
			for _, r := range []*platformtest.Running{a, b, late} {
				for _, line := range strings.Split(r.Logs(), "\n") {
					if strings.Contains(line, `"level":"ERROR"`) {
						t.Log(line)
					}
				}
			}
		}
		if n := tr.stale.Load(); n != 0 {
			t.Errorf("%d stale reads; first: %s", n, tr.firstFailure())
		}
		if tr.writes.Load() == 0 || tr.reads.Load() == 0 {
			t.Fatalf("no traffic: %d writes, %d reads", tr.writes.Load(), tr.reads.Load())
		}
	})
	final, err := e.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every row is on exactly the shard the new map names, with its last acknowledged value", func(t *testing.T) {
		if final.Version != 3 || len(final.DSNs) != 3 {
			t.Fatalf("final map %s, want version 3 over 3 shards", final.Describe())
		}
		checkPlacement(t, d.dsns, final, seed, tr.lastNames())
	})
	t.Run("the replicas running during 3→4 dialled the new shard before the flip", func(t *testing.T) {
		if !warmed {
			t.Errorf("the replicas had not opened connections to the new shard when the cut-over began")
		}
	})
	t.Run("every replica follows the final map", func(t *testing.T) {
		for _, r := range []*platformtest.Running{a, b, late} {
			if v := mapVersion(t, r); v != 3 {
				t.Errorf("%s routes by map version %d, want 3", r.URL, v)
			}
		}
	})
	tr.report(t, before, during, grow, shrink)
	for _, r := range []*platformtest.Running{a, b, late} {
		t.Logf("%s followed map v3 in %s s; %s requests waited on a shard", r.URL,
			metric(t, r, "scalelab_api_shard_map_follow_seconds"), metric(t, r, "scalelab_api_shard_wait_seconds_count"))
	}
}

// waitFor polls cond every 20 ms until it holds (true) or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// mapVersion asks a replica's admin port which map it routes by.
func mapVersion(t *testing.T, r *platformtest.Running) int64 {
	t.Helper()
	resp, body := get(t, r.AdminURL+"/shardmap")
	var m struct{ Version int64 }
	if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/shardmap: %d %q", resp.StatusCode, body)
	}
	return m.Version
}

// checkPlacement reads every shard database: each user must be on exactly
// the shard m names, ids 1..seed all present, and the written ones carry
// their last acknowledged name.
func checkPlacement(t *testing.T, dsns []string, m shardmap.Map, seed int, names map[int64]string) {
	t.Helper()
	r := m.MustRouter()
	where := map[int64][]int{}
	got := map[int64]string{}
	for i, dsn := range dsns {
		conn := containertest.Connect(t, dsn)
		rows, err := conn.Query(context.Background(), `SELECT id, name FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			where[id] = append(where[id], i)
			got[id] = name
		}
		rows.Close()
		conn.Close(context.Background())
	}
	bad := 0
	for id, on := range where {
		want := slices.Index(dsns, m.DSNs[r.Shard(shardmap.Key(id))])
		if len(on) != 1 || on[0] != want {
			if bad++; bad <= 5 {
				t.Errorf("user %d is on shards %v, want only %d", id, on, want)
			}
		}
	}
	for id := int64(1); id <= int64(seed); id++ {
		if _, ok := where[id]; !ok {
			if bad++; bad <= 5 {
				t.Errorf("user %d is missing", id)
			}
		}
	}
	for id, name := range names {
		if got[id] != name {
			if bad++; bad <= 10 {
				t.Errorf("user %d is %q, want its last acknowledged write %q", id, got[id], name)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d rows misplaced, missing or stale", bad)
	}
}

// traffic runs writers and readers against the replicas. Each written id
// has one writer, which writes names "w<id>-<seq>" with seq rising; a read
// of an id must return a seq at least the last one acknowledged before the
// read began (the stale-read check), and every request must succeed.
type traffic struct {
	urls     atomic.Pointer[[]string]
	acked    []atomic.Int64 // by id-1: last acknowledged seq
	ids      int
	client   *http.Client
	stopping atomic.Bool // writers and readers finish their request, then stop
	wg       sync.WaitGroup
	reads    atomic.Int64
	writes   atomic.Int64
	failures atomic.Int64
	stale    atomic.Int64
	mu       sync.Mutex
	first    string
	lat      []sample
}

type sample struct {
	at  time.Time
	dur time.Duration
}

func startTraffic(t testing.TB, urls []string, ids int) *traffic {
	// Requests are never cancelled: a write cut off midway would be neither
	// acknowledged nor surely absent.
	ctx := context.Background()
	tr := &traffic{acked: make([]atomic.Int64, ids), ids: ids,
		client: &http.Client{Timeout: 30 * time.Second}}
	tr.setURLs(urls)
	const writers, readers = 4, 4
	for w := range writers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for n := 0; !tr.stopping.Load(); n++ {
				id := int64(w + 1 + (n%(ids/writers))*writers)
				tr.write(ctx, id)
			}
		}()
	}
	for range readers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for !tr.stopping.Load() {
				tr.read(ctx, int64(1+rand.IntN(ids)))
			}
		}()
	}
	t.Cleanup(tr.stop)
	return tr
}

func (tr *traffic) setURLs(urls []string) { tr.urls.Store(&urls) }

func (tr *traffic) url() string {
	u := *tr.urls.Load()
	return u[rand.IntN(len(u))]
}

func (tr *traffic) stop() {
	tr.stopping.Store(true)
	tr.wg.Wait()
}

func (tr *traffic) fail(format string, args ...any) {
	tr.failures.Add(1)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.first == "" {
		tr.first = fmt.Sprintf(format, args...)
	}
}

func (tr *traffic) firstFailure() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.first
}

func (tr *traffic) total() int64 { return tr.reads.Load() + tr.writes.Load() }

func (tr *traffic) do(ctx context.Context, method, url, body string) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	start := time.Now()
	resp, err := tr.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	tr.mu.Lock()
	tr.lat = append(tr.lat, sample{start, time.Since(start)})
	tr.mu.Unlock()
	return resp.StatusCode, string(b), err
}

func (tr *traffic) write(ctx context.Context, id int64) {
	seq := tr.acked[id-1].Load() + 1
	status, body, err := tr.do(ctx, http.MethodPut, fmt.Sprintf("%s/users/%d", tr.url(), id),
		fmt.Sprintf(`{"name":"w%d-%d"}`, id, seq))
	tr.writes.Add(1)
	if err != nil || (status != 200 && status != 201) {
		tr.fail("PUT /users/%d: %d %v %s", id, status, err, body)
		return
	}
	tr.acked[id-1].Store(seq)
}

func (tr *traffic) read(ctx context.Context, id int64) {
	floor := tr.acked[id-1].Load()
	status, body, err := tr.do(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", tr.url(), id), "")
	tr.reads.Add(1)
	if err != nil || status != 200 {
		tr.fail("GET /users/%d: %d %v %s", id, status, err, body)
		return
	}
	var u struct{ Name string }
	json.Unmarshal([]byte(body), &u)
	var seq int64
	if _, err := fmt.Sscanf(u.Name, "w%d-%d", new(int64), &seq); err != nil {
		seq = 0 // still the seed name
	}
	if seq < floor {
		tr.stale.Add(1)
		tr.fail("GET /users/%d = %q after w%d-%d was acknowledged", id, u.Name, id, floor)
	}
}

// lastNames is each written id's last acknowledged name.
func (tr *traffic) lastNames() map[int64]string {
	out := map[int64]string{}
	for i := range tr.acked {
		if s := tr.acked[i].Load(); s > 0 {
			out[int64(i+1)] = fmt.Sprintf("w%d-%d", i+1, s)
		}
	}
	return out
}

func (tr *traffic) mark() time.Time { return time.Now() }

// report logs the measurements: throughput and p99 before and during the
// 3→4 reshard, as a ratio (this machine is shared: only ratios mean much),
// and each reshard's time and write pause.
func (tr *traffic) report(t testing.TB, before, during time.Time, grow, shrink reshard.Result) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	window := func(from, to time.Time) (float64, time.Duration) {
		var d []time.Duration
		for _, s := range tr.lat {
			if !s.at.Before(from) && s.at.Before(to) {
				d = append(d, s.dur)
			}
		}
		if len(d) == 0 {
			return 0, 0
		}
		slices.Sort(d)
		return float64(len(d)) / to.Sub(from).Seconds(), d[len(d)*99/100]
	}
	start := before.Add(-5 * time.Second)
	rpsBefore, p99Before := window(start, before)
	rpsDuring, p99During := window(before, during)
	t.Logf("3→4 took %v, writes paused %v; 4→3 took %v, writes paused %v", grow.Took.Round(time.Millisecond),
		grow.Pause.Round(time.Millisecond), shrink.Took.Round(time.Millisecond), shrink.Pause.Round(time.Millisecond))
	t.Logf("before: %.0f req/s p99 %v; during 3→4: %.0f req/s p99 %v; ratio throughput %.2f, p99 %.2f",
		rpsBefore, p99Before, rpsDuring, p99During, rpsDuring/rpsBefore, float64(p99During)/float64(p99Before))
	t.Logf("%d reads, %d writes, %d failed, %d stale", tr.reads.Load(), tr.writes.Load(), tr.failures.Load(), tr.stale.Load())
}
