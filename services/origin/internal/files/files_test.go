package files

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// newHandler serves a temporary folder holding a few files, beside a
// secret outside it that no request may reach.
func newHandler(t *testing.T) (*Handler, string) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "assets")
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.txt", "root:x:0:0")
	write("assets/index.html", "<h1>home</h1>")
	write("assets/logo.png", "0123456789")
	write("assets/video.mp4", "video bytes")
	write("assets/docs/index.html", "docs")
	write("assets/empty/keep.txt", "k")
	if err := os.Symlink("../secret.txt", filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return New(root, "public, max-age=60"), dir
}

// serve sends a request whose path is set as is, bypassing the mux's
// cleaning, as an encoded "%2e%2e" would reach the handler.
func serve(h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Path = path
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var strongETag = regexp.MustCompile(`^"[0-9a-f]{64}"$`)

func TestServe(t *testing.T) {
	h, _ := newHandler(t)
	tests := []struct {
		name       string
		method     string
		path       string
		header     []string
		wantStatus int
		wantBody   string
		wantType   string
	}{
		{"file", "GET", "/logo.png", nil, 200, "0123456789", "image/png"},
		{"video type without mime.types", "GET", "/video.mp4", nil, 200, "video bytes", "video/mp4"},
		{"root index", "GET", "/", nil, 200, "<h1>home</h1>", "text/html; charset=utf-8"},
		{"directory index", "GET", "/docs/", nil, 200, "docs", "text/html; charset=utf-8"},
		{"directory index without slash", "GET", "/docs", nil, 200, "docs", "text/html; charset=utf-8"},
		{"head", "HEAD", "/logo.png", nil, 200, "", "image/png"},
		{"range", "GET", "/logo.png", []string{"Range", "bytes=2-4"}, 206, "234", "image/png"},
		{"missing", "GET", "/nope.png", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"directory without index", "GET", "/empty/", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"dot-dot", "GET", "/../secret.txt", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"dot-dot deeper", "GET", "/docs/../../secret.txt", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"dot-dot inside", "GET", "/docs/../logo.png", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"backslash", "GET", `/..\secret.txt`, nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"symlink out of the folder", "GET", "/escape.txt", nil, 404, "404 page not found\n", "text/plain; charset=utf-8"},
		{"post", "POST", "/logo.png", nil, 405, "method not allowed\n", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, tt.method, tt.path, tt.header...)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body, tt.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantStatus/100 == 2 {
				if got := rec.Header().Get("ETag"); !strongETag.MatchString(got) {
					t.Errorf("ETag = %q, want a quoted sha256", got)
				}
				if rec.Header().Get("Last-Modified") == "" {
					t.Error("no Last-Modified")
				}
				if got := rec.Header().Get("Cache-Control"); got != "public, max-age=60" {
					t.Errorf("Cache-Control = %q", got)
				}
				// Surrogate keys for purges: all assets, and their kind.
				kind, _, _ := strings.Cut(tt.wantType, "/")
				if got := rec.Header().Get("Surrogate-Key"); got != "assets "+kind {
					t.Errorf("Surrogate-Key = %q, want %q", got, "assets "+kind)
				}
			}
		})
	}
}

func TestConditionals(t *testing.T) {
	h, _ := newHandler(t)
	first := serve(h, "GET", "/logo.png")
	tag, modified := first.Header().Get("ETag"), first.Header().Get("Last-Modified")

	tests := []struct {
		name       string
		header     []string
		wantStatus int
	}{
		{"same etag", []string{"If-None-Match", tag}, http.StatusNotModified},
		{"one of several etags", []string{"If-None-Match", `"other", ` + tag}, http.StatusNotModified},
		{"other etag", []string{"If-None-Match", `"other"`}, http.StatusOK},
		{"not modified since", []string{"If-Modified-Since", modified}, http.StatusNotModified},
		{"if-range matches", []string{"Range", "bytes=0-1", "If-Range", tag}, http.StatusPartialContent},
		{"if-range stale", []string{"Range", "bytes=0-1", "If-Range", `"old"`}, http.StatusOK},
		{"if-match fails", []string{"If-Match", `"old"`}, http.StatusPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := serve(h, "GET", "/logo.png", tt.header...); rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
		})
	}
}

func TestETagFollowsContent(t *testing.T) {
	h, dir := newHandler(t)
	etagOf := func() string { return serve(h, "GET", "/logo.png").Header().Get("ETag") }

	before := etagOf()
	if again := etagOf(); again != before {
		t.Fatalf("ETag changed without a change: %s then %s", before, again)
	}
	if len(h.etags) != 1 {
		t.Errorf("etag cache holds %d entries, want 1", len(h.etags))
	}

	// Same size, new content and mtime: the cached hash must not be reused.
	p := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(p, []byte("9876543210"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	after := etagOf()
	if after == before || !strongETag.MatchString(after) {
		t.Errorf("ETag after a change = %s, before %s", after, before)
	}
	if body := serve(h, "GET", "/logo.png").Body.String(); body != "9876543210" {
		t.Errorf("body = %q", body)
	}
}

// The handler must serve the whole file after hashing it: a forgotten Seek
// would send an empty body.
func TestBodyAfterHashing(t *testing.T) {
	h, _ := newHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 2 {
		resp, err := http.Get(srv.URL + "/video.mp4")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "video bytes" {
			t.Errorf("body = %q", body)
		}
	}
}

func TestFileName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/", ".", true},
		{"", ".", true},
		{"/a/b.png", filepath.Join("a", "b.png"), true},
		{"//a//b.png", filepath.Join("a", "b.png"), true},
		{"/./a", "a", true},
		{"/..", "", false},
		{"/a/../../b", "", false},
		{"/a\x00", "", false},
		{"/...", "...", true}, // an odd but legal name inside the root
	}
	for _, tt := range tests {
		got, ok := fileName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("fileName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
