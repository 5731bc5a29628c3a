//go:build containers

package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"scalelab/services/platform/platformtest"
)

// BenchmarkReshardMillion measures a 3→4 reshard of 1,000,000 users under
// traffic through two replicas: time to reshard, the write pause, api
// throughput and p99 during the reshard against before it (a ratio: the
// machine is shared), and how long the slowest replica took to follow the
// map. It runs once whatever b.N is; nothing is asserted but correctness.
//
//	go test -tags containers -run '^$' -bench ReshardMillion -benchtime 1x -timeout 60m ./services/api/cmd/api
func BenchmarkReshardMillion(b *testing.B) {
	const users = 1_000_000
	d := startReshardDeps(b, true)
	ctx := context.Background()
	start := time.Now()
	d.seed(b, users)
	b.Logf("seeded %d users in %v", users, time.Since(start).Round(time.Second))
	a, r := d.replica(b, "api-a", 0), d.replica(b, "api-b", 0)
	e := d.engine(b)
	tr := startTraffic(b, []string{a.URL, r.URL}, 300)
	time.Sleep(8 * time.Second) // warm-up, then the 5 s baseline window
	before := time.Now()
	res, err := e.Apply(ctx, 4, "", false)
	if err != nil {
		b.Fatal(err)
	}
	during := time.Now()
	tr.stop()
	tr.report(b, before, during, res, res)
	for _, rep := range []*platformtest.Running{a, r} {
		b.Logf("%s followed the map in %s s", rep.URL, metric(b, rep, "scalelab_api_shard_map_follow_seconds"))
		b.Logf("%s longest wait of a refused request: p100 bucket counts %s", rep.URL, metric(b, rep, "scalelab_api_shard_wait_seconds_count"))
	}
	if n := tr.failures.Load() + tr.stale.Load(); n != 0 {
		b.Errorf("%d failed or stale requests; first: %s", n, tr.firstFailure())
	}
}

// metric reads one unlabelled sample from a replica's /metrics.
func metric(tb testing.TB, r *platformtest.Running, name string) string {
	resp, err := http.Get(r.AdminURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return strconv.FormatFloat(f, 'f', 3, 64)
		}
	}
	return "?"
}
