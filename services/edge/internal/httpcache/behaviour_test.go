package httpcache

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// within fails the test if done is not closed in time: a liveness bound
// (something hangs), never a measure of speed.
func within(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not finish", what)
	}
}

func hasStatus(t *testing.T, r response, parts ...string) {
	t.Helper()
	cs := r.header.Get("Cache-Status")
	for _, p := range parts {
		if !strings.Contains(cs, p) {
			t.Errorf("Cache-Status = %q, want it to contain %q", cs, p)
		}
	}
}

// versioned is an origin for revalidation tests: it answers conditional
// requests (http.ServeContent) and counts them, and its content changes when
// told to.
type versioned struct {
	mu           sync.Mutex
	body, etag   string
	lastModified time.Time
	cacheControl []string // one per fetch; the last repeats
	fetches      int
	conditional  []http.Header
	status       int // when set, answer this instead (an origin failing)
	abort        bool
}

func (v *versioned) handler(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.fetches++
	n := v.fetches
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		v.conditional = append(v.conditional, r.Header.Clone())
	}
	body, etag, lm, status, abort := v.body, v.etag, v.lastModified, v.status, v.abort
	cc := v.cacheControl[min(n, len(v.cacheControl))-1]
	v.mu.Unlock()
	if abort {
		panic(http.ErrAbortHandler) // the connection breaks: the origin is down
	}
	if status != 0 {
		http.Error(w, "origin failing", status)
		return
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("X-Fetch", fmt.Sprint(n))
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	http.ServeContent(w, r, "", lm, strings.NewReader(body))
}

func (v *versioned) set(f func(v *versioned)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

func (v *versioned) conditionals() []http.Header {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]http.Header(nil), v.conditional...)
}

func TestRevalidation(t *testing.T) {
	lm := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		etag       string
		lm         time.Time
		change     bool
		wantXCache string
		wantBody   string
		wantCond   string // the conditional header the origin saw
	}{
		{"RFC9111 4.3.1 stale entry revalidated with If-None-Match, 304 refreshes it", `"v1"`, time.Time{}, false, "REVALIDATED", "one", "If-None-Match"},
		{"RFC9111 4.3.1 stale entry revalidated with If-Modified-Since, 304 refreshes it", "", lm, false, "REVALIDATED", "one", "If-Modified-Since"},
		{"RFC9111 4.3.3 a 200 to the revalidation replaces the entry", `"v1"`, time.Time{}, true, "MISS", "two", "If-None-Match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &versioned{body: "one", etag: tt.etag, lastModified: tt.lm, cacheControl: []string{"max-age=10", "max-age=100"}}
			o := newOrigin(t, v.handler)
			e := newEdge(t, o.URL)
			expect(t, e.get(t, "/doc"), 200, "MISS", "0", "one")
			e.clock.Advance(11 * time.Second)
			if tt.change {
				v.set(func(v *versioned) { v.body, v.etag = "two", `"v2"` })
			}
			r := e.get(t, "/doc")
			// A client that did not ask conditionally never gets a 304.
			expect(t, r, 200, tt.wantXCache, "0", tt.wantBody)
			if got := r.header.Get("X-Fetch"); got != "2" {
				t.Errorf("X-Fetch = %q, want the second fetch's headers", got)
			}
			hasStatus(t, r, "fwd=stale", "stored")
			conds := v.conditionals()
			if len(conds) != 1 || conds[0].Get(tt.wantCond) == "" {
				t.Fatalf("origin saw conditional requests %v, want one with %s", conds, tt.wantCond)
			}
			if tt.wantXCache == "REVALIDATED" {
				hasStatus(t, r, "fwd-status=304")
				// RFC9111 4.3.4: the 304's max-age=100 is the entry's new
				// lifetime, counted from the revalidation.
				e.clock.Advance(50 * time.Second)
				expect(t, e.get(t, "/doc"), 200, "HIT", "50", "one")
				if n := counterValue(t, e.metrics.revalidations.WithLabelValues("not_modified")); n != 1 {
					t.Errorf("not_modified revalidations = %v, want 1", n)
				}
			}
			if o.total.Load() != 2 {
				t.Errorf("origin got %d requests, want 2", o.total.Load())
			}
		})
	}
}

// RFC9111 4.3.2: the edge answers a client's own conditional request from
// a stored entry, 304 only to a client that asked.
func TestClientConditionalsAnsweredFromCache(t *testing.T) {
	v := &versioned{body: "one", etag: `"v1"`, cacheControl: []string{"max-age=10"}}
	o := newOrigin(t, v.handler)
	e := newEdge(t, o.URL)
	expect(t, e.get(t, "/doc", "If-None-Match", `"v1"`), http.StatusNotModified, "MISS", "", "")
	expect(t, e.get(t, "/doc"), 200, "HIT", "", "one")
	expect(t, e.get(t, "/doc", "If-None-Match", `"v1"`), http.StatusNotModified, "HIT", "", "")
	e.clock.Advance(11 * time.Second)
	// Stale: revalidated by the edge, then the client's conditional is
	// evaluated against the refreshed entry.
	expect(t, e.get(t, "/doc", "If-None-Match", `"v1"`), http.StatusNotModified, "REVALIDATED", "", "")
	expect(t, e.get(t, "/doc"), 200, "HIT", "", "one")
	if len(v.conditionals()) != 1 {
		t.Errorf("origin saw %d conditional requests, want 1 (the edge's own)", len(v.conditionals()))
	}
}

// RFC5861 3: concurrent stale requests are all answered at once from the
// stale entry, and exactly one revalidation reaches the origin.
func TestStaleWhileRevalidateRevalidatesOnce(t *testing.T) {
	inBubble(t, testStaleWhileRevalidateRevalidatesOnce)
}

func testStaleWhileRevalidateRevalidatesOnce(t *testing.T) {
	const clients = 10
	release := make(chan struct{})
	var conditional atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			conditional.Add(1)
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("one"))
	})
	e := newEdge(t, o.URL)
	expect(t, e.get(t, "/swr"), 200, "MISS", "", "one")
	e.clock.Advance(20 * time.Second)

	var wg sync.WaitGroup
	results := make([]response, clients)
	for i := range clients {
		wg.Go(func() { results[i] = e.get(t, "/swr") })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// The origin holds the revalidation: the answers come anyway.
	within(t, "stale answers while the origin is held", done)
	for i, r := range results {
		expect(t, r, 200, "STALE", "20", "one")
		if i == 0 {
			hasStatus(t, r, "hit", "ttl=-10", "detail=stale-while-revalidate")
		}
	}
	settled(t, "the background revalidation to reach the origin", func() bool { return conditional.Load() == 1 })
	close(release)
	e.cache.Wait()
	if n := conditional.Load(); n != 1 {
		t.Errorf("origin got %d revalidations, want exactly 1", n)
	}
	expect(t, e.get(t, "/swr"), 200, "HIT", "0", "one")
	if n := o.total.Load(); n != 2 {
		t.Errorf("origin got %d requests, want 2 (fill and one revalidation)", n)
	}
	if n := counterValue(t, e.metrics.stale.WithLabelValues(staleWhileRevalidate)); n != clients {
		t.Errorf("stale while_revalidate answers = %v, want %d", n, clients)
	}
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name       string
		cc         string
		edgeLimit  time.Duration // EDGE_STALE_IF_ERROR
		failure    string        // "503", "down", "timeout"
		stale      time.Duration // past the 10s lifetime
		wantStatus int
		wantXCache string
	}{
		{"RFC5861 4 origin 503 within stale-if-error serves stale", "max-age=10, stale-if-error=60", 0, "503", 30 * time.Second, 200, "STALE"},
		{"RFC5861 4 origin down within stale-if-error serves stale", "max-age=10, stale-if-error=60", 0, "down", 30 * time.Second, 200, "STALE"},
		{"RFC5861 4 origin timing out within stale-if-error serves stale", "max-age=10, stale-if-error=60", 0, "timeout", 30 * time.Second, 200, "STALE"},
		{"RFC5861 4 past stale-if-error the 503 goes through", "max-age=10, stale-if-error=60", 0, "503", 61 * time.Second, 503, "MISS"},
		{"RFC9111 4.2.4 no leave: origin down gives 502", "max-age=10", 0, "down", time.Second, 502, ""},
		{"RFC9111 4.2.4 EDGE_STALE_IF_ERROR serves stale", "max-age=10", time.Minute, "down", 30 * time.Second, 200, "STALE"},
		{"RFC9111 5.2.2.2 must-revalidate: origin down gives 504", "max-age=10, must-revalidate", time.Minute, "down", time.Second, 504, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mode atomic.Value
			mode.Store("ok")
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				switch mode.Load() {
				case "503":
					http.Error(w, "down for maintenance", 503)
					return
				case "down":
					panic(http.ErrAbortHandler)
				case "timeout":
					<-r.Context().Done()
					return
				}
				w.Header().Set("ETag", `"v1"`)
				fixed(tt.cc, "good")(w, r)
			})
			e := newEdge(t, o.URL, func(c *Config, _ *int64) {
				c.StaleIfError = tt.edgeLimit
				c.Timeout = 200 * time.Millisecond
			})
			expect(t, e.get(t, "/page"), 200, "MISS", "", "good")
			mode.Store(tt.failure)
			e.clock.Advance(10*time.Second + tt.stale)
			r := e.get(t, "/page")
			if r.status != tt.wantStatus || r.header.Get("X-Cache") != tt.wantXCache {
				t.Fatalf("got %d X-Cache %q (%q), want %d %q", r.status, r.header.Get("X-Cache"), r.body, tt.wantStatus, tt.wantXCache)
			}
			if tt.wantXCache == "STALE" {
				expect(t, r, 200, "STALE", fmt.Sprint(int((10*time.Second+tt.stale)/time.Second)), "good")
				hasStatus(t, r, "fwd=stale", "detail=stale-if-error")
				if n := counterValue(t, e.metrics.stale.WithLabelValues(staleIfError)); n != 1 {
					t.Errorf("stale if_error answers = %v, want 1", n)
				}
			}
		})
	}
}

func TestRequestDirectives(t *testing.T) {
	tests := []struct {
		name         string
		advance      time.Duration
		header       []string
		wantStatus   int
		wantXCache   string
		wantRequests int64 // origin requests in all, the fill included
	}{
		{"RFC9111 5.2.1.7 only-if-cached with a fresh entry", 0, []string{"Cache-Control", "only-if-cached"}, 200, "HIT", 1},
		{"RFC9111 5.2.1.7 only-if-cached with a stale entry gives 504", 11 * time.Second, []string{"Cache-Control", "only-if-cached"}, 504, "", 1},
		{"RFC9111 5.2.1.7 only-if-cached with max-stale serves stale", 11 * time.Second, []string{"Cache-Control", "only-if-cached, max-stale=5"}, 200, "STALE", 1},
		{"RFC9111 5.2.1.2 max-stale serves stale without the origin", 15 * time.Second, []string{"Cache-Control", "max-stale=10"}, 200, "STALE", 1},
		{"RFC9111 5.2.1.4 no-cache revalidates a fresh entry", time.Second, []string{"Cache-Control", "no-cache"}, 200, "REVALIDATED", 2},
		{"RFC9111 5.2.1.1 max-age=0 revalidates", time.Second, []string{"Cache-Control", "max-age=0"}, 200, "REVALIDATED", 2},
		{"RFC9111 5.2.1.3 min-fresh revalidates an entry about to expire", 8 * time.Second, []string{"Cache-Control", "min-fresh=5"}, 200, "REVALIDATED", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &versioned{body: "one", etag: `"v1"`, cacheControl: []string{"max-age=10"}}
			o := newOrigin(t, v.handler)
			e := newEdge(t, o.URL)
			expect(t, e.get(t, "/d"), 200, "MISS", "", "one")
			e.clock.Advance(tt.advance)
			r := e.get(t, "/d", tt.header...)
			if r.status != tt.wantStatus || r.header.Get("X-Cache") != tt.wantXCache {
				t.Errorf("got %d X-Cache %q, want %d %q", r.status, r.header.Get("X-Cache"), tt.wantStatus, tt.wantXCache)
			}
			if n := o.total.Load(); n != tt.wantRequests {
				t.Errorf("origin got %d requests, want %d", n, tt.wantRequests)
			}
			// RFC9211 2.2: a revalidation the client asked for is fwd=request.
			if tt.wantXCache == "REVALIDATED" {
				hasStatus(t, r, "fwd=request", "fwd-status=304")
			}
		})
	}

	t.Run("RFC9111 5.2.1.7 only-if-cached on a cold cache never reaches the origin", func(t *testing.T) {
		o := newOrigin(t, fixed("max-age=60", "x"))
		e := newEdge(t, o.URL)
		r := e.get(t, "/cold", "Cache-Control", "only-if-cached")
		if r.status != http.StatusGatewayTimeout || o.total.Load() != 0 {
			t.Errorf("got %d with %d origin requests, want 504 and none", r.status, o.total.Load())
		}
		hasStatus(t, r, "detail=only-if-cached")
	})
	t.Run("RFC9111 5.2.1.5 no-store request is not stored", func(t *testing.T) {
		o := newOrigin(t, fixed("max-age=60", "x"))
		e := newEdge(t, o.URL)
		expect(t, e.get(t, "/ns", "Cache-Control", "no-store"), 200, "MISS", "", "x")
		if e.store.Len() != 0 {
			t.Errorf("store holds %d objects, want none", e.store.Len())
		}
		expect(t, e.get(t, "/ns"), 200, "MISS", "", "x")
		expect(t, e.get(t, "/ns", "Cache-Control", "no-store"), 200, "HIT", "", "x")
	})
}

func TestVaryVariants(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	e := newEdge(t, o.URL)
	steps := []struct {
		name       string
		lang       string // "-" for none
		wantXCache string
		wantStatus string
	}{
		{"RFC9111 4.1 first variant", "en", "MISS", "fwd=uri-miss"},
		{"RFC9111 4.1 another variant is a vary miss", "fr", "MISS", "fwd=vary-miss"},
		{"RFC9111 4.1 the first variant is kept", "en", "HIT", "hit"},
		{"RFC9111 4.1 the second variant is kept", "fr", "HIT", "hit"},
		{"RFC9111 4.1 an absent field is its own variant", "-", "MISS", "fwd=vary-miss"},
		{"RFC9111 4.1 list whitespace is normalized", "en,  fr", "MISS", "fwd=vary-miss"},
		{"RFC9111 4.1 list whitespace is normalized, hit", "en,fr", "HIT", "hit"},
	}
	for _, s := range steps {
		var r response
		if s.lang == "-" {
			r = e.get(t, "/v")
		} else {
			r = e.get(t, "/v", "Accept-Language", s.lang)
		}
		want := "lang=" + s.lang
		if s.lang == "-" {
			want = "lang="
		}
		if s.lang == "en,fr" {
			want = "lang=en,  fr"
		}
		if r.header.Get("X-Cache") != s.wantXCache || r.body != want {
			t.Errorf("%s: X-Cache %q body %q, want %q %q", s.name, r.header.Get("X-Cache"), r.body, s.wantXCache, want)
		}
		hasStatus(t, r, s.wantStatus)
	}
	obj, _ := e.store.Get("/v")
	if e.store.Len() != 1 || obj == nil || len(obj.Variants) != 4 {
		t.Errorf("store: %d keys, want 1 with 4 variants (%v)", e.store.Len(), obj)
	}
}

// Two cold requests for different variants arrive together: the shared fetch
// gets one variant, and the other request must not be answered with it.
func TestVaryCollapsedWaiterGetsItsOwnVariant(t *testing.T) {
	inBubble(t, testVaryCollapsedWaiterGetsItsOwnVariant)
}

func testVaryCollapsedWaiterGetsItsOwnVariant(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	})
	e := newEdge(t, o.URL)
	langs := []string{"en", "fr", "de"}
	results := make([]response, len(langs))
	var wg sync.WaitGroup
	for i, l := range langs {
		wg.Go(func() { results[i] = e.get(t, "/v", "Accept-Language", l) })
	}
	settled(t, "all to miss", func() bool {
		return counterValue(t, e.metrics.requests.WithLabelValues(resultMiss)) == float64(len(langs))
	})
	close(release)
	wg.Wait()
	for i, r := range results {
		if r.body != "lang="+langs[i] {
			t.Errorf("request for %s got %q", langs[i], r.body)
		}
	}
	// Each request counts once, however it was answered.
	if n := counterValue(t, e.metrics.requests.WithLabelValues(resultMiss)); n != float64(len(langs)) {
		t.Errorf("miss counter = %v, want %d", n, len(langs))
	}
	for _, l := range langs {
		expect(t, e.get(t, "/v", "Accept-Language", l), 200, "HIT", "", "lang="+l)
	}
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		name            string
		cc              string
		wantFirst       string // X-Cache of the authorized request
		wantShared      string // X-Cache of a later request without Authorization
		wantStoredAfter bool
	}{
		{"RFC9111 3.5 public answer is stored and shared", "public, max-age=60", "MISS", "HIT", true},
		{"RFC9111 3.5 s-maxage answer is stored and shared", "s-maxage=60", "MISS", "HIT", true},
		{"RFC9111 3.5 must-revalidate answer is stored and shared", "must-revalidate, max-age=60", "MISS", "HIT", true},
		{"RFC9111 3.5 plain max-age answer is not stored", "max-age=60", "BYPASS", "MISS", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sawAuth atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					sawAuth.Add(1)
				}
				fixed(tt.cc, "doc")(w, r)
			})
			e := newEdge(t, o.URL)
			expect(t, e.get(t, "/a", "Authorization", "Bearer u1"), 200, tt.wantFirst, "", "doc")
			if sawAuth.Load() != 1 {
				t.Error("the origin did not see the client's Authorization")
			}
			expect(t, e.get(t, "/a"), 200, tt.wantShared, "", "doc")
			// A stored answer that is not shareable with credentials is not
			// given to an authorized request: it goes to the origin.
			want := "HIT"
			if tt.wantFirst == "BYPASS" {
				want = "BYPASS"
			}
			expect(t, e.get(t, "/a", "Authorization", "Bearer u2"), 200, want, "", "doc")
		})
	}
}

func TestSetCookieIsNeverShared(t *testing.T) {
	tests := []struct {
		name   string
		cc     string
		stored bool
	}{
		{"RFC9111 7.3 public: stored without the cookie", "public, max-age=60", true},
		{"RFC9111 5.2.2.4 no-cache=Set-Cookie: stored without it", `no-cache="Set-Cookie", max-age=60`, true},
		{"RFC9111 5.2.2.7 private=Set-Cookie: stored without it", `private="Set-Cookie", max-age=60`, true},
		{"RFC9111 7.3 not explicitly shareable: not stored", "max-age=60", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Set-Cookie", "session=secret")
				fixed(tt.cc, "page")(w, r)
			})
			e := newEdge(t, o.URL)
			first := e.get(t, "/p")
			second := e.get(t, "/p")
			if tt.stored {
				expect(t, second, 200, "HIT", "", "page")
				for _, r := range []response{first, second} {
					if r.header.Get("Set-Cookie") != "" {
						t.Errorf("%s answer carries Set-Cookie %q", r.header.Get("X-Cache"), r.header.Get("Set-Cookie"))
					}
				}
			} else {
				expect(t, second, 200, "MISS", "", "page")
				if second.header.Get("Set-Cookie") != "session=secret" {
					t.Error("an unstored answer lost its own Set-Cookie")
				}
			}
		})
	}
}

func TestPrivateAndNoCacheFieldsAreStripped(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-User", "alice")
		w.Header().Set("X-Token", "t")
		w.Header().Set("X-Public", "yes")
		fixed(`private="X-User", no-cache="X-Token", max-age=60`, "page")(w, r)
	})
	e := newEdge(t, o.URL)
	e.get(t, "/p")
	r := e.get(t, "/p")
	expect(t, r, 200, "HIT", "", "page")
	if r.header.Get("X-User") != "" || r.header.Get("X-Token") != "" || r.header.Get("X-Public") != "yes" {
		t.Errorf("hit headers X-User %q X-Token %q X-Public %q, want only X-Public", r.header.Get("X-User"), r.header.Get("X-Token"), r.header.Get("X-Public"))
	}
}

func TestUnsafeMethodsInvalidate(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		status      int
		location    string
		contentLoc  string
		wantMissing []string // paths no longer cached
	}{
		{"RFC9111 4.4 POST invalidates its target", "POST", 200, "", "", []string{"/a"}},
		{"RFC9111 4.4 PUT invalidates Location and Content-Location", "PUT", 201, "/b", "http://HOST/c", []string{"/a", "/b", "/c"}},
		{"RFC9111 4.4 relative Location", "DELETE", 204, "b", "", []string{"/a", "/b"}},
		{"RFC9111 4.4 another site's Location is left alone", "PATCH", 200, "http://elsewhere.example/b", "", []string{"/a"}},
		{"RFC9111 4.4 an error invalidates nothing", "POST", 500, "/b", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet {
					if tt.location != "" {
						w.Header().Set("Location", tt.location)
					}
					if tt.contentLoc != "" {
						w.Header().Set("Content-Location", strings.Replace(tt.contentLoc, "HOST", r.Host, 1))
					}
					w.WriteHeader(tt.status)
					return
				}
				fixed("max-age=60", r.URL.Path)(w, r)
			})
			e := newEdge(t, o.URL)
			paths := []string{"/a", "/b", "/c", "/d"}
			for _, p := range paths {
				e.get(t, p)
			}
			r := e.do(t, tt.method, "/a")
			if r.status != tt.status || r.header.Get("X-Cache") != "BYPASS" {
				t.Fatalf("%s: %d %q", tt.method, r.status, r.header.Get("X-Cache"))
			}
			for _, p := range paths {
				want := "HIT"
				for _, m := range tt.wantMissing {
					if m == p {
						want = "MISS"
					}
				}
				if got := e.get(t, p).header.Get("X-Cache"); got != want {
					t.Errorf("GET %s after %s = %s, want %s", p, tt.method, got, want)
				}
			}
		})
	}
}

func TestPurge(t *testing.T) {
	const token = "s3cret"
	newPurgeEdge := func(t *testing.T) *edge {
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Accept-Language")
			switch {
			case strings.HasPrefix(r.URL.Path, "/p/42"):
				w.Header().Set("Surrogate-Key", "product-42 all")
			case strings.HasPrefix(r.URL.Path, "/p/7"):
				w.Header().Set("Surrogate-Key", "product-7 all")
			}
			fixed("max-age=600", r.URL.RequestURI())(w, r)
		})
		e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.AdminToken = token })
		for _, p := range []string{"/p/42?v=1", "/p/42?v=2", "/p/7", "/img/a.png", "/img/b.png", "/index.html"} {
			for _, lang := range []string{"en", "fr"} {
				e.get(t, p, "Accept-Language", lang)
			}
		}
		return e
	}
	admin := func(t *testing.T, e *edge, query, auth string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/cache/purge?"+query, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		e.cache.PurgeHandler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	cached := func(t *testing.T, e *edge, paths ...string) map[string]bool {
		t.Helper()
		got := map[string]bool{}
		for _, p := range paths {
			for _, lang := range []string{"en", "fr"} {
				if e.cache.current(p, http.Header{"Accept-Language": {lang}}) != nil {
					got[p+" "+lang] = true
				}
			}
		}
		return got
	}
	all := []string{"/p/42?v=1", "/p/42?v=2", "/p/7", "/img/a.png", "/img/b.png", "/index.html"}

	tests := []struct {
		name       string
		query      string
		wantGone   []string
		wantCounts map[string]int
	}{
		{"purge by URL removes every variant", "url=/p/7", []string{"/p/7"}, map[string]int{"url": 1}},
		{"purge by absolute URL", "url=http://cdn.example/index.html", []string{"/index.html"}, map[string]int{"url": 1}},
		{"purge by surrogate key", "key=product-42", []string{"/p/42?v=1", "/p/42?v=2"}, map[string]int{"key": 2}},
		{"purge by a shared surrogate key", "key=all", []string{"/p/42?v=1", "/p/42?v=2", "/p/7"}, map[string]int{"key": 3}},
		{"purge by prefix", "prefix=/img/", []string{"/img/a.png", "/img/b.png"}, map[string]int{"prefix": 2}},
		{"several at once", "url=/index.html&prefix=/img/&key=product-7", []string{"/index.html", "/img/a.png", "/img/b.png", "/p/7"}, map[string]int{"url": 1, "prefix": 2, "key": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPurgeEdge(t)
			code, body := admin(t, e, tt.query, "Bearer "+token)
			if code != 200 {
				t.Fatalf("purge: %d %s", code, body)
			}
			var got struct{ Purged map[string]int }
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			for k, n := range tt.wantCounts {
				if got.Purged[k] != n {
					t.Errorf("purged[%s] = %d, want %d (%s)", k, got.Purged[k], n, body)
				}
			}
			left := cached(t, e, all...)
			for _, p := range all {
				gone := false
				for _, g := range tt.wantGone {
					gone = gone || g == p
				}
				for _, lang := range []string{"en", "fr"} {
					if left[p+" "+lang] == gone {
						t.Errorf("%s (%s): cached %v, want %v", p, lang, left[p+" "+lang], !gone)
					}
				}
			}
			if tt.query == "key=all" && e.store.KeysWithTag("all") != nil && len(e.store.KeysWithTag("all")) != 0 {
				t.Errorf("surrogate key index still lists %v", e.store.KeysWithTag("all"))
			}
		})
	}

	t.Run("admin API refuses", func(t *testing.T) {
		e := newPurgeEdge(t)
		for _, c := range []struct {
			query, auth string
			want        int
		}{
			{"url=/p/7", "", 401},
			{"url=/p/7", "Bearer wrong", 401},
			{"url=/p/7", "Basic " + token, 401},
			{"", "Bearer " + token, 400},
			{"url=nope", "Bearer " + token, 400},
		} {
			if code, body := admin(t, e, c.query, c.auth); code != c.want {
				t.Errorf("%q with %q: %d %s, want %d", c.query, c.auth, code, body, c.want)
			}
		}
		if len(cached(t, e, "/p/7")) != 2 {
			t.Error("a refused purge removed something")
		}
		noToken := newEdge(t, "http://127.0.0.1:1")
		req := httptest.NewRequest(http.MethodPost, "/cache/purge?url=/x", nil)
		req.Header.Set("Authorization", "Bearer ")
		rec := httptest.NewRecorder()
		noToken.cache.PurgeHandler().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "EDGE_ADMIN_TOKEN") {
			t.Errorf("no token configured: %d %s, want 403 naming EDGE_ADMIN_TOKEN", rec.Code, rec.Body.String())
		}
	})

	t.Run("PURGE method from loopback or with the token", func(t *testing.T) {
		e := newPurgeEdge(t)
		// httptest's server is on loopback.
		r := e.do(t, "PURGE", "/p/7")
		if r.status != 200 || !strings.Contains(r.body, `"purged":1`) {
			t.Fatalf("PURGE from loopback: %d %s", r.status, r.body)
		}
		if len(cached(t, e, "/p/7")) != 0 {
			t.Error("PURGE left a variant")
		}
		for _, c := range []struct {
			auth string
			want int
		}{{"", 403}, {"Bearer wrong", 403}, {"Bearer " + token, 200}} {
			req := httptest.NewRequest("PURGE", "/index.html", nil)
			req.RemoteAddr = "192.0.2.10:4321"
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			e.cache.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("PURGE from afar with %q: %d, want %d", c.auth, rec.Code, c.want)
			}
		}
		if len(cached(t, e, "/index.html")) != 0 {
			t.Error("PURGE with the token left /index.html")
		}
	})
}

// A fill that began before a purge must not store the purged content after
// it.
func TestPurgeDuringFillIsNotUndone(t *testing.T) { inBubble(t, testPurgeDuringFillIsNotUndone) }

func testPurgeDuringFillIsNotUndone(t *testing.T) {
	release := make(chan struct{})
	var first atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		fixed("max-age=60", "old")(w, r)
	})
	e := newEdge(t, o.URL)
	got := make(chan response, 1)
	go func() { got <- e.get(t, "/slow") }()
	settled(t, "the fill to reach the origin", func() bool { return o.total.Load() == 1 })
	e.cache.PurgeURL("/slow")
	close(release)
	r := <-got
	expect(t, r, 200, "MISS", "", "old")
	if strings.Contains(r.header.Get("Cache-Status"), "stored") {
		t.Errorf("Cache-Status %q says stored", r.header.Get("Cache-Status"))
	}
	expect(t, e.get(t, "/slow"), 200, "MISS", "", "old")
	expect(t, e.get(t, "/slow"), 200, "HIT", "", "old")
}

// The fill budget bounds the bytes buffered by fills in flight: a storable
// response that finds no room streams through, unstored.
func TestFillBudget(t *testing.T) { inBubble(t, testFillBudget) }

func testFillBudget(t *testing.T) {
	body := strings.Repeat("b", 1000)
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.URL.Path == "/held" {
			io.WriteString(w, body[:10])
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, body[10:])
			return
		}
		io.WriteString(w, body)
	})
	e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.FillBytes = 1500 })
	held := make(chan response, 1)
	go func() { held <- e.get(t, "/held") }()
	settled(t, "the held fill to reserve its bytes", func() bool {
		if e.cache.fills.TryAcquire(501) {
			e.cache.fills.Release(501)
			return false
		}
		return true
	})
	// 1000 of 1500 bytes are reserved: another 1000-byte fill has no room.
	r := e.get(t, "/other")
	expect(t, r, 200, "MISS", "", body)
	if n := counterValue(t, e.metrics.fillBudget.WithLabelValues("streamed")); n != 1 {
		t.Errorf("streamed fills = %v, want 1", n)
	}
	close(release)
	expect(t, <-held, 200, "MISS", "", body)
	expect(t, e.get(t, "/held"), 200, "HIT", "", body)
	// With the budget free again, /other is stored now.
	expect(t, e.get(t, "/other"), 200, "MISS", "", body)
	expect(t, e.get(t, "/other"), 200, "HIT", "", body)
	if !e.cache.fills.TryAcquire(1500) {
		t.Error("the fill budget was not all released")
	}
}

// A request waiting on another's fetch gives up after CollapseTimeout and
// asks the origin itself.
func TestCollapsedWaitIsBounded(t *testing.T) { inBubble(t, testCollapsedWaitIsBounded) }

func testCollapsedWaitIsBounded(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-release
			fixed("max-age=60", "leader")(w, r)
			return
		}
		fixed("max-age=60", "direct")(w, r)
	})
	e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.CollapseTimeout = 50 * time.Millisecond })
	leader := make(chan response, 1)
	go func() { leader <- e.get(t, "/x") }()
	settled(t, "the leader's fetch to reach the origin", func() bool { return n.Load() == 1 })
	r := e.get(t, "/x") // returns while the leader is still held
	expect(t, r, 200, "MISS", "", "direct")
	hasStatus(t, r, "detail=collapse-timeout")
	close(release)
	expect(t, <-leader, 200, "MISS", "", "leader")
	expect(t, e.get(t, "/x"), 200, "HIT", "", "leader")
}

func TestCacheStatusAndCollapsedMetric(t *testing.T) { inBubble(t, testCacheStatusAndCollapsedMetric) }

func testCacheStatusAndCollapsedMetric(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fixed("max-age=60", "x")(w, r)
	})
	e := newEdge(t, o.URL)
	var wg sync.WaitGroup
	results := make([]response, 3)
	for i := range results {
		wg.Go(func() { results[i] = e.get(t, "/cs") })
	}
	settled(t, "all to miss", func() bool { return counterValue(t, e.metrics.requests.WithLabelValues(resultMiss)) == 3 })
	close(release)
	wg.Wait()
	collapsed := 0
	for _, r := range results {
		hasStatus(t, r, "edge-test; fwd=uri-miss; fwd-status=200; ttl=60; stored")
		if strings.Contains(r.header.Get("Cache-Status"), "collapsed") {
			collapsed++
		}
	}
	if collapsed != 2 || counterValue(t, e.metrics.collapsed) != 2 {
		t.Errorf("collapsed answers = %d, metric %v; want 2 and 2", collapsed, counterValue(t, e.metrics.collapsed))
	}
	e.clock.Advance(12 * time.Second)
	r := e.get(t, "/cs")
	if got := r.header.Get("Cache-Status"); got != "edge-test; hit; ttl=48" {
		t.Errorf("hit Cache-Status = %q", got)
	}
	if r := e.do(t, http.MethodPost, "/cs"); !strings.Contains(r.header.Get("Cache-Status"), "fwd=method") {
		t.Errorf("POST Cache-Status = %q", r.header.Get("Cache-Status"))
	}
}

// Cached redirects and errors are replayed with their status and body.
func TestNon200EntriesAreReplayed(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/moved":
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusMovedPermanently)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "nothing here")
		}
	})
	e := newEdge(t, o.URL)
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{{"/moved", 301, ""}, {"/empty", 204, ""}, {"/gone", 404, "nothing here"}} {
		e.get(t, c.path)
		r := e.get(t, c.path)
		expect(t, r, c.status, "HIT", "", c.body)
		if c.path == "/moved" && r.header.Get("Location") != "/new" {
			t.Errorf("Location = %q", r.header.Get("Location"))
		}
	}
	head := e.do(t, http.MethodHead, "/gone")
	expect(t, head, 404, "HIT", "", "")
}

// The origin sees no client conditionals on a shared fetch, and no client
// credentials, but does see fields it may vary on.
func TestSharedFetchHeaders(t *testing.T) {
	var seen atomic.Pointer[http.Header]
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		seen.Store(&h)
		fixed("max-age=60", "x")(w, r)
	})
	e := newEdge(t, o.URL)
	e.get(t, "/h", "Accept-Language", "de", "Cookie", "id=1", "If-None-Match", `"zz"`, "Range", "bytes=0-0", "Cache-Control", "max-stale")
	h := *seen.Load()
	for _, name := range []string{"Cookie", "If-None-Match", "Range", "Cache-Control"} {
		if h.Get(name) != "" {
			t.Errorf("origin saw %s: %q", name, h.Get(name))
		}
	}
	if h.Get("Accept-Language") != "de" || !strings.Contains(h.Get("Via"), "edge-test") {
		t.Errorf("origin saw Accept-Language %q, Via %q", h.Get("Accept-Language"), h.Get("Via"))
	}
}

// A flood of concurrent cold misses for distinct large objects buffers at
// most FillBytes: the fills that find no room stream through, unstored, and
// every client still gets its whole object.
func TestFillBudgetBoundsConcurrentColdMisses(t *testing.T) {
	inBubble(t, testFillBudgetBoundsConcurrentColdMisses)
}

func testFillBudgetBoundsConcurrentColdMisses(t *testing.T) {
	const objects, size = 40, 10_000
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body := strings.Repeat(r.URL.Path[1:2], size)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", fmt.Sprint(size))
		io.WriteString(w, body[:1])
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, body[1:])
	})
	e := newEdge(t, o.URL, func(c *Config, _ *int64) { c.FillBytes = 3*size + size/2 })
	var wg sync.WaitGroup
	results := make([]response, objects)
	for i := range objects {
		wg.Go(func() { results[i] = e.get(t, fmt.Sprintf("/%c/%d", 'a'+i%26, i)) })
	}
	// Every fill has its headers, hence its Content-Length: three fit in
	// the budget and wait for their bodies; the others stream.
	streamed := e.metrics.fillBudget.WithLabelValues("streamed")
	settled(t, "all but three fills to be refused a reservation", func() bool { return counterValue(t, streamed) == objects-3 })
	if e.cache.fills.TryAcquire(size) {
		t.Error("the budget had room for a fourth object")
		e.cache.fills.Release(size)
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r.status != 200 || len(r.body) != size || r.body[0] != byte('a'+i%26) {
			t.Errorf("object %d: %d, %d bytes", i, r.status, len(r.body))
		}
	}
	if e.store.Len() != 3 {
		t.Errorf("store holds %d objects, want the 3 that had room", e.store.Len())
	}
	if !e.cache.fills.TryAcquire(3*size + size/2) {
		t.Error("the fill budget was not all released")
	}
}

// RFC5861 3: a response stale on arrival but with stale-while-revalidate is
// kept (even without a validator) and served stale while it is refetched.
func TestStaleWhileRevalidateWithoutValidator(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0, stale-while-revalidate=60")
		fmt.Fprint(w, "v", n.Add(1)) // no ETag, no Last-Modified
	})
	e := newEdge(t, o.URL)
	expect(t, e.get(t, "/n"), 200, "MISS", "", "v1")
	expect(t, e.get(t, "/n"), 200, "STALE", "", "v1")
	e.cache.Wait()
	if n.Load() != 2 {
		t.Fatalf("origin got %d requests, want 2 (fill and one background refetch)", n.Load())
	}
	expect(t, e.get(t, "/n"), 200, "STALE", "", "v2")
	e.cache.Wait()
}

// A HEAD of a stale entry revalidates it with a conditional GET (RFC 9111
// section 4.3.1; a HEAD would leave the stored body unconfirmed), and
// answers without a body.
func TestHeadOfAStaleEntryRevalidates(t *testing.T) {
	v := &versioned{body: "one", etag: `"v1"`, cacheControl: []string{"max-age=10"}}
	o := newOrigin(t, v.handler)
	e := newEdge(t, o.URL)
	e.get(t, "/h")
	e.clock.Advance(11 * time.Second)
	r := e.do(t, http.MethodHead, "/h")
	expect(t, r, 200, "REVALIDATED", "0", "")
	if r.header.Get("Content-Length") != "3" || r.body != "" {
		t.Errorf("HEAD: Content-Length %q, body %q", r.header.Get("Content-Length"), r.body)
	}
	if len(v.conditionals()) != 1 || o.requests("GET /h") != 2 {
		t.Errorf("origin: %d conditional, %d GETs; want 1 and 2", len(v.conditionals()), o.requests("GET /h"))
	}
	expect(t, e.get(t, "/h"), 200, "HIT", "", "one")
}

// TestConcurrentMixIsConsistent is for the race detector and the
// invariants: many clients mixing hits, misses, variants, revalidations,
// stale answers, unsafe methods and purges, with the clock moving. Every
// answer must be a whole body the origin actually sent for that URL and
// variant, the store must stay within its budget, and the fill budget must
// be whole again at the end.
func TestConcurrentMixIsConsistent(t *testing.T) {
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			version.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Cache-Control", "max-age=2, stale-while-revalidate=2, stale-if-error=5")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Surrogate-Key", "k"+r.URL.Path[len(r.URL.Path)-1:])
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, version.Load()))
		body := fmt.Sprintf("%s|%s|%s", r.URL.Path, r.Header.Get("Accept-Language"), strings.Repeat("x", 100*len(r.URL.Path)))
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
	})
	e := newEdge(t, o.URL, func(c *Config, cacheBytes *int64) {
		*cacheBytes = 8 << 10 // small: evictions happen
		c.FillBytes = 4 << 10
		c.StaleIfError = time.Second
	})
	const workers, rounds = 8, 60
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				path := fmt.Sprintf("/obj/%d", (g*7+i)%9)
				lang := []string{"en", "fr", ""}[(g+i)%3]
				switch i % 11 {
				case 3:
					e.cache.PurgeKey(fmt.Sprintf("k%d", i%9))
					continue
				case 5:
					e.do(t, http.MethodPost, path)
					continue
				case 7:
					e.clock.Advance(time.Second)
				}
				var r response
				if lang == "" {
					r = e.get(t, path)
				} else {
					r = e.get(t, path, "Accept-Language", lang)
				}
				want := fmt.Sprintf("%s|%s|%s", path, lang, strings.Repeat("x", 100*len(path)))
				if r.status != 200 || r.body != want {
					t.Errorf("GET %s (%q): %d X-Cache %s body %.40q", path, lang, r.status, r.header.Get("X-Cache"), r.body)
					return
				}
				if r.header.Get("Age") == "" && r.header.Get("X-Cache") != "BYPASS" {
					t.Errorf("GET %s: %s answer without Age", path, r.header.Get("X-Cache"))
				}
				if b := e.store.Bytes(); b > e.store.MaxBytes() {
					t.Errorf("store holds %d bytes, over its %d budget", b, e.store.MaxBytes())
				}
			}
		})
	}
	wg.Wait()
	e.cache.Wait()
	results := map[string]float64{}
	for _, r := range []string{resultHit, resultMiss, resultStale, resultRevalidated, resultBypass} {
		results[r] = counterValue(t, e.metrics.requests.WithLabelValues(r))
	}
	t.Logf("answers %v, evictions %d, purged %v", results, e.store.Evictions(), counterValue(t, e.metrics.purged.WithLabelValues("key")))
	if results[resultHit] == 0 || results[resultMiss] == 0 || e.store.Evictions() == 0 {
		t.Errorf("the mix did not exercise hits, misses and evictions: %v, %d evictions", results, e.store.Evictions())
	}
	if !e.cache.fills.TryAcquire(4 << 10) {
		t.Error("the fill budget was not all released")
	}
}

// RFC9111 4.3.4: a 304 naming another ETag than the stored entry's does not
// refresh it; the edge fetches the object in full instead.
func TestNotModifiedForAnotherETagRefetches(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10")
		switch n.Add(1) {
		case 1:
			w.Header().Set("ETag", `"v1"`)
			io.WriteString(w, "one")
		case 2: // a confused origin: 304 for a representation we do not have
			w.Header().Set("ETag", `"v2"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", `"v2"`)
			io.WriteString(w, "two")
		}
	})
	e := newEdge(t, o.URL)
	e.get(t, "/e")
	e.clock.Advance(11 * time.Second)
	expect(t, e.get(t, "/e"), 200, "MISS", "", "two")
	expect(t, e.get(t, "/e"), 200, "HIT", "", "two")
	if n.Load() != 3 {
		t.Errorf("origin got %d requests, want 3", n.Load())
	}
}
