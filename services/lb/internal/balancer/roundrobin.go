package balancer

import (
	"net/http"
	"sync/atomic"
)

// RoundRobin hands requests to backends in turn. A single atomic counter is
// enough: no lock is held while the request is served, and concurrent picks
// still spread exactly evenly (k*n picks give each of n backends k).
//
// When the backend list changes (a replica added by DNS), the counter keeps
// counting, so the rotation carries on from wherever it is rather than
// restarting at the first backend.
type RoundRobin struct {
	next atomic.Uint64
}

// NewRoundRobin returns a round-robin policy starting at the first backend.
func NewRoundRobin() *RoundRobin { return &RoundRobin{} }

// Pick returns the next backend in turn, or nil when there is none.
func (p *RoundRobin) Pick(_ *http.Request, backends []*Backend) *Backend {
	if len(backends) == 0 {
		return nil
	}
	n := p.next.Add(1) - 1
	return backends[n%uint64(len(backends))]
}
