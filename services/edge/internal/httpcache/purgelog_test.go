package httpcache

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// gatedGets is an origin whose GETs wait for release (so that fills are
// surely in flight while the test purges and writes), tagged with the
// surrogate key "tag-<path>"; every other method answers 204 at once.
func gatedGets(t *testing.T) (*origin, chan struct{}) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		<-release
		w.Header().Set("Surrogate-Key", "tag-"+strings.ReplaceAll(r.URL.Path, "/", "-"))
		fixed("max-age=60", "body of "+r.URL.Path)(w, r)
	})
	return o, release
}

// Writes and purges of other URLs while cold fetches are under way do not
// stop those fetches from being stored: a site that takes writes all the
// time must still fill its cache.
func TestUnrelatedPurgesAndWritesDoNotStopFills(t *testing.T) {
	inBubble(t, testUnrelatedPurgesAndWritesDoNotStopFills)
}

func testUnrelatedPurgesAndWritesDoNotStopFills(t *testing.T) {
	o, release := gatedGets(t)
	e := newEdge(t, o.URL)
	const fills = 8
	got := make([]response, fills)
	var wg sync.WaitGroup
	for i := range fills {
		wg.Go(func() { got[i] = e.get(t, fmt.Sprintf("/k/%d", i)) })
	}
	settled(t, "every fill to reach the origin", func() bool { return o.total.Load() == fills })

	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		if r := e.do(t, m, "/config/other"); r.status != http.StatusNoContent {
			t.Fatalf("%s /config/other: %d", m, r.status)
		}
	}
	e.cache.PurgeURL("/k/other")
	e.cache.PurgeKey("tag-elsewhere")
	e.cache.PurgePrefix("/img/")
	close(release)
	wg.Wait()

	for i, r := range got {
		path := fmt.Sprintf("/k/%d", i)
		expect(t, r, 200, "MISS", "", "body of "+path)
		hasStatus(t, r, "stored")
		expect(t, e.get(t, path), 200, "HIT", "", "body of "+path)
	}
}

// A purge or invalidation of a fill's own URL, tag or prefix that runs
// while the fill is fetching keeps the fill out of the store: its content
// may be what the purge removed.
func TestPurgeOfTheSameKeyDuringFillIsNotUndone(t *testing.T) {
	tests := []struct {
		name  string
		purge func(t *testing.T, e *edge)
	}{
		{"PurgeURL", func(t *testing.T, e *edge) { e.cache.PurgeURL("/k/1") }},
		{"PurgeKey", func(t *testing.T, e *edge) { e.cache.PurgeKey("tag--k-1") }},
		{"PurgePrefix", func(t *testing.T, e *edge) { e.cache.PurgePrefix("/k/") }},
		{"PURGE method", func(t *testing.T, e *edge) { e.do(t, "PURGE", "/k/1") }},
		{"RFC9111 4.4 a POST to the URL", func(t *testing.T, e *edge) { e.do(t, "POST", "/k/1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				o, release := gatedGets(t)
				e := newEdge(t, o.URL)
				got := make(chan response, 1)
				go func() { got <- e.get(t, "/k/1") }()
				settled(t, "the fill to reach the origin", func() bool { return o.requests("GET /k/1") == 1 })
				tt.purge(t, e)
				close(release)
				r := <-got
				expect(t, r, 200, "MISS", "", "body of /k/1")
				if strings.Contains(r.header.Get("Cache-Status"), "stored") {
					t.Errorf("Cache-Status %q says stored", r.header.Get("Cache-Status"))
				}
				expect(t, e.get(t, "/k/1"), 200, "MISS", "", "body of /k/1")
				expect(t, e.get(t, "/k/1"), 200, "HIT", "", "body of /k/1")
			})
		})
	}
}

func TestPurgeLog(t *testing.T) {
	var l purgeLog
	before := l.mark()
	l.add(purgeScope{url: "/a"}, purgeScope{tag: "t"}, purgeScope{prefix: "/img/"})
	after := l.mark()
	for _, tt := range []struct {
		key  string
		tags []string
		want bool
	}{
		{"/a", nil, true},
		{"/a?x=1", nil, false},
		{"/b", []string{"t"}, true},
		{"/b", []string{"u"}, false},
		{"/img/1.png", nil, true},
		{"/imgs", nil, false},
	} {
		if got := l.purgedSince(before, tt.key, tt.tags); got != tt.want {
			t.Errorf("purgedSince(before, %q, %q) = %v, want %v", tt.key, tt.tags, got, tt.want)
		}
		if l.purgedSince(after, tt.key, tt.tags) {
			t.Errorf("purgedSince(after, %q) = true: the purges ran before the fill", tt.key)
		}
	}
	// Past its bound, the log forgets the oldest purges; a fill that began
	// before them cannot know what it missed and is told it was purged.
	for range maxPurgeRecords {
		l.add(purgeScope{url: "/other"})
	}
	if !l.purgedSince(after, "/unrelated", nil) {
		t.Error("a fill older than every purge remembered may store")
	}
	if l.purgedSince(l.mark(), "/unrelated", nil) {
		t.Error("a fill newer than every purge may not store")
	}
}
