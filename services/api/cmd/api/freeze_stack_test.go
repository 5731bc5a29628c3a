//go:build containers && stack

package main

import (
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStackRedisFrozenFailsNothing is TestAPIRedisFrozenFailsNothing
// through a running stack's lb (its replicas and settings as deployed):
//
//	STACK_LB_URL=http://127.0.0.1:8000 STACK_REDIS_CONTAINER=<id> STACK_USER_OFFSET=<n> \
//	  go test -tags 'containers stack' -run TestStackRedisFrozenFailsNothing -v ./cmd/api
//
// docs/api.md shows the whole run. STACK_USER_OFFSET picks 20 users whose
// names no earlier run wrote (a stale read is a name older than the
// newest acknowledged write, counted from v1).
func TestStackRedisFrozenFailsNothing(t *testing.T) {
	lb, redis := os.Getenv("STACK_LB_URL"), os.Getenv("STACK_REDIS_CONTAINER")
	if lb == "" || redis == "" {
		t.Fatal("STACK_LB_URL and STACK_REDIS_CONTAINER must name the stack's lb and its Redis container")
	}
	l := &freezeLoad{
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}},
		acked:  make([]atomic.Int64, 20),
		offset: int(time.Now().Unix() % 9000), // ids 1..9020 exist with the default SEED_USERS
	}
	if v := os.Getenv("STACK_USER_OFFSET"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("STACK_USER_OFFSET %q: want a non-negative integer", v)
		}
		l.offset = n
	}
	t.Logf("users %d..%d through %s", l.offset+1, l.offset+20, lb)
	l.freezeThrice(t, func(int) string { return strings.TrimSuffix(lb, "/") }, func(verb string) {
		if out, err := exec.Command("docker", verb, redis).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v: %s", verb, err, out)
		}
	})
	if l.failed.Load() != 0 {
		t.Errorf("%d requests failed, first: %s", l.failed.Load(), strings.Join(l.firstFailures, "; "))
	}
	if l.reads.Load() < 1000 || l.writes.Load() < 100 {
		t.Errorf("too little load ran to tell: %d reads, %d writes", l.reads.Load(), l.writes.Load())
	}
}
