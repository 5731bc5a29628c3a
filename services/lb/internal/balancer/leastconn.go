package balancer

import (
	"net/http"
	"sync/atomic"
)

// LeastConn sends each request to the backend with the fewest requests in
// flight, relative to its weight (nginx's least_conn, HAProxy's leastconn).
// Behind a proxy that pools connections, a backend's "connections" are the
// requests it is serving, so that is what is counted.
//
// Ties are common (at low load every backend has zero) and are broken by
// rotating where the scan starts: otherwise the first backend would take
// every request of a serial client.
type LeastConn struct {
	next atomic.Uint64
}

// NewLeastConn returns a least-connections policy.
func NewLeastConn() *LeastConn { return &LeastConn{} }

// Pick scans every backend for the least loaded.
func (p *LeastConn) Pick(_ *http.Request, backends []*Backend) *Backend {
	n := len(backends)
	if n == 0 {
		return nil
	}
	start := int((p.next.Add(1) - 1) % uint64(n))
	best := backends[start]
	for k := 1; k < n; k++ {
		if b := backends[(start+k)%n]; lessLoaded(b, best) {
			best = b
		}
	}
	return best
}
