package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestWithRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming []string // X-Request-Id values sent; nil for none
		keep     bool     // the first incoming value is kept
	}{
		{"absent", nil, false},
		{"empty", []string{""}, false},
		{"sane", []string{"abc-123_XYZ.~:/"}, true},
		{"uuid", []string{"0f8fad5b-d9cb-469f-a165-70867728950e"}, true},
		{"128 bytes", []string{strings.Repeat("a", 128)}, true},
		{"129 bytes", []string{strings.Repeat("a", 129)}, false},
		{"space", []string{"a b"}, false},
		{"tab", []string{"a\tb"}, false},
		{"escape", []string{"a\x1b[31mred"}, false},
		{"DEL", []string{"a\x7f"}, false},
		{"non-ASCII", []string{"héllo"}, false},
		{"first of several", []string{"first", "second"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seenCtx, seenHeader string
			called := false
			h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				seenCtx = RequestID(r.Context())
				seenHeader = r.Header.Get(RequestIDHeader)
			}))
			req := httptest.NewRequest("GET", "/", nil)
			for _, v := range tt.incoming {
				req.Header.Add(RequestIDHeader, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if !called {
				t.Fatal("next handler not called")
			}
			got := rec.Header().Get(RequestIDHeader)
			if tt.keep {
				if got != tt.incoming[0] {
					t.Errorf("response id = %q, want the incoming %q", got, tt.incoming[0])
				}
			} else {
				if !hexID.MatchString(got) {
					t.Errorf("response id = %q, want a new 32-hex-digit id", got)
				}
			}
			if seenCtx != got {
				t.Errorf("context id = %q, response id = %q", seenCtx, got)
			}
			if seenHeader != got {
				t.Errorf("request header forwarded = %q, response id = %q", seenHeader, got)
			}
		})
	}
}

func TestWithRequestIDNewIDsDiffer(t *testing.T) {
	h := WithRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for range 20 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		id := rec.Header().Get(RequestIDHeader)
		if seen[id] {
			t.Fatalf("id %q issued twice", id)
		}
		seen[id] = true
	}
}

func TestRequestIDWithoutMiddleware(t *testing.T) {
	if id := RequestID(context.Background()); id != "" {
		t.Errorf("RequestID(background) = %q, want empty", id)
	}
}

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"", false},
		{"a", true},
		{"!~", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{" ", false},
		{"a\x00", false},
		{"a\n", false},
		{"a\x7f", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := validRequestID(tt.id); got != tt.want {
			t.Errorf("validRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(&buf, slog.LevelWarn, "api")
	logger.Info("dropped")
	logger.Warn("kept", "k", "v")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (info filtered out):\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log line is not JSON: %v: %s", err, lines[0])
	}
	for k, want := range map[string]string{"msg": "kept", "level": "WARN", "service": "api", "k": "v"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %q", k, rec[k], want)
		}
	}
}
