package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"scalelab/services/platform/platformtest"
)

func TestRunRejectsInvalidConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(badConfig, []byte("/ok max-age=5\nnot-a-path max-age=5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantVars []string
	}{
		{"video size", map[string]string{"ORIGIN_VIDEO_SIZE": "abc"}, []string{"ORIGIN_VIDEO_SIZE"}},
		{"video size zero", map[string]string{"ORIGIN_VIDEO_SIZE": "0"}, []string{"ORIGIN_VIDEO_SIZE"}},
		{"generate flag", map[string]string{"ORIGIN_GENERATE_ASSETS": "maybe"}, []string{"ORIGIN_GENERATE_ASSETS"}},
		{"both at once", map[string]string{"ORIGIN_VIDEO_SIZE": "big", "ORIGIN_GENERATE_ASSETS": "maybe"}, []string{"ORIGIN_VIDEO_SIZE", "ORIGIN_GENERATE_ASSETS"}},
		{"listen address", map[string]string{"LISTEN_ADDR": "nowhere"}, []string{"LISTEN_ADDR"}},
		{"assets dir not writable", map[string]string{"ASSETS_DIR": filepath.Join(file, "assets")}, []string{"ASSETS_DIR"}},
		{"config file missing", map[string]string{"ORIGIN_CONFIG": filepath.Join(t.TempDir(), "none.conf")}, []string{"ORIGIN_CONFIG"}},
		{"config file bad", map[string]string{"ORIGIN_CONFIG": badConfig}, []string{"ORIGIN_CONFIG", "line 2"}},
		{"assets dir missing, no generation", map[string]string{"ASSETS_DIR": filepath.Join(t.TempDir(), "none"), "ORIGIN_GENERATE_ASSETS": "false"}, []string{"ASSETS_DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"origin"}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil {
				t.Fatalf("run() = nil, want an error naming %v", tt.wantVars)
			}
			for _, v := range tt.wantVars {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("run() = %v, want it to name %s", err, v)
				}
			}
		})
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(body)}
}

// TestRun starts the whole origin, as main does, on an empty folder.
func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "assets")
	origin := platformtest.Start(t, run, map[string]string{
		"ASSETS_DIR":           dir,
		"ORIGIN_VIDEO_SIZE":    "64KiB",
		"ORIGIN_CACHE_CONTROL": "public, max-age=30",
		"INSTANCE_ID":          "origin-1",
	})

	info, err := os.Stat(filepath.Join(dir, "video.mp4"))
	if err != nil || info.Size() != 64<<10 {
		t.Fatalf("generated video: %v, want %d bytes", err, 64<<10)
	}

	video := do(t, "GET", origin.URL+"/video.mp4")
	if video.status != 200 || len(video.body) != 64<<10 {
		t.Fatalf("GET /video.mp4: %d, %d bytes", video.status, len(video.body))
	}
	etag := video.header.Get("ETag")
	for name, want := range map[string]string{
		"Content-Type":  "video/mp4",
		"Cache-Control": "public, max-age=30",
		"X-Served-By":   "origin-1",
		"Accept-Ranges": "bytes",
		"Surrogate-Key": "assets video",
	} {
		if got := video.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.HasPrefix(etag, `"`) || len(etag) != 66 || video.header.Get("Last-Modified") == "" {
		t.Errorf("validators: ETag %q, Last-Modified %q", etag, video.header.Get("Last-Modified"))
	}

	tests := []struct {
		name       string
		method     string
		path       string
		header     []string
		wantStatus int
		wantBody   string // substring
	}{
		{"index", "GET", "/", nil, 200, `href="video.mp4"`},
		{"logo", "HEAD", "/logo.png", nil, 200, ""},
		{"revalidation", "GET", "/video.mp4", []string{"If-None-Match", etag}, 304, ""},
		{"range", "GET", "/video.mp4", []string{"Range", "bytes=0-99"}, 206, ""},
		{"missing", "GET", "/missing.png", nil, 404, "not found"},
		// The mux redirects a literal "/../etc/passwd" to "/etc/passwd",
		// which the client follows to a 404.
		{"traversal", "GET", "/../etc/passwd", nil, 404, "not found"},
		{"encoded traversal", "GET", "/%2e%2e/etc/passwd", nil, 404, "not found"},
		{"encoded traversal deeper", "GET", "/a/%2e%2e/%2e%2e/etc/passwd", nil, 404, "not found"},
		{"method", "DELETE", "/logo.png", nil, 405, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, origin.URL+tt.path, tt.header...)
			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if !strings.Contains(r.body, tt.wantBody) || strings.Contains(r.body, "root:") {
				t.Errorf("body = %.100q, want it to contain %q", r.body, tt.wantBody)
			}
			if r.header.Get("X-Served-By") != "origin-1" {
				t.Errorf("X-Served-By = %q", r.header.Get("X-Served-By"))
			}
			if tt.wantStatus == 206 && (r.header.Get("Content-Range") != "bytes 0-99/65536" || len(r.body) != 100) {
				t.Errorf("range: Content-Range %q, %d bytes", r.header.Get("Content-Range"), len(r.body))
			}
		})
	}

	clock := do(t, "GET", origin.URL+"/api/time")
	var body struct {
		Time     string `json:"time"`
		ServedBy string `json:"served_by"`
	}
	if err := json.Unmarshal([]byte(clock.body), &body); err != nil || body.Time == "" || body.ServedBy != "origin-1" {
		t.Errorf("/api/time body %q: %v", clock.body, err)
	}
	if got := clock.header.Get("Cache-Control"); got != "public, max-age=5" {
		t.Errorf("/api/time Cache-Control = %q", got)
	}
	if got := clock.header.Get("Surrogate-Key"); got != "api time" {
		t.Errorf("/api/time Surrogate-Key = %q", got)
	}

	metrics := do(t, "GET", origin.AdminURL+"/metrics")
	for _, want := range []string{
		`scalelab_origin_served_bytes_total{route="/"}`,
		`scalelab_origin_served_bytes_total{route="GET /api/time"}`,
		`scalelab_origin_http_requests_total{code="2xx",method="GET",route="/"}`,
	} {
		if !strings.Contains(metrics.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A folder that already has a video.mp4 is served as it is: nothing is
// generated into it.
func TestRunLeavesProvidedAssetsAlone(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "video.mp4"), []byte("my video"), 0o644); err != nil {
		t.Fatal(err)
	}
	origin := platformtest.Start(t, run, map[string]string{"ASSETS_DIR": dir})
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want only the provided video", len(entries))
	}
	if r := do(t, "GET", origin.URL+"/video.mp4"); r.body != "my video" {
		t.Errorf("body = %q", r.body)
	}
	if r := do(t, "GET", origin.URL+"/"); r.status != 404 {
		t.Errorf("GET / without index.html: %d, want 404", r.status)
	}
}

// TestRunConfigAndFailSwitch starts the origin with an ORIGIN_CONFIG and an
// admin token: Cache-Control follows the file per path, Last-Modified
// validates, and the admin switch fails and restores traffic.
func TestRunConfigAndFailSwitch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "assets")
	conf := filepath.Join(t.TempDir(), "origin.conf")
	if err := os.WriteFile(conf, []byte("# per path\n/video.mp4 public, max-age=3600 | big\n/*.png public, max-age=86400, immutable\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	origin := platformtest.Start(t, run, map[string]string{
		"ASSETS_DIR":         dir,
		"ORIGIN_VIDEO_SIZE":  "4KiB",
		"ORIGIN_CONFIG":      conf,
		"ORIGIN_ADMIN_TOKEN": "s3cret",
	})
	for path, want := range map[string][2]string{
		"/video.mp4": {"public, max-age=3600", "assets video big"},
		"/logo.png":  {"public, max-age=86400, immutable", "assets image"},
		"/":          {"public, max-age=60", "assets text"}, // ORIGIN_CACHE_CONTROL's default
	} {
		r := do(t, "GET", origin.URL+path)
		if r.status != 200 || r.header.Get("Cache-Control") != want[0] || r.header.Get("Surrogate-Key") != want[1] {
			t.Errorf("%s: %d, Cache-Control %q, Surrogate-Key %q; want %q, %q", path, r.status,
				r.header.Get("Cache-Control"), r.header.Get("Surrogate-Key"), want[0], want[1])
		}
	}

	// Last-Modified is there, and validates on its own.
	lm := do(t, "HEAD", origin.URL+"/logo.png").header.Get("Last-Modified")
	if _, err := http.ParseTime(lm); err != nil {
		t.Fatalf("Last-Modified %q: %v", lm, err)
	}
	if r := do(t, "GET", origin.URL+"/logo.png", "If-Modified-Since", lm); r.status != 304 {
		t.Errorf("If-Modified-Since its Last-Modified: %d, want 304", r.status)
	}

	fail := func(token, mode string) int {
		t.Helper()
		return do(t, "POST", origin.AdminURL+"/fail?mode="+mode, "Authorization", "Bearer "+token).status
	}
	if code := fail("wrong", "error"); code != 401 {
		t.Errorf("POST /fail with a wrong token: %d, want 401", code)
	}
	if code := fail("s3cret", "error"); code != 200 {
		t.Fatalf("POST /fail?mode=error: %d", code)
	}
	for _, path := range []string{"/logo.png", "/api/time"} {
		if r := do(t, "GET", origin.URL+path); r.status != 503 {
			t.Errorf("GET %s while failing: %d, want 503", path, r.status)
		}
	}
	if r := do(t, "GET", origin.AdminURL+"/readyz"); r.status != 200 {
		t.Errorf("/readyz while failing: %d; the switch must leave the admin port alone", r.status)
	}
	metrics := do(t, "GET", origin.AdminURL+"/metrics").body
	for _, want := range []string{`scalelab_origin_fault_mode{mode="error"} 1`, `scalelab_origin_http_requests_total{code="5xx",method="GET",route="/"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := fail("s3cret", "off"); code != 200 {
		t.Fatalf("POST /fail?mode=off: %d", code)
	}
	if r := do(t, "GET", origin.URL+"/logo.png"); r.status != 200 {
		t.Errorf("after mode=off: %d", r.status)
	}
}
