package httpcache

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// named is a configure option naming an edge (X-Served-By, Cache-Status,
// Via).
func named(name string, cacheBytes int64) func(*Config, *int64) {
	return func(c *Config, b *int64) {
		c.ServedBy = name
		if cacheBytes > 0 {
			*b = cacheBytes
		}
	}
}

// RFC 9111 section 4.2.3 and RFC 9211 through a shield: an edge whose
// origin is another edge counts the shield's Age in its own, so an object
// is never fresh longer than the origin allowed, and its answer lists both
// caches' Cache-Status members, the shield's first.
func TestTieredAgeAndCacheStatus(t *testing.T) {
	o := newOrigin(t, fixed("max-age=60", "tiered"))
	shield := newEdge(t, o.URL, named("edge-shield", 0))
	sydney := newEdge(t, shield.URL, named("edge-sydney", 0))
	newyork := newEdge(t, shield.URL, named("edge-newyork", 0))

	first := sydney.get(t, "/t")
	cs := first.header.Get("Cache-Status")
	if !strings.HasPrefix(cs, "edge-shield; fwd=uri-miss") || !strings.Contains(cs, ", edge-sydney; fwd=uri-miss; fwd-status=200; ttl=60; stored") {
		t.Errorf("first Cache-Status = %q, want the shield's miss then the edge's", cs)
	}
	// 30 s later at the shield, the other edge's miss is the shield's hit:
	// the object is 30 s old, with 30 s left, at the edge too.
	shield.clock.Advance(30 * time.Second)
	second := newyork.get(t, "/t")
	if second.header.Get("Age") != "30" || second.header.Get("X-Cache") != "MISS" {
		t.Errorf("through the shield: X-Cache %q, Age %q; want MISS, 30", second.header.Get("X-Cache"), second.header.Get("Age"))
	}
	if cs := second.header.Get("Cache-Status"); !strings.HasPrefix(cs, "edge-shield; hit; ttl=30, edge-newyork; fwd=uri-miss; fwd-status=200; ttl=30; stored") {
		t.Errorf("second Cache-Status = %q", cs)
	}
	newyork.clock.Advance(31 * time.Second)
	if r := newyork.get(t, "/t"); r.header.Get("X-Cache") == "HIT" {
		t.Error("the edge served the object as fresh 1 s past the lifetime the origin gave it")
	}
	if r := newyork.get(t, "/t"); r.header.Get("X-Served-By") != "edge-newyork" {
		t.Errorf("X-Served-By = %q, want the edge's own", r.header.Get("X-Served-By"))
	}
	// A hit at the edge says nothing about the shield.
	if cs := sydney.get(t, "/t").header.Get("Cache-Status"); cs != "edge-sydney; hit; ttl=60" {
		t.Errorf("edge hit Cache-Status = %q", cs)
	}
	if n := o.requests("GET /t"); n > 2 {
		t.Errorf("origin got %d requests", n)
	}
}

// An edge whose origin leads back to itself answers 508 instead of looping.
func TestLoopDetected(t *testing.T) {
	e := newEdge(t, "http://127.0.0.1:1", named("edge-a", 0))
	r := e.get(t, "/x", "Via", "1.1 edge-b, 1.1 edge-a")
	if r.status != http.StatusLoopDetected {
		t.Errorf("status = %d, want 508", r.status)
	}
}

// TestReportShieldOffload prints, for the README, what a shield saves the
// origin: three edges, each with room for 10% of the catalogue's bytes,
// get the same kind of Zipf(1.0) traffic, straight to the origin and then
// through a shield with room for half of it. Requests run one at a time
// from a fixed seed, so the edges miss the same way in both runs and the
// shield can only take requests off the origin; that is what is checked.
// Run: go test -v -run TestReportShieldOffload ./services/edge/internal/httpcache
func TestReportShieldOffload(t *testing.T) {
	const objects, requests, edges = 2000, 4000, 3
	sizes := make([]int, objects)
	rng := rand.New(rand.NewPCG(3, 5))
	total := 0
	for i := range sizes {
		sizes[i] = 1<<10 + rng.IntN(15<<10)
		total += sizes[i]
	}
	body := strings.Repeat("z", slices.Max(sizes))
	handler := func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/o/"))
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("ETag", `"`+strconv.Itoa(i)+`"`)
		w.Write([]byte(body[:sizes[i%objects]]))
	}
	cdf := make([]float64, objects)
	sum := 0.0
	for i := range cdf {
		sum += 1 / float64(i+1)
		cdf[i] = sum
	}
	// Each edge's traffic: its own draw from the same popularity.
	traffic := make([][]int, edges)
	for e := range traffic {
		traffic[e] = make([]int, requests)
		for i := range traffic[e] {
			k, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
			traffic[e][i] = min(k, objects-1)
		}
	}
	run := func(withShield bool) (originRequests int64, originBytes float64, shieldHits float64) {
		o := newOrigin(t, handler)
		parent := o.URL
		var shield *edge
		if withShield {
			shield = newEdge(t, o.URL, named("edge-shield", int64(total/2)))
			parent = shield.URL
		}
		var es []*edge
		for e := range edges {
			es = append(es, newEdge(t, parent, named(fmt.Sprint("edge-", e), int64(total/10))))
		}
		for i := range requests {
			for e := range edges {
				r := es[e].get(t, "/o/"+strconv.Itoa(traffic[e][i]))
				if r.status != 200 {
					t.Fatalf("status %d", r.status)
				}
			}
		}
		for _, e := range es {
			originBytes += counterValue(t, e.metrics.originBytes)
		}
		if shield != nil {
			originBytes = counterValue(t, shield.metrics.originBytes)
			shieldHits = counterValue(t, shield.metrics.requests.WithLabelValues(resultHit))
		}
		return o.total.Load(), originBytes, shieldHits
	}
	direct, directBytes, _ := run(false)
	tiered, tieredBytes, shieldHits := run(true)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "topology\torigin requests\torigin MiB\tof client requests\t\n")
	fmt.Fprintf(tw, "3 edges → origin\t%d\t%.1f\t%.1f%%\t\n", direct, directBytes/(1<<20), 100*float64(direct)/(edges*requests))
	fmt.Fprintf(tw, "3 edges → shield → origin\t%d\t%.1f\t%.1f%%\t\n", tiered, tieredBytes/(1<<20), 100*float64(tiered)/(edges*requests))
	tw.Flush()
	t.Logf("%d objects (%.1f MiB), Zipf(1.0), %d requests per edge; edges hold 10%%, the shield 50%% of the bytes; shield hits %.0f; the shield takes %.0f%% of the origin's requests off it:\n%s",
		objects, float64(total)/(1<<20), requests, shieldHits, 100*(1-float64(tiered)/float64(direct)), b.String())
	if tiered > direct || shieldHits == 0 {
		t.Errorf("through the shield the origin got %d requests, without it %d (shield hits %.0f)", tiered, direct, shieldHits)
	}
}
