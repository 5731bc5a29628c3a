package l4

import (
	"fmt"
	"sync/atomic"

	"scalelab/services/lb/internal/balancer"
)

// Policy picks the backend for a new connection. active reports how many
// connections this server holds open (or is opening) to a backend. Pick
// returns nil only when backends is empty; it is called concurrently.
//
// An L4 balancer sees no request, only a connection, so its policies are
// their own small family rather than balancer.Policy, whose Pick takes an
// *http.Request.
type Policy interface {
	Pick(backends []*balancer.Backend, active func(*balancer.Backend) int64) *balancer.Backend
}

// NewPolicy returns the policy named by L4_POLICY: round_robin or least_conn.
func NewPolicy(name string) (Policy, error) {
	switch name {
	case "round_robin", "":
		return &RoundRobin{}, nil
	case "least_conn":
		return &LeastConn{}, nil
	}
	return nil, fmt.Errorf("%q is not a policy (round_robin or least_conn)", name)
}

// RoundRobin hands connections to backends in turn with one atomic counter.
// A connection balancer spreads connections, not requests: a client that
// keeps one connection open for many requests stays on one backend.
type RoundRobin struct{ next atomic.Uint64 }

func (p *RoundRobin) Pick(backends []*balancer.Backend, _ func(*balancer.Backend) int64) *balancer.Backend {
	if len(backends) == 0 {
		return nil
	}
	return backends[(p.next.Add(1)-1)%uint64(len(backends))]
}

// LeastConn picks the backend with the fewest open connections, which
// suits long-lived connections of uneven length better than turns do.
// Ties are broken in turn (the scan starts one backend further each time),
// so with every count equal it behaves as round robin rather than piling
// every short connection onto the first backend.
type LeastConn struct{ next atomic.Uint64 }

func (p *LeastConn) Pick(backends []*balancer.Backend, active func(*balancer.Backend) int64) *balancer.Backend {
	n := uint64(len(backends))
	if n == 0 {
		return nil
	}
	start := p.next.Add(1) - 1
	var best *balancer.Backend
	var bestActive int64
	for i := range n {
		b := backends[(start+i)%n]
		if a := active(b); best == nil || a < bestActive {
			best, bestActive = b, a
		}
	}
	return best
}
