package forward

import (
	"sync/atomic"
	"time"
)

// Budget caps retries at a share of requests over a sliding window, plus a
// small allowance per second so that a quiet lb can still retry (Linkerd's
// and Finagle's retry budget; Envoy's retry_budget is the same idea).
// Without it, retries multiply load exactly when backends are failing:
// with 2 retries per request, a pool that fails every request sees three
// times the traffic, a retry storm that keeps it down.
//
// Counts are kept per second in a ring of buckets, updated with atomics and
// no lock. A bucket reused for a new second is reset by whoever sees it
// first, and a few increments racing that reset may be lost: a budget only
// needs to be about right.
type Budget struct {
	percent   int64
	minPerSec int64
	buckets   [budgetWindow]budgetBucket
	now       func() time.Time
}

// budgetWindow is the window in seconds (Linkerd's default TTL is 10 s).
const budgetWindow = 10

type budgetBucket struct {
	sec      atomic.Int64
	requests atomic.Int64
	retries  atomic.Int64
}

// NewBudget allows retries up to percent% of requests over the last 10 s,
// plus minPerSecond retries per second regardless.
func NewBudget(percent, minPerSecond int) *Budget {
	return &Budget{percent: int64(percent), minPerSec: int64(minPerSecond), now: time.Now}
}

func (b *Budget) bucket() *budgetBucket {
	sec := b.now().Unix()
	bk := &b.buckets[sec%budgetWindow]
	if old := bk.sec.Load(); old != sec && bk.sec.CompareAndSwap(old, sec) {
		bk.requests.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

// Request records a request (its first try).
func (b *Budget) Request() { b.bucket().requests.Add(1) }

// Retry reports whether a retry is within budget, and if so records it.
func (b *Budget) Retry() bool {
	sec := b.now().Unix()
	var requests, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.sec.Load(); s > sec-budgetWindow && s <= sec {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	if retries*100 >= requests*b.percent+b.minPerSec*budgetWindow*100 {
		return false
	}
	b.bucket().retries.Add(1)
	return true
}
