package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"scalelab/services/lb/internal/balancer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func backends(n int) []*balancer.Backend {
	out := make([]*balancer.Backend, n)
	for i := range out {
		out[i] = balancer.NewBackend(&url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	return out
}

// passive is a config with only passive ejection on.
func passive() Config {
	return Config{EjectAfter: 3, EjectTime: time.Hour, MaxEjectTime: 4 * time.Hour, MaxEjectionPercent: 50}
}

func newTracker(t *testing.T, cfg Config, bs []*balancer.Backend) (*Tracker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	tr := New(cfg, http.DefaultTransport, NewMetrics(reg), quiet)
	tr.Update(bs, bs, nil)
	return tr, reg
}

func addrs(bs []*balancer.Backend) string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Addr)
	}
	return strings.Join(out, ",")
}

func fail(tr *Tracker, b *balancer.Backend, n int) {
	for range n {
		tr.Observe(b, true)
	}
}

func TestNewBackendsAreAvailableInOrder(t *testing.T) {
	bs := backends(3)
	tr, _ := newTracker(t, passive(), bs)
	if got := addrs(tr.Available()); got != addrs(bs) {
		t.Fatalf("available %q, want %q", got, addrs(bs))
	}
	if err := tr.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	empty, _ := newTracker(t, passive(), nil)
	if err := empty.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "no backend known") {
		t.Fatalf("Ready with no backend = %v", err)
	}
}

func TestPassiveEjection(t *testing.T) {
	bs := backends(3)
	tr, reg := newTracker(t, passive(), bs)
	fail(tr, bs[1], 2)
	tr.Observe(bs[1], false) // a success in between starts the count again
	fail(tr, bs[1], 2)
	if got := addrs(tr.Available()); got != addrs(bs) {
		t.Fatalf("ejected after 2+2 failures separated by a success: available %q", got)
	}
	fail(tr, bs[1], 1)
	if got, want := addrs(tr.Available()), addrs([]*balancer.Backend{bs[0], bs[2]}); got != want {
		t.Fatalf("after 3 consecutive failures available %q, want %q", got, want)
	}
	if n := testutil.ToFloat64(tr.metrics.ejections.WithLabelValues(bs[1].Addr)); n != 1 {
		t.Errorf("ejections_total = %v, want 1", n)
	}
	want := `
# HELP scalelab_lb_backends Backends known, by state: available (healthy, not ejected), pending (new, first active check not passed yet), unhealthy (failing active checks), ejected (after failed requests), drained (by the admin API).
# TYPE scalelab_lb_backends gauge
scalelab_lb_backends{state="available"} 2
scalelab_lb_backends{state="drained"} 0
scalelab_lb_backends{state="ejected"} 1
scalelab_lb_backends{state="pending"} 0
scalelab_lb_backends{state="unhealthy"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scalelab_lb_backends"); err != nil {
		t.Error(err)
	}
}

// The ejection returns by itself; one right after lasts twice as long,
// capped; time spent in rotation brings the level down again.
func TestEjectionBackoffGrowsCappedAndDecays(t *testing.T) {
	synctest.Test(t, testEjectionBackoff)
}

func testEjectionBackoff(t *testing.T) {
	bs := backends(2)
	cfg := passive()
	cfg.EjectTime, cfg.MaxEjectTime = 40*time.Millisecond, 100*time.Millisecond
	tr, _ := newTracker(t, cfg, bs)
	now := time.Now()
	// tr.now and the state are read by timers under the lock: change and
	// read them under it too.
	setNow := func(f func() time.Time) { tr.mu.Lock(); tr.now = f; tr.mu.Unlock() }
	setNow(func() time.Time { return now })
	st := tr.snap.Load().states[bs[0]]

	var got []time.Duration
	for range 4 {
		fail(tr, bs[0], 3)
		tr.mu.Lock()
		got = append(got, st.ejectedTo.Sub(now))
		tr.returnLocked(st, "test") // as if the timer had fired
		tr.mu.Unlock()
	}
	want := []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("ejection durations %v, want %v", got, want)
	}
	// 4 levels deep; 3 EjectTimes in rotation bring it to level 1: 80ms.
	later := now.Add(3 * cfg.EjectTime)
	setNow(func() time.Time { return later })
	fail(tr, bs[0], 3)
	tr.mu.Lock()
	d := st.ejectedTo.Sub(later)
	tr.mu.Unlock()
	if d != 80*time.Millisecond {
		t.Errorf("after a quiet spell the ejection lasts %v, want 80ms", d)
	}

	// The timer ends it, 80ms after it began on the bubble's clock.
	setNow(time.Now)
	time.Sleep(80*time.Millisecond - time.Nanosecond)
	synctest.Wait()
	if len(tr.Available()) != 1 {
		t.Fatal("ejected backend back before its 80ms were up")
	}
	time.Sleep(time.Nanosecond)
	synctest.Wait()
	if len(tr.Available()) != 2 {
		t.Fatal("ejected backend not back after its 80ms")
	}
}

func TestMaxEjectionPercent(t *testing.T) {
	tests := []struct {
		n, percent, want int
	}{
		{4, 50, 2},
		{3, 50, 1},
		{3, 10, 1}, // at least one in a pool of two or more
		{1, 100, 0},
		{5, 0, 0},
		{10, 100, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d at %d%%", tt.n, tt.percent), func(t *testing.T) {
			bs := backends(tt.n)
			cfg := passive()
			cfg.MaxEjectionPercent = tt.percent
			tr, _ := newTracker(t, cfg, bs)
			for _, b := range bs {
				fail(tr, b, 5)
			}
			ejected := 0
			for _, st := range tr.snap.Load().states {
				if st.ejected {
					ejected++
				}
			}
			if ejected != tt.want {
				t.Fatalf("%d ejected, want %d", ejected, tt.want)
			}
		})
	}
}

// A backend failing every check, then passing again. The checks reach it
// through a RoundTripper, not a socket, so the tests run in a synctest
// bubble: the ticker runs on the bubble's clock and synctest.Wait returns
// when every check it started has been recorded.
type flaky struct {
	down atomic.Bool
	hits atomic.Int64
	hold chan struct{} // when set, a check waits until it is closed
}

// fakeNet routes each check to the flaky backend of its host.
type fakeNet map[string]*flaky

func (n fakeNet) RoundTrip(r *http.Request) (*http.Response, error) {
	f, ok := n[r.URL.Host]
	if !ok {
		return nil, fmt.Errorf("dial %s: connection refused", r.URL.Host)
	}
	f.hits.Add(1)
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	rec := httptest.NewRecorder()
	switch {
	case r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "scalelab-lb-health-check":
		http.Error(rec, "unexpected "+r.URL.Path, http.StatusNotFound)
	case f.down.Load():
		http.Error(rec, "down", http.StatusServiceUnavailable)
	}
	return rec.Result(), nil
}

// flakyBackends returns n backends, each behind a flaky, and the transport
// that reaches them.
func flakyBackends(n int) ([]*balancer.Backend, []*flaky, fakeNet) {
	bs, fs, net := backends(n), make([]*flaky, n), fakeNet{}
	for i, b := range bs {
		fs[i] = &flaky{}
		net[b.Addr] = fs[i]
	}
	return bs, fs, net
}

func active() Config {
	return Config{Path: "/healthz", Interval: 5 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2,
		EjectAfter: 3, EjectTime: time.Hour, MaxEjectTime: time.Hour, MaxEjectionPercent: 50}
}

// activeTracker is newTracker with checks through net, running until the
// test ends.
func activeTracker(t *testing.T, cfg Config, bs []*balancer.Backend, net fakeNet) (*Tracker, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	tr := New(cfg, net, NewMetrics(reg), quiet)
	tr.Update(bs, bs, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return tr, reg
}

// tick lets n check intervals pass on the bubble's clock and waits until
// the checks they started are recorded.
func tick(n int) {
	time.Sleep(time.Duration(n) * active().Interval)
	synctest.Wait()
}

func TestActiveChecksRiseAndFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, f, net := flakyBackends(2)
		good, bad := f[0], f[1]
		tr, reg := activeTracker(t, active(), bs, net)

		tick(2)
		if good.hits.Load() != 3 || bad.hits.Load() != 3 {
			t.Fatalf("after two intervals %d and %d checks, want 3 each", good.hits.Load(), bad.hits.Load())
		}
		if got := addrs(tr.Available()); got != addrs(bs) {
			t.Fatalf("both pass, available %q", got)
		}
		bad.down.Store(true)
		tick(1)
		if got := addrs(tr.Available()); got != addrs(bs) {
			t.Fatalf("after one failed check (Fall 2) available %q, want both", got)
		}
		tick(1)
		if got := addrs(tr.Available()); got != bs[0].Addr {
			t.Fatalf("after two failed checks available %q, want %q", got, bs[0].Addr)
		}
		bad.down.Store(false)
		tick(1)
		if got := addrs(tr.Available()); got != bs[0].Addr {
			t.Fatalf("after one passing check (Rise 2) available %q, want %q", got, bs[0].Addr)
		}
		tick(1)
		if got := addrs(tr.Available()); got != addrs(bs) {
			t.Fatalf("after two passing checks available %q, want both", got)
		}

		n, err := testutil.GatherAndCount(reg, "scalelab_lb_backend_health_checks_total")
		if err != nil || n != 3 { // good: pass; bad: pass and fail
			t.Errorf("health check series: %d (%v), want 3", n, err)
		}
	})
}

// The first check decides at once: a replica in DNS but not serving does
// not wait Fall intervals. And with every backend out, all are used.
func TestFirstFailedCheckAndAllDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, f, net := flakyBackends(1)
		f[0].down.Store(true)
		cfg := active()
		cfg.Fall, cfg.Interval = 100, time.Hour // only the first check can run
		tr, _ := activeTracker(t, cfg, bs, net)
		synctest.Wait() // the first check is recorded
		if err := tr.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "none of 1 backends is healthy") {
			t.Errorf("Ready = %v, want none of 1 backends is healthy", err)
		}
		if got := addrs(tr.Available()); got != bs[0].Addr {
			t.Errorf("with every backend down, available %q, want all of them", got)
		}
	})
}

// Passing checks end a passive ejection long before its time is up.
func TestPassingChecksEndEjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, _, net := flakyBackends(2)
		reg := prometheus.NewRegistry()
		tr := New(active(), net, NewMetrics(reg), quiet) // ejections last an hour
		tr.Update(bs, bs, nil)
		fail(tr, bs[1], 3)
		if len(tr.Available()) != 1 {
			t.Fatal("not ejected")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { tr.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		tick(2)
		if got := addrs(tr.Available()); got != addrs(bs) {
			t.Fatalf("after passing checks available %q, want both", got)
		}
	})
}

// A backend that leaves discovery takes its series with it, and late
// events about it change nothing.
func TestRemovedBackendIsForgotten(t *testing.T) {
	bs := backends(3)
	tr, reg := newTracker(t, passive(), bs)
	fail(tr, bs[2], 3)
	tr.Update(bs[:2], nil, bs[2:])
	fail(tr, bs[2], 10)
	if got := addrs(tr.Available()); got != addrs(bs[:2]) {
		t.Fatalf("available %q, want %q", got, addrs(bs[:2]))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == bs[2].Addr {
					t.Errorf("%s still has a series for the removed backend", mf.GetName())
				}
			}
		}
	}
}

// Requests report from many goroutines while discovery changes the pool:
// the race detector (go test -race, as make unit runs it) watches the
// sharing, and the books must balance at the end: every backend known
// once, and counted in exactly one state.
func TestConcurrentObserveAndUpdate(t *testing.T) {
	bs := backends(6)
	cfg := passive()
	cfg.EjectTime = time.Millisecond
	tr, reg := newTracker(t, cfg, bs)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				av := tr.Available()
				if len(av) == 0 {
					continue
				}
				tr.Observe(av[(w+i)%len(av)], i%3 != 0)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				tr.Update(bs[:4], nil, bs[4:])
			} else {
				tr.Update(bs, bs[4:], nil)
			}
			reg.Gather()
		}
	})
	wg.Wait()
	// The last update put all six back.
	seen := map[*balancer.Backend]bool{}
	for _, b := range tr.Available() {
		if seen[b] || !slices.Contains(bs, b) {
			t.Errorf("Available lists %s twice or a backend it was never given", b.Addr)
		}
		seen[b] = true
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "scalelab_lb_backends" {
			for _, m := range mf.GetMetric() {
				total += m.GetGauge().GetValue()
			}
		}
	}
	if total != 6 {
		t.Errorf("scalelab_lb_backends sums to %v over its states, want the 6 backends", total)
	}
}

// A zero Config (as a caller that only wants passive ejection might write)
// neither panics nor divides by zero.
func TestZeroConfigGetsDefaults(t *testing.T) {
	bs := backends(2)
	tr, _ := newTracker(t, Config{Path: "/", EjectAfter: 1, MaxEjectionPercent: 50}, bs)
	fail(tr, bs[0], 1)
	tr.mu.Lock()
	tr.returnLocked(tr.snap.Load().states[bs[0]], "test")
	tr.mu.Unlock()
	fail(tr, bs[0], 1) // the second ejection divides by EjectTime
	if len(tr.Available()) != 1 {
		t.Fatal("not ejected")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tr.Run(ctx) // a zero interval would panic in NewTicker
}
