package balancer

import (
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

func TestTryAcquireNeverOvershoots(t *testing.T) {
	b := NewBackend(&url.URL{Scheme: "http", Host: "10.0.0.1:80"})
	const limit = 5
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if b.TryAcquire(limit) {
				got.Add(1)
			}
		})
	}
	wg.Wait()
	if got.Load() != limit || b.InFlight() != limit {
		t.Fatalf("50 concurrent TryAcquire(%d): %d succeeded, in flight %d; want %d each", limit, got.Load(), b.InFlight(), limit)
	}
	b.Release()
	if !b.TryAcquire(limit) {
		t.Errorf("after a Release, TryAcquire failed")
	}
	if !b.TryAcquire(0) || b.InFlight() != limit+1 {
		t.Errorf("TryAcquire(0) must always count: in flight %d", b.InFlight())
	}
}
