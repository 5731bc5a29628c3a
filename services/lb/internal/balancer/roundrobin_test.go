package balancer

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
)

func backends(n int) []*Backend {
	out := make([]*Backend, n)
	for i := range out {
		out[i] = NewBackend(&url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)})
	}
	return out
}

func TestRoundRobinOrder(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want []int // indexes of the backends picked, in order
	}{
		{"one backend", 1, []int{0, 0, 0}},
		{"two backends alternate", 2, []int{0, 1, 0, 1, 0}},
		{"three backends cycle", 3, []int{0, 1, 2, 0, 1, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := backends(tt.n)
			p := NewRoundRobin()
			for i, w := range tt.want {
				if got := p.Pick(nil, bs); got != bs[w] {
					t.Fatalf("pick %d: got %v, want %v", i, got, bs[w])
				}
			}
		})
	}
}

func TestRoundRobinEmpty(t *testing.T) {
	if got := NewRoundRobin().Pick(nil, nil); got != nil {
		t.Fatalf("Pick with no backends = %v, want nil", got)
	}
}

// Concurrent picks must still share out exactly evenly: the counter is the
// only shared state and it is atomic.
func TestRoundRobinConcurrentIsExact(t *testing.T) {
	const workers, perWorker = 8, 300
	bs := backends(3)
	p := NewRoundRobin()
	var mu sync.Mutex
	counts := map[*Backend]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := map[*Backend]int{}
			for range perWorker {
				local[p.Pick(nil, bs)]++
			}
			mu.Lock()
			for b, c := range local {
				counts[b] += c
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, b := range bs {
		if want := workers * perWorker / len(bs); counts[b] != want {
			t.Errorf("%v got %d picks, want %d", b, counts[b], want)
		}
	}
}
