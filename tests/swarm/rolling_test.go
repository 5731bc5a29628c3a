//go:build containers

package swarm

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"scalelab/tests/internal/lab"
)

// load sends requests through the lb from a few workers until stopped and
// counts what failed (a transport error or any status but 200).
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	total    int
	failed   int
	samples  []string
	replicas map[string]int
}

const workers = 4

func startLoad() *load {
	l := &load{stop: make(chan struct{}), replicas: map[string]int{}}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go l.worker(w)
	}
	return l
}

func (l *load) worker(w int) {
	defer l.wg.Done()
	c := &http.Client{Timeout: 10 * time.Second}
	// Bounded even if never stopped: at most 10 minutes of requests.
	end := time.Now().Add(10 * time.Minute)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		path := "/"
		if i%2 == 1 {
			path = fmt.Sprintf("/users/%d", 1+(w*1000+i)%500)
		}
		a, err := lab.TryGet(c, endpoints.LB+path)
		l.mu.Lock()
		l.total++
		switch {
		case err != nil:
			l.failed++
			l.sample(fmt.Sprintf("GET %s: %v", path, err))
		case a.Status != 200:
			l.failed++
			l.sample(fmt.Sprintf("GET %s: %d %s", path, a.Status, strings.TrimSpace(a.Body)))
		default:
			l.replicas[a.Header.Get("X-Served-By")]++
		}
		l.mu.Unlock()
	}
}

func (l *load) sample(s string) {
	if len(l.samples) < 10 {
		l.samples = append(l.samples, s)
	}
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

func rollingUpdate(t *testing.T, d *deployment) {
	before := servedBy(6)
	if len(distinct(before)) != 3 {
		t.Fatalf("before the update: %v, want 3 replicas", before)
	}
	l := startLoad()
	started := time.Now()
	// --force replaces every task with the same spec, as a new image would,
	// following the service's update_config (one at a time, start-first).
	d.docker("service", "update", "--detach", "--force", stack+"_api")
	state := waitUpdate(t, d, 5*time.Minute)
	l.finish()
	took := time.Since(started)
	if state != "completed" {
		t.Fatalf("update ended %q, want completed; %d of %d requests failed", state, l.failed, l.total)
	}

	after := servedBy(6)
	seenAfter := distinct(after)
	if len(seenAfter) != 3 {
		t.Fatalf("after the update: %v, want 3 replicas", after)
	}
	var oldServed, newServed int
	for r, n := range l.replicas {
		if distinct(before)[r] {
			oldServed += n
		}
		if seenAfter[r] {
			newServed += n
		}
	}
	for r := range seenAfter {
		if distinct(before)[r] {
			t.Errorf("replica %s answers after the update too: not every task was replaced", r)
		}
	}
	t.Logf("rolling update of 3 api tasks under load: %s, %d requests from %d workers, %d failed; "+
		"%d answered by the old tasks, %d by the new ones", took.Round(time.Second), l.total, workers, l.failed, oldServed, newServed)
	if oldServed == 0 || newServed == 0 {
		t.Errorf("the load did not span the update: %d answers by old tasks, %d by new ones", oldServed, newServed)
	}
	if l.failed != 0 {
		t.Errorf("%d of %d requests failed during the rolling update, want 0; first ones:\n%s",
			l.failed, l.total, strings.Join(l.samples, "\n"))
	}
}

// waitUpdate polls the api service's update status until it ends.
func waitUpdate(t *testing.T, d *deployment, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		state := d.docker("service", "inspect", stack+"_api", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}")
		switch state {
		case "completed", "paused", "rollback_completed", "rollback_paused":
			return state
		}
		if time.Now().After(deadline) {
			return "still " + state + " after " + limit.String()
		}
		time.Sleep(time.Second) // the swarm's update state: nothing to wait on but time
	}
}
