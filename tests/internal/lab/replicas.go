package lab

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// L4Spreads checks that n fresh connections through the L4 port reach n
// distinct api replicas (L4 balances connections, not requests).
func L4Spreads(t *testing.T, e Endpoints, replicas int) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]bool{}
	for i := 0; i < 2*replicas; i++ {
		a, err := TryGet(c, e.L4+"/")
		if err != nil {
			t.Fatalf("request %d through L4: %v", i, err)
		}
		if a.Status != 200 || !strings.HasPrefix(a.Body, "Hello from ") {
			t.Fatalf("request %d through L4: %d %q", i, a.Status, a.Body)
		}
		seen[a.Header.Get("X-Served-By")] = true
	}
	if len(seen) != replicas {
		t.Fatalf("%d connections through L4 reached %d replicas, want all %d: %v", 2*replicas, len(seen), replicas, seen)
	}
}

// InTurn checks that sequential requests through one lb are answered by the
// replicas in turn: the first n by n distinct replicas, then the same order.
func InTurn(t *testing.T, e Endpoints, replicas int) {
	t.Helper()
	var served []string
	for i := 0; i < 2*replicas; i++ {
		a := Get(t, e.LB+"/")
		if a.Status != 200 || !strings.HasPrefix(a.Body, "Hello from ") {
			t.Fatalf("request %d: %d %q", i, a.Status, a.Body)
		}
		served = append(served, a.Header.Get("X-Served-By"))
	}
	first := map[string]bool{}
	for _, s := range served[:replicas] {
		first[s] = true
	}
	if len(first) != replicas {
		t.Fatalf("first %d answers not from %d replicas: %v", replicas, replicas, served)
	}
	for i := replicas; i < len(served); i++ {
		if served[i] != served[i-replicas] {
			t.Fatalf("replicas not answering in turn: %v", served)
		}
	}
}

// MissThenHit checks that user 42 is a cache miss, then a hit, both from
// its shard crc32("42") % shards.
func MissThenHit(t *testing.T, e Endpoints, shards uint32) {
	t.Helper()
	shard := fmt.Sprint(crc32.ChecksumIEEE([]byte("42")) % shards)
	for _, want := range []string{"MISS", "HIT"} {
		a := Get(t, e.LB+"/users/42")
		if a.Status != 200 || a.Header.Get("X-Cache") != want || a.Header.Get("X-Shard") != shard {
			t.Fatalf("GET /users/42 = %d X-Cache=%q X-Shard=%q, want 200 %s %s: %s",
				a.Status, a.Header.Get("X-Cache"), a.Header.Get("X-Shard"), want, shard, a.Body)
		}
	}
}

// SessionEverywhere checks that a session made through the lb is valid on
// every replica.
func SessionEverywhere(t *testing.T, e Endpoints, replicas int) {
	t.Helper()
	resp, err := Client.Post(e.LB+"/login", "application/json", strings.NewReader(`{"user_id":42}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || len(resp.Cookies()) == 0 {
		t.Fatalf("login = %d with %d cookies", resp.StatusCode, len(resp.Cookies()))
	}
	servedBy := map[string]bool{}
	for i := 0; i < replicas; i++ {
		req, _ := http.NewRequest(http.MethodGet, e.LB+"/me", nil)
		req.AddCookie(resp.Cookies()[0])
		me, err := Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			UserID   int64  `json:"user_id"`
			ServedBy string `json:"served_by"`
		}
		err = json.NewDecoder(me.Body).Decode(&body)
		me.Body.Close()
		if err != nil || me.StatusCode != 200 || body.UserID != 42 {
			t.Fatalf("GET /me = %d %+v %v", me.StatusCode, body, err)
		}
		servedBy[body.ServedBy] = true
	}
	if len(servedBy) != replicas {
		t.Errorf("%d /me answered by %d replicas, want %d", replicas, len(servedBy), replicas)
	}
}

// FarEdge checks that the far edge pays its simulated 200 ms round trip on
// a miss and answers the hit from its cache, faster.
func FarEdge(t *testing.T, e Endpoints) {
	t.Helper()
	miss := Get(t, e.EdgeSydney+"/logo.png")
	hit := Get(t, e.EdgeSydney+"/logo.png")
	if miss.Status != 200 || miss.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %q, want 200 MISS", miss.Status, miss.Header.Get("X-Cache"))
	}
	if hit.Status != 200 || hit.Header.Get("X-Cache") != "HIT" || hit.Body != miss.Body {
		t.Fatalf("second: %d %q, want 200 HIT with the same body", hit.Status, hit.Header.Get("X-Cache"))
	}
	// 200 ms is slept before every origin fetch: a floor, not a guess.
	if miss.Took < 200*time.Millisecond {
		t.Errorf("miss took %s, less than the simulated 200 ms to the origin", miss.Took)
	}
	if hit.Took >= miss.Took {
		t.Errorf("hit (%s) was not faster than miss (%s)", hit.Took, miss.Took)
	}
	t.Logf("edge-sydney: miss %s, hit %s", miss.Took, hit.Took)
}

// WaitInRotation waits, at most within, until the lb's answers come from
// replicas distinct replicas: a replica the orchestrator reports running
// may still be preparing (schema, seed users), and the lb takes it in only
// once its health checks pass. Polling the lb, another process, is the
// only way to see that from here.
func WaitInRotation(t *testing.T, e Endpoints, replicas int, within time.Duration) {
	t.Helper()
	var seen map[string]bool
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		seen = map[string]bool{}
		for range 2 * replicas {
			if a, err := TryGet(http.DefaultClient, e.LB+"/"); err == nil && a.Status == 200 {
				seen[a.Header.Get("X-Served-By")] = true
			}
		}
		if len(seen) >= replicas {
			return
		}
	}
	t.Fatalf("after %v the lb answered from %d replicas, want %d: %v", within, len(seen), replicas, seen)
}
