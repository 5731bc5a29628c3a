package httpcache

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// RFC 9110 section 14.2: a Range request for an
// object not yet cached fetches the whole object (no Range to the origin),
// stores it, and answers the range from it; the next requests, ranged or
// not, are hits.
func TestRangeMissFetchesWholeObject(t *testing.T) {
	var sawRange []string
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		sawRange = append(sawRange, r.Header.Get("Range"))
		fixed("max-age=60", "0123456789")(w, r)
	})
	e := newEdge(t, o.URL)
	r := e.get(t, "/r", "Range", "bytes=2-5")
	expect(t, r, http.StatusPartialContent, "MISS", "", "2345")
	if got := r.header.Get("Content-Range"); got != "bytes 2-5/10" {
		t.Errorf("Content-Range = %q", got)
	}
	if len(sawRange) != 1 || sawRange[0] != "" {
		t.Errorf("origin saw Range headers %q, want one request without Range", sawRange)
	}
	if e.store.Len() != 1 {
		t.Fatalf("store holds %d objects, want the whole object stored", e.store.Len())
	}
	multi := e.get(t, "/r", "Range", "bytes=0-0,8-9")
	expect(t, multi, http.StatusPartialContent, "HIT", "", "")
	if ct := multi.header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/byteranges") || !strings.Contains(multi.body, "89") {
		t.Errorf("multipart answer: Content-Type %q, body %q", ct, multi.body)
	}
	expect(t, e.get(t, "/r"), http.StatusOK, "HIT", "", "0123456789")
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
}

// A plain hit (no Range, no conditionals) is written in one piece: exact
// Content-Length, Accept-Ranges, the origin's Last-Modified, and no
// Content-Type the origin did not send.
func TestPlainHitHeaders(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header()["Content-Type"] = nil
		w.Write([]byte("<html>no type</html>"))
	})
	e := newEdge(t, o.URL)
	e.get(t, "/p")
	r := e.get(t, "/p")
	expect(t, r, 200, "HIT", "", "<html>no type</html>")
	for name, want := range map[string]string{
		"Content-Length": "20", "Accept-Ranges": "bytes", "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT", "Content-Type": "",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// A Range request for an object above EDGE_MAX_OBJECT_BYTES is not answered
// with the whole object: the shared fetch (without Range) finds it too large
// to store, and the edge asks the origin for the client's range.
func TestRangeOfOversizedObjectIsForwarded(t *testing.T) {
	big := strings.Repeat("0123456789", 500)
	var ranges []string
	var mu sync.Mutex
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(big))
	})
	e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.MaxObjectBytes = 1000 })
	r := e.get(t, "/video", "Range", "bytes=10-19")
	if r.status != http.StatusPartialContent || r.body != big[10:20] {
		t.Errorf("range of an oversized object: %d, %d bytes; want 206 with the 10 bytes asked", r.status, len(r.body))
	}
	mu.Lock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=10-19" {
		t.Errorf("origin saw Range %q, want the shared fetch without and the client's range with", ranges)
	}
	mu.Unlock()
	if e.store.Len() != 0 {
		t.Error("the oversized object was stored")
	}
	// Without Range, the whole object streams through as before.
	if r := e.get(t, "/video"); r.status != 200 || r.body != big {
		t.Errorf("plain GET of an oversized object: %d, %d bytes", r.status, len(r.body))
	}
}
