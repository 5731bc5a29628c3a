//go:build containers

package main

import (
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

	"scalelab/services/api/internal/containertest"
	"scalelab/services/platform/platformtest"
)

// freezeLoad is a mixed read/write load on users 1..n through several
// replicas: per user one writer (each write names the user "v<N>") and four
// readers, spread over the replicas. It counts failed
// requests and stale reads (a read older than a write acknowledged before
// the read was sent) and keeps the worst latency of each kind.
type freezeLoad struct {
	client                *http.Client
	acked                 []atomic.Int64 // per user, the highest acknowledged version
	reads, writes, failed atomic.Int64
	stale                 atomic.Int64
	worstRead, worstWrite atomic.Int64 // nanoseconds
	mu                    sync.Mutex
	firstFailures         []string
	offset                int // user u is id offset+u
	began                 time.Time
}

func (l *freezeLoad) timed(t *testing.T, req *http.Request) (*http.Response, []byte, bool) {
	start := time.Now()
	resp, err := l.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(start)
	worst := &l.worstRead
	if req.Method != http.MethodGet {
		worst = &l.worstWrite
	}
	for w := worst.Load(); int64(took) > w && !worst.CompareAndSwap(w, int64(took)); w = worst.Load() {
	}
	if err == nil && resp.StatusCode < 300 {
		return resp, body, true
	}
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.firstFailures) < 5 {
		msg := fmt.Sprint(err)
		if err == nil {
			msg = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		l.firstFailures = append(l.firstFailures, fmt.Sprintf("%s %s sent at +%v, failed after %v: %s", req.Method, req.URL.Path,
			start.Sub(l.began).Round(time.Millisecond), took.Round(time.Millisecond), msg))
	}
	return nil, nil, false
}

func (l *freezeLoad) reader(t *testing.T, stop <-chan struct{}, base string, user int) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		floor := l.acked[user-1].Load()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/users/%d", base, l.offset+user), nil)
		_, body, ok := l.timed(t, req)
		if !ok {
			continue
		}
		l.reads.Add(1)
		var u struct{ Name string }
		json.Unmarshal(body, &u)
		if n, _ := strconv.ParseInt(strings.TrimPrefix(u.Name, "v"), 10, 64); n < floor {
			l.stale.Add(1)
			t.Errorf("user %d: read %q after v%d was acknowledged", user, u.Name, floor)
		}
	}
}

// freezeThrice runs the load, each user with one writer and four readers
// spread over the replicas (base(i) is the i-th one's URL), and freezes
// Redis (docker(verb): pause, unpause) for 5 s three times.
func (l *freezeLoad) freezeThrice(t *testing.T, base func(i int) string, docker func(verb string)) {
	users := len(l.acked)
	l.began = time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for u := 1; u <= users; u++ {
		wg.Go(func() { l.writer(t, stop, base(u), u) })
		for r := 1; r <= 4; r++ {
			wg.Go(func() { l.reader(t, stop, base(u+r), u) })
		}
	}
	phase := func(name string, d time.Duration) {
		r, w, f := l.reads.Load(), l.writes.Load(), l.failed.Load()
		time.Sleep(d)
		t.Logf("%-14s %5d reads %4d writes %3d failed", name, l.reads.Load()-r, l.writes.Load()-w, l.failed.Load()-f)
	}
	for i := 1; i <= 3; i++ {
		docker("pause")
		phase(fmt.Sprintf("frozen %d", i), 5*time.Second)
		docker("unpause")
		phase("redis back", 3*time.Second)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reads, %d writes, %d failed, %d stale; worst latency: read %v, write %v",
		l.reads.Load(), l.writes.Load(), l.failed.Load(), l.stale.Load(),
		time.Duration(l.worstRead.Load()).Round(time.Millisecond), time.Duration(l.worstWrite.Load()).Round(time.Millisecond))
}

func (l *freezeLoad) writer(t *testing.T, stop <-chan struct{}, base string, user int) {
	for v := int64(1); ; v++ {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/users/%d", base, l.offset+user),
			strings.NewReader(fmt.Sprintf(`{"name":"v%d"}`, v)))
		if _, _, ok := l.timed(t, req); ok {
			l.writes.Add(1)
			l.acked[user-1].Store(v)
		}
	}
}

// A frozen Redis (docker pause: a stalled server, a long fork, a cut
// network) costs latency, never a request and never a stale read: three
// replicas with the default settings, 20 users each with one writer and
// four readers, Redis frozen for 5 s three times, the first time right
// after the replicas start, when their pools are cold.
func TestAPIRedisFrozenFailsNothing(t *testing.T) {
	// PostgreSQL as the stack runs it: every commit waits for its fsync
	// (containertest turns that off for speed), which is what makes a
	// shard's connections scarce when every read and write lands on it.
	pg := containertest.StartPostgres(t, "shard0", "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
	pg.CreateDatabases(t, "shard1", "shard2")
	rd := containertest.StartRedis(t)
	d := deps{shardDSNs: []string{pg.DSN("shard0"), pg.DSN("shard1"), pg.DSN("shard2")}, redisURL: rd.URL, redis: rd}
	const users, replicas = 20, 3
	var apis []*platformtest.Running
	for i := range replicas {
		apis = append(apis, platformtest.Start(t, run, map[string]string{
			"INSTANCE_ID": fmt.Sprintf("api-%d", i), "REDIS_URL": d.redisURL,
			"SHARD_DSNS": strings.Join(d.shardDSNs, ","), "SEED_USERS": "100",
		}))
	}
	l := &freezeLoad{
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}},
		acked:  make([]atomic.Int64, users),
	}
	l.freezeThrice(t, func(i int) string { return apis[i%replicas].URL }, func(verb string) { containertest.Docker(t, verb, d.redis) })
	var waits float64
	for _, a := range apis {
		waits += sumMetric(t, a.AdminURL, "scalelab_api_db_pool_acquire_waits_total")
	}
	t.Logf("shard pool acquires that waited for a connection, all replicas: %.0f", waits)
	if l.failed.Load() != 0 {
		t.Errorf("%d requests failed, first: %s", l.failed.Load(), strings.Join(l.firstFailures, "; "))
	}
	if l.reads.Load() < 1000 || l.writes.Load() < 100 {
		t.Errorf("too little load ran to tell: %d reads, %d writes", l.reads.Load(), l.writes.Load())
	}
}
