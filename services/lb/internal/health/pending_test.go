package health

import (
	"testing"
	"testing/synctest"
	"time"

	"scalelab/services/lb/internal/balancer"
)

func states(tr *Tracker) string {
	var out string
	for _, s := range tr.Status() {
		out += s.Backend.Addr + "=" + s.State + " "
	}
	return out
}

// A backend discovery adds while the lb runs gets no request before its
// first check passes, that check runs at once (not an interval later), and
// the backend gets requests as soon as it has passed.
func TestNewBackendPendingUntilFirstCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, f, net := flakyBackends(3)
		old, added := bs[:2], bs[2]
		f[2].hold = make(chan struct{})
		tr, _ := activeTracker(t, active(), old, net)
		tick(1)

		start := time.Now()
		tr.Update(bs, []*balancer.Backend{added}, nil)
		synctest.Wait() // its first check is sent and held
		if got := f[2].hits.Load(); got != 1 {
			t.Fatalf("checks of the new backend right after it was added: %d, want 1", got)
		}
		if got, want := addrs(tr.Available()), addrs(old); got != want {
			t.Fatalf("before its first check passed available %q, want %q", got, want)
		}
		if got, want := states(tr), "10.0.0.1:80=available 10.0.0.2:80=available 10.0.0.3:80=pending "; got != want {
			t.Fatalf("states %q, want %q", got, want)
		}

		close(f[2].hold)
		synctest.Wait()
		if got := addrs(tr.Available()); got != addrs(bs) {
			t.Fatalf("after its first check passed available %q, want %q", got, addrs(bs))
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("the new backend waited %v of the bubble's clock, want 0 (its check runs at once)", waited)
		}
	})
}

// A new backend whose first check fails is unhealthy, to rise as any other.
func TestNewBackendFailingFirstCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, f, net := flakyBackends(2)
		f[1].down.Store(true)
		tr, _ := activeTracker(t, active(), bs[:1], net)
		tick(1)
		tr.Update(bs, bs[1:], nil)
		synctest.Wait()
		if got, want := states(tr), "10.0.0.1:80=available 10.0.0.2:80=unhealthy "; got != want {
			t.Fatalf("states %q, want %q", got, want)
		}
		if got := addrs(tr.Available()); got != bs[0].Addr {
			t.Fatalf("available %q, want %q", got, bs[0].Addr)
		}
	})
}

// At the lb's start no check has finished: the pending backends serve
// rather than a 503, and the lb is ready.
func TestPendingBackendsServeAtStart(t *testing.T) {
	bs, _, net := flakyBackends(2)
	tr := New(active(), net, nil, quiet)
	tr.Update(bs, bs, nil)
	if got := addrs(tr.Available()); got != addrs(bs) {
		t.Fatalf("before any check available %q, want %q", got, addrs(bs))
	}
	if got, want := states(tr), "10.0.0.1:80=pending 10.0.0.2:80=pending "; got != want {
		t.Fatalf("states %q, want %q", got, want)
	}
	if err := tr.Ready(t.Context()); err != nil {
		t.Fatalf("Ready with pending backends: %v", err)
	}
}

// With no checked-healthy backend, a pending one is used rather than the
// failing ones (panic mode is for when there is nothing better).
func TestPendingPreferredWhenNoneHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, f, net := flakyBackends(2)
		f[0].down.Store(true)
		f[1].hold = make(chan struct{})
		tr, _ := activeTracker(t, active(), bs[:1], net)
		tick(1)
		tr.Update(bs, bs[1:], nil)
		synctest.Wait()
		if got, want := states(tr), "10.0.0.1:80=unhealthy 10.0.0.2:80=pending "; got != want {
			t.Fatalf("states %q, want %q", got, want)
		}
		if got := addrs(tr.Available()); got != bs[1].Addr {
			t.Fatalf("available %q, want the pending %q", got, bs[1].Addr)
		}
		close(f[1].hold)
	})
}

// With active checks off nothing would ever admit a pending backend: a new
// one is available at once.
func TestNewBackendAvailableWithChecksOff(t *testing.T) {
	bs := backends(3)
	tr, _ := newTracker(t, passive(), bs[:2])
	tr.Update(bs, bs[2:], nil)
	if got := addrs(tr.Available()); got != addrs(bs) {
		t.Fatalf("available %q, want %q", got, addrs(bs))
	}
}
