package platform

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The traffic health route answers 503 naming the failing check until the
// service has been ready once, reuses a failed verdict briefly, latches
// once ready, and answers 503 again while draining.
func TestUnlessDrainingOrUnready(t *testing.T) {
	svc := New("api", Base{}, io.Discard)
	clock := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	svc.ready.now = func() time.Time { return clock }
	var calls atomic.Int64
	var failing atomic.Pointer[error]
	warming := errors.New("warming shard 2")
	failing.Store(&warming)
	svc.AddReadyCheck("shards", func(context.Context) error {
		calls.Add(1)
		return *failing.Load()
	})
	svc.AddReadyCheck("schema+seed", func(context.Context) error { return nil })
	h := svc.UnlessDrainingOrUnready(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	get := func() (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		resp := rec.Result()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	detail := func(body string) string {
		var p Problem
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("problem body %q: %v", body, err)
		}
		return p.Detail
	}

	resp, body := get()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
		detail(body) != "api is not ready yet: ready check shards: warming shard 2" {
		t.Fatalf("before ready: %d Retry-After %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	get()
	if n := calls.Load(); n != 1 {
		t.Fatalf("checks run for two requests within %v: %d, want 1 (the verdict reused)", readyRecheck, n)
	}

	var none error
	failing.Store(&none)
	clock = clock.Add(readyRecheck)
	if resp, body := get(); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("once the checks pass: %d %q, want 200 hello", resp.StatusCode, body)
	}
	failing.Store(&warming)
	clock = clock.Add(time.Hour)
	if resp, body := get(); resp.StatusCode != 200 || body != "hello" || calls.Load() != 2 {
		t.Fatalf("after ready once, with a check failing: %d %q, %d check runs; want 200 hello, 2 runs (latched)",
			resp.StatusCode, body, calls.Load())
	}

	svc.draining.Store(true)
	if resp, body := get(); resp.StatusCode != 503 || detail(body) != "api is draining: shutting down, send to another replica" {
		t.Fatalf("while draining: %d %q", resp.StatusCode, body)
	}
}
