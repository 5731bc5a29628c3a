package loadgen

import (
	"context"
	"io"
	"maps"
	"net"
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

func TestRunUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more: connection refused
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/{id}"}
	cfg.IDs = &IDRange{1, 1000}
	_, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+srv.URL) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want one line saying the target cannot be reached", err)
	}
}

func TestRunTransportErrors(t *testing.T) {
	// The server accepts, then drops every connection without an answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/{id}"}
	cfg.IDs = &IDRange{1, 1000}
	cfg.N, cfg.Concurrency = 20, 2
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
	var progress strings.Builder
	cfg.Progress = &progress
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
	// Not a terminal: plain lines, the last one the end state.
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	last := lines[len(lines)-1]
	if strings.Contains(progress.String(), "\r") || !strings.HasPrefix(last, "[####################] 100%") ||
		!strings.Contains(last, " "+strconv.Itoa(rep.Requests)+" req ") {
		t.Errorf("progress %q, want plain lines ending in a full bar with %d req", progress.String(), rep.Requests)
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

func TestRunScenarioMix(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	var badBody []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got[r.Method]++
		id := strings.TrimPrefix(r.URL.Path, "/users/")
		if r.Method == "PUT" && (r.Header.Get("Content-Type") != "application/json" ||
			string(body) != `{"name":"user `+id+`","email":"user`+id+`@example.com"}`) {
			badBody = append(badBody, string(body))
		}
		if r.Method == "PUT" {
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Scenario, cfg.Targets = Scenarios["mixed"], []string{srv.URL}
	cfg.N, cfg.Concurrency = 200, 8
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"GET": 180, "PUT": 20}; !maps.Equal(got, want) {
		t.Errorf("server saw %v, want %v (9:1 exactly)", got, want)
	}
	if len(badBody) > 0 {
		t.Errorf("PUT bodies not filled with the id: %q", badBody[:min(3, len(badBody))])
	}
	if rep.Steps["read"].Requests != 180 || rep.Steps["write"].Requests != 20 || rep.Steps["write"].Status["2xx"] != 20 {
		t.Errorf("steps = %+v", rep.Steps)
	}
	if rep.IDs != "1-10000" {
		t.Errorf("ids %q, want the scenario's default 1-10000", rep.IDs)
	}
}

func TestStepSlotsSpread(t *testing.T) {
	s := &Scenario{Steps: []Step{{Weight: 3}, {Weight: 1}}}
	if got, want := s.stepSlots(), []int{0, 0, 1, 0}; !slices.Equal(got, want) && !slices.Equal(got, []int{0, 1, 0, 0}) {
		t.Errorf("slots = %v, want the one write between reads, e.g. %v", got, want)
	}
}

func TestRunHistogramAndSeries(t *testing.T) {
	_, srv := newLabServer(t)
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/{id}"}
	cfg.IDs = &IDRange{1, 10}
	cfg.N, cfg.Concurrency = 500, 4
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var inHist int64
	for i, b := range rep.Histogram {
		inHist += b.Count
		if i > 0 && b.LE <= rep.Histogram[i-1].LE {
			t.Errorf("buckets not ascending: %v", rep.Histogram)
		}
	}
	if inHist != 500 {
		t.Errorf("histogram holds %d responses, want 500", inHist)
	}
	seriesReq, seriesHits := 0, 0
	for _, s := range rep.Series {
		seriesReq += s.Requests
		seriesHits += s.Headers["X-Cache"]["HIT"]
	}
	if len(rep.Series) == 0 || seriesReq != 500 || seriesHits != 375 {
		t.Errorf("series: %d seconds, %d requests, %d hits; want 500 requests and 375 hits in all", len(rep.Series), seriesReq, seriesHits)
	}
}

func TestRunOpenLoopKeepsSending(t *testing.T) {
	// Every request is held until 10 are in flight at once. A closed loop of
	// 2 workers could never get there; an open loop keeps its arrival rate
	// while nothing returns, which is the point of it.
	release := make(chan struct{})
	var inFlight atomic.Int64
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight.Add(1) >= 10 {
			once.Do(func() { close(release) })
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL}
	cfg.Rate, cfg.Concurrency, cfg.N, cfg.Timeout = 200, 64, 20, 3*time.Second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "open" || rep.Requests != 20 || rep.Status["2xx"] != 20 {
		t.Errorf("mode %s requests %d status %v errors %v: want 20 answered once 10 were in flight", rep.Mode, rep.Requests, rep.Status, rep.ErrorCauses)
	}
}

func TestRunSequential(t *testing.T) {
	ls, srv := newLabServer(t)
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/{id}"}
	cfg.IDs, cfg.Sequential, cfg.Concurrency = &IDRange{101, 150}, true, 4
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 50 || rep.Stopped != "completed" || len(ls.ids) != 50 {
		t.Fatalf("requests %d stopped %q distinct ids %d, want each of 50 ids once", rep.Requests, rep.Stopped, len(ls.ids))
	}
	for id := int64(101); id <= 150; id++ {
		if ls.ids[id] != 1 {
			t.Errorf("id %d sent %d times", id, ls.ids[id])
		}
	}
}

// A run closes its connections when it ends: a process running one load
// after another must not keep every run's idle connections open.
func TestRunClosesItsConnections(t *testing.T) {
	var open atomic.Int64
	closed := make(chan struct{}, 1024)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL + "/users/1"}
	cfg.N, cfg.Concurrency = 200, 8
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second) // a bound on the server seeing the closes, not a measure
	for open.Load() > 0 {
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("%d connections still open after the run", open.Load())
		}
	}
}
