package flight

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A caller that arrives while a run is in progress gets the next run, which
// began after it arrived; callers that arrive together share it.
func TestLateCallersShareTheNextRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		synctest.Wait() // run 1 is in progress, blocked on release
		late := make(chan int64, 3)
		for range 3 {
			go func() { v, _, _ := g.Do(context.Background(), "k", fn); late <- v }()
		}
		synctest.Wait() // all three found run 1 in progress and wait
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
	})
}

// Whatever the interleaving, no caller gets a run that started before it
// called Do. Arrivals and starts are numbered on one counter, so "before"
// needs no clock.
func TestNoRunOlderThanTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int64]
		var seq atomic.Int64
		fn := func(context.Context) (int64, error) {
			started := seq.Add(1)
			// The run takes a while (on the bubble's clock): callers
			// arrive while it is in progress.
			time.Sleep(time.Millisecond)
			return started, nil
		}
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				key := []string{"a", "b"}[i%2]
				arrived := seq.Add(1)
				started, err, _ := g.Do(context.Background(), key, fn)
				if err != nil || started < arrived {
					t.Errorf("caller %d got a run started at %d, before it arrived at %d (err %v)", i, started, arrived, err)
				}
			})
		}
		wg.Wait()
		if len(g.calls) != 0 {
			t.Errorf("%d keys left behind", len(g.calls))
		}
	})
}

// A waiter whose context ends stops waiting; the run it joined still runs
// once the slow one ends, and a caller after that gets a run of its own.
func TestWaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[int]
		release := make(chan struct{})
		var ran atomic.Int64
		go g.Do(context.Background(), "k", func(context.Context) (int, error) { <-release; return 1, nil })
		synctest.Wait() // run 1 is in progress
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err, _ := g.Do(ctx, "k", func(context.Context) (int, error) { ran.Add(1); return 2, nil }); err != context.Canceled {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		close(release)
		synctest.Wait() // run 1 ended, and the run the waiter joined ran after it
		if n := ran.Load(); n != 1 {
			t.Errorf("the run the waiter left ran %d times, want 1", n)
		}
		v, _, _ := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 3, nil })
		if v != 3 {
			t.Fatalf("got %d after the slow run ended, want 3 (a run of its own)", v)
		}
	})
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
