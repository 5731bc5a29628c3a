package flight

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A caller that arrives while a run is in progress gets the next run, which
// began after it arrived; callers that arrive together share it.
func TestLateCallersShareTheNextRun(t *testing.T) {
	var g Group[int64]
	var runs atomic.Int64
	release := make(chan struct{})
	fn := func(context.Context) (int64, error) {
		n := runs.Add(1)
		if n == 1 {
			<-release // the first run is slow: others arrive meanwhile
		}
		return n, nil
	}
	first := make(chan int64)
	go func() { v, _, _ := g.Do(context.Background(), "k", fn); first <- v }()
	for runs.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	late := make(chan int64, 3)
	for range 3 {
		go func() { v, _, _ := g.Do(context.Background(), "k", fn); late <- v }()
	}
	time.Sleep(50 * time.Millisecond) // let them find run 1 in progress
	close(release)
	if v := <-first; v != 1 {
		t.Fatalf("the first caller got run %d, want 1", v)
	}
	for range 3 {
		if v := <-late; v != 2 {
			t.Errorf("a caller that arrived during run 1 got run %d, want 2", v)
		}
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs for 4 callers, want 2", n)
	}
}

// Whatever the interleaving, no caller gets a run that started before it
// called Do.
func TestNoRunOlderThanTheCaller(t *testing.T) {
	var g Group[time.Time]
	fn := func(context.Context) (time.Time, error) {
		started := time.Now()
		time.Sleep(time.Millisecond)
		return started, nil
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			key := []string{"a", "b"}[i%2]
			arrived := time.Now()
			started, err, _ := g.Do(context.Background(), key, fn)
			if err != nil || started.Before(arrived) {
				t.Errorf("caller got a run started %v before it arrived (err %v)", arrived.Sub(started), err)
			}
		})
	}
	wg.Wait()
	if len(g.calls) != 0 {
		t.Errorf("%d keys left behind", len(g.calls))
	}
}

// A waiter whose context ends stops waiting; the run goes on for the others.
func TestWaiterGivesUp(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	go g.Do(context.Background(), "k", func(context.Context) (int, error) { <-release; return 1, nil })
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err, _ := g.Do(ctx, "k", func(context.Context) (int, error) { return 2, nil }); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	close(release)
	v, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 3, nil })
	if v != 2 && v != 3 {
		t.Fatalf("got %d after the slow run ended, want a later run", v)
	}
}

// The run is not cancelled with the caller that started it.
func TestRunOutlivesItsCaller(t *testing.T) {
	var g Group[error]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, _, _ := g.Do(ctx, "k", func(ctx context.Context) (error, error) { return ctx.Err(), nil })
	if v != nil {
		t.Fatalf("the run saw its context end: %v", v)
	}
}
