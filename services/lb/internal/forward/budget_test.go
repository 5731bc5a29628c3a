package forward

import (
	"sync"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	b := NewBudget(20, 1)
	now := time.Unix(1000, 0)
	b.now = func() time.Time { return now }
	for range 100 {
		b.Request()
	}
	allowed := 0
	for b.Retry() {
		allowed++
	}
	// 20% of 100, plus 1 per second over the 10 s window.
	if allowed != 30 {
		t.Fatalf("%d retries allowed, want 30", allowed)
	}
	now = now.Add(5 * time.Second)
	if b.Retry() {
		t.Fatal("retry allowed with the window's budget spent")
	}
	// The first second's requests and retries leave the window together.
	now = now.Add(6 * time.Second)
	for range 10 {
		b.Request()
	}
	allowed = 0
	for b.Retry() {
		allowed++
	}
	if allowed != 12 {
		t.Fatalf("after the window moved: %d retries allowed, want 12 (20%% of 10, plus 10)", allowed)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	b := NewBudget(20, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	retries := 0
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Request()
				if b.Retry() {
					mu.Lock()
					retries++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// 20% of 8000; loose bounds for the window's second ticking over.
	if retries < 1000 || retries > 1700 {
		t.Errorf("%d retries for 8000 requests, want about 1600", retries)
	}
}
