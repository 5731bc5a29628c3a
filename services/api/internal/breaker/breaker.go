// Package breaker is a small circuit breaker for calls to a dependency that
// may fail, here Redis. When Redis is down every call would otherwise wait
// for its timeout before the api falls back to PostgreSQL; with the breaker
// open, callers skip Redis at once, so an outage costs a little latency on a
// few requests, not a timeout on all of them.
//
// The states:
//
//	closed    calls go through; Failures in a row are counted, any Success
//	          resets the count; the threshold-th consecutive Failure opens.
//	open      Allow returns false at once, for the cooldown.
//	half-open after the cooldown, Allow lets exactly ONE probe call through
//	          and refuses everyone else; the probe's Success closes the
//	          breaker, its Failure opens it for another cooldown.
//
// Use:
//
//	if b.Allow() {
//		v, err := cache.Get(ctx, key)
//		switch {
//		case err == nil || errors.Is(err, cache.ErrMiss):
//			b.Success() // a miss is Redis working
//		default:
//			b.Failure()
//		}
//	}
//	// not allowed or failed: go to PostgreSQL
//
// Every caller that got true from Allow must report exactly one Success or
// Failure; the breaker counts what it is told, so what counts as a failure
// (a timeout, a refused connection, but not a cache miss) is the caller's
// decision.
package breaker

import (
	"sync"
	"time"
)

// Defaults used when New is given zero (or negative) values.
const (
	DefaultFailures = 5
	DefaultCooldown = 2 * time.Second
)

// State is where the breaker is in its cycle.
type State int

// The states; the zero value is Closed.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns "closed", "open" or "half-open", fit for logs and for a
// bounded metric label.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Breaker guards one dependency. It is safe for concurrent use.
type Breaker struct {
	// OnStateChange, if set, is called on every transition. Set it before
	// the breaker is shared. It runs with the breaker's lock held, so that
	// transitions are reported in the order they happen (a gauge fed from
	// it never ends on a stale state): keep it quick and do not call the
	// breaker's methods from it. Typical uses: a state gauge and one log line.
	OnStateChange func(from, to State)

	name     string
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu       sync.Mutex
	state    State
	count    int       // consecutive failures while closed
	openedAt time.Time // when the breaker last opened
	probeAt  time.Time // when the half-open probe was let through
}

// New returns a closed breaker named name (for logs and metric labels) that
// opens after failures consecutive failures and stays open for cooldown.
// failures <= 0 means DefaultFailures, cooldown <= 0 means DefaultCooldown,
// now == nil means time.Now.
func New(name string, failures int, cooldown time.Duration, now func() time.Time) *Breaker {
	if failures <= 0 {
		failures = DefaultFailures
	}
	if cooldown <= 0 {
		cooldown = DefaultCooldown
	}
	if now == nil {
		now = time.Now
	}
	return &Breaker{name: name, failures: failures, cooldown: cooldown, now: now}
}

// Name returns the name given to New.
func (b *Breaker) Name() string { return b.name }

// State returns the current state. An open breaker whose cooldown has passed
// still reads Open until the next Allow turns it half-open.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Allow reports whether the caller may call the dependency now. A caller
// that gets true must report the outcome with Success or Failure.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true
	case Open:
		now := b.now()
		if now.Sub(b.openedAt) < b.cooldown {
			return false
		}
		// Cooldown over: this caller is the probe. The transition and the
		// grant happen under one lock, so concurrent callers cannot both
		// become the probe.
		b.setState(HalfOpen)
		b.probeAt = now
		return true
	default: // HalfOpen: a probe is out.
		// If the probe has not reported within a cooldown it is presumed
		// lost (a caller that forgot, or panicked); without this the
		// breaker would stay half-open, refusing everyone, forever.
		now := b.now()
		if now.Sub(b.probeAt) < b.cooldown {
			return false
		}
		b.probeAt = now
		return true
	}
}

// Success records a call that worked. In closed it resets the failure count;
// in half-open it is the probe succeeding, and closes the breaker.
//
// In open it is ignored: it is a call let through before the breaker opened
// that finished late, and one slow success says nothing about a dependency
// that just failed several times in a row. (Calls to Redis time out in
// milliseconds, far inside the cooldown, so such late reports land in open,
// not in a later half-open where they could be mistaken for the probe's.)
func (b *Breaker) Success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		b.count = 0
	case HalfOpen:
		b.count = 0
		b.setState(Closed)
	}
}

// Failure records a call that failed. In closed it counts towards the
// threshold; in half-open it is the probe failing, and reopens the breaker
// for a fresh cooldown. In open it is ignored, for the reason given on
// Success, and so that late failures cannot stretch the cooldown.
func (b *Breaker) Failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		b.count++
		if b.count >= b.failures {
			b.open()
		}
	case HalfOpen:
		b.open()
	}
}

// open moves to Open and starts the cooldown. b.mu must be held.
func (b *Breaker) open() {
	b.count = 0
	b.openedAt = b.now()
	b.setState(Open)
}

// setState records a transition and reports it. b.mu must be held.
func (b *Breaker) setState(to State) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	if b.OnStateChange != nil {
		b.OnStateChange(from, to)
	}
}
