// Command benchapi (`make bench-api`) measures what the api adds on top of
// its dependencies, and checks two behaviours of its cache, in one run on
// one machine:
//
//  1. hit path: GET /users/{id} answered from Redis by one replica, against
//     the same Redis GET sent directly: the cost of our HTTP layer;
//  2. miss path: GET /users/{id} on a replica with CACHE_STRATEGY=none,
//     against the same row read directly with pgx: the cost of the api on
//     the database path;
//  3. stampede: 1000 simultaneous requests for one cold user over three
//     replicas, and how many database reads they cost (the goal is 1);
//  4. hit ratio over time under a Zipf load, from an empty Redis.
//
// It starts PostgreSQL (three shard databases) and Redis with
// testcontainers, builds the api and runs four replicas as processes on
// loopback, and removes all of it at the end, on error and on Ctrl-C too.
//
// The numbers are printed, never judged: the load generator, the replicas
// and the databases share the same few cores, so absolute figures say as
// much about the machine as about the code. Compare the ratios, measured
// side by side in the same run.
//
// API_ENGINE (fast, the default, or std) is passed to the replicas, to
// compare the api's two engines. BENCHAPI_PROFILE=FILE adds, after the measurements, a CPU profile of
// one replica serving the hit load.
//
// Environment: POSTGRES_IMAGE (default postgres:15-bookworm), REDIS_IMAGE
// (default redis:7-bookworm), and testcontainers' own variables
// (TESTCONTAINERS_RYUK_DISABLED=true where its reaper image cannot be
// pulled; make sets it).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"scalelab/loadtest/internal/bench"
	"scalelab/loadtest/internal/proc"
)

// runCap bounds the whole program, setup included: whatever happens, it
// ends. A normal run takes a minute or two.
const runCap = 10 * time.Minute

var command = bench.Command{Name: "benchapi", Stopped: "replicas stopped and containers removed", TookNote: " (cleanup included)"}

func main() {
	command.Main(func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
		return run(ctx, os.Getenv, stdout, stderr)
	})
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, runCap)
	defer cancel()
	t0 := time.Now()
	progress := command.Progress(stderr)
	pgImage := envOr(getenv, "POSTGRES_IMAGE", "postgres:15-bookworm")
	redisImage := envOr(getenv, "REDIS_IMAGE", "redis:7-bookworm")

	root, err := proc.WorkspaceRoot(".")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchapi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Compile while the containers start: both take a while.
	progress("building the api and starting %s and %s", pgImage, redisImage)
	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	go func() { bin, err := proc.Build(ctx, root, tmp, "services/api/cmd/api"); buildDone <- built{bin, err} }()
	d, err := startDeps(ctx, pgImage, redisImage)
	defer d.close()
	b := <-buildDone
	if err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}

	engine := envOr(getenv, "API_ENGINE", "fast")
	cacheAside, noCache, err := startFleet(ctx, b.bin, tmp, d, engine, progress)
	defer fleet(append(cacheAside, noCache)).stop()
	if err != nil {
		return err
	}

	// Direct clients, configured like the api's own: go-redis' default
	// pool, and one pgx pool per shard capped at the api's DB_MAX_CONNS
	// default (8).
	rdb := redis.NewClient(&redis.Options{Addr: d.redisAddr})
	defer rdb.Close()
	shards, err := openShards(ctx, d.shardDSNs, 8)
	defer func() {
		for _, p := range shards {
			p.Close()
		}
	}()
	if err != nil {
		return err
	}

	s := summary{
		machine: fmt.Sprintf("Machine: %d CPUs (runtime.NumCPU), %s %s/%s%s; images %s and %s; API_ENGINE=%s; "+
			"load generator, 4 api processes, PostgreSQL and Redis all share these CPUs over loopback",
			runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, bench.LoadAverage(), pgImage, redisImage, engine),
		setup: time.Since(t0),
	}
	t1 := time.Now()
	fmt.Fprintln(stdout, s.machine)
	if err := measure(ctx, stdout, progress, &s, cacheAside, noCache, rdb, shards); err != nil {
		return err
	}
	if path := getenv("BENCHAPI_PROFILE"); path != "" {
		progress("profiling api-1 under the hit load into %s", path)
		if err := profileHits(ctx, cacheAside[0], path); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	s.run = time.Since(t1)
	writeMarkdown(stdout, s)
	progress("stopping the replicas and removing the containers")
	return nil
}

// measure runs the four measurements in turn, printing each as it ends,
// into s.
func measure(ctx context.Context, stdout io.Writer, progress func(string, ...any), s *summary,
	cacheAside []*replica, noCache *replica, rdb *redis.Client, shards []*pgxpool.Pool) error {
	var err error
	progress("hit path")
	if s.hit, err = hitPath(ctx, cacheAside[0], rdb); err != nil {
		return fmt.Errorf("hit path: %w", err)
	}
	printComparison(stdout, fmt.Sprintf("hit path: GET /users/{id}, ids 1-%d all cached, one replica, c=%d", hotIDs, concurrency), s.hit)

	progress("miss path")
	if s.miss, err = missPath(ctx, noCache, shards); err != nil {
		return fmt.Errorf("miss path: %w", err)
	}
	printComparison(stdout, fmt.Sprintf("miss path: GET /users/{id}, ids 1-%d, CACHE_STRATEGY=none, c=%d", seedUsers, concurrency), s.miss)

	progress("stampede")
	if s.stampede, err = stampede(ctx, cacheAside, rdb); err != nil {
		return fmt.Errorf("stampede: %w", err)
	}
	printStampede(stdout, s.stampede, len(cacheAside))

	progress("hit ratio over time")
	if s.windows, err = hitRatioOverTime(ctx, cacheAside, rdb); err != nil {
		return fmt.Errorf("hit ratio: %w", err)
	}
	printWindows(stdout, s.windows, len(cacheAside))
	return nil
}

// openShards opens one pgx pool per shard DSN, each of at most maxConns
// connections; on error the pools already open are returned too, for the
// caller to close.
func openShards(ctx context.Context, dsns []string, maxConns int32) ([]*pgxpool.Pool, error) {
	var pools []*pgxpool.Pool
	for _, dsn := range dsns {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return pools, err
		}
		cfg.MaxConns = maxConns
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return pools, err
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// startFleet starts three cache-aside replicas and one with
// CACHE_STRATEGY=none, all on the same Redis and shards. The first one
// applies the schema and seeds the users alone; the others start once it
// is ready, so four replicas do not race to create the same tables (they
// would retry, but it costs time and noisy logs). On error the replicas
// already started are returned too, for the caller to stop.
func startFleet(ctx context.Context, bin, logDir string, d *deps, engine string, progress func(string, ...any)) (cacheAside []*replica, noCache *replica, err error) {
	env := func(strategy string) map[string]string {
		return map[string]string{
			"API_ENGINE":     engine,
			"REDIS_URL":      d.redisURL,
			"SHARD_DSNS":     strings.Join(d.shardDSNs, ","),
			"SEED_USERS":     fmt.Sprint(seedUsers),
			"LOG_LEVEL":      "warn",
			"CACHE_STRATEGY": strategy,
		}
	}
	progress("starting api-1 (schema, %d seed users)", seedUsers)
	first, err := startReplica(bin, "api-1", logDir, env("cache-aside"))
	if err != nil {
		return nil, nil, err
	}
	cacheAside = append(cacheAside, first)
	if err := first.waitReady(ctx, 2*time.Minute); err != nil {
		return cacheAside, nil, err
	}
	progress("starting api-2, api-3 (cache-aside) and api-nocache (CACHE_STRATEGY=none)")
	for _, name := range []string{"api-2", "api-3"} {
		r, err := startReplica(bin, name, logDir, env("cache-aside"))
		if err != nil {
			return cacheAside, nil, err
		}
		cacheAside = append(cacheAside, r)
	}
	if noCache, err = startReplica(bin, "api-nocache", logDir, env("none")); err != nil {
		return cacheAside, nil, err
	}
	for _, r := range append(cacheAside[1:], noCache) {
		if err := r.waitReady(ctx, time.Minute); err != nil {
			return cacheAside, noCache, err
		}
	}
	return cacheAside, noCache, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
