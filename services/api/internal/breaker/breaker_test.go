package breaker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is moved by hand, so every test is an exact walk through the
// state machine with no real waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const cooldown = 2 * time.Second

// newTest returns a breaker that opens after 3 failures, and a log of its
// transitions as "from>to" strings.
func newTest() (*Breaker, *fakeClock, *[]string) {
	c := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	b := New("redis", 3, cooldown, c.Now)
	var log []string
	b.OnStateChange = func(from, to State) { log = append(log, from.String()+">"+to.String()) }
	return b, c, &log
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func wantAllow(t *testing.T, b *Breaker, want bool) {
	t.Helper()
	if got := b.Allow(); got != want {
		t.Fatalf("Allow() = %v, want %v (state %v)", got, want, b.State())
	}
}

func wantLog(t *testing.T, log *[]string, want ...string) {
	t.Helper()
	if fmt.Sprint(*log) != fmt.Sprint(want) {
		t.Fatalf("transitions = %v, want %v", *log, want)
	}
}

// fail reports n failures, each after an allowed call, as a caller would.
func fail(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for range n {
		wantAllow(t, b, true)
		b.Failure()
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open", State(9): "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	b := New("redis", 0, 0, c.Now)
	if b.Name() != "redis" || b.failures != DefaultFailures || b.cooldown != DefaultCooldown {
		t.Fatalf("New with zeros: name %q, failures %d, cooldown %v", b.Name(), b.failures, b.cooldown)
	}
	fail(t, b, DefaultFailures-1)
	wantState(t, b, Closed)
	fail(t, b, 1)
	wantState(t, b, Open)
	c.Advance(DefaultCooldown - time.Nanosecond)
	wantAllow(t, b, false)
	c.Advance(time.Nanosecond)
	wantAllow(t, b, true)

	if New("x", -1, -time.Second, nil).now == nil {
		t.Fatal("nil now not replaced by time.Now")
	}
}

func TestOpensAfterConsecutiveFailures(t *testing.T) {
	b, _, log := newTest()
	wantState(t, b, Closed)
	fail(t, b, 2)
	wantState(t, b, Closed)
	wantLog(t, log)
	fail(t, b, 1)
	wantState(t, b, Open)
	wantLog(t, log, "closed>open")
	for range 10 {
		wantAllow(t, b, false)
	}
}

func TestSuccessResetsCount(t *testing.T) {
	b, _, _ := newTest()
	fail(t, b, 2)
	wantAllow(t, b, true)
	b.Success()
	fail(t, b, 2) // 2 in a row again, not 4 in all
	wantState(t, b, Closed)
	fail(t, b, 1)
	wantState(t, b, Open)
}

func TestCooldown(t *testing.T) {
	b, c, log := newTest()
	fail(t, b, 3)
	c.Advance(cooldown - time.Millisecond)
	wantAllow(t, b, false)
	wantState(t, b, Open)
	c.Advance(time.Millisecond)
	wantState(t, b, Open) // State does not move time along; Allow does
	wantAllow(t, b, true)
	wantState(t, b, HalfOpen)
	wantLog(t, log, "closed>open", "open>half-open")
}

func TestProbeSuccessCloses(t *testing.T) {
	b, c, log := newTest()
	fail(t, b, 3)
	c.Advance(cooldown)
	wantAllow(t, b, true) // the probe
	wantAllow(t, b, false)
	b.Success()
	wantState(t, b, Closed)
	wantLog(t, log, "closed>open", "open>half-open", "half-open>closed")
	// Closed again with a fresh count: it takes the full threshold to reopen.
	fail(t, b, 2)
	wantState(t, b, Closed)
	fail(t, b, 1)
	wantState(t, b, Open)
}

func TestProbeFailureReopens(t *testing.T) {
	b, c, log := newTest()
	fail(t, b, 3)
	c.Advance(cooldown + time.Second) // probe comes late: the new cooldown starts at its failure
	wantAllow(t, b, true)
	c.Advance(500 * time.Millisecond)
	b.Failure()
	wantState(t, b, Open)
	wantLog(t, log, "closed>open", "open>half-open", "half-open>open")
	c.Advance(cooldown - time.Nanosecond)
	wantAllow(t, b, false)
	c.Advance(time.Nanosecond)
	wantAllow(t, b, true)
	wantState(t, b, HalfOpen)
}

func TestLateReportsInOpenIgnored(t *testing.T) {
	b, c, log := newTest()
	// Four calls are let through while closed; three fail and open the
	// breaker, then the fourth reports late.
	for range 4 {
		wantAllow(t, b, true)
	}
	b.Failure()
	b.Failure()
	b.Failure()
	wantState(t, b, Open)

	c.Advance(cooldown / 2)
	b.Success() // must not close
	wantState(t, b, Open)
	b.Failure() // must not restart the cooldown
	c.Advance(cooldown / 2)
	wantAllow(t, b, true)
	wantState(t, b, HalfOpen)
	wantLog(t, log, "closed>open", "open>half-open")
}

func TestLostProbeReplaced(t *testing.T) {
	b, c, _ := newTest()
	fail(t, b, 3)
	c.Advance(cooldown)
	wantAllow(t, b, true) // this probe never reports
	c.Advance(cooldown - time.Nanosecond)
	wantAllow(t, b, false)
	c.Advance(time.Nanosecond)
	wantAllow(t, b, true) // presumed lost: a new probe
	wantAllow(t, b, false)
	b.Success()
	wantState(t, b, Closed)
}

// TestSingleProbeConcurrent: when the cooldown ends under load, many
// goroutines call Allow at once and exactly one may become the probe.
func TestSingleProbeConcurrent(t *testing.T) {
	for round := range 50 {
		b, c, _ := newTest()
		fail(t, b, 3)
		c.Advance(cooldown)

		const callers = 64
		var allowed atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				if b.Allow() {
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := allowed.Load(); n != 1 {
			t.Fatalf("round %d: %d callers allowed in half-open, want exactly 1", round, n)
		}
		wantState(t, b, HalfOpen)
	}
}

// TestConcurrentUse hammers every method from many goroutines; its value is
// under -race, and in checking that transitions are reported in an order
// that chains (each "from" is the previous "to").
func TestConcurrentUse(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	b := New("redis", 2, time.Millisecond, c.Now)
	var mu sync.Mutex
	var transitions [][2]State
	b.OnStateChange = func(from, to State) {
		mu.Lock()
		transitions = append(transitions, [2]State{from, to})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if g == 0 && i%10 == 0 {
					c.Advance(100 * time.Microsecond)
				}
				if b.Allow() {
					if (g+i)%3 == 0 {
						b.Success()
					} else {
						b.Failure()
					}
				}
				_ = b.State()
			}
		})
	}
	wg.Wait()

	prev := Closed
	for i, tr := range transitions {
		if tr[0] != prev || tr[0] == tr[1] {
			t.Fatalf("transition %d is %v>%v after reaching %v", i, tr[0], tr[1], prev)
		}
		prev = tr[1]
	}
	if got := b.State(); got != prev {
		t.Fatalf("final state %v, last reported %v", got, prev)
	}
	if len(transitions) == 0 {
		t.Fatal("no transitions; the test exercised nothing")
	}
}
