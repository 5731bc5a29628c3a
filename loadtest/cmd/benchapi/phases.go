package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"scalelab/loadtest/internal/loadgen"
)

// The sizes of the experiment. Every loop below is bounded by one of them
// (and each run by phaseCap), so the whole program always ends.
const (
	concurrency   = 16
	hitRequests   = 20000
	hotIDs        = 100 // the hit path's working set: ids 1..hotIDs
	missRequests  = 10000
	seedUsers     = 10000 // SEED_USERS: ids 1..seedUsers exist
	warmupOps     = 1000  // discarded runs before each measurement: dial pools, fault pages in
	stampedeN     = 1000
	stampedeID    = 4242
	poolWarmup    = 64 // concurrent requests per replica to fill its Redis pool (go-redis: 10 per CPU)
	zipfS         = 1.0
	zipfWindows   = 10
	zipfWindowLen = 2000
	phaseCap      = 60 * time.Second // loadgen's Duration: a run stops by itself
)

// userKey is the api's Redis key for a user (services/api/internal/cache:
// Key("user", id)); the braces are a Redis Cluster hash tag.
func userKey(id int64) string { return "{user:" + strconv.FormatInt(id, 10) + "}" }

// shardOf is the api's default (modulo) router: crc32 of the decimal id,
// modulo the number of shards.
func shardOf(id int64, shards int) int {
	return int(crc32.ChecksumIEEE([]byte(strconv.FormatInt(id, 10))) % uint32(shards))
}

// httpRun drives GET urls (round-robin, {id} substituted) with loadgen.
func httpRun(ctx context.Context, urls []string, ids loadgen.IDRange, zipf float64, n int) (*loadgen.Report, error) {
	cfg := loadgen.DefaultConfig()
	cfg.URLs, cfg.IDs, cfg.Zipf = urls, &ids, zipf
	cfg.N, cfg.Concurrency, cfg.Duration = n, concurrency, phaseCap
	return loadgen.Run(ctx, cfg)
}

func userURL(r *replica) string { return r.url + "/users/{id}" }

// comparison is one path measured through the api and directly.
type comparison struct {
	api, direct result
	note        string // what the api's X-Cache headers said
}

// hitPath compares a cache hit through one replica with the same Redis GET
// issued directly: the difference is the cost of our HTTP layer (client,
// server, routing, middleware, JSON, headers), since both end in one GET.
func hitPath(ctx context.Context, api *replica, rdb *redis.Client) (comparison, error) {
	hot := loadgen.IDRange{Lo: 1, Hi: hotIDs}
	// Warm: each hot id once, in order, so every measured request is a hit.
	for id := int64(1); id <= hotIDs; id++ {
		if err := getOnce(ctx, api.url+"/users/"+strconv.FormatInt(id, 10)); err != nil {
			return comparison{}, fmt.Errorf("warm user %d: %w", id, err)
		}
	}
	if _, err := httpRun(ctx, []string{userURL(api)}, hot, 0, warmupOps); err != nil {
		return comparison{}, err
	}
	cpu0, err := processCPU(ctx, api)
	if err != nil {
		return comparison{}, err
	}
	rep, err := httpRun(ctx, []string{userURL(api)}, hot, 0, hitRequests)
	if err != nil {
		return comparison{}, err
	}
	cpu1, err := processCPU(ctx, api)
	if err != nil {
		return comparison{}, err
	}

	redisGet := func(ctx context.Context, _ int) error {
		return rdb.Get(ctx, userKey(1+rand.Int64N(hotIDs))).Err() // redis.Nil (not cached) counts as an error
	}
	closedLoop(ctx, "warm-up", warmupOps, concurrency, redisGet)
	direct := closedLoop(ctx, "redis GET {user:ID} (go-redis)", hitRequests, concurrency, redisGet)
	return comparison{
		api:    fromReport("api GET /users/{id} (1 replica)", rep),
		direct: direct,
		note: fmt.Sprintf("X-Cache: HIT on %d of %d api responses; the replica's CPU per request %.0f µs (process_cpu_seconds_total, which a busy machine moves less than req/s)",
			headerCount(rep, "X-Cache", "HIT"), rep.Requests, (cpu1-cpu0)/float64(max(rep.Requests, 1))*1e6),
	}, ctx.Err() // interrupted: the numbers are partial, do not print them
}

// processCPU is the replica's CPU time so far, user and system, in seconds.
func processCPU(ctx context.Context, r *replica) (float64, error) {
	exp, err := fetchMetrics(ctx, plainClient, r.adminURL)
	if err != nil {
		return 0, err
	}
	return sumSamples(exp, "process_cpu_seconds_total", nil)
}

// missPath compares a read that always goes to PostgreSQL (a replica with
// CACHE_STRATEGY=none) with the same row read directly with pgx from the
// shard the router names.
func missPath(ctx context.Context, api *replica, shards []*pgxpool.Pool) (comparison, error) {
	all := loadgen.IDRange{Lo: 1, Hi: seedUsers}
	if _, err := httpRun(ctx, []string{userURL(api)}, all, 0, warmupOps); err != nil {
		return comparison{}, err
	}
	rep, err := httpRun(ctx, []string{userURL(api)}, all, 0, missRequests)
	if err != nil {
		return comparison{}, err
	}

	selectUser := func(ctx context.Context, _ int) error {
		id := 1 + rand.Int64N(seedUsers)
		var (
			uid, version     int64
			name             string
			email            *string // NULL for seeded users
			created, updated time.Time
		)
		return shards[shardOf(id, len(shards))].QueryRow(ctx,
			`SELECT id, name, email, created_at, updated_at, version FROM users WHERE id = $1`, id,
		).Scan(&uid, &name, &email, &created, &updated, &version)
	}
	closedLoop(ctx, "warm-up", warmupOps, concurrency, selectUser)
	direct := closedLoop(ctx, "pgx SELECT on the id's shard", missRequests, concurrency, selectUser)
	return comparison{
		api:    fromReport("api GET /users/{id} (CACHE_STRATEGY=none)", rep),
		direct: direct,
		note:   fmt.Sprintf("X-Cache: BYPASS on %d of %d api responses", headerCount(rep, "X-Cache", "BYPASS"), rep.Requests),
	}, ctx.Err() // interrupted: the numbers are partial, do not print them
}

// window is one slice of the Zipf run.
type window struct {
	requests, hits int
}

func (w window) ratio() float64 {
	if w.requests == 0 {
		return 0
	}
	return float64(w.hits) / float64(w.requests)
}

// hitRatioOverTime empties Redis, then sends Zipf-distributed reads through
// the cache-aside replicas in consecutive windows: the hit ratio climbs as
// the popular users get cached, towards the share of traffic that the
// cached ids receive.
func hitRatioOverTime(ctx context.Context, replicas []*replica, rdb *redis.Client) ([]window, error) {
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return nil, fmt.Errorf("FLUSHALL: %w", err)
	}
	var urls []string
	for _, r := range replicas {
		urls = append(urls, userURL(r))
	}
	var out []window
	for range zipfWindows {
		rep, err := httpRun(ctx, urls, loadgen.IDRange{Lo: 1, Hi: seedUsers}, zipfS, zipfWindowLen)
		if err != nil {
			return nil, err
		}
		out = append(out, window{requests: rep.Requests - rep.TransportErrors, hits: headerCount(rep, "X-Cache", "HIT")})
	}
	return out, ctx.Err()
}

// plainClient never goes through an HTTP_PROXY from the environment: every
// target here is on loopback.
var plainClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
	Timeout:   10 * time.Second,
}

// getOnce sends one GET and wants a 200.
func getOnce(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
