package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// users is the userName lookup of the tests: 42 is Ada, 7 breaks the
// database, everyone else is unknown.
func users(_ context.Context, id int64) (string, error) {
	switch id {
	case 42:
		return "Ada", nil
	case 43:
		return "Grace", nil
	case 7:
		return "", errors.New("shard 1: connection refused")
	}
	return "", fmt.Errorf("user %d: %w", id, ErrUnknownUser)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// deadRedis is a client of a port nobody listens on: Redis is down.
func deadRedis(t *testing.T) *redis.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 0, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func serve(h http.HandlerFunc, method, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	path := map[string]string{http.MethodGet: "/me"}[method]
	if path == "" {
		path = "/login"
	}
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h(rec, r)
	return rec
}

// problem checks an RFC 9457 answer and returns its detail.
func problem(t *testing.T, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != status {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return p.Detail
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

// Everything that must be decided before Redis is asked: with Redis down,
// these answers prove Redis was not asked.
func TestHandlerWithoutRedis(t *testing.T) {
	h := NewHandler(New(deadRedis(t), 10*time.Second, 200*time.Millisecond), "api-a", users, false, discard())

	t.Run("bad body is 400", func(t *testing.T) {
		problem(t, serve(h.Login, http.MethodPost, `{"user":42}`), http.StatusBadRequest)
	})
	t.Run("huge body is 413", func(t *testing.T) {
		problem(t, serve(h.Login, http.MethodPost, `{"user_id":`+strings.Repeat("1", 5000)+`}`), http.StatusRequestEntityTooLarge)
	})
	t.Run("unknown user is 404", func(t *testing.T) {
		if d := problem(t, serve(h.Login, http.MethodPost, `{"user_id":99}`), http.StatusNotFound); d != "no user with id 99" {
			t.Errorf("detail = %q", d)
		}
	})
	t.Run("failed user lookup is 503", func(t *testing.T) {
		problem(t, serve(h.Login, http.MethodPost, `{"user_id":7}`), http.StatusServiceUnavailable)
	})
	t.Run("me without cookie is 401", func(t *testing.T) {
		rec := serve(h.Me, http.MethodGet, "")
		problem(t, rec, http.StatusUnauthorized)
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
	})
	t.Run("me with a malformed cookie is 401", func(t *testing.T) {
		for _, v := range []string{"42", "user_id=42", strings.Repeat("A", 42) + "B", strings.Repeat("x", 4000)} {
			problem(t, serve(h.Me, http.MethodGet, "", &http.Cookie{Name: CookieName, Value: v}), http.StatusUnauthorized)
		}
	})
	t.Run("logout without cookie is 204 and expires the cookie", func(t *testing.T) {
		rec := serve(h.Logout, http.MethodPost, "")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", rec.Code)
		}
		if c := sessionCookie(t, rec); c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("cookie = %v, want an expired empty one", c)
		}
	})
}

// Redis down: logging in, recognising and logging out all fail fast with
// 503, the session store being the one thing these routes cannot do without.
func TestHandlerRedisDown(t *testing.T) {
	h := NewHandler(New(deadRedis(t), 10*time.Second, 200*time.Millisecond), "api-a", users, false, discard())
	valid := &http.Cookie{Name: CookieName, Value: NewID()}
	for _, tt := range []struct {
		name string
		rec  func() *httptest.ResponseRecorder
	}{
		{"login", func() *httptest.ResponseRecorder { return serve(h.Login, http.MethodPost, `{"user_id":42}`) }},
		{"me", func() *httptest.ResponseRecorder { return serve(h.Me, http.MethodGet, "", valid) }},
		{"logout", func() *httptest.ResponseRecorder { return serve(h.Logout, http.MethodPost, "", valid) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rec := tt.rec()
			if d := problem(t, rec, http.StatusServiceUnavailable); d != "session store unavailable" {
				t.Errorf("detail = %q", d)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("took %v; a dead Redis must fail fast", el)
			}
			if c := sessionCookie(t, rec); c != nil {
				t.Errorf("set cookie %v on a failure", c)
			}
		})
	}
}

func TestNewRejectsNonPositiveTTL(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with ttl 0 did not panic")
		}
	}()
	New(nil, 0, time.Second)
}
