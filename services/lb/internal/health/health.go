// Package health decides which backends get traffic, from two kinds of
// evidence, as Caddy and Envoy split them: active checks (a request to each
// backend every interval, rise and fall thresholds) and passive ejection
// (consecutive failures of real requests take a backend out for a while).
//
// The proxy asks Available on every request; that is one atomic load of a
// list rebuilt only when something changes.
package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// Config holds both kinds of checking. Zero values turn a kind off: an
// empty Path (no active checks), EjectAfter 0 (no passive ejection).
type Config struct {
	Path     string        // LB_HEALTH_PATH: GET this on each backend; "" disables active checks
	Interval time.Duration // LB_HEALTH_INTERVAL
	Timeout  time.Duration // LB_HEALTH_TIMEOUT: a check slower than this failed
	Rise     int           // LB_HEALTH_RISE: passes in a row that make a backend healthy
	Fall     int           // LB_HEALTH_FALL: failures in a row that make it unhealthy

	EjectAfter         int           // LB_EJECT_AFTER: consecutive failed requests that eject a backend
	EjectTime          time.Duration // LB_EJECT_TIME: first ejection; each one in a row doubles it
	MaxEjectTime       time.Duration // LB_EJECT_MAX_TIME: cap on the doubling
	MaxEjectionPercent int           // LB_MAX_EJECTION_PERCENT: share of the pool that may be ejected at once
}

// Tracker holds the health of every backend discovery knows.
type Tracker struct {
	cfg     Config
	client  *http.Client
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time

	mu     sync.Mutex // guards the fields of every state marked so, and order
	order  []*balancer.Backend
	states map[*balancer.Backend]*state

	snap atomic.Pointer[snapshot]
	kick chan struct{} // a backend was added: Run checks the new ones at once
}

// snapshot is what requests read: immutable once published.
type snapshot struct {
	all       []*balancer.Backend
	available []*balancer.Backend
	healthy   int // backends checked healthy (or pending) and not ejected: Ready's count
	states    map[*balancer.Backend]*state
}

type state struct {
	backend *balancer.Backend
	// failures counts consecutive failed requests; requests update it
	// without the lock.
	failures atomic.Int64
	checking atomic.Bool // an active check is under way

	// Guarded by Tracker.mu.
	healthy    bool      // by active checks; false while pending
	pending    bool      // added with active checks on, no check finished yet
	checked    bool      // at least one active check has finished
	streak     int       // > 0: passes in a row, < 0: failures in a row
	ejected    bool      // passively, until ejectedTo
	ejectedTo  time.Time //
	ejections  int       // times ejected, for the admin API
	drained    bool      // by an operator: no new requests or connections
	level      int       // ejections in a row: the next lasts EjectTime << level
	returnedAt time.Time // end of the last ejection, for the level to decay
	gen        int       // ejection generation, so a stale timer does nothing
	timer      *time.Timer
	removed    bool
}

// New returns a tracker that checks backends through transport (the
// proxy's own, so checks reuse its warm connections and see the network as
// requests do). metrics may be nil.
func New(cfg Config, transport http.RoundTripper, metrics *Metrics, logger *slog.Logger) *Tracker {
	// Zero durations and thresholds would panic (a ticker of 0) or divide
	// by zero; give them the lb's defaults.
	cfg.Interval = cmp.Or(max(cfg.Interval, 0), 2*time.Second)
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), time.Second)
	cfg.Rise, cfg.Fall = max(cfg.Rise, 1), max(cfg.Fall, 1)
	cfg.EjectTime = cmp.Or(max(cfg.EjectTime, 0), 10*time.Second)
	cfg.MaxEjectTime = max(cfg.MaxEjectTime, cfg.EjectTime)
	t := &Tracker{
		cfg: cfg,
		client: &http.Client{
			Transport: transport,
			// A redirect is an answer: the backend is up.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger:  logger,
		metrics: metrics,
		now:     time.Now,
		states:  map[*balancer.Backend]*state{},
		kick:    make(chan struct{}, 1),
	}
	t.snap.Store(&snapshot{})
	if metrics != nil {
		metrics.attach(t)
	}
	return t
}

// Update follows discovery (it is a discovery.WatchFunc). With active
// checks on, a backend new to the tracker is pending until its first check
// passes (Envoy's ignore_new_hosts_until_first_hc), and Run checks it at
// once: a replica added by `--scale` or a rolling update is in DNS before
// it serves, and the requests sent to it meanwhile would fail. With checks
// off, a new backend is healthy at once: nothing else would ever admit it.
func (t *Tracker) Update(current, added, removed []*balancer.Backend) {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := t.cfg.Path != ""
	for _, b := range added {
		if t.states[b] == nil {
			t.states[b] = &state{backend: b, healthy: !active, pending: active}
			t.metrics.add(b)
		}
	}
	if active && len(added) > 0 {
		select {
		case t.kick <- struct{}{}:
		default: // a kick is already waiting; it covers these too
		}
	}
	for _, b := range removed {
		if st := t.states[b]; st != nil {
			st.removed = true
			if st.timer != nil {
				st.timer.Stop()
			}
			delete(t.states, b)
			if !t.knowsAddrLocked(b.Addr) { // else a new backend took its address: keep the series
				t.metrics.remove(b)
			}
		}
	}
	t.order = append(t.order[:0:0], current...)
	t.publishLocked()
}

// publishLocked rebuilds the snapshot from the states.
func (t *Tracker) publishLocked() {
	s := &snapshot{all: t.order, states: make(map[*balancer.Backend]*state, len(t.states))}
	var pending []*balancer.Backend
	for _, b := range t.order {
		st := t.states[b]
		if st == nil {
			continue
		}
		s.states[b] = st
		switch {
		case st.ejected || st.drained:
		case st.healthy:
			s.available = append(s.available, b)
		case st.pending:
			pending = append(pending, b)
		}
	}
	s.healthy = len(s.available) + len(pending)
	if len(s.available) == 0 {
		// Checked-healthy backends are preferred; with none (the lb has
		// just started and no check has finished, or every checked one
		// failed), the pending ones are used: nothing says they are down,
		// and refusing them would answer 503 only because checks have
		// not run yet.
		s.available = pending
	}
	if len(s.available) == 0 {
		// Every backend failing at once is more often a fault of the
		// checking (a health path a deploy broke, the lb's own network)
		// than of every replica, and when they really are all down,
		// trying one costs a failed try that retries may still rescue.
		// Answering 503 to everything is the only choice sure to fail,
		// so with none available, all are (Envoy's "panic mode"). All
		// but the drained: an operator took those out on purpose.
		s.available = t.undrainedLocked()
	}
	t.snap.Store(s)
}

// Available returns the backends requests may go to: healthy and not
// ejected, or all of them when none is. The caller must not modify it.
func (t *Tracker) Available() []*balancer.Backend { return t.snap.Load().available }

// All returns every backend discovery knows, in its order.
func (t *Tracker) All() []*balancer.Backend { return t.snap.Load().all }

// Ready reports an error unless some backend is healthy (or pending its
// first check, as at the lb's start) and not ejected.
func (t *Tracker) Ready(context.Context) error {
	s := t.snap.Load()
	switch {
	case len(s.all) == 0:
		return errors.New("no backend known yet (LB_BACKENDS has not resolved to any address)")
	case s.healthy == 0:
		return fmt.Errorf("none of %d backends is healthy (all failing health checks or ejected)", len(s.all))
	}
	return nil
}

// Observe records the outcome of a request to b: failed means a
// connection failure, a timeout or a 5xx. Successes cost one atomic load.
func (t *Tracker) Observe(b *balancer.Backend, failed bool) {
	if t.cfg.EjectAfter <= 0 {
		return
	}
	st := t.snap.Load().states[b]
	if st == nil {
		return // removed from discovery since it was picked
	}
	if !failed {
		if st.failures.Load() != 0 {
			st.failures.Store(0)
		}
		return
	}
	if st.failures.Add(1) >= int64(t.cfg.EjectAfter) {
		t.eject(st)
	}
}

// eject takes st's backend out of rotation, unless that would eject more
// than the allowed share of the pool: a bad deploy that makes every
// replica fail must not empty the pool.
func (t *Tracker) eject(st *state) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.removed || st.ejected {
		return
	}
	ejected := 0
	for _, o := range t.states {
		if o.ejected {
			ejected++
		}
	}
	if ejected+1 > t.maxEjected(len(t.states)) {
		t.logger.Debug("not ejecting: too much of the pool is ejected already",
			"backend", st.backend.Addr, "ejected", ejected, "backends", len(t.states))
		return
	}
	now := t.now()
	// An ejection right after the last one lasts twice as long; a backend
	// that has behaved for a while works its way back down, one level per
	// EjectTime spent in rotation (Envoy's outlier detection does the same).
	if !st.returnedAt.IsZero() {
		st.level -= int(now.Sub(st.returnedAt) / t.cfg.EjectTime)
	}
	st.level = max(st.level, 0)
	d := t.cfg.EjectTime
	for range st.level {
		if d *= 2; d >= t.cfg.MaxEjectTime {
			break
		}
	}
	d = min(d, t.cfg.MaxEjectTime)
	st.level++
	st.ejections++
	st.ejected, st.ejectedTo = true, now.Add(d)
	st.failures.Store(0)
	st.streak = min(st.streak, 0) // active checks must pass Rise times anew to end it early
	st.gen++
	gen := st.gen
	st.timer = time.AfterFunc(d, func() { t.endEjection(st, gen) })
	t.metrics.ejected(st.backend)
	t.publishLocked()
	// Logged once published: whoever reads the line (a test waits on it)
	// sees the new state.
	t.logger.Warn("backend ejected", "backend", st.backend.Addr, "for", d.String(),
		"after_failures", t.cfg.EjectAfter)
}

// maxEjected is how many of n backends may be ejected at once: the
// configured share, but at least one in a pool of two or more, so that a
// small pool can lose its one bad backend (Envoy's rule too).
func (t *Tracker) maxEjected(n int) int {
	if n < 2 || t.cfg.MaxEjectionPercent <= 0 {
		return 0
	}
	return max(1, n*t.cfg.MaxEjectionPercent/100)
}

func (t *Tracker) endEjection(st *state, gen int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.removed || !st.ejected || st.gen != gen {
		return
	}
	t.returnLocked(st, "ejection over")
}

func (t *Tracker) returnLocked(st *state, why string) {
	st.ejected = false
	st.returnedAt = t.now()
	st.failures.Store(0)
	if st.timer != nil {
		st.timer.Stop()
	}
	t.publishLocked()
	t.logger.Info("backend back in rotation", "backend", st.backend.Addr, "why", why)
}

// Run checks every backend each Interval until ctx ends; it returns at
// once when active checks are off.
func (t *Tracker) Run(ctx context.Context) {
	if t.cfg.Path == "" {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	onlyPending := false
	for {
		for b, st := range t.snap.Load().states {
			if onlyPending && !t.isPending(st) {
				continue
			}
			// A check slower than the interval is not doubled up.
			if st.checking.CompareAndSwap(false, true) {
				wg.Go(func() {
					defer st.checking.Store(false)
					t.record(st, t.check(ctx, b))
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			onlyPending = false
		case <-t.kick:
			// A backend was added: check it now, so that a ready replica
			// waits one check, not an interval, for its first request.
			onlyPending = true
		}
	}
}

func (t *Tracker) isPending(st *state) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return st.pending
}

// check sends one GET; any status below 400 is a pass (HAProxy's rule).
func (t *Tracker) check(ctx context.Context, b *balancer.Backend) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL.String()+t.cfg.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "scalelab-lb-health-check")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	// Read a little, so the connection can go back to the pool.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// record applies one check result. The first check of a backend decides
// at once (like HAProxy, which starts a server one failure from down):
// a replica that is up in DNS but not serving should not wait Fall
// intervals for its first verdict.
func (t *Tracker) record(st *state, err error) {
	if errors.Is(err, context.Canceled) {
		return // the lb is stopping
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.removed {
		return
	}
	t.metrics.checked(st.backend, err == nil)
	t.logger.Debug("health check", "backend", st.backend.Addr, "pass", err == nil)
	first := !st.checked
	st.checked = true
	if st.pending {
		t.recordFirstLocked(st, err)
		return
	}
	if err == nil {
		st.streak = max(st.streak, 0) + 1
		if !st.healthy && st.streak >= t.cfg.Rise {
			st.healthy = true
			t.publishLocked()
			t.logger.Info("backend healthy", "backend", st.backend.Addr, "passes", st.streak)
		}
		// Passing checks end a passive ejection early (Envoy's default):
		// a replica that comes back gets traffic within Rise intervals,
		// not after an ejection time that has grown long.
		if st.ejected && st.streak >= t.cfg.Rise {
			t.returnLocked(st, "health checks pass")
		}
		return
	}
	st.streak = min(st.streak, 0) - 1
	if st.healthy && (first || -st.streak >= t.cfg.Fall) {
		st.healthy = false
		t.publishLocked()
		t.logger.Warn("backend unhealthy", "backend", st.backend.Addr, "error", err.Error(), "failures", -st.streak)
	}
}

// recordFirstLocked decides a pending backend on its first check, either
// way: a pass admits it at once (it is a replica that came up, the case to
// make fast), a failure makes it unhealthy, to rise as any other.
func (t *Tracker) recordFirstLocked(st *state, err error) {
	st.pending = false
	if err == nil {
		st.healthy, st.streak = true, 1
		t.publishLocked()
		t.logger.Info("backend healthy", "backend", st.backend.Addr, "passes", 1, "first_check", true)
		if st.ejected && st.streak >= t.cfg.Rise { // ejected while it served as a fallback
			t.returnLocked(st, "health checks pass")
		}
		return
	}
	st.healthy, st.streak = false, -1
	t.publishLocked()
	t.logger.Warn("backend unhealthy", "backend", st.backend.Addr, "error", err.Error(), "first_check", true)
}
