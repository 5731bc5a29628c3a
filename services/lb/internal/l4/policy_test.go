package l4

import (
	"fmt"
	"net/url"
	"testing"

	"scalelab/services/lb/internal/balancer"
)

func fakeBackends(n int) []*balancer.Backend {
	out := make([]*balancer.Backend, n)
	for i := range out {
		out[i] = balancer.NewBackend(&url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	return out
}

func TestRoundRobinPolicy(t *testing.T) {
	bs := fakeBackends(3)
	p := &RoundRobin{}
	for i := range 9 {
		if got := p.Pick(bs, nil); got != bs[i%3] {
			t.Fatalf("pick %d = %v, want %v", i, got, bs[i%3])
		}
	}
	if got := p.Pick(nil, nil); got != nil {
		t.Errorf("Pick(no backends) = %v", got)
	}
}

func TestLeastConnPolicy(t *testing.T) {
	bs := fakeBackends(3)
	tests := []struct {
		name   string
		active []int64
		want   []int // acceptable picks
	}{
		{"fewest wins", []int64{5, 1, 3}, []int{1}},
		{"zero beats all", []int64{2, 2, 0}, []int{2}},
		{"tie between two", []int64{1, 4, 1}, []int{0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			active := func(b *balancer.Backend) int64 {
				for i := range bs {
					if bs[i] == b {
						return tt.active[i]
					}
				}
				t.Fatalf("active(%v): not a backend", b)
				return 0
			}
			p := &LeastConn{}
			seen := map[int]bool{}
			for range 6 {
				got := p.Pick(bs, active)
				idx := -1
				for i := range bs {
					if bs[i] == got {
						idx = i
					}
				}
				ok := false
				for _, w := range tt.want {
					ok = ok || idx == w
				}
				if !ok {
					t.Fatalf("picked %d with active %v, want one of %v", idx, tt.active, tt.want)
				}
				seen[idx] = true
			}
			// Ties are shared in turn, not always given to the first.
			if len(seen) != len(tt.want) {
				t.Errorf("over 6 picks chose %v, want every one of %v", seen, tt.want)
			}
		})
	}
	if got := (&LeastConn{}).Pick(nil, nil); got != nil {
		t.Errorf("Pick(no backends) = %v", got)
	}
}

func TestNewPolicy(t *testing.T) {
	for in, want := range map[string]string{"": "*l4.RoundRobin", "round_robin": "*l4.RoundRobin", "least_conn": "*l4.LeastConn"} {
		p, err := NewPolicy(in)
		if err != nil || fmt.Sprintf("%T", p) != want {
			t.Errorf("NewPolicy(%q) = %T, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"roundrobin", "random", "LEAST_CONN"} {
		if _, err := NewPolicy(in); err == nil {
			t.Errorf("NewPolicy(%q) accepted it", in)
		}
	}
}
