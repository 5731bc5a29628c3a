//go:build containers

package integration

import (
	"strings"
	"testing"
)

// The guide's round-robin L7 balancer, as containers: two api replicas
// behind the lb answer in strict alternation.
func TestLBAlternatesBetweenTwoAPIContainers(t *testing.T) {
	nw := newNetwork(t)
	// GET / needs no database; the shards named here are never dialled, so
	// /healthz (alive), not /readyz, is what the replicas wait on.
	apiEnv := func(id string) map[string]string {
		return map[string]string{
			"INSTANCE_ID": id,
			"REDIS_URL":   "redis://redis.invalid:6379/0",
			"SHARD_DSNS":  "postgres://u:p@pg.invalid:5432/users",
		}
	}
	startService(t, nw, "api", "api-a", "/healthz", apiEnv("api-a"))
	startService(t, nw, "api", "api-b", "/healthz", apiEnv("api-b"))
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{
		"LB_BACKENDS": "http://api-a:8080,http://api-b:8080",
	})

	var order []string
	for i := 0; i < 10; i++ {
		resp, body := get(t, lb+"/")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		served := resp.Header.Get("X-Served-By")
		if want := "Hello from " + served + "\n"; body != want {
			t.Fatalf("request %d: body %q does not match X-Served-By %q", i, body, served)
		}
		order = append(order, served)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("replicas did not alternate: %s", strings.Join(order, " "))
		}
	}
	seen := map[string]bool{}
	for _, s := range order {
		seen[s] = true
	}
	if !seen["api-a"] || !seen["api-b"] || len(seen) != 2 {
		t.Fatalf("want exactly api-a and api-b, got %s", strings.Join(order, " "))
	}
}
