package experiments

import (
	"context"
	"fmt"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

var cache = &Experiment{
	Name:  "cache",
	Title: "Cache-aside with Redis: hits, misses, a stampede and Redis failing",
	Claim: "A cache hit is much faster than a database read; under a skewed (Zipf) load the hit ratio climbs quickly; a cold key under a stampede costs one database read, not one per request; write-through makes a write slower but the next read a hit; and with cache-aside a Redis failure costs latency, not errors.",
	Run:   runCache,
}

func runCache(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "miss_hit_p50_ratio"
	lb := e.Stack.URL("LB_PORT")
	r.Setup = append(r.Setup,
		"the api replicas behind the lb, `CACHE_STRATEGY=cache-aside`, users 1-10000 seeded over three PostgreSQL shards",
		"cost of a miss: a primary-key read of PostgreSQL on this machine plus `SHARD_QUERY_DELAY="+missCost+"` (the replicas are restarted with it): on loopback an in-memory primary-key read costs about as much as a Redis GET, where a real database a network hop away, reading from disk, costs milliseconds; the delay stands for that, as the edges' `ORIGIN_RTT` stands for the distance to the origin",
	)
	defer e.Stack.Restore(context.WithoutCancel(ctx))
	if err := e.Stack.Apply(ctx, cacheEnv(), "--no-deps", "api"); err != nil {
		return err
	}
	if err := cacheHitMiss(ctx, e, r, lb); err != nil {
		return err
	}
	if err := cacheHitRatio(ctx, e, r, lb); err != nil {
		return err
	}
	if err := cacheStampede(ctx, e, r, lb); err != nil {
		return err
	}
	if err := cacheWrites(ctx, e, r, lb); err != nil {
		return err
	}
	if err := cacheRedisKilled(ctx, e, r, lb); err != nil {
		return err
	}
	return cacheVerdict(r)
}

// missCost is the delay the replicas add to each shard read for this
// experiment (SHARD_QUERY_DELAY): a database a network hop away.
const missCost = "5ms"

// cacheEnv is the replicas' environment for this experiment, plus extra.
func cacheEnv(extra ...string) []string {
	return append([]string{"SHARD_QUERY_DELAY=" + missCost}, extra...)
}

func (e *Env) flushRedis(ctx context.Context) error {
	_, err := e.Stack.Compose(ctx, nil, "exec", "-T", "redis", "redis-cli", "FLUSHALL")
	return err
}

func cacheHitMiss(ctx context.Context, e *Env, r *report.Report, lb string) error {
	if err := e.flushRedis(ctx); err != nil {
		return err
	}
	n := e.N(3000, 600)
	cfg := scenario("read", lb)
	cfg.IDs, cfg.Sequential, cfg.Concurrency = &loadgen.IDRange{Lo: 1, Hi: int64(n)}, true, 4
	miss, err := e.Load(ctx, r, "misses (cold keys)", cfg)
	if err != nil {
		return err
	}
	hit, err := e.Load(ctx, r, "hits (same keys again)", cfg)
	if err != nil {
		return err
	}
	r.Section("Hit against miss")
	r.Para("Redis flushed, then users 1-%d read once each in order (every read a miss: the api reads the shard and fills Redis), then the same users again (every read a hit). Closed loop, 4 workers, through the lb.", n)
	rows := [][]string{}
	for _, x := range []struct {
		name string
		rep  *loadgen.Report
	}{{"miss", miss}, {"hit", hit}} {
		rows = append(rows, []string{x.name, fmt.Sprint(x.rep.Requests), pct(x.rep.Headers["X-Cache"].Count(map[string]string{"miss": "MISS", "hit": "HIT"}[x.name]), x.rep.Requests),
			ms(x.rep.LatencyMillis.P50), ms(x.rep.LatencyMillis.P90), ms(x.rep.LatencyMillis.P99)})
	}
	r.Table([]string{"pass", "requests", "X-Cache as expected", "p50", "p90", "p99"}, rows)
	if err := r.Chart("hit-vs-miss.png", "Latency of a hit and of a miss", &chart.Bars{Title: "GET /users/{id}: miss against hit", YLabel: "ms", Categories: []string{"p50", "p90", "p99"},
		Groups: []chart.Group{{Name: "miss", Values: []float64{miss.LatencyMillis.P50, miss.LatencyMillis.P90, miss.LatencyMillis.P99}}, {Name: "hit", Values: []float64{hit.LatencyMillis.P50, hit.LatencyMillis.P90, hit.LatencyMillis.P99}}}}); err != nil {
		return err
	}
	r.Number("miss_p50_ms", "miss p50", miss.LatencyMillis.P50, "ms")
	r.Number("hit_p50_ms", "hit p50", hit.LatencyMillis.P50, "ms")
	r.Number("miss_hit_p50_ratio", "miss / hit p50", miss.LatencyMillis.P50/hit.LatencyMillis.P50, "×")
	return nil
}

func cacheHitRatio(ctx context.Context, e *Env, r *report.Report, lb string) error {
	d, rate := e.D(30*time.Second, 10*time.Second), e.N(300, 200)
	var lines []chart.Series
	final := map[string]float64{}
	bypass := map[string]int{}
	for _, x := range []struct {
		name string
		zipf float64
	}{{"Zipf s=1.0", 1.0}, {"uniform", 0}} {
		if err := e.flushRedis(ctx); err != nil {
			return err
		}
		cfg := scenario("read", lb)
		cfg.Rate, cfg.Concurrency, cfg.Duration, cfg.Zipf = rate, 128, d, x.zipf
		rep, err := e.Load(ctx, r, "hit ratio "+x.name, cfg)
		if err != nil {
			return err
		}
		// The hit ratio of the reads that asked Redis (HIT or MISS): an
		// answer that bypassed it (the breaker open, Redis slow on a busy
		// machine) or failed says nothing about what the cache held.
		ratio := func(ss []loadgen.Second) float64 {
			hit, miss := 0, 0
			for _, s := range ss {
				hit, miss = hit+s.Headers["X-Cache"]["HIT"], miss+s.Headers["X-Cache"]["MISS"]
			}
			return 100 * float64(hit) / float64(max(1, hit+miss))
		}
		xs, ys := series(rep, func(s loadgen.Second) float64 { return ratio([]loadgen.Second{s}) })
		lines = append(lines, chart.Series{Name: x.name, X: xs, Y: ys})
		// The last third of the run, once the hot keys had time to fill.
		final[x.name] = ratio(rep.Series[len(rep.Series)*2/3:])
		bypass[x.name] = rep.Headers["X-Cache"].Count("BYPASS") + rep.Errors
	}
	r.Section("Hit ratio from a cold cache")
	r.Para("Redis flushed, then %d reads/s (open loop) for %v over users 1-10000, keys drawn from Zipf(s=1.0) (a few users are hot, as in real traffic) and then uniformly. The hit ratio is HIT / (HIT + MISS): of the reads that asked Redis; over the last third of each run: Zipf %.0f%%, uniform %.0f%%. Answers that bypassed Redis or failed are left out of it (Zipf %d, uniform %d): on a busy machine a Redis call past `REDIS_TIMEOUT` (250 ms) opens the api's breaker for a while.", rate, d, final["Zipf s=1.0"], final["uniform"], bypass["Zipf s=1.0"], bypass["uniform"])
	if err := r.Chart("hit-ratio.png", "Hit ratio per second from an empty Redis", &chart.Lines{Title: "Hit ratio per second from an empty cache", XLabel: "seconds", YLabel: "% hits", Series: lines}); err != nil {
		return err
	}
	r.Number("zipf_hit_ratio_pct", "hit ratio over the last third of the Zipf run", final["Zipf s=1.0"], "%")
	r.Number("uniform_hit_ratio_pct", "hit ratio over the last third of the uniform run", final["uniform"], "%")
	return nil
}

// dbReads is the api's count of shard reads (op="get"), as Prometheus scraped it.
func (e *Env) dbReads(ctx context.Context) (float64, error) {
	if err := e.Stack.Scraped(ctx); err != nil {
		return 0, err
	}
	return e.Stack.Query(ctx, `sum(scalelab_api_db_queries_total{op="get"})`)
}

func cacheStampede(ctx context.Context, e *Env, r *report.Report, lb string) error {
	const n, c = 500, 250
	run := func(label string, id int) (*loadgen.Report, float64, error) {
		before, err := e.dbReads(ctx)
		if err != nil {
			return nil, 0, err
		}
		cfg := loadgen.DefaultConfig()
		cfg.URLs, cfg.N, cfg.Concurrency, cfg.ProgressEvery = []string{fmt.Sprintf("%s/users/%d", lb, id)}, n, c, 0
		rep, err := e.Load(ctx, r, label, cfg)
		if err != nil {
			return nil, 0, err
		}
		after, err := e.dbReads(ctx)
		return rep, after - before, err
	}
	if err := e.flushRedis(ctx); err != nil {
		return err
	}
	rep, reads, err := run("stampede (leases on)", 4242)
	if err != nil {
		return err
	}
	r.Section("A stampede on a cold key")
	rows := [][]string{{"cache-aside, leases (the default)", fmt.Sprint(rep.Requests), fmt.Sprint(rep.Errors), report.FormatValue(reads), ms(rep.LatencyMillis.P99)}}
	r.Number("stampede_db_reads", "shard reads for 500 concurrent requests of one cold key", reads, "")
	cats, vals := []string{"leases on"}, []float64{max(reads, 0.01)}
	// The peer: the same stampede with CACHE_LEASE_WAIT=0, where a miss
	// that finds another reader's lease reads the shard at once.
	if err := e.Stack.Apply(ctx, cacheEnv("CACHE_LEASE_WAIT=0s"), "--no-deps", "api"); err != nil {
		return err
	}
	// Prometheus finds the new replicas by DNS every 5 s: let it scrape
	// them before the count is read.
	if err := sleep(ctx, 6*time.Second); err != nil {
		return err
	}
	rep2, reads2, err := run("stampede (leases off)", 4343)
	if err != nil {
		return err
	}
	rows = append(rows, []string{"`CACHE_LEASE_WAIT=0` (leases off)", fmt.Sprint(rep2.Requests), fmt.Sprint(rep2.Errors), report.FormatValue(reads2), ms(rep2.LatencyMillis.P99)})
	r.Number("nolease_db_reads", "shard reads for the same stampede with leases off", reads2, "")
	cats, vals = append(cats, "leases off"), append(vals, reads2)
	if err := e.Stack.Apply(ctx, cacheEnv(), "--no-deps", "api"); err != nil {
		return err
	}
	r.Para("%d requests for one user nobody had read (Redis flushed), %d at a time, through the lb to every replica; once with the lease (a miss waits up to `CACHE_LEASE_WAIT`, 300 ms, for the reader holding the lease to fill Redis) and once with `CACHE_LEASE_WAIT=0` (the replicas restarted; a miss that finds a lease reads the shard itself). Shard reads are the api's own count (`scalelab_api_db_queries_total{op=\"get\"}`, summed over the replicas, read from Prometheus after a scrape), so they include any other reads in the same seconds (none were sent).", n, c)
	r.Table([]string{"setup", "requests", "errors", "shard reads", "p99"}, rows)
	r.Para("Without leases the count stays far below one read per request all the same: each replica shares one shard read among its own concurrent misses of a key (in-process request collapsing), so the worst case is about one read per replica and per wave of requests, not %d.", n)
	return r.Chart("stampede.png", "Shard reads caused by 500 concurrent requests for one cold key", &chart.Bars{Title: "Shard reads for one cold key, 500 requests", YLabel: "reads", Categories: cats, Groups: []chart.Group{{Name: "reads", Values: vals}}})
}
