package main

import (
	"context"
	"errors"
	"maps"
	"testing"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/stats"
)

// A trimmed /metrics page of an api replica.
const exposition = `# HELP scalelab_api_db_queries_total Queries by shard, operation and outcome.
# TYPE scalelab_api_db_queries_total counter
scalelab_api_db_queries_total{op="get",outcome="ok",shard="0"} 3
scalelab_api_db_queries_total{op="get",outcome="not_found",shard="2"} 1
scalelab_api_db_queries_total{op="put",outcome="ok",shard="0"} 7
scalelab_api_db_queries_total{shard="1",outcome="ok",op="get"} 2.5
scalelab_api_db_queries_total_other{op="get"} 100
scalelab_api_cache_breaker_open 0
weird{op="get",note="a \"quoted\", {braced} value"} 40 1712000000000
`

func TestSumSamples(t *testing.T) {
	tests := []struct {
		name  string
		want  map[string]string
		total float64
	}{
		{"scalelab_api_db_queries_total", map[string]string{"op": "get"}, 6.5}, // any label order; not the _other metric
		{"scalelab_api_db_queries_total", map[string]string{"op": "get", "outcome": "ok"}, 5.5},
		{"scalelab_api_db_queries_total", nil, 13.5},
		{"scalelab_api_db_queries_total", map[string]string{"op": "delete"}, 0},
		{"scalelab_api_cache_breaker_open", nil, 0},
		{"weird", map[string]string{"note": `a "quoted", {braced} value`}, 40}, // escapes; timestamp ignored
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		got, err := sumSamples(exposition, tt.name, tt.want)
		if err != nil || got != tt.total {
			t.Errorf("sumSamples(%s, %v) = %v, %v; want %v", tt.name, tt.want, got, err, tt.total)
		}
	}
}

func TestSumBy(t *testing.T) {
	got, err := sumBy(exposition, "scalelab_api_db_queries_total", map[string]string{"op": "get"}, "shard")
	want := map[string]float64{"0": 3, "1": 2.5, "2": 1}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("sumBy shard = %v, %v; want %v", got, err, want)
	}
}

func TestCountersMinus(t *testing.T) {
	before := counters{dbReads: 5, cacheGets: map[string]float64{"hit": 10, "miss": 2}}
	after := counters{dbReads: 6, cacheGets: map[string]float64{"hit": 10, "miss": 40, "error": 3},
		leaseWaits: map[string]float64{"filled": 7}, breaker: 1}
	d := after.minus(before)
	if d.dbReads != 1 || d.breaker != 1 || !maps.Equal(d.cacheGets, map[string]float64{"miss": 38, "error": 3}) ||
		!maps.Equal(d.leaseWaits, map[string]float64{"filled": 7}) {
		t.Errorf("minus = %+v", d)
	}
}

func TestSumSamplesRejectsGarbage(t *testing.T) {
	for _, page := range []string{
		"no_value_here",
		`m{op="get"}`,
		`m{op="get} 1`,
		`m{op=get} 1`,
		"m one",
	} {
		if _, err := sumSamples(page, "m", nil); err == nil {
			t.Errorf("sumSamples(%q): no error", page)
		}
	}
}

func TestShardOfMatchesTheAPIRouter(t *testing.T) {
	// The api's modulo router, crc32 of the decimal id modulo 3: checksums
	// worked out once and written down (crc32("42") = 841265288,
	// crc32("9999") = 3596399514), the same places the api's own tests pin.
	for _, tt := range []struct {
		id   int64
		want int
	}{{1, 2}, {42, 2}, {4242, 1}, {9999, 0}} {
		if got := shardOf(tt.id, 3); got != tt.want {
			t.Errorf("shardOf(%d) = %d, want %d", tt.id, got, tt.want)
		}
	}
	seen := map[int]int{}
	for id := int64(1); id <= 3000; id++ {
		seen[shardOf(id, 3)]++
	}
	for s := range 3 {
		if seen[s] < 800 { // about 1000 each
			t.Errorf("shard %d got %d of 3000 ids", s, seen[s])
		}
	}
}

func TestUserKey(t *testing.T) {
	if got := userKey(42); got != "{user:42}" {
		t.Errorf("userKey(42) = %q", got)
	}
}

func TestClosedLoopCountsEveryCallOnce(t *testing.T) {
	const n, c = 1000, 8
	calls := make([]int, n) // each index is written by exactly one worker
	fail := errors.New("boom")
	r := closedLoop(context.Background(), "test", n, c, func(_ context.Context, i int) error {
		calls[i]++
		if i%10 == 0 {
			return fail
		}
		return nil
	})
	for i, k := range calls {
		if k != 1 {
			t.Fatalf("call %d ran %d times", i, k)
		}
	}
	if r.n != n || r.errors != n/10 {
		t.Errorf("n %d errors %d, want %d and %d", r.n, r.errors, n, n/10)
	}
	if r.p50 <= 0 || r.p99 < r.p50 || r.elapsed <= 0 {
		t.Errorf("timings not sane: %+v", r)
	}
}

func TestClosedLoopStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := closedLoop(ctx, "test", 1_000_000, 4, func(context.Context, int) error {
		cancel()
		return nil
	})
	if r.n > 4 { // each worker finishes at most the call it was in
		t.Errorf("%d calls after cancel", r.n)
	}
}

func TestHeaderCountAndWindowRatio(t *testing.T) {
	rep := &loadgen.Report{Headers: map[string]loadgen.Values{
		"X-Cache": {Top: []stats.Count{{Value: "HIT", Count: 30}, {Value: "MISS", Count: 10}}},
	}}
	if got := headerCount(rep, "X-Cache", "HIT"); got != 30 {
		t.Errorf("HIT = %d", got)
	}
	if got := headerCount(rep, "X-Cache", "BYPASS"); got != 0 {
		t.Errorf("BYPASS = %d", got)
	}
	if got := (window{requests: 40, hits: 30}).ratio(); got != 0.75 {
		t.Errorf("ratio = %v", got)
	}
	if got := (window{}).ratio(); got != 0 {
		t.Errorf("empty window ratio = %v", got)
	}
}
