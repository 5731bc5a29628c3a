package discovery

import (
	"context"
	"testing"

	"scalelab/services/lb/internal/balancer"
)

func TestSetTargetsKeepsBackends(t *testing.T) {
	lookup := func(_ context.Context, name string) ([]string, error) { return []string{"10.0.0.7", "10.0.0.8"}, nil }
	s := NewSet(mustTargets(t, "http://a:1, http://b:1, dns://api:80"), lookup, quiet)
	s.Refresh(t.Context())
	var added, removed []string
	s.Watch(func(_, add, rem []*balancer.Backend) {
		for _, b := range add {
			added = append(added, b.Addr)
		}
		for _, b := range rem {
			removed = append(removed, b.Addr)
		}
	})
	added = nil
	old := map[string]*balancer.Backend{}
	for _, b := range s.Backends() {
		old[b.Addr] = b
	}

	// b and the dns name stay, a goes, c comes; no Refresh in between.
	s.SetTargets(mustTargets(t, "http://b:1, dns://api:80, http://c:1"))
	now := map[string]*balancer.Backend{}
	for _, b := range s.Backends() {
		now[b.Addr] = b
	}
	for _, addr := range []string{"b:1", "10.0.0.7:80", "10.0.0.8:80"} {
		if now[addr] == nil || now[addr] != old[addr] {
			t.Errorf("%s: not the same backend after SetTargets", addr)
		}
	}
	if now["a:1"] != nil || now["c:1"] == nil || len(now) != 4 {
		t.Errorf("backends %v, want a gone and c added", now)
	}
	if len(added) != 1 || added[0] != "c:1" || len(removed) != 1 || removed[0] != "a:1" {
		t.Errorf("watchers saw added %v removed %v, want [c:1] and [a:1]", added, removed)
	}

	// A new weight makes a new backend, which stays known.
	s.SetTargets(mustTargets(t, "http://b:1 weight=3, dns://api:80, http://c:1"))
	nb := s.Backends()[0]
	if nb.Addr != "b:1" || nb.Weight != 3 || nb == now["b:1"] {
		t.Fatalf("after a weight change b is %+v (same: %v), want a new backend of weight 3", nb, nb == now["b:1"])
	}
	s.Refresh(t.Context())
	if s.Backends()[0] != nb {
		t.Errorf("a refresh replaced the re-weighted backend again")
	}
}
