package balancer

import "slices"

// TryAcquire counts a request sent to b, as Acquire does, unless b already
// has limit requests in flight (limit <= 0: no limit); it reports whether
// it counted. The check and the count are one atomic step, so concurrent
// requests cannot overshoot the limit together.
func (b *Backend) TryAcquire(limit int) bool {
	if limit <= 0 {
		b.inFlight.Add(1)
		return true
	}
	for {
		n := b.inFlight.Load()
		if n >= int64(limit) {
			return false
		}
		if b.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// WithRoom returns the backends with room for one more request under limit.
// Both engines use it to shed load from a full backend to its peers.
func WithRoom(backends []*Backend, limit int) []*Backend {
	out := make([]*Backend, 0, len(backends))
	for _, b := range backends {
		if b.InFlight() < int64(limit) {
			out = append(out, b)
		}
	}
	return out
}

// Without returns the backends not in tried: where a retry may go.
func Without(backends, tried []*Backend) []*Backend {
	out := make([]*Backend, 0, len(backends))
	for _, b := range backends {
		if !slices.Contains(tried, b) {
			out = append(out, b)
		}
	}
	return out
}
