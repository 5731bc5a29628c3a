//go:build containers

package integration

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The guide's CDN: the first request for a file misses and costs a trip to
// the origin; the second is a hit that never reaches it.
func TestEdgeMissThenHitOverOriginContainer(t *testing.T) {
	nw := newNetwork(t)
	origin := startService(t, nw, "origin", "origin", "/readyz", map[string]string{
		"ORIGIN_VIDEO_SIZE": "1MiB",
	})
	edge := startService(t, nw, "edge", "edge", "/readyz", map[string]string{
		"ORIGIN_URL": "http://origin:8080",
		"ORIGIN_RTT": "150ms",
	})

	resp, originBody := get(t, origin+"/logo.png")
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("origin /logo.png: %d, ETag %q, Last-Modified %q", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}

	start := time.Now()
	resp, body := get(t, edge+"/logo.png")
	missTook := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first request: %d X-Cache=%q, want 200 MISS", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	if body != originBody {
		t.Fatalf("edge body differs from the origin's (%d vs %d bytes)", len(body), len(originBody))
	}
	// The simulated distance is a sleep before every origin fetch: a lower
	// bound, not a measurement, so it cannot flake on a busy machine.
	if missTook < 150*time.Millisecond {
		t.Errorf("miss took %s, less than ORIGIN_RTT", missTook)
	}

	resp, body = get(t, edge+"/logo.png")
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "HIT" || body != originBody {
		t.Fatalf("second request: %d X-Cache=%q, want 200 HIT with the same body", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	if resp.Header.Get("Age") == "" {
		t.Errorf("hit has no Age header")
	}
}

// RFC 5861 stale-if-error, on the edge's own authority
// (EDGE_STALE_IF_ERROR): with the origin container stopped, a stored
// response past its lifetime is still served, marked STALE, while a URL
// never stored gets a 502 or 504.
func TestEdgeStaleIfErrorWithOriginStopped(t *testing.T) {
	nw := newNetwork(t)
	origin := startLab(t, nw, "origin", "origin", map[string]string{
		"ORIGIN_VIDEO_SIZE":    "64KiB",
		"ORIGIN_CACHE_CONTROL": "public, max-age=1",
	})
	edge := startLab(t, nw, "edge", "edge", map[string]string{
		"ORIGIN_URL":          "http://origin:8080",
		"ORIGIN_TIMEOUT":      "3s",
		"EDGE_STALE_IF_ERROR": "10m",
	})
	client := &http.Client{Timeout: 30 * time.Second}
	first := send(t, client, "GET", edge.url+"/logo.png")
	if first.status != 200 || first.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d X-Cache %q", first.status, first.header.Get("X-Cache"))
	}
	stop := 5 * time.Second
	if err := origin.ctr.Stop(context.Background(), &stop); err != nil {
		t.Fatalf("stop the origin: %v", err)
	}
	time.Sleep(2 * time.Second) // past max-age=1

	stale := send(t, client, "GET", edge.url+"/logo.png")
	if stale.status != 200 || stale.header.Get("X-Cache") != "STALE" || stale.body != first.body {
		t.Errorf("origin stopped: %d X-Cache %q, %d bytes; want 200 STALE with the stored body", stale.status, stale.header.Get("X-Cache"), len(stale.body))
	}
	if cs := stale.header.Get("Cache-Status"); !strings.Contains(cs, "detail=stale-if-error") {
		t.Errorf("Cache-Status = %q, want detail=stale-if-error", cs)
	}
	if age, _ := strconv.Atoi(stale.header.Get("Age")); age < 2 {
		t.Errorf("Age = %q, want at least 2", stale.header.Get("Age"))
	}
	if n := metric(t, edge, edgeStaleIfError); n < 1 {
		t.Errorf("%s = %v, want at least 1", edgeStaleIfError, n)
	}
	never := send(t, client, "GET", edge.url+"/index.html")
	if never.status != 502 && never.status != 504 {
		t.Errorf("uncached URL with the origin stopped: %d, want 502 or 504", never.status)
	}
}

// RFC 5861 stale-while-revalidate: a burst of requests for a stale entry is
// answered at once from the cache, and the origin sees exactly one
// revalidation (a 304), counted in both services' metrics.
func TestEdgeStaleWhileRevalidateRevalidatesOnce(t *testing.T) {
	nw := newNetwork(t)
	origin := startLab(t, nw, "origin", "origin", map[string]string{
		"ORIGIN_VIDEO_SIZE":    "64KiB",
		"ORIGIN_CACHE_CONTROL": "public, max-age=3, stale-while-revalidate=120",
	})
	edge := startLab(t, nw, "edge", "edge", map[string]string{
		"ORIGIN_URL": "http://origin:8080",
		"ORIGIN_RTT": "200ms", // the burst arrives while the revalidation is out
	})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	if a := send(t, client, "GET", edge.url+"/logo.png"); a.status != 200 || a.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d X-Cache %q", a.status, a.header.Get("X-Cache"))
	}
	time.Sleep(4 * time.Second) // stale, within stale-while-revalidate

	const burst = 50
	var wg sync.WaitGroup
	results := make(chan answer, burst)
	errs := make(chan error, burst)
	for range burst {
		wg.Go(func() {
			a, err := trySend(client, "GET", edge.url+"/logo.png")
			if err != nil {
				errs <- err
				return
			}
			results <- a
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("burst request: %v", err)
	}
	stale := 0
	for a := range results {
		switch {
		case a.status != 200:
			t.Errorf("burst answer %d", a.status)
		case a.header.Get("X-Cache") == "STALE":
			stale++
		case a.header.Get("X-Cache") != "HIT":
			t.Errorf("burst answer X-Cache %q, want STALE (or HIT once revalidated)", a.header.Get("X-Cache"))
		}
	}
	if stale == 0 {
		t.Error("no answer of the burst was served stale")
	}
	if !eventually(15*time.Second, func() bool { return metric(t, edge, edgeNotModified) >= 1 }) {
		t.Fatalf("no revalidation finished: %s = %v", edgeNotModified, metric(t, edge, edgeNotModified))
	}
	time.Sleep(time.Second) // room for a second one, which must not come
	if n := metric(t, edge, edgeNotModified); n != 1 {
		t.Errorf("edge %s = %v, want exactly 1", edgeNotModified, n)
	}
	if n := metric(t, origin, originFileNotMod); n != 1 {
		t.Errorf("origin answered %v 304s, want exactly 1 revalidation", n)
	}
	if n := metric(t, origin, originFileFetches); n != 1 {
		t.Errorf("origin served the file %v times, want 1 (the first miss)", n)
	}
}

// Request collapsing: 1000 clients asking at once for an object the edge
// does not have cost the origin one fetch, and every client gets it whole.
func TestEdgeThousandConcurrentMissesOneOriginFetch(t *testing.T) {
	nw := newNetwork(t)
	origin := startLab(t, nw, "origin", "origin", map[string]string{"ORIGIN_VIDEO_SIZE": "512KiB"})
	edge := startLab(t, nw, "edge", "edge", map[string]string{
		"ORIGIN_URL": "http://origin:8080",
		"ORIGIN_RTT": "500ms", // the requests arrive while the one fetch is out
	})
	want := send(t, &http.Client{Timeout: 30 * time.Second}, "GET", origin.url+"/logo.png").body
	before := metric(t, origin, originFileFetches) // the request just made

	const clients = 1000
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed, wrong atomic.Int64
	for range clients {
		wg.Go(func() {
			<-start
			a, err := trySend(client, "GET", edge.url+"/logo.png")
			switch {
			case err != nil:
				failed.Add(1)
			case a.status != 200 || a.body != want:
				wrong.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() > 0 || wrong.Load() > 0 {
		t.Errorf("%d requests failed, %d answered wrongly, of %d", failed.Load(), wrong.Load(), clients)
	}
	if n := metric(t, origin, originFileFetches) - before; n != 1 {
		t.Errorf("origin fetches for %d concurrent misses: %v, want 1", clients, n)
	}
	if n := metric(t, edge, edgeCollapsed); n == 0 {
		t.Error("no request was collapsed onto another's fetch")
	}
}

// RFC 9111 section 4.1 variants and the admin purge: with Vary on
// Accept-Language, the edge keeps one variant per language; one purge by
// surrogate key through the admin API (bearer token) removes them all.
func TestEdgePurgeBySurrogateKeyRemovesAllVariants(t *testing.T) {
	nw := newNetwork(t)
	startLab(t, nw, "origin", "origin", map[string]string{
		"ORIGIN_VIDEO_SIZE": "64KiB",
		"ORIGIN_CONFIG":     "/origin.conf",
	}, configFile("/origin.conf", "/logo.png public, max-age=3600 | brand | Accept-Language\n"))
	edge := startLab(t, nw, "edge", "edge", map[string]string{
		"ORIGIN_URL":       "http://origin:8080",
		"EDGE_ADMIN_TOKEN": "lab-token",
	})
	client := &http.Client{Timeout: 30 * time.Second}
	langs := []string{"en", "de", "fr"}
	for _, l := range langs {
		if a := send(t, client, "GET", edge.url+"/logo.png", "Accept-Language", l); a.header.Get("X-Cache") != "MISS" || a.header.Get("Vary") != "Accept-Language" {
			t.Fatalf("%s: X-Cache %q, Vary %q; want MISS with Vary", l, a.header.Get("X-Cache"), a.header.Get("Vary"))
		}
	}
	for _, l := range langs {
		if a := send(t, client, "GET", edge.url+"/logo.png", "Accept-Language", l); a.header.Get("X-Cache") != "HIT" {
			t.Fatalf("%s again: X-Cache %q, want HIT", l, a.header.Get("X-Cache"))
		}
	}
	if a := send(t, client, "POST", edge.admin+"/cache/purge?key=brand", "Authorization", "Bearer wrong"); a.status != 401 {
		t.Errorf("purge with a wrong token: %d, want 401", a.status)
	}
	if a := send(t, client, "GET", edge.url+"/logo.png", "Accept-Language", "en"); a.header.Get("X-Cache") != "HIT" {
		t.Errorf("after a refused purge: X-Cache %q, want HIT", a.header.Get("X-Cache"))
	}
	purge := send(t, client, "POST", edge.admin+"/cache/purge?key=brand", "Authorization", "Bearer lab-token")
	if purge.status != 200 || !strings.Contains(purge.body, `"key":1`) {
		t.Fatalf("purge: %d %s, want 200 with one URL purged by key", purge.status, purge.body)
	}
	for _, l := range langs {
		if a := send(t, client, "GET", edge.url+"/logo.png", "Accept-Language", l); a.header.Get("X-Cache") != "MISS" {
			t.Errorf("%s after the purge: X-Cache %q, want MISS (every variant purged)", l, a.header.Get("X-Cache"))
		}
	}
}

// The store's hard byte budget: a flood of unique URLs (each a distinct
// 64 KiB object, about 190 MiB in all) through an edge with an 8 MiB cache
// leaves it holding at most 8 MiB, evicting, with the process's resident
// memory far below what went through it.
func TestEdgeMemoryWithinBudgetUnderUniqueURLFlood(t *testing.T) {
	nw := newNetwork(t)
	startLab(t, nw, "origin", "origin", map[string]string{"ORIGIN_VIDEO_SIZE": "64KiB"})
	const budget = 8 << 20
	edge := startLab(t, nw, "edge", "edge", map[string]string{
		"ORIGIN_URL":            "http://origin:8080",
		"EDGE_CACHE_BYTES":      strconv.Itoa(budget),
		"EDGE_MAX_OBJECT_BYTES": "1MiB",
		"EDGE_FILL_BYTES":       "2MiB",
	})
	if c := metric(t, edge, edgeCapacity); c != budget {
		t.Fatalf("%s = %v, want %d", edgeCapacity, c, budget)
	}
	const urls, workers = 3000, 16
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	next := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var over atomic.Value // the first over-budget reading, as a string
	for range workers {
		wg.Go(func() {
			for i := range next {
				a, err := trySend(client, "GET", fmt.Sprintf("%s/video.mp4?u=%d", edge.url, i))
				if err != nil || a.status != 200 || len(a.body) != 64<<10 {
					failed.Add(1)
				}
			}
		})
	}
	for i := range urls {
		next <- i
		if i%500 == 0 {
			if b := metric(t, edge, edgeStoredBytes); b > budget {
				over.CompareAndSwap(nil, fmt.Sprintf("%.0f bytes after %d URLs", b, i))
			}
		}
	}
	close(next)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed", n, urls)
	}
	if v := over.Load(); v != nil {
		t.Errorf("store over its %d-byte budget during the flood: %s", budget, v)
	}
	if b := metric(t, edge, edgeStoredBytes); b > budget || b < budget/2 {
		t.Errorf("%s = %v after the flood, want between half and all of %d", edgeStoredBytes, b, budget)
	}
	if n := metric(t, edge, edgeEvictions); n < urls/2 {
		t.Errorf("%s = %v, want most of the %d URLs evicted", edgeEvictions, n, urls)
	}
	// Budget 8 MiB + fill 2 MiB live, twice that for the garbage collector,
	// plus the runtime: far below the ~190 MiB that went through.
	if rss := metric(t, edge, processResidentMem); rss > 96<<20 {
		t.Errorf("edge resident memory %.0f MiB after a flood of %d MiB, want under 96 MiB", rss/(1<<20), urls*64>>10)
	}
}

// Tiered caching: two edges fetch through a shield, so an object both of
// them miss costs the origin one request; the second edge's answer shows
// the shield's hit in Cache-Status and the shield's Age.
func TestEdgesThroughShieldOffloadOrigin(t *testing.T) {
	nw := newNetwork(t)
	origin := startLab(t, nw, "origin", "origin", map[string]string{"ORIGIN_VIDEO_SIZE": "64KiB"})
	startLab(t, nw, "edge", "edge-shield", map[string]string{"ORIGIN_URL": "http://origin:8080"})
	sydney := startLab(t, nw, "edge", "edge-sydney", map[string]string{"ORIGIN_URL": "http://edge-shield:8080"})
	newyork := startLab(t, nw, "edge", "edge-newyork", map[string]string{"ORIGIN_URL": "http://edge-shield:8080"})
	client := &http.Client{Timeout: 30 * time.Second}

	a := send(t, client, "GET", sydney.url+"/logo.png")
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Cache-Status"), "edge-shield; fwd=uri-miss") {
		t.Fatalf("sydney: %d, Cache-Status %q", a.status, a.header.Get("Cache-Status"))
	}
	time.Sleep(1100 * time.Millisecond) // so the shield's copy has an Age
	b := send(t, client, "GET", newyork.url+"/logo.png")
	cs := b.header.Get("Cache-Status")
	if b.status != 200 || b.body != a.body || !strings.HasPrefix(cs, "edge-shield; hit") || !strings.Contains(cs, "edge-newyork; fwd=uri-miss") {
		t.Errorf("newyork: %d, Cache-Status %q; want the shield's hit, then its own miss", b.status, cs)
	}
	if age, _ := strconv.Atoi(b.header.Get("Age")); age < 1 {
		t.Errorf("newyork's Age = %q, want the shield's age (at least 1)", b.header.Get("Age"))
	}
	if n := metric(t, origin, originFileFetches); n != 1 {
		t.Errorf("origin served the file %v times for two edges' misses, want 1", n)
	}
}
