package experiments

import (
	"testing"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
	"scalelab/loadtest/internal/stats"
)

func TestLookupAndNames(t *testing.T) {
	seen := map[string]bool{}
	for _, x := range All {
		if seen[x.Name] || x.Title == "" || x.Claim == "" || x.Run == nil {
			t.Errorf("experiment %q: duplicate or incomplete", x.Name)
		}
		seen[x.Name] = true
	}
	if x, err := Lookup("cdn"); err != nil || x != cdn {
		t.Errorf("Lookup(cdn) = %v, %v", x, err)
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup(nope) gave no error")
	}
}

func TestReshardTimesFromShardctl(t *testing.T) {
	out := "verified 7562 moved rows against their copies\n" +
		"resharded: v1 modulo over 3 shards → v2 modulo over 4 shards in 406ms; 7562 moved rows verified with traffic flowing; writes paused 34ms at the cut-over, which checked again the 1 rows written since\n"
	took, pause := reshardTimes(out)
	if took != 406*time.Millisecond || pause != 34*time.Millisecond {
		t.Errorf("reshardTimes = %v, %v; want 406ms, 34ms", took, pause)
	}
}

func TestReplicaGone(t *testing.T) {
	rep := &loadgen.Report{}
	for s := range 12 {
		h := map[string]int{"api-a": 10, "api-b": 10}
		if s < 4 {
			h["api-c"] = 10 // killed at second 4
		}
		rep.Series = append(rep.Series, loadgen.Second{T: s, Headers: map[string]map[string]int{"X-Served-By": h}})
	}
	if got := replicaGone(rep, 4); got != "api-c" {
		t.Errorf("replicaGone = %q, want api-c", got)
	}
}

func TestPerShardAndSpread(t *testing.T) {
	rep := &loadgen.Report{Headers: map[string]loadgen.Values{"X-Shard": {Top: []stats.Count{{Value: "0", Count: 50}, {Value: "2", Count: 25}, {Value: "1", Count: 25}}}}}
	v := perShard(rep, []string{"0", "1", "2"})
	if v[0] != 50 || v[1] != 25 || v[2] != 25 || spread(v) != 2 {
		t.Errorf("perShard = %v spread %v, want [50 25 25] and 2", v, spread(v))
	}
	if spread([]float64{3, 0}) != 0 {
		t.Error("a shard with nothing must not give an infinite spread")
	}
	if median([]float64{5, 1, 3}) != 3 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
}

func TestCacheVerdict(t *testing.T) {
	r, err := report.New(t.TempDir(), "cache", "t", "c")
	if err != nil {
		t.Fatal(err)
	}
	r.Number("miss_hit_p50_ratio", "", 1.2, "")
	r.Number("zipf_hit_ratio_pct", "", 80, "")
	r.Number("uniform_hit_ratio_pct", "", 20, "")
	r.Number("stampede_db_reads", "", 1, "")
	r.Number("redis_killed_errors", "", 0, "")
	cacheVerdict(r)
	if r.Verdict != report.Partly || r.VerdictText == "" {
		t.Errorf("verdict %q %q: a hit only 1.2× faster must make it partly held", r.Verdict, r.VerdictText)
	}
}

func TestSustainedRate(t *testing.T) {
	knee := []scalePoint{
		{rate: 1200, achieved: 1200, p99: 3},
		{rate: 3600, achieved: 3590, p99: 8},
		{rate: 6000, achieved: 5000, p99: 300}, // answered 83%: queueing
		{rate: 8400, achieved: 5100, p99: 900},
	}
	if got := sustained(knee); got != 3600 {
		t.Errorf("sustained = %v, want 3600", got)
	}
	slow := []scalePoint{{rate: 1200, achieved: 1200, p99: 150}} // all answered, but p99 past 100 ms
	if got := sustained(slow); got != 0 {
		t.Errorf("sustained = %v, want 0", got)
	}
}
