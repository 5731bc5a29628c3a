package proxy

import (
	"time"

	"scalelab/services/lb/internal/balancer"
)

// What follows is for request paths outside this package (the fast path,
// internal/fastpath), so that they count into the same series, spend the
// same retry budget and believe the same proxies as Handler does.

// ObserveStatus counts one try on b by the status it ended with: the
// backend's, 502 or 504 for the lb's own answers, 499 when the client left.
func (m *Metrics) ObserveStatus(b *balancer.Backend, status int) {
	m.of(b).requests[classIndex(status)].Inc()
}

// ObserveDuration records how long a try on b took, from forwarding to the
// end of its response body.
func (m *Metrics) ObserveDuration(b *balancer.Backend, d time.Duration) {
	m.of(b).duration.Observe(d.Seconds())
}

// ObserveRetry counts a try that failed on b and is retried elsewhere.
func (m *Metrics) ObserveRetry(b *balancer.Backend) { m.of(b).retries.Inc() }

// ObserveBudgetExhausted counts a retry not made for want of budget.
func (m *Metrics) ObserveBudgetExhausted() { m.exhausted.Inc() }

// ObserveOverhead records the time a request spent in the lb outside any try.
func (m *Metrics) ObserveOverhead(d time.Duration) { m.overhead.Observe(d.Seconds()) }

// ClientAddr returns the client's address as far as it can be known: peer
// (an IP, no port) unless peer is trusted, in which case the right-most
// untrusted address of the X-Forwarded-For values xff.
func (t Trusted) ClientAddr(peer string, xff []string) string { return t.clientAddr(peer, xff) }

// ObserveLimited counts a request answered 503 because its backend, and
// every other, had LB_MAX_REQUESTS_PER_BACKEND requests in flight.
func (m *Metrics) ObserveLimited() { m.limited.Inc() }
