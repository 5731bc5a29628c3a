package platform

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// readyRecheck is how long a failed readiness verdict is reused: a
// replica starting behind several load balancers gets a health check from
// each every interval, and each would otherwise run every ready check.
const readyRecheck = 500 * time.Millisecond

// readyLatch is whether the service has been ready once, and, until then,
// the last verdict and when it was reached.
type readyLatch struct {
	ever atomic.Bool
	mu   sync.Mutex // held while a verdict is reached, so concurrent callers share it
	at   time.Time
	err  error
	now  func() time.Time // time.Now; tests set it
}

// UnlessDrainingOrUnready is UnlessDraining that also answers 503 until the
// service has first been ready (every AddReadyCheck check passed once):
// the route a load balancer checks on the traffic port (the api's GET /)
// then admits a new replica only once it can serve, not as soon as its
// listener is up.
//
// Readiness latches: once ready, only the drain turns the route 503 again,
// and the answer costs two atomic loads. Running every ready check on each
// health check would load the databases from every balancer and replica,
// and a dependency shared by all replicas failing would take them all out
// at once, which a balancer can only answer by trying them all anyway;
// failures after the start are for passive ejection and /readyz (which
// still runs every check) to see.
func (s *Service) UnlessDrainingOrUnready(h http.Handler) http.Handler {
	return s.UnlessDraining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.firstReady(r.Context()); err != nil {
			w.Header().Set("Retry-After", "1")
			WriteProblem(w, r, http.StatusServiceUnavailable, s.Name+" is not ready yet: "+err.Error())
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// firstReady returns nil once the service has been ready, else runs the
// ready checks (or reuses a verdict under readyRecheck old) and names the
// ones that failed.
func (s *Service) firstReady(ctx context.Context) error {
	l := &s.ready
	if l.ever.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	if l.ever.Load() {
		return nil
	}
	if !l.at.IsZero() && now().Sub(l.at) < readyRecheck {
		return l.err
	}
	// The verdict is shared: one caller going away must not fail it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var failed []string
	for name, err := range s.runChecks(ctx) {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
		}
	}
	slices.Sort(failed)
	l.at, l.err = now(), nil
	if len(failed) > 0 {
		l.err = fmt.Errorf("ready check %s", strings.Join(failed, "; "))
		return l.err
	}
	l.ever.Store(true)
	return nil
}
