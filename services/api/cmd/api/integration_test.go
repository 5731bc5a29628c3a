package main

// Integration tests: the api started in-process by run, against a real
// PostgreSQL and a real Redis in containers (testcontainers-go). The three
// shards are three databases on one server: to the router they are three
// DSNs, and it costs one container instead of three.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"scalelab/services/platform/platformtest"
)

func imageFromEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type deps struct {
	shardDSNs []string
	redisURL  string
}

// startDeps starts one PostgreSQL with databases shard0..shard2 and one Redis.
func startDeps(t *testing.T) deps {
	t.Helper()
	ctx := context.Background()
	pg, err := testcontainers.Run(ctx, imageFromEnv("POSTGRES_IMAGE", "postgres:15-bookworm"),
		testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": "test", "POSTGRES_DB": "shard0"}),
		testcontainers.WithExposedPorts("5432/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForListeningPort("5432/tcp")),
	)
	testcontainers.CleanupContainer(t, pg)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	rd, err := testcontainers.Run(ctx, imageFromEnv("REDIS_IMAGE", "redis:7-bookworm"),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute, wait.ForListeningPort("6379/tcp")),
	)
	testcontainers.CleanupContainer(t, rd)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	pgHost, _ := pg.Host(ctx)
	pgPort, _ := pg.MappedPort(ctx, "5432/tcp")
	rdHost, _ := rd.Host(ctx)
	rdPort, _ := rd.MappedPort(ctx, "6379/tcp")

	dsn := func(db string) string {
		return fmt.Sprintf("postgres://postgres:test@%s:%s/%s?sslmode=disable", pgHost, pgPort.Port(), db)
	}
	conn := connectRetry(t, dsn("shard0"))
	for _, db := range []string{"shard1", "shard2"} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatalf("create %s: %v", db, err)
		}
	}
	conn.Close(ctx)
	return deps{
		shardDSNs: []string{dsn("shard0"), dsn("shard1"), dsn("shard2")},
		redisURL:  fmt.Sprintf("redis://%s:%s/0", rdHost, rdPort.Port()),
	}
}

func connectRetry(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", dsn, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "")
}

func do(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAPIWithPostgresAndRedis(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"INSTANCE_ID": "api-test",
		"REDIS_URL":   d.redisURL,
		"SHARD_DSNS":  strings.Join(d.shardDSNs, ","),
		"SEED_USERS":  "300",
	})

	t.Run("hello names the replica", func(t *testing.T) {
		resp, body := get(t, api.URL+"/")
		if resp.StatusCode != 200 || body != "Hello from api-test\n" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Served-By"); got != "api-test" {
			t.Errorf("X-Served-By = %q", got)
		}
	})

	t.Run("miss then hit from the crc32 shard", func(t *testing.T) {
		wantShard := strconv.Itoa(int(crc32.ChecksumIEEE([]byte("42")) % 3))
		for i, wantCache := range []string{"MISS", "HIT"} {
			resp, body := get(t, api.URL+"/users/42")
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d: %s", i, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Cache"); got != wantCache {
				t.Errorf("request %d: X-Cache = %q, want %q", i, got, wantCache)
			}
			if got := resp.Header.Get("X-Shard"); got != wantShard {
				t.Errorf("request %d: X-Shard = %q, want %q", i, got, wantShard)
			}
			var u struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID != 42 || u.Name == "" {
				t.Errorf("request %d: body %q (%v)", i, body, err)
			}
		}
	})

	t.Run("each seeded id lives on crc32(id) % 3 and nowhere else", func(t *testing.T) {
		ctx := context.Background()
		for shard, dsn := range d.shardDSNs {
			conn := connectRetry(t, dsn)
			rows, err := conn.Query(ctx, "SELECT id FROM users")
			if err != nil {
				t.Fatal(err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			conn.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) < 50 {
				t.Errorf("shard %d holds only %d of 300 seed users", shard, len(ids))
			}
			for _, id := range ids {
				if want := int(crc32.ChecksumIEEE([]byte(strconv.FormatInt(id, 10))) % 3); want != shard {
					t.Errorf("user %d is on shard %d, router says %d", id, shard, want)
				}
			}
		}
	})

	t.Run("put writes the shard and invalidates the cache", func(t *testing.T) {
		get(t, api.URL+"/users/7") // make sure it is cached
		if resp, _ := get(t, api.URL+"/users/7"); resp.Header.Get("X-Cache") != "HIT" {
			t.Fatalf("user 7 not cached before the write")
		}
		resp, body := do(t, http.MethodPut, api.URL+"/users/7", `{"name":"Ada Lovelace"}`)
		if resp.StatusCode != 200 || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("PUT = %d %s", resp.StatusCode, body)
		}
		resp, body = get(t, api.URL+"/users/7")
		if resp.Header.Get("X-Cache") != "MISS" || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("GET after PUT = %s %s, want MISS with the new name", resp.Header.Get("X-Cache"), body)
		}
		resp, body = get(t, api.URL+"/users/7")
		if resp.Header.Get("X-Cache") != "HIT" || !strings.Contains(body, `"Ada Lovelace"`) {
			t.Fatalf("second GET after PUT = %s %s, want HIT with the new name", resp.Header.Get("X-Cache"), body)
		}
	})

	t.Run("put creates an unknown id", func(t *testing.T) {
		resp, body := do(t, http.MethodPut, api.URL+"/users/900001", `{"name":"Grace","email":"grace@example.com"}`)
		if resp.StatusCode != 201 {
			t.Fatalf("PUT new id = %d %s, want 201", resp.StatusCode, body)
		}
		resp, body = get(t, api.URL+"/users/900001")
		if resp.StatusCode != 200 || !strings.Contains(body, "grace@example.com") {
			t.Fatalf("GET created = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("bad input gets problem json", func(t *testing.T) {
		tests := []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/users/abc", "", 400},
			{"GET", "/users/0", "", 400},
			{"GET", "/users/99999999999999999999", "", 400},
			{"GET", "/users/123456789", "", 404},
			{"PUT", "/users/5", `{"name":""}`, 400},
			{"PUT", "/users/5", `{"name":"x","role":"admin"}`, 400},
			{"PUT", "/users/5", `{"name":"` + strings.Repeat("x", 70000) + `"}`, 413},
			{"DELETE", "/users/5", "", 405},
			{"GET", "/nope", "", 404},
		}
		for _, tt := range tests {
			resp, body := do(t, tt.method, api.URL+tt.path, tt.body)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, body)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != tt.want || p.Detail == "" {
				t.Errorf("%s %s: problem body %q", tt.method, tt.path, body)
			}
		}
	})

	t.Run("metrics count hits and misses", func(t *testing.T) {
		_, body := get(t, api.AdminURL+"/metrics")
		for _, want := range []string{
			`scalelab_api_cache_requests_total{op="get",result="hit"}`,
			`scalelab_api_cache_requests_total{op="get",result="miss"}`,
			`scalelab_api_http_requests_total{code="2xx",method="GET",route="GET /users/{id}"}`,
			`scalelab_api_db_queries_total{op="get",outcome="ok",shard=`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestAPIRedisDownCostsNoErrors(t *testing.T) {
	d := startDeps(t)
	api := platformtest.Start(t, run, map[string]string{
		"REDIS_URL":     "redis://" + platformtest.FreeAddr(t) + "/0", // nothing listens there
		"REDIS_TIMEOUT": "100ms",
		"SHARD_DSNS":    strings.Join(d.shardDSNs, ","),
		"SEED_USERS":    "20",
	})
	for i := 0; i < 3; i++ {
		resp, body := get(t, api.URL+"/users/3")
		if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "MISS" {
			t.Fatalf("GET with Redis down = %d %s %s, want 200 MISS", resp.StatusCode, resp.Header.Get("X-Cache"), body)
		}
	}
	resp, body := do(t, http.MethodPut, api.URL+"/users/3", `{"name":"still writable"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT with Redis down = %d %s", resp.StatusCode, body)
	}
}
