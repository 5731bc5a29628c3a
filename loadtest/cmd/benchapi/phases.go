package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
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
	rep, err := httpRun(ctx, []string{userURL(api)}, hot, 0, hitRequests)
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
		note:   fmt.Sprintf("X-Cache: HIT on %d of %d api responses", headerCount(rep, "X-Cache", "HIT"), rep.Requests),
	}, nil
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
	}, nil
}

// stampedeResult is what a burst of requests for one cold key cost.
type stampedeResult struct {
	requests int
	reads    float64        // shard reads the burst caused, summed over replicas
	status   map[string]int // "200" -> count, "error" for no response
	xcache   map[string]int
	elapsed  time.Duration
}

const dbQueries = "scalelab_api_db_queries_total"

// stampede fires stampedeN simultaneous GETs for one uncached user,
// round-robin over the cache-aside replicas, and counts the database reads
// they caused from the replicas' own metrics. Singleflight merges the
// misses within a replica; the Redis lease merges them across replicas.
func stampede(ctx context.Context, replicas []*replica, rdb *redis.Client) (stampedeResult, error) {
	key := userKey(stampedeID)
	if err := rdb.Del(ctx, key, key+":lease").Err(); err != nil { // cold, and no lease left over
		return stampedeResult{}, fmt.Errorf("DEL %s: %w", key, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = stampedeN
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// Open the connections first (GET / touches no cache), so the burst
	// below arrives at once over kept-alive connections instead of being
	// spread out by a thousand TCP handshakes.
	burst(ctx, client, replicas, "/")

	before, err := sumOver(ctx, client, replicas, dbQueries, map[string]string{"op": "get"})
	if err != nil {
		return stampedeResult{}, err
	}
	res := burst(ctx, client, replicas, "/users/"+strconv.Itoa(stampedeID))
	after, err := sumOver(ctx, client, replicas, dbQueries, map[string]string{"op": "get"})
	if err != nil {
		return stampedeResult{}, err
	}
	res.reads = after - before
	return res, ctx.Err()
}

// burst sends stampedeN GETs of path, all released at the same instant.
func burst(ctx context.Context, client *http.Client, replicas []*replica, path string) stampedeResult {
	res := stampedeResult{requests: stampedeN, status: map[string]int{}, xcache: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range stampedeN {
		wg.Go(func() {
			<-start
			status, xcache := "error", "(none)"
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, replicas[i%len(replicas)].url+path, nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body) // drained: the connection can be reused
				resp.Body.Close()
				status = strconv.Itoa(resp.StatusCode)
				if v := resp.Header.Get("X-Cache"); v != "" {
					xcache = v
				}
			}
			mu.Lock()
			res.status[status]++
			res.xcache[xcache]++
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}

func sumOver(ctx context.Context, client *http.Client, replicas []*replica, metric string, labels map[string]string) (float64, error) {
	var sum float64
	for _, r := range replicas {
		v, err := scrapeSum(ctx, client, r.adminURL, metric, labels)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.name, err)
		}
		sum += v
	}
	return sum, nil
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
