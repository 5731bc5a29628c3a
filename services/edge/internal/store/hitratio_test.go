package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
)

// workload is a deterministic request trace over a catalogue of objects
// with sizes, as the edge sees one: popularity follows Zipf, sizes are
// independent of popularity.
type workload struct {
	name    string
	keys    []string
	sizes   []int64
	trace   []int32 // object index per request; -1 means a unique URL asked once
	oneHits []int64 // sizes of the unique URLs, in order of appearance
}

// zipfCDF is the cumulative distribution over ranks 1..n with weight
// 1/rank^s (rand.Zipf needs s > 1; the classic web workload is s ≈ 1).
func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-1] = 1
	return cdf
}

// newWorkload draws objects sized uniformly in [1 KiB, 100 KiB] and a
// trace of requests from a Zipf(s) popularity, a fraction unique of them
// for URLs asked once (a crawler, cache-busting query strings), all from
// a fixed seed.
func newWorkload(name string, objects, requests int, s, unique float64, seed uint64) *workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &workload{name: name, keys: make([]string, objects), sizes: make([]int64, objects), trace: make([]int32, requests)}
	for i := range objects {
		w.keys[i] = "/obj/" + strconv.Itoa(i)
		w.sizes[i] = 1<<10 + rng.Int64N(99<<10+1)
	}
	// Popularity rank is a random permutation of the objects, so that
	// size and popularity are independent.
	rank := rng.Perm(objects)
	cdf := zipfCDF(objects, s)
	for i := range w.trace {
		if unique > 0 && rng.Float64() < unique {
			w.trace[i] = -1
			w.oneHits = append(w.oneHits, 1<<10+rng.Int64N(99<<10+1))
			continue
		}
		r, _ := slices.BinarySearch(cdf, rng.Float64())
		w.trace[i] = int32(rank[min(r, objects-1)])
	}
	return w
}

// totalBytes is the catalogue's size (the unique URLs not included).
func (w *workload) totalBytes() int64 {
	var n int64
	for _, s := range w.sizes {
		n += s
	}
	return n
}

type replay struct {
	hits, requests       int
	hitBytes, totalBytes int64
	maxHeld              int64 // the most bytes the store held after any step
}

func (r replay) ratio() float64     { return float64(r.hits) / float64(r.requests) }
func (r replay) byteRatio() float64 { return float64(r.hitBytes) / float64(r.totalBytes) }

// run replays the trace through a store of budget bytes with policy p,
// as the edge uses it: Get, and Set on a miss. The first warm requests fill
// the cache and are not counted.
func (w *workload) run(p Policy, budget int64, warm int) replay {
	s := NewPolicy[int32](p, budget, nil)
	var r replay
	unique := 0
	for i, o := range w.trace {
		key, size := "", int64(0)
		if o < 0 {
			key, size = "/unique/"+strconv.Itoa(unique), w.oneHits[unique]
			unique++
		} else {
			key, size = w.keys[o], w.sizes[o]
		}
		_, hit := s.Get(key)
		if !hit {
			s.Set(key, o, size)
		}
		if b := s.bytes; b > r.maxHeld {
			r.maxHeld = b
		}
		if i < warm {
			continue
		}
		r.requests++
		r.totalBytes += size
		if hit {
			r.hits++
			r.hitBytes += size
		}
	}
	return r
}

// TestReportHitRatio prints, for the README, the hit ratio of each policy
// under Zipf(1.0) popularity over 100,000 objects of 1 to 100 KiB, with a
// budget of 10% of their bytes, then the same with 30% of requests for
// URLs asked only once. The traces come from fixed seeds, so the run is
// deterministic: it checks that the default policy is not worse than LRU on
// them, and that no policy ever held more than the budget.
// Run: go test -v -run TestReportHitRatio ./services/edge/internal/store
func TestReportHitRatio(t *testing.T) {
	const objects, requests, warm = 100_000, 1_000_000, 200_000
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tpolicy\thit ratio\tbyte hit ratio\tvs lru (hits)\t\n")
	for _, w := range []*workload{
		newWorkload("zipf 1.0", objects, requests, 1.0, 0, 1),
		newWorkload("zipf 1.0 + 30% one-hit", objects, requests, 1.0, 0.3, 2),
	} {
		budget := w.totalBytes() / 10
		results := map[Policy]replay{}
		for _, p := range Policies {
			r := w.run(p, budget, warm)
			results[p] = r
			if r.maxHeld > budget {
				t.Errorf("%s, %s: held %d bytes, over the budget of %d", w.name, p, r.maxHeld, budget)
			}
		}
		base := results[LRU]
		for _, p := range Policies {
			r := results[p]
			fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%.2f%%\t%+.1f%%\t\n", w.name, p, 100*r.ratio(), 100*r.byteRatio(),
				100*(r.ratio()/base.ratio()-1))
		}
		if d := results[DefaultPolicy]; d.ratio() < base.ratio() {
			t.Errorf("%s: the default policy %s hits %.4f, worse than LRU's %.4f", w.name, DefaultPolicy, d.ratio(), base.ratio())
		}
	}
	tw.Flush()
	t.Logf("%d objects of 1-100 KiB, budget 10%% of their bytes, %d requests after %d to warm up:\n%s",
		objects, requests-warm, warm, b.String())
}
