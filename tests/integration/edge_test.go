package integration

import (
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
