//go:build containers

// Package stack brings the whole compose topology up, under its own project
// name and host ports so it never touches a stack the user runs, and checks
// what a user of the lab would see.
package stack

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const project = "scalelab-stacktest"

// Host ports of this test's stack (the user's own stack uses 8000...).
var ports = map[string]string{
	"LB_PORT":           "18000",
	"LB_L4_PORT":        "18001",
	"LB_TLS_PORT":       "18443",
	"EDGE_SYDNEY_PORT":  "18081",
	"EDGE_NEWYORK_PORT": "18082",
	"ORIGIN_PORT":       "18090",
	"PROMETHEUS_PORT":   "19090",
}

func url_(portVar, path string) string { return "http://127.0.0.1:" + ports[portVar] + path }

type answer struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, u string) answer {
	t.Helper()
	start := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(body), time.Since(start)}
}

func TestStack(t *testing.T) {
	s := startStack(t)

	t.Run("the L4 port spreads connections over the replicas", func(t *testing.T) {
		// One connection per request: L4 balances connections, not requests.
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		seen := map[string]bool{}
		for i := 0; i < 6; i++ {
			resp, err := client.Get(url_("LB_L4_PORT", "/"))
			if err != nil {
				t.Fatalf("request %d through L4: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Hello from ") {
				t.Fatalf("request %d through L4: %d %q", i, resp.StatusCode, body)
			}
			seen[resp.Header.Get("X-Served-By")] = true
		}
		if len(seen) != 3 {
			t.Fatalf("6 connections through L4 reached %d replicas, want all 3: %v", len(seen), seen)
		}
	})

	t.Run("three replicas answer in turn through the lb", func(t *testing.T) {
		var served []string
		for i := 0; i < 6; i++ {
			a := get(t, url_("LB_PORT", "/"))
			if a.status != 200 || !strings.HasPrefix(a.body, "Hello from ") {
				t.Fatalf("request %d: %d %q", i, a.status, a.body)
			}
			served = append(served, a.header.Get("X-Served-By"))
		}
		if served[0] == served[1] || served[1] == served[2] || served[0] == served[2] {
			t.Fatalf("first three answers not from three replicas: %v", served)
		}
		for i := 3; i < 6; i++ {
			if served[i] != served[i-3] {
				t.Fatalf("replicas not answering in turn: %v", served)
			}
		}
	})

	t.Run("user 42 is a miss then a hit from its crc32 shard", func(t *testing.T) {
		shard := fmt.Sprint(crc32.ChecksumIEEE([]byte("42")) % 3)
		for _, want := range []string{"MISS", "HIT"} {
			a := get(t, url_("LB_PORT", "/users/42"))
			if a.status != 200 || a.header.Get("X-Cache") != want || a.header.Get("X-Shard") != shard {
				t.Fatalf("GET /users/42 = %d X-Cache=%q X-Shard=%q, want 200 %s %s: %s",
					a.status, a.header.Get("X-Cache"), a.header.Get("X-Shard"), want, shard, a.body)
			}
		}
	})

	t.Run("a session made on one replica is valid on every replica", func(t *testing.T) {
		resp, err := client.Post(url_("LB_PORT", "/login"), "application/json", strings.NewReader(`{"user_id":42}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 || len(resp.Cookies()) == 0 {
			t.Fatalf("login = %d", resp.StatusCode)
		}
		servedBy := map[string]bool{}
		for i := 0; i < 3; i++ {
			req, _ := http.NewRequest(http.MethodGet, url_("LB_PORT", "/me"), nil)
			req.AddCookie(resp.Cookies()[0])
			me, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				UserID   int64  `json:"user_id"`
				ServedBy string `json:"served_by"`
			}
			json.NewDecoder(me.Body).Decode(&body)
			me.Body.Close()
			if me.StatusCode != 200 || body.UserID != 42 {
				t.Fatalf("GET /me = %d %+v", me.StatusCode, body)
			}
			servedBy[body.ServedBy] = true
		}
		if len(servedBy) != 3 {
			t.Errorf("three /me answered by %d replicas, want 3", len(servedBy))
		}
	})

	t.Run("the far edge pays the round trip on a miss only", func(t *testing.T) {
		miss := get(t, url_("EDGE_SYDNEY_PORT", "/logo.png"))
		hit := get(t, url_("EDGE_SYDNEY_PORT", "/logo.png"))
		if miss.status != 200 || miss.header.Get("X-Cache") != "MISS" {
			t.Fatalf("first: %d %q, want 200 MISS", miss.status, miss.header.Get("X-Cache"))
		}
		if hit.status != 200 || hit.header.Get("X-Cache") != "HIT" || hit.body != miss.body {
			t.Fatalf("second: %d %q, want 200 HIT with the same body", hit.status, hit.header.Get("X-Cache"))
		}
		// 200 ms is slept before every origin fetch: a floor, not a guess.
		if miss.took < 200*time.Millisecond {
			t.Errorf("miss took %s, less than the simulated 200 ms to the origin", miss.took)
		}
		if hit.took >= miss.took {
			t.Errorf("hit (%s) was not faster than miss (%s)", hit.took, miss.took)
		}
		t.Logf("edge-sydney: miss %s, hit %s", miss.took, hit.took)
	})

	t.Run("prometheus scrapes every target", func(t *testing.T) {
		// 3 api replicas, lb, 2 edges and their shield, origin, prometheus itself.
		const want = 9
		var last string
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			up, total, down := targets(t)
			if total == want && up == want {
				return
			}
			last = fmt.Sprintf("%d of %d targets up (want %d), down: %v", up, total, want, down)
			time.Sleep(2 * time.Second) // Prometheus scrapes on its own clock: nothing to wait on but time
		}
		t.Fatal(last)
	})

	t.Run("dashboards: every panel has data, in Prometheus and in the offline view", func(t *testing.T) {
		testDashboards(t, s)
	})

	t.Run("a stopped replica stops getting traffic", func(t *testing.T) {
		ids := strings.Fields(s.mustRun("ps", "-q", "api"))
		if len(ids) != 3 {
			t.Fatalf("want 3 api containers, got %v", ids)
		}
		if out, err := exec.Command("docker", "stop", "-t", "10", ids[0]).CombinedOutput(); err != nil {
			t.Fatalf("docker stop: %v %s", err, out)
		}
		// The lb re-resolves the replicas every 2 s; within a few seconds
		// every answer must come from the two that are left.
		deadline := time.Now().Add(30 * time.Second)
		for {
			served := map[string]int{}
			ok := 0
			for i := 0; i < 6; i++ {
				if a := get(t, url_("LB_PORT", "/")); a.status == 200 {
					ok++
					served[a.header.Get("X-Served-By")]++
				}
			}
			if ok == 6 && len(served) == 2 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s: %d of 6 answered, by %v", ok, served)
			}
			time.Sleep(time.Second) // the lb container re-resolves DNS on its own clock
		}
	})
}

func targets(t *testing.T) (up, total int, down []string) {
	t.Helper()
	a := get(t, url_("PROMETHEUS_PORT", "/api/v1/targets?state=active"))
	var r struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(a.body), &r); err != nil {
		t.Fatalf("targets: %v: %s", err, a.body)
	}
	for _, tg := range r.Data.ActiveTargets {
		total++
		if tg.Health == "up" {
			up++
		} else {
			down = append(down, tg.ScrapeURL+" "+tg.Health+" "+tg.LastError)
		}
	}
	return up, total, down
}
