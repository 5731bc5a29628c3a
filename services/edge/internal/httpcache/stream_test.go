package httpcache

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// gatedOrigin sends the first half of a body of size bytes, then waits for
// release (closed: send the rest; fail: break the connection).
type gatedOrigin struct {
	*origin
	body    string
	release chan struct{}
	fail    chan struct{}
	halfway chan struct{} // closed when the first half is out
	once    sync.Once
	fetches atomic.Int32
}

func newGatedOrigin(t *testing.T, size int) *gatedOrigin {
	g := &gatedOrigin{body: strings.Repeat("0123456789", size/10), release: make(chan struct{}), fail: make(chan struct{}), halfway: make(chan struct{})}
	g.origin = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"big"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(g.body)))
		w.Header().Set("X-Fetch", strconv.Itoa(int(g.fetches.Add(1))))
		half := len(g.body) / 2
		io.WriteString(w, g.body[:half])
		w.(http.Flusher).Flush()
		g.once.Do(func() { close(g.halfway) })
		select {
		case <-g.release:
			io.WriteString(w, g.body[half:])
		case <-g.fail:
			panic(http.ErrAbortHandler)
		case <-r.Context().Done():
		}
	})
	return g
}

// streamingEdge is an edge that streams fills of 1000 bytes or more.
func streamingEdge(t *testing.T, originURL string) *edge {
	return newEdge(t, originURL, func(c *Config, _ *int64) { c.StreamMinBytes = 1000 })
}

// open sends a GET and returns the response with its body unread.
func open(t *testing.T, url string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := clientFor(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The first client gets the headers and the first half of a large object
// while the origin has not sent the rest; a client arriving meanwhile reads
// the same fill; then the object is stored whole.
func TestLargeObjectStreamsWhileStored(t *testing.T) {
	o := newGatedOrigin(t, 20000)
	e := streamingEdge(t, o.URL)

	first := open(t, e.URL+"/video")
	if first.StatusCode != 200 || first.Header.Get("X-Cache") != "MISS" || first.ContentLength != 20000 {
		t.Fatalf("first: %d, X-Cache %q, Content-Length %d", first.StatusCode, first.Header.Get("X-Cache"), first.ContentLength)
	}
	if cs := first.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=streamed") {
		t.Errorf("Cache-Status = %q, want detail=streamed", cs)
	}
	half := make([]byte, 10000)
	if _, err := io.ReadFull(first.Body, half); err != nil || string(half) != o.body[:10000] {
		t.Fatalf("first half: %v", err)
	}
	// The origin still holds the second half: this client got bytes before
	// the fill was complete.
	second := open(t, e.URL+"/video")
	if cs := second.Header.Get("Cache-Status"); !strings.Contains(cs, "collapsed") {
		t.Errorf("second client's Cache-Status = %q, want collapsed", cs)
	}
	ranged := make(chan response, 1)
	go func() { ranged <- e.get(t, "/video", "Range", "bytes=19990-19999") }()

	close(o.release)
	for i, resp := range []*http.Response{first, second} {
		rest, err := io.ReadAll(resp.Body)
		got := string(rest)
		if i == 0 {
			got = string(half) + got
		}
		if err != nil || got != o.body {
			t.Errorf("client %d: %d bytes, %v; want the whole body", i+1, len(got), err)
		}
	}
	r := <-ranged
	if r.status != http.StatusPartialContent || r.body != o.body[19990:] {
		t.Errorf("range during the fill: %d %q", r.status, r.body)
	}
	e.cache.Wait()
	expect(t, e.get(t, "/video"), 200, "HIT", "", o.body)
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}
	// The budget is back in full.
	if !e.cache.fills.TryAcquire(e.cache.FillBytes()) {
		t.Error("the fill budget was not released")
	}
}

// If the origin breaks mid-body, the streaming client's answer is cut
// (never a short body that looks whole), nothing is stored, and the next
// request fetches again.
func TestStreamedFillFailingMidBody(t *testing.T) {
	o := newGatedOrigin(t, 20000)
	e := streamingEdge(t, o.URL)
	resp := open(t, e.URL+"/video")
	<-o.halfway
	close(o.fail)
	body, err := io.ReadAll(resp.Body)
	if err == nil || len(body) == 20000 {
		t.Errorf("client read %d bytes with error %v; want a cut connection", len(body), err)
	}
	e.cache.Wait()
	if e.store.Len() != 0 {
		t.Errorf("store holds %d objects after a failed fill", e.store.Len())
	}
	if !e.cache.fills.TryAcquire(e.cache.FillBytes()) {
		t.Error("the fill budget was not released")
	}
	e.cache.fills.Release(e.cache.FillBytes())
	// Nothing was kept: the next request asks the origin again.
	io.ReadAll(open(t, e.URL+"/video").Body)
	if n := o.total.Load(); n != 2 {
		t.Errorf("origin got %d requests, want 2", n)
	}
}

// A purge while a fill streams: the fill is not stored, and a request after
// the purge does not join it.
func TestPurgeDuringStreamedFill(t *testing.T) { inBubble(t, testPurgeDuringStreamedFill) }

func testPurgeDuringStreamedFill(t *testing.T) {
	o := newGatedOrigin(t, 20000)
	e := streamingEdge(t, o.URL)
	first := open(t, e.URL+"/video")
	<-o.halfway
	if n := e.cache.PurgeURL("/video"); n != 0 {
		t.Errorf("purged %d stored objects, want 0 (still arriving)", n)
	}
	after := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.URL+"/video", nil)
		resp, err := e.client.Do(req)
		if err != nil {
			after <- nil
			return
		}
		after <- resp
	}()
	// The request after the purge is a new origin fetch, not a reader of
	// the old one.
	synctest.Wait()
	if n := o.total.Load(); n != 2 {
		t.Errorf("origin got %d requests, want 2 (the request after the purge fetches anew)", n)
	}
	close(o.release)
	io.Copy(io.Discard, first.Body)
	if r := <-after; r != nil {
		io.Copy(io.Discard, bufio.NewReader(r.Body))
		r.Body.Close()
	}
	e.cache.Wait()
	// What is stored is the fill that began after the purge.
	got := e.get(t, "/video")
	expect(t, got, 200, "HIT", "", o.body)
	if f := got.header.Get("X-Fetch"); f != "2" {
		t.Errorf("stored entry is from fetch %q, want 2 (the one after the purge)", f)
	}
}

// Small objects are not streamed: the answer says stored, as before.
func TestSmallObjectIsNotStreamed(t *testing.T) {
	o := newOrigin(t, fixed("max-age=60", strings.Repeat("s", 999)))
	e := streamingEdge(t, o.URL)
	r := e.get(t, "/small")
	if cs := r.header.Get("Cache-Status"); strings.Contains(cs, "streamed") || !strings.Contains(cs, "stored") {
		t.Errorf("Cache-Status = %q, want stored, not streamed", cs)
	}
}
