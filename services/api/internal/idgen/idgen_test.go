package idgen

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand. Its sleep advances the clock
// by exactly the duration asked for and records it, so the generator's waits
// are deterministic and take no real time.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// newFake returns a generator for node on a fake clock set to start.
func newFake(t *testing.T, node int, start time.Time) (*Generator, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: start}
	g, err := New(node, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	g.sleep = c.Sleep
	return g, c
}

func mustNext(t *testing.T, g *Generator) int64 {
	t.Helper()
	id, err := g.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return id
}

// start is a reading well inside the id range, with a sub-millisecond part
// so that sleeps must round to millisecond boundaries correctly.
var start = Epoch.Add(1000*time.Hour + 123*time.Millisecond + 456*time.Microsecond)

func TestNodeRange(t *testing.T) {
	for _, tc := range []struct {
		node int
		ok   bool
	}{
		{-1, false}, {0, true}, {1, true}, {MaxNode, true}, {MaxNode + 1, false}, {1 << 20, false},
	} {
		g, err := New(tc.node, nil)
		if tc.ok {
			if err != nil || g == nil || g.Node() != tc.node {
				t.Errorf("New(%d) = %v, %v; want a generator", tc.node, g, err)
			}
		} else if !errors.Is(err, ErrNodeRange) {
			t.Errorf("New(%d) error = %v; want ErrNodeRange", tc.node, err)
		}
	}
}

// TestUniqueConcurrent uses the real clock: 4 goroutines share one
// generator, as the handlers of one replica do, and 200k ids must not repeat
// (at 4096 ids per millisecond this also exercises the overflow wait).
func TestUniqueConcurrent(t *testing.T) {
	const workers, perWorker = 4, 50_000
	g, err := New(7, nil)
	if err != nil {
		t.Fatal(err)
	}
	results := make([][]int64, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]int64, 0, perWorker)
			for range perWorker {
				id, err := g.Next()
				if err != nil {
					errs <- err
					return
				}
				ids = append(ids, id)
			}
			results[w] = ids
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[int64]struct{}, workers*perWorker)
	for w, ids := range results {
		for i, id := range ids {
			if id <= 0 {
				t.Fatalf("worker %d id %d = %d, want positive", w, i, id)
			}
			// Each goroutine sees its own ids increase: the lock orders them.
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("worker %d: id %d (%d) not greater than previous (%d)", w, i, id, ids[i-1])
			}
			if _, dup := seen[id]; dup {
				t.Fatalf("duplicate id %d", id)
			}
			seen[id] = struct{}{}
			if _, node, _ := Decode(id); node != 7 {
				t.Fatalf("id %d decodes to node %d, want 7", id, node)
			}
		}
	}
	if len(seen) != workers*perWorker {
		t.Fatalf("got %d unique ids, want %d", len(seen), workers*perWorker)
	}
}

// TestMonotonic moves the clock by 300µs per id, so it sees both several ids
// in one millisecond and millisecond boundaries.
func TestMonotonic(t *testing.T) {
	g, c := newFake(t, 3, start)
	prev := mustNext(t, g)
	for i := range 10_000 {
		c.Advance(300 * time.Microsecond)
		id := mustNext(t, g)
		if id <= prev {
			t.Fatalf("id %d: %d not greater than previous %d", i, id, prev)
		}
		prev = id
	}
	if s := c.Sleeps(); len(s) != 0 {
		t.Errorf("generator slept %v; nothing should have forced a wait", s)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	g, c := newFake(t, 513, start)
	a := mustNext(t, g)
	b := mustNext(t, g)
	c.Advance(2 * time.Millisecond)
	d := mustNext(t, g)

	wantT := start.Truncate(time.Millisecond)
	for _, tc := range []struct {
		id   int64
		t    time.Time
		node int
		seq  int
	}{
		{a, wantT, 513, 0},
		{b, wantT, 513, 1},
		{d, wantT.Add(2 * time.Millisecond), 513, 0},
		{0, Epoch, 0, 0},
		// Every field at its maximum: the largest id there can be.
		{1<<63 - 1, Epoch.Add(maxTime * time.Millisecond), MaxNode, MaxSeq},
	} {
		gotT, node, seq := Decode(tc.id)
		if !gotT.Equal(tc.t) || node != tc.node || seq != tc.seq {
			t.Errorf("Decode(%d) = %v, %d, %d; want %v, %d, %d", tc.id, gotT, node, seq, tc.t, tc.node, tc.seq)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(1<<63 - 1))
	f.Add(int64(123456789012345))
	f.Fuzz(func(t *testing.T, id int64) {
		if id < 0 {
			return
		}
		ts, node, seq := Decode(id)
		ms := ts.Sub(Epoch).Milliseconds()
		if got := ms<<timeShift | int64(node)<<nodeShift | int64(seq); got != id {
			t.Fatalf("Decode(%d) = %v, %d, %d; recomposes to %d", id, ts, node, seq, got)
		}
	})
}

// TestSequenceOverflowWaits freezes the clock: 4096 ids fit in the
// millisecond, the 4097th must wait for the next one and restart at 0.
func TestSequenceOverflowWaits(t *testing.T) {
	g, c := newFake(t, 1, start)
	var last int64
	for i := 0; i <= MaxSeq; i++ {
		last = mustNext(t, g)
	}
	if _, _, seq := Decode(last); seq != MaxSeq {
		t.Fatalf("4096th id has seq %d, want %d", seq, MaxSeq)
	}
	if s := c.Sleeps(); len(s) != 0 {
		t.Fatalf("slept %v before the sequence was exhausted", s)
	}

	id := mustNext(t, g)
	if id <= last {
		t.Fatalf("id after overflow %d not greater than %d", id, last)
	}
	ts, _, seq := Decode(id)
	if want := start.Truncate(time.Millisecond).Add(time.Millisecond); !ts.Equal(want) || seq != 0 {
		t.Errorf("id after overflow decodes to %v seq %d; want %v seq 0", ts, seq, want)
	}
	// start is 456µs into its millisecond: the wait is the 544µs left of it.
	if s := c.Sleeps(); len(s) != 1 || s[0] != 544*time.Microsecond {
		t.Errorf("sleeps = %v; want one of 544µs", s)
	}
}

func TestClockBackwards(t *testing.T) {
	t.Run("small step waits", func(t *testing.T) {
		g, c := newFake(t, 2, start)
		first := mustNext(t, g)
		c.Advance(-3 * time.Millisecond)
		id := mustNext(t, g)
		if id <= first {
			t.Fatalf("id after small step back %d not greater than %d", id, first)
		}
		ts, _, seq := Decode(id)
		if want := start.Truncate(time.Millisecond).Add(time.Millisecond); !ts.Equal(want) || seq != 0 {
			t.Errorf("id decodes to %v seq %d; want %v seq 0", ts, seq, want)
		}
		var slept time.Duration
		for _, d := range c.Sleeps() {
			slept += d
		}
		// From 3ms behind (at the same sub-ms offset) to the start of the
		// millisecond after the last one used: 3ms + 544µs.
		if want := 3*time.Millisecond + 544*time.Microsecond; slept != want {
			t.Errorf("slept %v, want %v", slept, want)
		}
	})

	t.Run("step of exactly MaxBackwards waits", func(t *testing.T) {
		g, c := newFake(t, 2, start)
		first := mustNext(t, g)
		c.Advance(-MaxBackwards)
		if id := mustNext(t, g); id <= first {
			t.Fatalf("id %d not greater than %d", id, first)
		}
	})

	t.Run("large step fails then recovers", func(t *testing.T) {
		g, c := newFake(t, 2, start)
		first := mustNext(t, g)
		c.Advance(-MaxBackwards - time.Millisecond)
		if id, err := g.Next(); !errors.Is(err, ErrClockBackwards) {
			t.Fatalf("Next after large step back = %d, %v; want ErrClockBackwards", id, err)
		}
		if s := c.Sleeps(); len(s) != 0 {
			t.Errorf("slept %v; a large step must fail at once", s)
		}
		// Once the clock is past the last millisecond used, ids flow again.
		c.Set(start.Add(time.Millisecond))
		if id := mustNext(t, g); id <= first {
			t.Fatalf("id after recovery %d not greater than %d", id, first)
		}
	})

	t.Run("clock keeps falling during the wait", func(t *testing.T) {
		g, c := newFake(t, 2, start)
		mustNext(t, g)
		c.Advance(-2 * time.Millisecond)
		// Each sleep, instead of passing time, drops the clock further back;
		// the bound is rechecked after every sleep, so this must end in an
		// error rather than loop forever.
		g.sleep = func(time.Duration) { c.Advance(-2 * time.Millisecond) }
		if _, err := g.Next(); !errors.Is(err, ErrClockBackwards) {
			t.Fatalf("err = %v; want ErrClockBackwards", err)
		}
	})
}

func TestClockOutOfRange(t *testing.T) {
	g, _ := newFake(t, 0, Epoch.Add(-time.Millisecond))
	if _, err := g.Next(); !errors.Is(err, ErrBeforeEpoch) {
		t.Errorf("before epoch: err = %v; want ErrBeforeEpoch", err)
	}
	g, _ = newFake(t, 0, Epoch.Add((maxTime+1)*time.Millisecond))
	if _, err := g.Next(); !errors.Is(err, ErrExhausted) {
		t.Errorf("after 41 bits: err = %v; want ErrExhausted", err)
	}
}

func TestNodeFromName(t *testing.T) {
	names := []string{"", "api-1", "api-2", "3f2a9c1b7d4e", "a-much-longer-instance-name"}
	for _, n := range names {
		got := NodeFromName(n)
		if got < 0 || got > MaxNode {
			t.Errorf("NodeFromName(%q) = %d, out of range", n, got)
		}
		if again := NodeFromName(n); again != got {
			t.Errorf("NodeFromName(%q) not stable: %d then %d", n, got, again)
		}
		if _, err := New(got, nil); err != nil {
			t.Errorf("New(NodeFromName(%q)): %v", n, err)
		}
	}
	if NodeFromName("api-1") == NodeFromName("api-2") {
		t.Errorf("api-1 and api-2 share node %d", NodeFromName("api-1"))
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := New(1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := g.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
