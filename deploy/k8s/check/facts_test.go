package check

import (
	"maps"
	"slices"
	"testing"
)

// The scan finds what the api's code reads, through the platform package
// and pgx, and what it requires; a scan that found nothing would let every
// manifest through.
func TestServiceReadsFindsWhatTheApiReads(t *testing.T) {
	r := reads["api"]
	if got := slices.Sorted(maps.Keys(r.Required)); !slices.Equal(got, []string{"REDIS_URL", "SHARD_DSNS"}) {
		t.Errorf("api requires %v, want [REDIS_URL SHARD_DSNS]", got)
	}
	for _, v := range []string{"LISTEN_ADDR", "ADMIN_ADDR", "SHUTDOWN_TIMEOUT", "CACHE_TTL", "SEED_USERS", "INSTANCE_ID", "PGPASSWORD"} {
		if !r.Vars[v] {
			t.Errorf("the scan missed %s", v)
		}
	}
	if r.Vars["LB_BACKENDS"] || r.Vars["ORIGIN_URL"] {
		t.Error("the api's scan found another service's variables")
	}
	if r.Defaults["ADMIN_ADDR"] != ":9100" {
		t.Errorf("ADMIN_ADDR default %q, want :9100", r.Defaults["ADMIN_ADDR"])
	}
}

func TestAdminPathsAndImageTargets(t *testing.T) {
	paths, err := AdminPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if !paths[p] {
			t.Errorf("admin paths %v lack %s", paths, p)
		}
	}
	if got := slices.Sorted(maps.Keys(targets)); !slices.Equal(got, []string{"api", "edge", "lb", "origin"}) {
		t.Errorf("Dockerfile targets %v", got)
	}
}
