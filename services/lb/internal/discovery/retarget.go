package discovery

import (
	"strconv"

	"scalelab/services/lb/internal/balancer"
)

// SetTargets replaces the set's targets, as a reload of the routes file
// does, and publishes the result. A backend whose address and weight stay
// keeps its *Backend, so what is attached to it (health, ejections, drains,
// requests in flight) survives; one whose weight changes becomes a new
// backend. A dns:// target listed before keeps its last resolution until
// the next Refresh; a new one adds its backends at that Refresh.
func (s *Set) SetTargets(targets []Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := make(map[string][]*balancer.Backend, len(s.targets))
	for i, t := range s.targets {
		before[targetKey(t)] = s.resolved[i]
	}
	resolved := make([][]*balancer.Backend, len(targets))
	for i, t := range targets {
		if t.IsDNS() {
			resolved[i] = before[targetKey(t)]
			continue
		}
		if b, ok := s.known[t.Static.Host]; ok && b.Weight != t.Weight {
			delete(s.known, t.Static.Host) // a new weight: a new backend
		}
		resolved[i] = []*balancer.Backend{s.backend(t.Static, t.Weight)}
	}
	s.targets, s.resolved, s.lastErr = targets, resolved, make([]string, len(targets))
	s.publishLocked()
}

func targetKey(t Target) string {
	if t.IsDNS() {
		return "dns " + t.Name + ":" + t.Port + " " + strconv.Itoa(t.Weight)
	}
	return "http " + t.Static.Host + " " + strconv.Itoa(t.Weight)
}
