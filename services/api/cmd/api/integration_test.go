//go:build containers

package main

// Integration tests: the api started in-process by run, against a real
// PostgreSQL and a real Redis in containers (testcontainers-go). The three
// shards are three databases on one server: to the router they are three
// DSNs, and it costs one container instead of three.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"

	"scalelab/services/api/internal/containertest"
	"scalelab/services/api/internal/shard"
	"scalelab/services/platform/platformtest"
)

type deps struct {
	shardDSNs []string
	redisURL  string
	// redisCluster, when set, is REDIS_CLUSTER_ADDRS instead of REDIS_URL.
	redisCluster string
	postgres     testcontainers.Container
	redis        testcontainers.Container
}

// startDeps starts one PostgreSQL with databases shard0..shard2 and one Redis.
func startDeps(t *testing.T) deps {
	t.Helper()
	pg := containertest.StartPostgres(t, "shard0")
	pg.CreateDatabases(t, "shard1", "shard2")
	rd := containertest.StartRedis(t)
	return deps{
		shardDSNs: []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")},
		redisURL:  rd.URL,
		postgres:  pg,
		redis:     rd,
	}
}

// startPostgres starts one more PostgreSQL, for a shard (or the orders
// server) that the test can stop on its own.
func startPostgres(t *testing.T) (testcontainers.Container, string) {
	pg := containertest.StartPostgres(t, "shard")
	return pg, pg.DSN("shard")
}

var connectRetry = containertest.Connect

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "")
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAPIWithPostgresAndRedis(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"INSTANCE_ID": "api-test",
		"REDIS_URL":   d.redisURL,
		"SHARD_DSNS":  strings.Join(d.shardDSNs, ","),
		"SEED_USERS":  "300",
	})

	t.Run("hello names the replica", func(t *testing.T) {
		resp, body := get(t, api.URL+"/")
		if resp.StatusCode != 200 || body != "Hello from api-test\n" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Served-By"); got != "api-test" {
			t.Errorf("X-Served-By = %q", got)
		}
	})

	t.Run("miss then hit from the crc32 shard", func(t *testing.T) {
		wantShard := strconv.Itoa(int(crc32.ChecksumIEEE([]byte("42")) % 3))
		for i, wantCache := range []string{"MISS", "HIT"} {
			resp, body := get(t, api.URL+"/users/42")
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Cache"); got != wantCache {
				t.Errorf("request %d: X-Cache = %q, want %q", i, got, wantCache)
			}
			if got := resp.Header.Get("X-Shard"); got != wantShard {
				t.Errorf("request %d: X-Shard = %q, want %q", i, got, wantShard)
			}
			var u struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID != 42 || u.Name == "" {
				t.Errorf("request %d: body %q (%v)", i, body, err)
			}
		}
	})

	t.Run("each seeded id lives on crc32(id) % 3 and nowhere else", func(t *testing.T) {
		ctx := context.Background()
		for shard, dsn := range d.shardDSNs {
			conn := connectRetry(t, dsn)
			rows, err := conn.Query(ctx, "SELECT id FROM users")
			if err != nil {
				t.Fatal(err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) < 50 {
				t.Errorf("shard %d holds only %d of 300 seed users", shard, len(ids))
			}
			for _, id := range ids {
				if want := int(crc32.ChecksumIEEE([]byte(strconv.FormatInt(id, 10))) % 3); want != shard {
					t.Errorf("user %d is on shard %d, router says %d", id, shard, want)
				}
			}
		}
	})

	t.Run("put writes the shard and invalidates the cache", func(t *testing.T) {
		get(t, api.URL+"/users/7") // make sure it is cached
		if resp, _ := get(t, api.URL+"/users/7"); resp.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("user 7 not cached before the write")
		}
		resp, body := do(t, http.MethodPut, api.URL+"/users/7", `{"name":"Ada Lovelace"}`)
		if resp.StatusCode != 200 || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("PUT = %d %s", resp.StatusCode, body)
		}
		resp, body = get(t, api.URL+"/users/7")
		if resp.Header.Get("X-Cache") != "MISS" || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("GET after PUT = %s %s, want MISS with the new name", resp.Header.Get("X-Cache"), body)
		}
		resp, body = get(t, api.URL+"/users/7")
		if resp.Header.Get("X-Cache") != "HIT" || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("second GET after PUT = %s %s, want HIT with the new name", resp.Header.Get("X-Cache"), body)
		}
	})

	t.Run("put creates an unknown id", func(t *testing.T) {
		resp, body := do(t, http.MethodPut, api.URL+"/users/900001", `{"name":"Grace","email":"grace@example.com"}`)
		if resp.StatusCode != 201 {
			t.Fatalf("PUT new id = %d %s, want 201", resp.StatusCode, body)
		}
		resp, body = get(t, api.URL+"/users/900001")
		if resp.StatusCode != 200 || !strings.Contains(body, "grace@example.com") {
			t.Fatalf("GET created = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("bad input gets problem json", func(t *testing.T) {
		tests := []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/users/abc", "", 400},
			{"GET", "/users/0", "", 400},
			{"GET", "/users/99999999999999999999", "", 400},
			{"GET", "/users/123456789", "", 404},
			{"PUT", "/users/5", `{"name":""}`, 400},
			{"PUT", "/users/5", `{"name":"x","role":"admin"}`, 400},
			{"PUT", "/users/5", `{"name":"` + strings.Repeat("x", 70000) + `"}`, 413},
			{"POST", "/users/5", "", 405},
			{"GET", "/nope", "", 404},
		}
		for _, tt := range tests {
			resp, body := do(t, tt.method, api.URL+tt.path, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, body)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != tt.want || p.Detail == "" {
				t.Errorf("%s %s: problem body %q", tt.method, tt.path, body)
			}
		}
	})

	t.Run("metrics count hits and misses", func(t *testing.T) {
		_, body := get(t, api.AdminURL+"/metrics")
		for _, want := range []string{
			`scalelab_api_cache_requests_total{op="get",result="hit"}`,
			`scalelab_api_cache_requests_total{op="get",result="miss"}`,
			`scalelab_api_http_requests_total{code="2xx",method="GET",route="GET /users/{id}"}`,
			`scalelab_api_db_queries_total{op="get",outcome="ok",shard=`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestAPIRedisDownCostsNoErrors(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL":     "redis://" + platformtest.FreeAddr(t) + "/0", // nothing listens there
		"REDIS_TIMEOUT": "100ms",
		"SHARD_DSNS":    strings.Join(d.shardDSNs, ","),
		"SEED_USERS":    "20",
	})
	for i := 0; i < 10; i++ {
		resp, body := get(t, api.URL+"/users/3")
		if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "BYPASS" {
			t.Fatalf("GET with Redis down = %d %s %s, want 200 BYPASS", resp.StatusCode, resp.Header.Get("X-Cache"), body)
		}
	}
	// After CACHE_BREAKER_FAILURES errors in a row the breaker opens and
	// Redis is not even tried.
	_, metrics := get(t, api.AdminURL+"/metrics")
	if !strings.Contains(metrics, "scalelab_api_cache_breaker_open 1") {
		t.Errorf("breaker not open after 10 failed reads")
	}
	resp, body := do(t, http.MethodPut, api.URL+"/users/3", `{"name":"still writable"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT with Redis down = %d %s", resp.StatusCode, body)
	}
}

func TestAPIWritesAndNegativeCaching(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "20",
	})
	expect := func(method, path, body string, wantStatus int, wantCache string) {
		t.Helper()
		resp, got := do(t, method, api.URL+path, body)
		if resp.StatusCode != wantStatus || resp.Header.Get("X-Cache") != wantCache {
			t.Fatalf("%s %s = %d X-Cache=%q, want %d %q: %s", method, path, resp.StatusCode, resp.Header.Get("X-Cache"), wantStatus, wantCache, got)
		}
	}
	// An absent id is cached as absent: the second 404 costs no query.
	expect("GET", "/users/500000", "", 404, "MISS")
	expect("GET", "/users/500000", "", 404, "HIT")
	// Creating it clears the negative entry.
	expect("PUT", "/users/500000", `{"name":"Edsger"}`, 201, "")
	expect("GET", "/users/500000", "", 200, "MISS")
	expect("GET", "/users/500000", "", 200, "HIT")
	// Deleting it: gone at once, from the cache too.
	expect("DELETE", "/users/500000", "", 204, "")
	expect("GET", "/users/500000", "", 404, "MISS")
	expect("GET", "/users/500000", "", 404, "HIT")
	expect("DELETE", "/users/500000", "", 404, "")

	// POST mints ids: unique, positive, each stored where the router says.
	seen := map[int64]bool{}
	for i := 0; i < 20; i++ {
		resp, body := do(t, http.MethodPost, api.URL+"/users", fmt.Sprintf(`{"name":"new %d"}`, i))
		var u struct{ ID int64 }
		if err := json.Unmarshal([]byte(body), &u); resp.StatusCode != 201 || err != nil || u.ID <= 0 {
			t.Fatalf("POST /users = %d %s", resp.StatusCode, body)
		}
		if seen[u.ID] {
			t.Fatalf("id %d minted twice", u.ID)
		}
		seen[u.ID] = true
		if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/users/%d", u.ID) {
			t.Errorf("Location = %q", loc)
		}
		if want := fmt.Sprint(crc32.ChecksumIEEE([]byte(strconv.FormatInt(u.ID, 10))) % 3); resp.Header.Get("X-Shard") != want {
			t.Errorf("X-Shard = %q, want %s", resp.Header.Get("X-Shard"), want)
		}
		expect("GET", fmt.Sprintf("/users/%d", u.ID), "", 200, "MISS")
	}
}

func TestAPIConsistentRouterPlacesRowsByJumpHash(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "300",
		"SHARD_ROUTER": "consistent",
	})
	router := shard.Jump{N: 3}
	for _, id := range []string{"1", "42", "299"} {
		resp, _ := get(t, api.URL+"/users/"+id)
		if want := fmt.Sprint(router.Shard(id)); resp.StatusCode != 200 || resp.Header.Get("X-Shard") != want {
			t.Errorf("GET /users/%s = %d X-Shard=%q, want 200 %s", id, resp.StatusCode, resp.Header.Get("X-Shard"), want)
		}
	}
	ctx := context.Background()
	for sh, dsn := range d.shardDSNs {
		conn := connectRetry(t, dsn)
		rows, _ := conn.Query(ctx, "SELECT id FROM users")
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if want := router.Shard(strconv.FormatInt(id, 10)); want != sh {
				t.Errorf("user %d on shard %d, jump hash says %d", id, sh, want)
			}
		}
	}
}

// sumMetric adds up every sample of a metric whose line starts with prefix.
func sumMetric(t *testing.T, adminURL, prefix string) float64 {
	t.Helper()
	_, body := get(t, adminURL+"/metrics")
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// Two replicas over one Redis and one set of shards, for the races that
// only show between replicas.
func startReplicas(t *testing.T, d deps, extra map[string]string) []*platformtest.Running {
	var out []*platformtest.Running
	for i := 0; i < 2; i++ {
		env := map[string]string{
			"INSTANCE_ID": fmt.Sprintf("api-%d", i), "REDIS_URL": d.redisURL,
			"SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "100",
		}
		if d.redisCluster != "" {
			env["REDIS_CLUSTER_ADDRS"] = d.redisCluster
		}
		for k, v := range extra {
			env[k] = v
		}
		out = append(out, platformtest.Start(t, run, env))
	}
	return out
}

// The stampede counted where it costs: at the database, by
// pg_stat_statements, which counts every execution of every statement.
func TestAPIStampedeCostsOneShardRead(t *testing.T) {
	stampede(t, func(d *deps) { d.redisURL = containertest.StartRedis(t).URL })
}

// stampede is the stampede test over the Redis that withRedis starts and
// names in d (one server, or a cluster).
func stampede(t *testing.T, withRedis func(d *deps)) {
	pg := containertest.StartPostgres(t, "shard0", "-c", "shared_preload_libraries=pg_stat_statements")
	pg.CreateDatabases(t, "shard1", "shard2")
	d := deps{shardDSNs: []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")}}
	withRedis(&d)
	stats := containertest.Connect(t, pg.DSN("postgres"))
	defer stats.Close(context.Background())
	if _, err := stats.Exec(context.Background(), "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	// A generous lease wait and Redis timeout: the test is about the
	// mechanism, and on a busy machine a Redis call that times out rightly
	// sends its request to the shard.
	apis := startReplicas(t, d, map[string]string{"CACHE_LEASE_WAIT": "5s", "REDIS_TIMEOUT": "5s"})
	if _, err := stats.Exec(context.Background(), "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	const requests = 300
	var wg sync.WaitGroup
	statuses := make([]int, requests)
	start := make(chan struct{})
	for i := 0; i < requests; i++ {
		wg.Go(func() {
			<-start
			resp, err := http.Get(apis[i%2].URL + "/users/77")
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	// Every read of one user by id is this statement (store.Get).
	var reads int64
	if err := stats.QueryRow(context.Background(),
		`SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%LEFT JOIN users u ON u.id = $1%'`,
	).Scan(&reads); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		for _, a := range apis {
			_, m := get(t, a.AdminURL+"/metrics")
			for _, line := range strings.Split(m, "\n") {
				if strings.HasPrefix(line, "scalelab_api_cache_") || strings.HasPrefix(line, "scalelab_api_singleflight") {
					t.Log(line)
				}
			}
		}
		t.Errorf("%d concurrent misses over 2 replicas made %d reads at the database, want 1", requests, reads)
	}
	var reported float64
	for _, a := range apis {
		reported += sumMetric(t, a.AdminURL, `scalelab_api_db_queries_total{op="get"`)
	}
	if reported != float64(reads) {
		t.Errorf("the api's metrics report %v shard reads, the database counted %d", reported, reads)
	}
}

// After a PUT is acknowledged, no GET that starts later may return an older
// name: the race where a reader loads the old row before the write and
// fills the cache after its invalidation must lose, on every replica.
func TestAPINoStaleReadAfterAcknowledgedWrite(t *testing.T) {
	for _, strategy := range []string{"cache-aside", "write-through"} {
		t.Run(strategy, func(t *testing.T) { noStaleRead(t, startDeps(t), strategy) })
	}
}

// noStaleRead is the no-stale-read test of one strategy over the
// dependencies d (one Redis, or a cluster).
func noStaleRead(t *testing.T, d deps, strategy string) {
	// A short TTL makes misses, and so fills racing with writes, frequent.
	apis := startReplicas(t, d, map[string]string{"CACHE_STRATEGY": strategy, "CACHE_TTL": "1s"})
	var acked atomic.Int64 // the highest version whose PUT was answered
	stop := make(chan struct{})
	var stale atomic.Int64
	var reads atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				floor := acked.Load()
				resp, err := http.Get(apis[(r+i)%2].URL + "/users/9")
				if err != nil {
					continue
				}
				var u struct{ Name string }
				json.NewDecoder(resp.Body).Decode(&u)
				resp.Body.Close()
				n, _ := strconv.ParseInt(strings.TrimPrefix(u.Name, "v"), 10, 64)
				reads.Add(1)
				if n < floor {
					stale.Add(1)
					t.Errorf("read v%d after v%d was acknowledged", n, floor)
				}
			}
		})
	}
	deadline := time.Now().Add(3 * time.Second)
	for v := int64(1); time.Now().Before(deadline); v++ {
		resp, body := do(t, http.MethodPut, apis[v%2].URL+"/users/9", fmt.Sprintf(`{"name":"v%d"}`, v))
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT v%d: %d %s", v, resp.StatusCode, body)
		}
		acked.Store(v)
	}
	close(stop)
	wg.Wait()
	if reads.Load() < 100 {
		t.Fatalf("only %d reads ran", reads.Load())
	}
	t.Logf("%s: %d writes, %d reads, %d stale", strategy, acked.Load(), reads.Load(), stale.Load())
}

// The same guarantee when Redis fails under the load: frozen (docker pause:
// connections hang, and it comes back holding every value it had, including
// those the writes meanwhile failed to remove), then killed and started
// again from its append-only file (the same stale values, after a crash).
// A write whose invalidation fails is still acknowledged, and from then on
// no replica may serve what Redis held before it.
func TestAPINoStaleReadWhileRedisPausedAndKilled(t *testing.T) {
	for _, strategy := range []string{"cache-aside", "write-through"} {
		t.Run(strategy, func(t *testing.T) {
			pg := containertest.StartPostgres(t, "shard0")
			pg.CreateDatabases(t, "shard1", "shard2")
			rd := containertest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
			d := deps{shardDSNs: []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")}, redisURL: rd.URL}
			apis := startReplicas(t, d, map[string]string{
				"CACHE_STRATEGY": strategy, "REDIS_TIMEOUT": "100ms",
				"CACHE_BREAKER_FAILURES": "3", "CACHE_BREAKER_COOLDOWN": "200ms",
			})
			ids := []int{11, 12, 13}
			acked := make([]atomic.Int64, len(ids)) // per user, the highest acknowledged version
			var stale, reads, writes, failures atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for r := 0; r < 4; r++ {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						k := (r + i) % len(ids)
						floor := acked[k].Load()
						resp, err := http.Get(fmt.Sprintf("%s/users/%d", apis[min(r, 1)].URL, ids[k]))
						if err != nil {
							failures.Add(1)
							continue
						}
						var u struct{ Name string }
						json.NewDecoder(resp.Body).Decode(&u)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							failures.Add(1)
							continue
						}
						reads.Add(1)
						if n, _ := strconv.ParseInt(strings.TrimPrefix(u.Name, "v"), 10, 64); n < floor {
							stale.Add(1)
							t.Errorf("user %d: read v%d after v%d was acknowledged", ids[k], n, floor)
						}
					}
				})
			}
			// One writer per user, all on replica 0, where one reader of four
			// reads: replica 1 learns of the writes only through the shards
			// and Redis.
			for k := range ids {
				wg.Go(func() {
					for v := int64(1); ; v++ {
						select {
						case <-stop:
							return
						default:
						}
						req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/users/%d", apis[0].URL, ids[k]),
							strings.NewReader(fmt.Sprintf(`{"name":"v%d"}`, v)))
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							failures.Add(1)
							continue
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode >= 300 {
							failures.Add(1)
							continue
						}
						writes.Add(1)
						acked[k].Store(v)
					}
				})
			}
			phase := func(name string, d time.Duration) {
				before := reads.Load()
				time.Sleep(d)
				t.Logf("%s: %d reads", name, reads.Load()-before)
			}
			phase("warm", time.Second)
			containertest.Docker(t, "pause", rd)
			phase("redis paused", 1500*time.Millisecond)
			containertest.Docker(t, "unpause", rd)
			phase("redis back", time.Second)
			containertest.Docker(t, "kill", rd)
			phase("redis killed", time.Second)
			if err := rd.Start(context.Background()); err != nil {
				t.Fatalf("start redis again: %v", err)
			}
			phase("redis restarted", 1500*time.Millisecond)
			close(stop)
			wg.Wait()
			t.Logf("%s: %d writes, %d reads, %d stale, %d failed", strategy, writes.Load(), reads.Load(), stale.Load(), failures.Load())
			if failures.Load() != 0 {
				t.Errorf("%d requests failed; Redis in trouble must cost no request", failures.Load())
			}
			if reads.Load() < 200 || writes.Load() < 20 {
				t.Fatalf("too little load ran to tell: %d reads, %d writes", reads.Load(), writes.Load())
			}
			// Caching resumes by itself: soon a repeated read of a user hits.
			xcache := ""
			for deadline := time.Now().Add(10 * time.Second); xcache != "HIT" && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				get(t, apis[0].URL+"/users/50")
				resp, _ := get(t, apis[0].URL+"/users/50")
				xcache = resp.Header.Get("X-Cache")
			}
			if xcache != "HIT" {
				t.Errorf("10 s after Redis came back, a repeated read is %q, want HIT", xcache)
			}
		})
	}
}

func TestAPIMultiGetAndScatterGatherPaging(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "300",
	})
	get(t, api.URL+"/users/5") // cached now
	resp, body := get(t, api.URL+"/users?ids=5,6,999999,6")
	var many struct {
		Users   []struct{ ID int64 }
		Missing []int64
	}
	if err := json.Unmarshal([]byte(body), &many); resp.StatusCode != 200 || err != nil {
		t.Fatalf("multi-get = %d %s", resp.StatusCode, body)
	}
	if len(many.Users) != 2 || many.Users[0].ID != 5 || many.Users[1].ID != 6 || fmt.Sprint(many.Missing) != "[999999]" {
		t.Errorf("multi-get body %s", body)
	}
	if got := resp.Header.Get("X-Cache-Hits"); got != "1/3" {
		t.Errorf("X-Cache-Hits = %q, want 1/3", got)
	}

	// Walk every page: ids 1..300 exactly once, in order, across 3 shards.
	var ids []int64
	next, pages := "/users?limit=50", 0
	for next != "" && pages < 20 {
		resp, body := get(t, api.URL+next)
		var page struct {
			Users []struct{ ID int64 }
			Next  string
		}
		if err := json.Unmarshal([]byte(body), &page); resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", next, resp.StatusCode, body)
		}
		for _, u := range page.Users {
			ids = append(ids, u.ID)
		}
		next, pages = page.Next, pages+1
	}
	if len(ids) != 300 || pages != 6 {
		t.Fatalf("paging returned %d ids in %d pages, want 300 in 6", len(ids), pages)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("page order broken at %d: %d", i, id)
		}
	}
	for _, bad := range []string{"/users?ids=abc", "/users?ids=", "/users?limit=500", "/users?after=-3"} {
		if resp, body := get(t, api.URL+bad); resp.StatusCode != 400 {
			t.Errorf("GET %s = %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
}

// A shard that goes down takes only its own users with it, and fast; the
// cached ones of them are even still served.
func TestAPIShardDownOnlyItsUsersFail(t *testing.T) {
	d := startDeps(t)
	lone, loneDSN := startPostgres(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join([]string{d.shardDSNs[0], d.shardDSNs[1], loneDSN}, ","),
		"SEED_USERS": "60", "DB_TIMEOUT": "1s",
	})
	onShard := map[string][]string{}
	for id := 1; id <= 60; id++ {
		s := strconv.Itoa(id)
		sh := fmt.Sprint(crc32.ChecksumIEEE([]byte(s)) % 3)
		onShard[sh] = append(onShard[sh], s)
	}
	cached := onShard["2"][0]
	get(t, api.URL+"/users/"+cached)
	// Load on the healthy shards' users while shard 2 goes down: none may fail.
	healthy := append(append([]string(nil), onShard["0"]...), onShard["1"]...)
	var requests, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(api.URL + "/users/" + healthy[i%len(healthy)])
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if err := lone.Stop(context.Background(), nil); err != nil {
		t.Fatalf("stop shard 2: %v", err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || requests.Load() < 50 {
		t.Errorf("users of the healthy shards while shard 2 stopped: %d of %d requests failed", failures.Load(), requests.Load())
	}
	for _, id := range onShard["2"][1:6] {
		resp, body := get(t, api.URL+"/users/"+id)
		if resp.StatusCode != 503 || !strings.Contains(body, "shard 2") || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("user %d on the stopped shard: %d %s, want 503 problem naming shard 2", mustAtoi(id), resp.StatusCode, body)
		}
	}
	// Its cached users fail too, once the shard's cache trust has run out:
	// trust is renewed only by reading the shard's outbox, and an
	// unreadable outbox may hold an invalidation Redis never got.
	var status int
	var body string
	for deadline := time.Now().Add(10 * time.Second); status != 503 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		resp, body = get(t, api.URL+"/users/"+cached)
		status = resp.StatusCode
	}
	if status != 503 || !strings.Contains(body, "shard 2") {
		t.Errorf("cached user of the stopped shard, 10 s on: %d %s, want 503 naming shard 2", status, body)
	}
	for _, sh := range []string{"0", "1"} {
		for _, id := range onShard[sh][:5] {
			if resp, body := get(t, api.URL+"/users/"+id); resp.StatusCode != 200 {
				t.Errorf("user %s on healthy shard %s: %d %s", id, sh, resp.StatusCode, body)
			}
		}
	}
	if resp, body := get(t, api.URL+"/users?limit=10"); resp.StatusCode != 503 || !strings.Contains(body, "shard 2") {
		t.Errorf("a page needs every shard: %d %s, want 503 naming shard 2", resp.StatusCode, body)
	}
	if resp, _ := get(t, api.AdminURL+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz = %d: a replica with one shard down still serves the others", resp.StatusCode)
	}
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

// Redis stopped under load costs no failed request: reads and writes go on
// against the shards.
func TestAPIRedisStoppedMidLoadFailsNothing(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL": d.redisURL, "SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "100",
		// A write that Redis does not take waits out the cache trust
		// (see users.fence); a short one keeps the load flowing.
		"REDIS_TIMEOUT": "100ms", "CACHE_TRUST_TTL": "200ms",
	})
	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := 1 + (w*31+i)%100
				var resp *http.Response
				var err error
				if i%10 == 0 {
					req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/users/%d", api.URL, id), strings.NewReader(`{"name":"load"}`))
					resp, err = http.DefaultClient.Do(req)
				} else {
					resp, err = http.Get(fmt.Sprintf("%s/users/%d", api.URL, id))
				}
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(time.Second)
	if err := d.redis.Stop(context.Background(), nil); err != nil {
		t.Fatalf("stop redis: %v", err)
	}
	before := requests.Load()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if requests.Load()-before < 50 {
		t.Fatalf("only %d requests ran after Redis stopped", requests.Load()-before)
	}
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failures.Load(), requests.Load())
	}
}

// Orders live on their own server (vertical partitioning) and sessions in
// Redis: both work across replicas, and losing the orders server costs the
// orders, not the users.
func TestAPIOrdersAndSessionsAcrossReplicas(t *testing.T) {
	d := startDeps(t)
	ordersPG, ordersDSN := startPostgres(t)
	apis := startReplicas(t, d, map[string]string{"ORDERS_DSN": ordersDSN})

	// The orders schema is applied in the background; wait for the first
	// order to be taken.
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, body = do(t, http.MethodPost, apis[0].URL+"/users/7/orders", `{"item":"book","quantity":2,"amount_cents":1299}`)
		if resp.StatusCode != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp.StatusCode != 201 {
		t.Fatalf("POST order = %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, apis[1].URL+"/users/7/orders")
	if resp.StatusCode != 200 || !strings.Contains(body, `"item":"book"`) {
		t.Fatalf("GET orders on the other replica = %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, apis[1].URL+"/users/7?include=orders")
	var composed struct {
		ID     int64
		Orders []struct{ Item string }
	}
	if err := json.Unmarshal([]byte(body), &composed); resp.StatusCode != 200 || err != nil || composed.ID != 7 || len(composed.Orders) != 1 {
		t.Fatalf("GET user with orders = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, http.MethodPost, apis[0].URL+"/users/999999/orders", `{"item":"x","quantity":1,"amount_cents":1}`); resp.StatusCode != 404 {
		t.Errorf("order for an unknown user = %d %s, want 404", resp.StatusCode, body)
	}

	// A session made on one replica is valid on the other.
	resp, body = do(t, http.MethodPost, apis[0].URL+"/login", `{"user_id":7}`)
	if resp.StatusCode != 201 || len(resp.Cookies()) == 0 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, apis[1].URL+"/me", nil)
	req.AddCookie(resp.Cookies()[0])
	me, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	meBody, _ := io.ReadAll(me.Body)
	me.Body.Close()
	if me.StatusCode != 200 || !strings.Contains(string(meBody), `"session_created_by":"api-0"`) || !strings.Contains(string(meBody), `"served_by":"api-1"`) {
		t.Fatalf("GET /me on the other replica = %d %s", me.StatusCode, meBody)
	}

	// The orders server goes away: users still answer, orders say why not.
	if err := ordersPG.Stop(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, apis[0].URL+"/users/8"); resp.StatusCode != 200 {
		t.Errorf("user with the orders server down = %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, apis[0].URL+"/users/7?include=orders")
	if resp.StatusCode != 200 || !strings.Contains(body, `"orders_error"`) {
		t.Errorf("user with orders, orders server down = %d %s, want 200 with orders_error", resp.StatusCode, body)
	}
	if resp, body := do(t, http.MethodPost, apis[0].URL+"/users/7/orders", `{"item":"x","quantity":1,"amount_cents":1}`); resp.StatusCode != 503 {
		t.Errorf("order with the orders server down = %d %s, want 503", resp.StatusCode, body)
	}
}
