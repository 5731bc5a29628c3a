//go:build containers

package main

// A Redis Cluster primary killed under load (the cluster's other tests are
// in cluster_test.go; what the cache client must do across a failover is
// tested on its own in internal/cache).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/containertest"
	"scalelab/services/platform/platformtest"
)

// The primary that holds a hot user is killed while readers and writers
// hammer that user and two others; its replica is promoted. No read may be
// stale, no request may fail, and once the cluster is whole again a cold
// key on the promoted node still costs one database read under a stampede.
// How long the slot was unserved is printed (a measurement, not a check).
func TestAPIClusterPrimaryKilledUnderLoad(t *testing.T) {
	for _, strategy := range []string{"cache-aside", "write-through"} {
		t.Run(strategy, func(t *testing.T) { primaryKilled(t, strategy) })
	}
}

func primaryKilled(t *testing.T, strategy string) {
	ctx := context.Background()
	pg := containertest.StartPostgres(t, "shard0", "-c", "shared_preload_libraries=pg_stat_statements")
	pg.CreateDatabases(t, "shard1", "shard2")
	stats := containertest.Connect(t, pg.DSN("postgres"))
	defer stats.Close(ctx)
	if _, err := stats.Exec(ctx, "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	rc := containertest.StartRedisCluster(t)
	d := deps{shardDSNs: []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")}, redisCluster: rc.SeedAddrs()}
	apis := startReplicas(t, d, map[string]string{
		"CACHE_STRATEGY": strategy, "REDIS_TIMEOUT": "100ms",
		"CACHE_BREAKER_FAILURES": "3", "CACHE_BREAKER_COOLDOWN": "200ms",
	})
	// The test's own view of the slots: a short dial, tried once, so that a
	// reload that asks the dead node first costs 200 ms, not go-redis's
	// default five dials of 5 s (which once made the measured time until
	// the cache hit again 29 s, all of it spent in this probe).
	probe := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs, DialTimeout: 200 * time.Millisecond,
		DialerRetries: 1, ReadTimeout: 200 * time.Millisecond})
	defer probe.Close()

	ids := []int{11, 12, 13}
	hot := cache.ClusterName(cache.Key("user", int64(ids[0])))
	victim := primaryOf(t, probe, hot)
	l := startLoad(apis, ids)
	l.phase(t, "warm", time.Second)

	killed := time.Now()
	containertest.Docker(t, "kill", rc.Node(t, victim))
	promoted := rc.AwaitServed(t, hot, victim)
	failover := time.Since(killed)
	t.Logf("%s: primary %s killed under load; its slots served by %s after %v (cluster-node-timeout %v)",
		strategy, victim, promoted, failover.Round(time.Millisecond), containertest.ClusterNodeTimeout)
	awaitSlotMap(t, probe, hot, promoted)
	probeUser := coldUserOn(t, probe, promoted, 20)
	cacheBack := awaitHit(t, apis, probeUser).Sub(killed)
	t.Logf("%s: a repeated read hit the cache again %v after the kill", strategy, cacheBack.Round(time.Millisecond))
	l.phase(t, "after failover", 1500*time.Millisecond)
	l.stop()

	t.Logf("%s: %d writes, %d reads, %d stale, %d failed", strategy, l.writes.Load(), l.reads.Load(), l.stale.Load(), l.failures.Load())
	if l.failures.Load() != 0 {
		t.Errorf("%d requests failed; a failover must cost no request", l.failures.Load())
	}
	if l.reads.Load() < 200 || l.writes.Load() < 20 {
		t.Fatalf("too little load ran to tell: %d reads, %d writes", l.reads.Load(), l.writes.Load())
	}

	// A cold user whose keys live on the promoted primary: a stampede over
	// both replicas costs one read at the database.
	cold := coldUserOn(t, probe, promoted, probeUser+1)
	if _, err := stats.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	before := cacheCounters(t, apis)
	statuses := stampedeOn(apis, cold, 200)
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("stampede request %d: status %d", i, s)
		}
	}
	var reads int64
	if err := stats.QueryRow(ctx,
		`SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%LEFT JOIN users u ON u.id = $1%'`,
	).Scan(&reads); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		// What the replicas did meanwhile says why (a Redis call timed
		// out, a lease wait ran out, the trust lapsed).
		after := cacheCounters(t, apis)
		for k, v := range after {
			if d := v - before[k]; d != 0 {
				t.Logf("during the stampede: %s +%v", k, d)
			}
		}
		t.Errorf("200 concurrent misses of user %d (on the promoted primary) made %d database reads, want 1", cold, reads)
	}
}

// cacheCounters reads every cache and flight counter of the replicas, by
// replica and series.
func cacheCounters(t *testing.T, apis []*platformtest.Running) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for i, a := range apis {
		_, body := get(t, a.AdminURL+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "scalelab_api_cache_requests_total") || strings.HasPrefix(line, "scalelab_api_cache_lease_waits_total") ||
				strings.HasPrefix(line, "scalelab_api_singleflight") || strings.HasPrefix(line, "scalelab_api_cache_trusted") ||
				strings.HasPrefix(line, "scalelab_api_cache_breaker") {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				out[fmt.Sprintf("api-%d %s", i, f[0])] = v
			}
		}
	}
	return out
}

// load is the readers and writers of the stale-read tests: four readers
// over both replicas, one writer per user on replica 0.
type load struct {
	acked                          []atomic.Int64
	stale, reads, writes, failures atomic.Int64
	stopCh                         chan struct{}
	wg                             sync.WaitGroup
}

func startLoad(apis []*platformtest.Running, ids []int) *load {
	l := &load{acked: make([]atomic.Int64, len(ids)), stopCh: make(chan struct{})}
	for r := 0; r < 4; r++ {
		l.wg.Go(func() {
			for i := 0; l.running(); i++ {
				k := (r + i) % len(ids)
				floor := l.acked[k].Load()
				n, ok := readName(fmt.Sprintf("%s/users/%d", apis[r%2].URL, ids[k]))
				if !ok {
					l.failures.Add(1)
					continue
				}
				l.reads.Add(1)
				if n < floor {
					l.stale.Add(1)
				}
			}
		})
	}
	for k := range ids {
		l.wg.Go(func() {
			for v := int64(1); l.running(); v++ {
				req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/users/%d", apis[0].URL, ids[k]),
					strings.NewReader(fmt.Sprintf(`{"name":"v%d"}`, v)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					l.failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					l.failures.Add(1)
					continue
				}
				l.writes.Add(1)
				l.acked[k].Store(v)
			}
		})
	}
	return l
}

func (l *load) running() bool {
	select {
	case <-l.stopCh:
		return false
	default:
		return true
	}
}

func (l *load) phase(t *testing.T, name string, d time.Duration) {
	before, stale := l.reads.Load(), l.stale.Load()
	time.Sleep(d)
	t.Logf("%s: %d reads", name, l.reads.Load()-before)
	if s := l.stale.Load() - stale; s != 0 {
		t.Errorf("%s: %d stale reads (a read older than a write acknowledged before it began)", name, s)
	}
}

func (l *load) stop() { close(l.stopCh); l.wg.Wait() }

// readName GETs a user and returns the number in its name ("v12" -> 12).
func readName(url string) (int64, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var u struct{ Name string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&u) != nil {
		return 0, false
	}
	var n int64
	fmt.Sscanf(u.Name, "v%d", &n)
	return n, true
}

// primaryOf names the node serving key's slot now.
func primaryOf(t *testing.T, probe *redis.ClusterClient, key string) string {
	t.Helper()
	probe.ReloadState(context.Background())
	node, err := probe.MasterForKey(context.Background(), key)
	if err != nil {
		t.Fatalf("primary of %s: %v", key, err)
	}
	return node.Options().Addr
}

// awaitSlotMap polls until the probe client, too, names node as key's
// primary (its slot map reloads in the background).
func awaitSlotMap(t *testing.T, probe *redis.ClusterClient, key, node string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if primaryOf(t, probe, key) == node {
			return
		}
	}
	t.Fatalf("the client's slot map never named %s as the primary of %s", node, key)
}

// coldUserOn finds a seed user from `from` on whose keys node serves (the
// load reads only users 11 to 13).
func coldUserOn(t *testing.T, probe *redis.ClusterClient, node string, from int64) int64 {
	t.Helper()
	for id := from; id <= 100; id++ { // the seed users are 1..100
		if primaryOf(t, probe, cache.ClusterName(cache.Key("user", id))) == node {
			return id
		}
	}
	t.Fatalf("no seed user from %d on %s", from, node)
	return 0
}

// awaitHit reads user id twice on each replica until the second read hits:
// the cache serves again (trust renewed, breaker closed). It returns when.
func awaitHit(t *testing.T, apis []*platformtest.Running, id int64) time.Time {
	t.Helper()
	for _, a := range apis {
		url := fmt.Sprintf("%s/users/%d", a.URL, id)
		xcache := ""
		for deadline := time.Now().Add(30 * time.Second); xcache != "HIT" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			get(t, url)
			resp, _ := get(t, url)
			xcache = resp.Header.Get("X-Cache")
		}
		if xcache != "HIT" {
			t.Fatalf("30 s after the failover, a repeated read of user %d on %s is %q, want HIT", id, a.URL, xcache)
		}
	}
	return time.Now()
}

// stampedeOn sends n concurrent reads of user id over the replicas.
func stampedeOn(apis []*platformtest.Running, id int64, n int) []int {
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := http.Get(fmt.Sprintf("%s/users/%d", apis[i%2].URL, id))
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses
}
