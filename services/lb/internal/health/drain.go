package health

import (
	"time"

	"scalelab/services/lb/internal/balancer"
)

// SetDrained drains (true) or undrains (false) the backend whose address is
// addr, and reports whether the tracker knows it. A drained backend leaves
// Available at once, so neither L7 requests nor L4 connections pick it any
// more, while those already on it finish; it does not come back in panic
// mode either. Draining is the operator's word and outlasts health: a
// drained backend that passes its checks stays out until undrained. It
// does not outlast discovery: a backend that leaves DNS and comes back is
// a new one, undrained.
func (t *Tracker) SetDrained(addr string, drained bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	found := false
	for _, st := range t.states {
		if st.backend.Addr != addr {
			continue
		}
		found = true
		if st.drained != drained {
			st.drained = drained
			verb := "backend drained"
			if !drained {
				verb = "backend undrained"
			}
			t.logger.Info(verb, "backend", addr)
		}
	}
	if found {
		t.publishLocked()
	}
	return found
}

func (t *Tracker) undrainedLocked() []*balancer.Backend {
	out := make([]*balancer.Backend, 0, len(t.order))
	for _, b := range t.order {
		if st := t.states[b]; st == nil || !st.drained {
			out = append(out, b)
		}
	}
	return out
}

// BackendStatus is one backend as the admin API shows it.
type BackendStatus struct {
	Backend *balancer.Backend
	// State is the one state that decides whether it gets traffic, the
	// first that applies of: drained, pending (new, no active check
	// finished yet), unhealthy (failing active checks), ejected (after
	// failed requests), available.
	State        string
	Healthy      bool
	Drained      bool
	EjectedUntil time.Time // zero unless ejected
	Ejections    int       // times ejected since discovery found it
}

// Status returns every backend discovery knows, in its order.
func (t *Tracker) Status() []BackendStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]BackendStatus, 0, len(t.order))
	for _, b := range t.order {
		st := t.states[b]
		if st == nil {
			continue
		}
		s := BackendStatus{Backend: b, State: st.stateName(), Healthy: st.healthy, Drained: st.drained, Ejections: st.ejections}
		if st.ejected {
			s.EjectedUntil = st.ejectedTo
		}
		out = append(out, s)
	}
	return out
}

// stateName is the state metrics and the admin API report; t.mu held.
func (st *state) stateName() string {
	switch {
	case st.drained:
		return "drained"
	case st.pending:
		return "pending"
	case !st.healthy:
		return "unhealthy"
	case st.ejected:
		return "ejected"
	}
	return "available"
}

// knowsAddrLocked reports whether some backend held has address addr;
// t.mu held.
func (t *Tracker) knowsAddrLocked(addr string) bool {
	for b := range t.states {
		if b.Addr == addr {
			return true
		}
	}
	return false
}
