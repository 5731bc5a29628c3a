//go:build containers

package session

// Integration tests against a real Redis in a container (testcontainers-go):
// two handlers with different instance names over one Redis are two
// replicas of the api behind a load balancer.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"scalelab/services/api/internal/containertest"
)

func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	ctx := context.Background()
	opts, err := redis.ParseURL(containertest.StartRedis(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = 0
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return rdb
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replica serves one handler the way the api routes it.
func replica(t *testing.T, h *Handler) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", h.Login)
	mux.HandleFunc("GET /me", h.Me)
	mux.HandleFunc("POST /logout", h.Logout)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status  int
	cookies []*http.Cookie
	body    map[string]any
	raw     string
}

func (a answer) cookie() *http.Cookie {
	for _, c := range a.cookies {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

// call sends a request with client c (whose cookie jar is the browser's)
// and any extra cookies.
func call(t *testing.T, c *http.Client, method, url, body string, cookies ...*http.Cookie) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, cookies: resp.Cookies(), raw: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func TestSessionsAcrossReplicas(t *testing.T) {
	rdb := startRedis(t)
	ctx := context.Background()
	const ttl = 10 * time.Second
	st := New(rdb, ttl, time.Second)
	a := replica(t, NewHandler(st, "api-a", users, false, discard()))
	b := replica(t, NewHandler(New(rdb, ttl, time.Second), "api-b", users, false, discard()))

	// One browser; cookies are per host, not per port, so the jar sends
	// the cookie A set to B as well: as behind one load balancer.
	ada := browser(t)

	login := call(t, ada, http.MethodPost, a.URL+"/login", `{"user_id":42}`)
	if login.status != http.StatusCreated {
		t.Fatalf("login on A = %d: %s", login.status, login.raw)
	}
	if login.body["user_id"] != 42.0 || login.body["name"] != "Ada" || login.body["served_by"] != "api-a" {
		t.Errorf("login answer = %s", login.raw)
	}
	ck := login.cookie()
	if ck == nil {
		t.Fatal("login set no session cookie")
	}
	if !ValidID(ck.Value) || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.MaxAge != 10 {
		t.Errorf("cookie = %+v; want a valid id, HttpOnly, SameSite=Lax, Path=/, not Secure, Max-Age=10", ck)
	}
	id := ck.Value

	t.Run("stored in redis as JSON with a TTL", func(t *testing.T) {
		raw, err := rdb.Get(ctx, "session:"+id).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("value %s: %v", raw, err)
		}
		if v["user_id"] != 42.0 || v["name"] != "Ada" || v["created_by"] != "api-a" {
			t.Errorf("value = %s", raw)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v["created_at"])); err != nil {
			t.Errorf("created_at: %v", err)
		}
		if got := rdb.TTL(ctx, "session:"+id).Val(); got <= 0 || got > ttl {
			t.Errorf("TTL = %v, want in (0, %v]", got, ttl)
		}
	})

	t.Run("created on A, served by B", func(t *testing.T) {
		me := call(t, ada, http.MethodGet, b.URL+"/me", "")
		if me.status != http.StatusOK {
			t.Fatalf("/me on B = %d: %s", me.status, me.raw)
		}
		if me.body["user_id"] != 42.0 || me.body["name"] != "Ada" ||
			me.body["session_created_by"] != "api-a" || me.body["served_by"] != "api-b" {
			t.Errorf("/me on B = %s", me.raw)
		}
		if c := me.cookie(); c == nil || c.Value != id || c.MaxAge != 10 {
			t.Errorf("/me refreshed cookie = %+v, want the same id with Max-Age=10", c)
		}
	})

	t.Run("sliding expiry", func(t *testing.T) {
		if err := rdb.Expire(ctx, "session:"+id, 2*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
		if me := call(t, ada, http.MethodGet, a.URL+"/me", ""); me.status != http.StatusOK {
			t.Fatalf("/me on A = %d: %s", me.status, me.raw)
		}
		if got := rdb.TTL(ctx, "session:"+id).Val(); got <= 5*time.Second {
			t.Errorf("TTL after a read = %v, want it back near %v", got, ttl)
		}
		// And through the store directly.
		rdb.Expire(ctx, "session:"+id, 2*time.Second)
		if _, err := st.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := rdb.TTL(ctx, "session:"+id).Val(); got <= 5*time.Second {
			t.Errorf("TTL after Store.Get = %v, want it back near %v", got, ttl)
		}
	})

	t.Run("unknown cookie is 401 and cleared", func(t *testing.T) {
		me := call(t, http.DefaultClient, http.MethodGet, b.URL+"/me", "", &http.Cookie{Name: CookieName, Value: NewID()})
		if me.status != http.StatusUnauthorized {
			t.Fatalf("/me with an unknown id = %d: %s", me.status, me.raw)
		}
		if c := me.cookie(); c == nil || c.MaxAge >= 0 {
			t.Errorf("cookie = %+v, want it expired", c)
		}
		if me := call(t, http.DefaultClient, http.MethodGet, b.URL+"/me", ""); me.status != http.StatusUnauthorized {
			t.Fatalf("/me without a cookie = %d: %s", me.status, me.raw)
		}
	})

	t.Run("a second login replaces the session", func(t *testing.T) {
		grace := browser(t)
		first := call(t, grace, http.MethodPost, b.URL+"/login", `{"user_id":43}`).cookie()
		second := call(t, grace, http.MethodPost, a.URL+"/login", `{"user_id":43}`).cookie()
		if first == nil || second == nil || first.Value == second.Value {
			t.Fatalf("cookies %v then %v: want two different ids", first, second)
		}
		if n := rdb.Exists(ctx, "session:"+first.Value).Val(); n != 0 {
			t.Error("the replaced session still exists")
		}
		me := call(t, grace, http.MethodGet, b.URL+"/me", "")
		if me.status != http.StatusOK || me.body["session_created_by"] != "api-a" {
			t.Errorf("/me after the second login = %d %s", me.status, me.raw)
		}
	})

	t.Run("logout on B ends the session on A", func(t *testing.T) {
		out := call(t, ada, http.MethodPost, b.URL+"/logout", "")
		if out.status != http.StatusNoContent {
			t.Fatalf("logout on B = %d: %s", out.status, out.raw)
		}
		if c := out.cookie(); c == nil || c.MaxAge >= 0 {
			t.Errorf("logout cookie = %+v, want it expired", c)
		}
		if n := rdb.Exists(ctx, "session:"+id).Val(); n != 0 {
			t.Error("session still in Redis after logout")
		}
		// The browser dropped the cookie; a client that kept it (a stolen
		// copy) is refused too.
		if me := call(t, ada, http.MethodGet, a.URL+"/me", ""); me.status != http.StatusUnauthorized {
			t.Errorf("/me on A after logout = %d: %s", me.status, me.raw)
		}
		kept := &http.Cookie{Name: CookieName, Value: id}
		if me := call(t, http.DefaultClient, http.MethodGet, a.URL+"/me", "", kept); me.status != http.StatusUnauthorized {
			t.Errorf("/me on A with the old cookie = %d: %s", me.status, me.raw)
		}
		if again := call(t, http.DefaultClient, http.MethodPost, a.URL+"/logout", "", kept); again.status != http.StatusNoContent {
			t.Errorf("second logout = %d, want 204", again.status)
		}
	})
}

func TestStoreWithRedis(t *testing.T) {
	rdb := startRedis(t)
	ctx := context.Background()
	st := New(rdb, time.Minute, time.Second)

	t.Run("round trip", func(t *testing.T) {
		in := Session{UserID: 1, Name: "Lin", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CreatedBy: "api-x"}
		id, err := st.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.Get(ctx, id)
		if err != nil || out != in {
			t.Fatalf("Get = %+v, %v; want %+v", out, err, in)
		}
		if err := st.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, id); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})
	t.Run("invalid ids never reach redis", func(t *testing.T) {
		rdb.Set(ctx, "session:42", `{"user_id":42}`, time.Minute)
		if _, err := st.Get(ctx, "42"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(42): %v, want ErrNotFound", err)
		}
	})
	t.Run("unreadable value is not found", func(t *testing.T) {
		id := NewID()
		rdb.Set(ctx, "session:"+id, "not json", time.Minute)
		if _, err := st.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get: %v, want ErrNotFound", err)
		}
	})
}
