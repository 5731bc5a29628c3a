package httpcache

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Once the origin has gone unanswered, a stale-if-error entry answers at
// once: the next request does not wait on an origin attempt of its own.
// The proof is ordering, not timing: the background revalidation is held
// in the simulated distance (Sleep) until the test lets it go, and the
// stale answer arrives while it is held. When the origin answers again,
// the entry is refreshed and the edge asks the origin as before.
func TestStaleAtOnceWhileOriginUnreachable(t *testing.T) {
	var down atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			panic(http.ErrAbortHandler) // the connection closes unanswered
		}
		fixed("max-age=10, stale-if-error=600", "good")(w, r)
	})
	var hold atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	e := newEdge(t, o.URL, func(c *Config, _ *int64) {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			if hold.CompareAndSwap(true, false) {
				close(held)
				<-release
			}
			return nil
		}
	})
	expect(t, e.get(t, "/logo"), 200, "MISS", "", "good")
	down.Store(true)
	e.clock.Advance(20 * time.Second)

	// The first request after the failure began finds it out itself.
	r := e.get(t, "/logo")
	expect(t, r, 200, "STALE", "20", "good")
	hasStatus(t, r, "fwd=stale", "detail=stale-if-error")
	asked := o.total.Load()

	// The next one is answered from the cache while the background
	// revalidation is still on its way to the origin.
	hold.Store(true)
	t.Cleanup(sync.OnceFunc(func() { close(release) }))
	got := make(chan response, 1)
	go func() {
		resp, err := http.Get(e.URL + "/logo")
		if err != nil {
			got <- response{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		got <- response{resp.StatusCode, resp.Header, string(body)}
	}()
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		// Not a timing threshold: without the change the answer never
		// comes while the origin attempt is held.
		t.Fatal("no answer while the origin attempt was held: the request waited on the origin")
	}
	expect(t, r, 200, "STALE", "20", "good")
	if cs := r.header.Get("Cache-Status"); !strings.Contains(cs, "; hit") || strings.Contains(cs, "fwd=") {
		t.Errorf("Cache-Status = %q, want a hit that was not forwarded", cs)
	}
	<-held // the revalidation started, and is held
	if n := o.total.Load(); n != asked {
		t.Errorf("the origin was asked %d times more before the stale answer, want 0", n-asked)
	}
	down.Store(false)
	release <- struct{}{} // unbuffered: the held revalidation has it
	e.cache.Wait()

	// The revalidation reached the origin: fresh again, and the next
	// stale entry is revalidated in the foreground as usual.
	expect(t, e.get(t, "/logo"), 200, "HIT", "0", "good")
	e.clock.Advance(20 * time.Second)
	r = e.get(t, "/logo")
	if x := r.header.Get("X-Cache"); x == "STALE" {
		t.Errorf("X-Cache = %s after the origin answered again, want it asked", x)
	}
	if n := counterValue(t, e.metrics.stale.WithLabelValues(staleIfError)); n != 2 {
		t.Errorf("stale if_error answers = %v, want 2", n)
	}
}
