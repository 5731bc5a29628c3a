package balancer

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
