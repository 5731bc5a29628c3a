package loadgen

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// labServer imitates a lab service. Its answers depend only on the order in
// which requests arrive (k = 0, 1, 2, ...), so the totals are known exactly
// whatever the concurrency:
//
//	X-Served-By  a, b, a, b, ...        -> n/2 each
//	X-Cache      MISS when k%4 == 0     -> n/4 MISS
//	status       500 when k%5 == 0      -> n/5 5xx
type labServer struct {
	k   atomic.Int64
	mu  sync.Mutex
	ids map[int64]int // ids seen in /users/{id}
	bad []string      // paths that were not /users/<number>
}

func newLabServer(t *testing.T) (*labServer, *httptest.Server) {
	ls := &labServer{ids: map[int64]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := ls.k.Add(1) - 1
		ls.mu.Lock()
		if id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/users/"), 10, 64); err == nil {
			ls.ids[id]++
		} else {
			ls.bad = append(ls.bad, r.URL.Path)
		}
		ls.mu.Unlock()

		w.Header().Set("X-Served-By", []string{"a", "b"}[k%2])
		w.Header().Set("X-Cache", map[bool]string{true: "MISS", false: "HIT"}[k%4 == 0])
		if k%5 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return ls, srv
}

func top(v Values) map[string]int {
	m := map[string]int{}
	for _, c := range v.Top {
		m[c.Value] = c.Count
	}
	return m
}

func TestRunCountsAndIDs(t *testing.T) {
	const n, lo, hi = 1000, 1, 100
	for _, zipf := range []float64{0, 1.0, 1.5} { // uniform, table sampler, rand.Zipf
		t.Run("zipf="+strconv.FormatFloat(zipf, 'g', -1, 64), func(t *testing.T) {
			ls, srv := newLabServer(t)
			cfg := DefaultConfig()
			cfg.URLs = []string{srv.URL + "/users/{id}"}
			cfg.N, cfg.Concurrency = n, 8
			cfg.IDs, cfg.Zipf = &IDRange{lo, hi}, zipf

			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != n || rep.Stopped != "completed" || rep.TransportErrors != 0 {
				t.Fatalf("requests %d stopped %q transport errors %d %v",
					rep.Requests, rep.Stopped, rep.TransportErrors, rep.ErrorCauses)
			}
			if want := map[string]int{"2xx": 800, "5xx": 200}; !maps.Equal(rep.Status, want) || rep.Errors != 200 {
				t.Errorf("status %v errors %d, want %v errors 200", rep.Status, rep.Errors, want)
			}
			checks := map[string]map[string]int{
				"X-Served-By": {"a": 500, "b": 500},
				"X-Cache":     {"HIT": 750, "MISS": 250},
				"X-Shard":     {"(none)": 1000},
			}
			for h, want := range checks {
				if got := top(rep.Headers[h]); !maps.Equal(got, want) {
					t.Errorf("%s = %v, want %v", h, got, want)
				}
			}
			if l := rep.LatencyMillis; l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
				t.Errorf("latency not ordered: %+v", l)
			}

			// {id} substitution: every id in range, and the distribution has the right shape.
			if len(ls.bad) > 0 {
				t.Fatalf("unexpected paths: %q", ls.bad[:min(5, len(ls.bad))])
			}
			hottest, distinct := int64(0), 0
			for id, c := range ls.ids {
				if id < lo || id > hi {
					t.Errorf("id %d outside %d-%d", id, lo, hi)
				}
				if c > ls.ids[hottest] {
					hottest = id
				}
				distinct++
			}
			if zipf == 0 && distinct < 80 { // expect ~100 ids, ~10 hits each
				t.Errorf("uniform: only %d distinct ids", distinct)
			}
			if zipf > 0 && (hottest != lo || ls.ids[1] <= ls.ids[2]) {
				// s=1: P(1)≈19%, P(2)≈10%; s=1.5: 38% vs 14% — far apart for n=1000.
				t.Errorf("zipf: want id 1 hottest, got %d (id1=%d id2=%d)", hottest, ls.ids[1], ls.ids[2])
			}
		})
	}
}

func TestRunRotatesURLs(t *testing.T) {
	_, a := newLabServer(t)
	lb, b := newLabServer(t)
	cfg := DefaultConfig()
	cfg.URLs = []string{a.URL + "/users/1", b.URL + "/users/2"}
	cfg.N, cfg.Concurrency = 10, 3
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := lb.k.Load(); got != 5 {
		t.Errorf("second URL got %d of 10 requests, want 5", got)
	}
}

func TestRunTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more: connection refused
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/{id}"}
	cfg.IDs = &IDRange{1, 1000}
	cfg.N = 20
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 20 || rep.TransportErrors != 20 || rep.Errors != 20 || len(rep.Status) != 0 {
		t.Errorf("requests %d transport %d errors %d status %v", rep.Requests, rep.TransportErrors, rep.Errors, rep.Status)
	}
	// The URL (with its random id) is stripped, so all 20 share one cause.
	if len(rep.ErrorCauses) != 1 || rep.ErrorCauses[0].Count != 20 || strings.Contains(rep.ErrorCauses[0].Value, "/users/") {
		t.Errorf("error causes = %v", rep.ErrorCauses)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL}
	cfg.N, cfg.Concurrency, cfg.Duration = MaxRequests, 4, 200*time.Millisecond
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No bound on how long Run took: on a shared machine nothing bounds
	// it. Each request takes at least 20ms, so 4 workers in 200ms can
	// send about 40, far from the 200 that would mean the duration was
	// ignored.
	if rep.Stopped != "duration" || rep.Requests == 0 || rep.Requests >= 200 {
		t.Errorf("stopped %q after %d requests, want \"duration\" after 1 to 199", rep.Stopped, rep.Requests)
	}
	// In-flight requests finish rather than being cancelled: no fake errors.
	if rep.Errors != 0 {
		t.Errorf("errors %d: %v", rep.Errors, rep.ErrorCauses)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.URLs = []string{"http://localhost:1/"}
	cfg.N = MaxRequests + 1
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "-n") {
		t.Errorf("err = %v", err)
	}
}

func TestZipfCDF(t *testing.T) {
	cdf := zipfCDF(4, 1) // weights 1, 1/2, 1/3, 1/4; sum 25/12
	want := []float64{12.0 / 25, 18.0 / 25, 22.0 / 25, 1}
	for i := range want {
		if d := cdf[i] - want[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("cdf = %v, want %v", cdf, want)
		}
	}
	if !slices.IsSorted(cdf) {
		t.Error("cdf not sorted")
	}
}
