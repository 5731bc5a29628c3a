package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// stampedeResult is what a burst of requests for one cold key cost.
type stampedeResult struct {
	requests   int
	reads      float64        // shard reads the burst caused, summed over replicas
	status     map[string]int // "200" -> count, "error" for no response
	xcache     map[string]int
	elapsed    time.Duration
	perReplica []replicaBurst
	// breakersSettled is how long the Redis breakers took to be closed on
	// every replica before the burst; -1 if they were still open.
	breakersSettled time.Duration
}

// replicaBurst is one replica's share of the burst: what its answers said
// and what its counters moved by, to see where reads came from.
type replicaBurst struct {
	name     string
	xcache   map[string]int
	counters counters
}

// counters are the api metrics that explain a stampede's cost.
type counters struct {
	dbReads    float64            // scalelab_api_db_queries_total{op="get"}, any shard and outcome
	cacheGets  map[string]float64 // scalelab_api_cache_requests_total{op="get"} by result (hit, miss, error, bypass...)
	leaseWaits map[string]float64 // scalelab_api_cache_lease_waits_total by outcome (filled, timeout)
	breaker    float64            // scalelab_api_cache_breaker_open: a gauge, 1 while Redis is skipped
}

func readCounters(ctx context.Context, client *http.Client, r *replica) (counters, error) {
	page, err := fetchMetrics(ctx, client, r.adminURL)
	if err != nil {
		return counters{}, fmt.Errorf("%s: %w", r.name, err)
	}
	var c counters
	var errs [4]error
	c.dbReads, errs[0] = sumSamples(page, "scalelab_api_db_queries_total", map[string]string{"op": "get"})
	c.cacheGets, errs[1] = sumBy(page, "scalelab_api_cache_requests_total", map[string]string{"op": "get"}, "result")
	c.leaseWaits, errs[2] = sumBy(page, "scalelab_api_cache_lease_waits_total", nil, "outcome")
	c.breaker, errs[3] = sumSamples(page, "scalelab_api_cache_breaker_open", nil)
	return c, errors.Join(errs[:]...)
}

// minus is what the counters moved by between two readings; the breaker,
// a gauge, keeps its later value.
func (c counters) minus(before counters) counters {
	diff := func(a, b map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range a {
			if d := v - b[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	return counters{
		dbReads:    c.dbReads - before.dbReads,
		cacheGets:  diff(c.cacheGets, before.cacheGets),
		leaseWaits: diff(c.leaseWaits, before.leaseWaits),
		breaker:    c.breaker,
	}
}

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

	// Open our thousand HTTP connections first with GET /, which touches
	// no cache: the burst below then arrives at once instead of being
	// spread out by TCP handshakes.
	burst(ctx, client, replicas, "/", stampedeN)
	// Fill each replica's Redis pool, as traffic would have in production,
	// with a moderate burst on a cached user. A replica that never talked
	// to Redis would otherwise dial its pool under the stampede itself;
	// that is a cold start, worth its own experiment.
	burst(ctx, client, replicas, "/users/1", poolWarmup*len(replicas))
	// Even this can time out Redis calls on a busy machine and open a
	// breaker, after which a replica skips Redis for a cooldown: wait
	// until every breaker is closed, so the burst meets the cache.
	settled, err := waitBreakersClosed(ctx, client, replicas, 15*time.Second)
	if err != nil {
		return stampedeResult{}, err
	}

	before := make([]counters, len(replicas))
	for i, r := range replicas {
		var err error
		if before[i], err = readCounters(ctx, client, r); err != nil {
			return stampedeResult{}, err
		}
	}
	res := burst(ctx, client, replicas, "/users/"+strconv.Itoa(stampedeID), stampedeN)
	res.breakersSettled = settled
	for i, r := range replicas {
		after, err := readCounters(ctx, client, r)
		if err != nil {
			return stampedeResult{}, err
		}
		res.perReplica[i].counters = after.minus(before[i])
		res.reads += res.perReplica[i].counters.dbReads
	}
	return res, ctx.Err()
}

// waitBreakersClosed polls the replicas' breaker gauges until all are
// closed, and returns how long that took, or -1 if they were still open
// after within (the burst then runs anyway, and the report says so).
func waitBreakersClosed(ctx context.Context, client *http.Client, replicas []*replica, within time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		open := 0.0
		for _, r := range replicas {
			c, err := readCounters(ctx, client, r)
			if err != nil {
				return 0, err
			}
			open += c.breaker
		}
		if open == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return -1, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// burst sends n GETs of path, all released at the same instant, request i
// to replica i mod len(replicas).
func burst(ctx context.Context, client *http.Client, replicas []*replica, path string, n int) stampedeResult {
	res := stampedeResult{requests: n, status: map[string]int{}, xcache: map[string]int{}}
	for _, r := range replicas {
		res.perReplica = append(res.perReplica, replicaBurst{name: r.name, xcache: map[string]int{}})
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			status, xcache := "error", "(none)"
			target := i % len(replicas)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, replicas[target].url+path, nil)
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
			res.perReplica[target].xcache[xcache]++
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}
