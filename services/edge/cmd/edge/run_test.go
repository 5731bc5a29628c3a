package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"scalelab/services/platform"
	"scalelab/services/platform/platformtest"
)

func TestRunRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"origin missing", map[string]string{}, "ORIGIN_URL"},
		{"origin not a URL", map[string]string{"ORIGIN_URL": "::nope"}, "ORIGIN_URL"},
		{"origin without host", map[string]string{"ORIGIN_URL": "http://"}, "ORIGIN_URL"},
		{"origin with another scheme", map[string]string{"ORIGIN_URL": "ftp://origin:21"}, "ORIGIN_URL"},
		{"origin relative", map[string]string{"ORIGIN_URL": "origin:8090"}, "ORIGIN_URL"},
		{"rtt not a duration", map[string]string{"ORIGIN_URL": "http://origin:8090", "ORIGIN_RTT": "far"}, "ORIGIN_RTT"},
		{"rtt negative", map[string]string{"ORIGIN_URL": "http://origin:8090", "ORIGIN_RTT": "-1s"}, "ORIGIN_RTT"},
		{"timeout zero", map[string]string{"ORIGIN_URL": "http://origin:8090", "ORIGIN_TIMEOUT": "0s"}, "ORIGIN_TIMEOUT"},
		{"cache size", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_CACHE_BYTES": "lots"}, "EDGE_CACHE_BYTES"},
		{"max object size", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_MAX_OBJECT_BYTES": "-5"}, "EDGE_MAX_OBJECT_BYTES"},
		{"fill budget", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_FILL_BYTES": "much"}, "EDGE_FILL_BYTES"},
		{"stale-if-error", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_STALE_IF_ERROR": "forever"}, "EDGE_STALE_IF_ERROR"},
		{"stale-if-error negative", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_STALE_IF_ERROR": "-1m"}, "EDGE_STALE_IF_ERROR"},
		{"collapse timeout zero", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_COLLAPSE_TIMEOUT": "0s"}, "EDGE_COLLAPSE_TIMEOUT"},
		{"heuristic cap", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_HEURISTIC_MAX": "1d"}, "EDGE_HEURISTIC_MAX"},
		{"cache policy", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_CACHE_POLICY": "arc"}, "EDGE_CACHE_POLICY"},
		{"stream threshold", map[string]string{"ORIGIN_URL": "http://origin:8090", "EDGE_STREAM_MIN_BYTES": "-1"}, "EDGE_STREAM_MIN_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"edge"}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Fatalf("run() = %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}
}

// TestRun starts the whole edge, as main does, in front of a test origin
// that is 300ms away.
func TestRun(t *testing.T) {
	const rtt = 300 * time.Millisecond
	var originRequests atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originRequests.Add(1)
		switch r.URL.Path {
		case "/logo.png":
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Content-Type", "image/png")
			io.WriteString(w, "not really a png")
		case "/api/time":
			w.Header().Set("Cache-Control", "public, max-age=1")
			io.WriteString(w, time.Now().Format(time.RFC3339Nano))
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()

	edge := platformtest.Start(t, run, map[string]string{
		"ORIGIN_URL":       origin.URL,
		"ORIGIN_RTT":       rtt.String(),
		"INSTANCE_ID":      "edge-sydney",
		"EDGE_ADMIN_TOKEN": "t0ken",
	})

	get := func(path string) (*http.Response, string, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get(edge.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body), time.Since(start)
	}

	resp, body, took := get("/logo.png")
	if resp.Header.Get("X-Cache") != "MISS" || body != "not really a png" || took < rtt {
		t.Errorf("first GET: X-Cache %q, body %q, took %v (want MISS, at least %v)", resp.Header.Get("X-Cache"), body, took, rtt)
	}
	// The hit is not timed (on a shared machine, nothing bounds how long
	// it takes): that it never reached the origin is checked below.
	resp, body, _ = get("/logo.png")
	if resp.Header.Get("X-Cache") != "HIT" || body != "not really a png" {
		t.Errorf("second GET: X-Cache %q, body %q (want HIT)", resp.Header.Get("X-Cache"), body)
	}
	if got := resp.Header.Get("X-Served-By"); got != "edge-sydney" {
		t.Errorf("X-Served-By = %q, want edge-sydney", got)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the answer")
	}
	if n := originRequests.Load(); n != 1 {
		t.Errorf("origin got %d requests, want 1", n)
	}

	metrics, err := http.Get(edge.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	for _, want := range []string{
		`scalelab_edge_cache_requests_total{result="hit"} 1`,
		`scalelab_edge_cache_requests_total{result="miss"} 1`,
		`scalelab_edge_cache_objects 1`,
		`scalelab_edge_origin_fetch_duration_seconds_count{code="2xx"} 1`,
		`scalelab_edge_served_bytes_total{source="cache"}`,
		`scalelab_edge_cache_evictions_total 0`,
		`scalelab_edge_http_requests_total{code="2xx",method="GET",route="/"} 2`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The admin listener purges, with the token.
	purge := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, edge.AdminURL+"/cache/purge?url=/logo.png", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := purge("wrong"); code != http.StatusUnauthorized {
		t.Errorf("purge with a wrong token: %d, want 401", code)
	}
	if resp, _, _ := get("/logo.png"); resp.Header.Get("X-Cache") != "HIT" || !strings.HasPrefix(resp.Header.Get("Cache-Status"), "edge-sydney; hit") {
		t.Errorf("before the purge: X-Cache %q, Cache-Status %q", resp.Header.Get("X-Cache"), resp.Header.Get("Cache-Status"))
	}
	if code := purge("t0ken"); code != http.StatusOK {
		t.Errorf("purge: %d, want 200", code)
	}
	if resp, _, _ := get("/logo.png"); resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after the purge: X-Cache %q, want MISS", resp.Header.Get("X-Cache"))
	}

	// The container HEALTHCHECK (`edge healthcheck`, which platform.Main
	// turns into this call) finds the edge ready.
	adminAddr := strings.TrimPrefix(edge.AdminURL, "http://")
	if err := platform.Healthcheck(func(k string) string {
		return map[string]string{"ADMIN_ADDR": adminAddr}[k]
	}); err != nil {
		t.Errorf("healthcheck: %v", err)
	}

	// A max-age=1 answer expires on the real clock.
	first, firstBody, _ := get("/api/time")
	second, secondBody, _ := get("/api/time")
	if first.Header.Get("X-Cache") != "MISS" || second.Header.Get("X-Cache") != "HIT" || firstBody != secondBody {
		t.Errorf("/api/time: %s then %s, bodies %q and %q", first.Header.Get("X-Cache"), second.Header.Get("X-Cache"), firstBody, secondBody)
	}
	// Asked again every 50ms until the edge stops answering from the
	// store (10s bounds a hang; nothing is timed): the answer that ends
	// the hits is a fresh fetch.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	third, thirdBody, _ := get("/api/time")
	for third.Header.Get("X-Cache") == "HIT" {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("/api/time (max-age=1) still a HIT after 10s")
		}
		third, thirdBody, _ = get("/api/time")
	}
	if third.Header.Get("X-Cache") != "MISS" || thirdBody == firstBody {
		t.Errorf("/api/time after max-age: X-Cache %q, body %q (first was %q)", third.Header.Get("X-Cache"), thirdBody, firstBody)
	}
}
